"""The built book (make book, with jupyter-book build -W) shows each chapter as students get it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.course import BUILD, FIGURE_FONT_PT, FIGURE_WIDTH_IN, ROOT, chapters, colab_url, config, source_path
from autograder.written import questions
from publish.pages import CACHE, inputs
from tests.leaks import visible_lines

HTML = BUILD / "html"


def page(chapter):
    path = HTML / "notebooks" / chapter / source_path(chapter).with_suffix(".html").name
    assert path.exists(), f"{path} is missing: run `make book`"
    return path.read_text()


def test_intro_page_is_the_index():
    index = (HTML / "index.html").read_text()
    assert "book/intro.html" in index
    intro = (HTML / "book" / "intro.html").read_text()
    assert "Taking the course in Colab" in intro and "Grading the course" in intro


@pytest.mark.parametrize("chapter", chapters())
def test_the_book_executed_the_instructor_notebook_top_to_bottom(chapter):
    """`make book` is the one run of each chapter (the suite does not execute them again): its
    executed notebook is cached for the chapter as it is now, and every code cell ran, in order,
    solutions, visible and hidden tests included, without an error."""
    cached = CACHE / f"{chapter}-{inputs(chapter)}.ipynb"
    assert cached.exists(), f"{chapter} was not executed as it is now: run `make book`"
    notebook = nbformat.read(cached, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    errors = [cell.source[:80] for cell in code if any(o.output_type == "error" for o in cell.outputs)]
    assert not errors, f"cells that raised: {errors}"


@pytest.mark.parametrize("chapter", chapters())
def test_colab_button_opens_the_student_notebook(chapter):
    repo_path = f"notebooks/{chapter}/{source_path(chapter).name}"
    assert colab_url(repo_path) in page(chapter)


@pytest.mark.parametrize("chapter", chapters())
def test_page_has_math_figures_and_the_references_outputs(chapter):
    html = page(chapter)
    assert html.count('class="math notranslate nohighlight"') >= 5
    images = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+\.png)"', html)  # the outputs' figures
    assert images
    for src in images:
        assert (HTML / "notebooks" / chapter / src).resolve().exists(), src
    text = visible_lines(html)
    assert any(line.endswith("visible tests passed") for line in text), "the reference's test outputs are shown"
    assert "raise NotImplementedError()" in text, "exercises are shown as students get them"


COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^\s\"'<>)]+")


def test_every_colab_url_opens_a_committed_student_notebook():
    """Launch buttons and badges, in the book and in the student notebooks, name a student
    notebook of this repository as committed: `https://colab.research.google.com/github/ORG/REPO/blob/BRANCH/notebooks/chNN_slug/slug.ipynb`."""
    repository = config()["repository"]
    github = repository["url"].removeprefix("https://github.com/").strip("/")
    form = re.compile(rf"https://colab\.research\.google\.com/github/{re.escape(github)}/blob/"
                      rf"{re.escape(repository['branch'])}/(notebooks/ch\d\d_\w+/\w+\.ipynb)")
    committed = set(subprocess.run(["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True,
                                   check=True).stdout.split())
    sources = [*HTML.rglob("*.html"), *(ROOT / "notebooks").rglob("*.ipynb")]
    found = {(url, path.name) for path in sources for url in COLAB.findall(path.read_text())}
    assert len({url for url, _ in found}) == len(chapters()), found
    for url, where in found:
        match = form.fullmatch(url)
        assert match, f"{where}: {url} is not a Colab URL of a student notebook"
        assert match.group(1) in committed, f"{where}: {url} names {match.group(1)}, not committed"


def exercises(notebook):
    """``(heading, points)`` per solution cell: the last Markdown heading before it that names an
    exercise, and the points of the test cells up to the next solution cell."""
    found, heading = [], None
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            named = [line for line in cell.source.splitlines() if line.startswith("#") and "Exercise" in line]
            heading = named[-1] if named else heading
        elif meta.get("solution"):
            found.append([heading, 0])
            heading = None
        elif meta.get("grade") and found:
            found[-1][1] += meta.get("points", 0)
    return found


@pytest.mark.parametrize("chapter", chapters())
def test_each_exercise_is_headed_with_its_points(chapter):
    found = exercises(nbformat.read(source_path(chapter), as_version=4))
    assert found
    for number, (heading, points) in enumerate(found, start=1):
        assert heading, f"exercise {number} has no '### Exercise {number} — ... (k points)' heading before it"
        stated = re.search(r"Exercise (\d+)\b.*\((\d+) points?\)", heading)
        assert stated, f"{heading!r} does not say its points"
        assert (int(stated.group(1)), int(stated.group(2))) == (number, points), \
            f"{heading!r}: expected exercise {number} worth {points:g} points (its test cells)"


@pytest.mark.parametrize("chapter", chapters())
def test_page_opens_with_objectives_and_ends_with_summary_and_going_further(chapter):
    headings = [re.sub(r"<[^>]+>|#|¶", "", h).strip()  # the page's own sections (they have anchors)
                for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page(chapter), flags=re.DOTALL) if "headerlink" in h]
    assert headings[0] == "Learning objectives", headings
    assert headings[-2:] == ["Summary", "Going further"], headings


@pytest.mark.parametrize("chapter", chapters())
def test_figures_have_captions_and_pages_cite_their_sources(chapter):
    html = page(chapter)
    figures = re.findall(r"<figure.*?</figure>", html, flags=re.DOTALL)
    images = re.findall(r"<img[^>]+src=\"[^\"]*_images/[^\"]+\.png\"", html)
    assert len(figures) == len(images), "every figure is a <figure> with a caption"
    for figure in figures:
        assert "<figcaption" in figure and re.search(r'alt="[^"]{20,}"', figure), figure[:300]
    cited = set(re.findall(r'href="[^"]*references\.html#id\d+"[^>]*>', html))
    assert len(cited) >= 3, "the chapter cites at least three of the references"


def test_a_missing_citation_key_fails_the_build(tmp_path):
    """`jupyter-book build -W` (as `make book` runs it) stops on a {cite} of an unknown key."""
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "references.bib")
    (tmp_path / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: 'off'\n"
                                          "bibtex_bibfiles: [references.bib]\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    results = {}
    for key in ("lin2024awq", "lin2099awq"):
        (tmp_path / "intro.md").write_text(f"# Intro\n\nAWQ {{cite:p}}`{key}`.\n\n```{{bibliography}}\n```\n")
        shutil.rmtree(tmp_path / "_build", ignore_errors=True)
        command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(tmp_path), "-W", "-n", "--keep-going"]
        results[key] = subprocess.run(command, capture_output=True, text=True, check=False)
    assert results["lin2024awq"].returncode == 0, results["lin2024awq"].stdout[-2000:]
    assert results["lin2099awq"].returncode != 0
    assert "lin2099awq" in results["lin2099awq"].stdout + results["lin2099awq"].stderr


def test_workflows_build_and_publish_the_book_and_run_the_tests():
    workflows = ROOT / ".github" / "workflows"
    tests = yaml.safe_load((workflows / "tests.yml").read_text())
    book = yaml.safe_load((workflows / "book.yml").read_text())
    assert any(step.get("run") == "make test" for step in tests["jobs"]["test"]["steps"])
    build = book["jobs"]["build"]["steps"]
    assert any(step.get("run") == "make book" for step in build)
    assert any(step.get("with", {}).get("path") == "_build/html" for step in build)
    assert any("deploy-pages" in step.get("uses", "") for step in book["jobs"]["deploy"]["steps"])


def test_an_executed_page_is_cached_only_for_what_it_was_run_from(tmp_path, monkeypatch):
    """`make book` reuses an executed chapter only while its notebook, data, imported code and
    pinned packages are unchanged."""
    from publish import pages

    before = pages.inputs("ch01_minmax")
    assert before == pages.inputs("ch01_minmax")
    notebook = nbformat.read(source_path("ch01_minmax"), as_version=4)
    notebook.cells[0].source += "\nOne more sentence."
    edited = tmp_path / "minmax.ipynb"
    nbformat.write(notebook, edited)
    monkeypatch.setattr(pages, "source_path", lambda chapter: edited)
    assert pages.inputs("ch01_minmax") != before
    monkeypatch.undo()
    fake_root = tmp_path / "root"
    shutil.copytree(ROOT / "autograder", fake_root / "autograder")
    shutil.copytree(ROOT / "solutions" / "data", fake_root / "solutions" / "data")
    (fake_root / "requirements.txt").write_text((ROOT / "requirements.txt").read_text() + "six==1.16.0\n")
    monkeypatch.setattr(pages, "ROOT", fake_root)
    monkeypatch.setattr(pages, "SOLUTIONS", fake_root / "solutions")
    assert pages.inputs("ch01_minmax") != before


@pytest.mark.parametrize("chapter", chapters())
def test_every_page_names_the_licences_in_its_footer(chapter):
    footer = page(chapter).split('class="bd-footer', 1)[-1]
    assert "CC BY 4.0" in footer and "MIT" in footer


@pytest.mark.parametrize("chapter", chapters())
def test_page_shows_its_colab_badge_under_the_title_and_folds_the_code_that_is_not_an_exercise(chapter):
    html = page(chapter)
    article = html.split('<article class="bd-article">', 1)[1]
    title_and_first = article.split("</h1>", 1)[1].split("</p>", 1)[0]  # the paragraph under the title
    badge = re.search(r'<a [^>]*href="([^"]+)"[^>]*>\s*<img [^>]*src="[^"]*open-in-colab', title_and_first)
    assert badge, "the Colab badge is the first thing under the chapter's title"
    assert badge.group(1) == colab_url(f"notebooks/{chapter}/{source_path(chapter).name}")
    cells = nbformat.read(source_path(chapter), as_version=4).cells
    support = sum(c.cell_type == "code" and bool({"setup", "reference", "provided"} & set(c.metadata.get("tags", [])))
                  for c in cells)
    folded = re.findall(r'class="cell [^"]*tag_hide-input', html)
    assert len(folded) == support + 1, "the set-up, reference and provided cells are folded; nothing else"


def test_the_landing_page_starts_every_chapter_in_colab_and_gives_its_points():
    html = (HTML / "book" / "intro.html").read_text()
    first_screen = html.split('<article class="bd-article">', 1)[1].split('id="prerequisites"', 1)[0]
    for chapter in chapters():
        assert colab_url(f"notebooks/{chapter}/{source_path(chapter).name}") in first_screen, chapter
        graded = sum(c.metadata["nbgrader"]["points"] for c in nbformat.read(source_path(chapter), as_version=4).cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
        written = sum(points for _, points, _, _ in questions(chapter))
        assert f"{graded:g} + {written:g} written" in first_screen, chapter


@pytest.mark.parametrize("chapter", chapters())
def test_no_output_shows_an_object_repr(chapter):
    """Outputs are results, not reprs such as ``<torch._C.Generator object at 0x7f…>``."""
    reprs = re.findall(r"&lt;[\w.]+(?: object)? at 0x[0-9a-f]+&gt;", page(chapter))
    assert not reprs, reprs[:3]


@pytest.mark.parametrize("chapter", chapters())
def test_each_exercise_and_written_question_is_in_a_box_with_its_points(chapter):
    titles = re.findall(r'<div class="(?:tip|note) admonition">\s*<p class="admonition-title">([^<]*)', page(chapter))
    notebook = nbformat.read(source_path(chapter), as_version=4)
    expected = [f"Exercise · {points} point{'s' if points != 1 else ''}" for _, points in exercises(notebook)]
    expected += [f"Written question · {p} point{'s' if p != 1 else ''}" for _, p, _, _ in questions(chapter)]
    assert sorted(t for t in titles if "·" in t) == sorted(expected)


def executed_figures(chapter):
    """``(cell source, width in px it is drawn for)`` of each figure the executed chapter shows."""
    notebook = nbformat.read(CACHE / f"{chapter}-{inputs(chapter)}.ipynb", as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                width = output.get("metadata", {}).get("image/png", {}).get("width")
                yield cell.source, width


@pytest.mark.parametrize("chapter", chapters())
def test_figures_are_drawn_at_the_columns_width_with_legible_text(chapter):
    """Every figure is a 2x PNG (its width in the output's metadata, half its pixels) drawn no
    wider than the course's figure width, and no code sets a font smaller than the course's."""
    figures = list(executed_figures(chapter))
    assert figures, f"{chapter} shows no figure"
    for source, width in figures:
        assert width, f"a figure is not a 2x PNG (set-up cell's style): {source[:60]!r}"
        assert width <= FIGURE_WIDTH_IN * 100 + 10, f"a figure {width} px wide: {source[:60]!r}"
    code = "\n".join(c.source for c in nbformat.read(source_path(chapter), as_version=4).cells
                     if c.cell_type == "code")
    sizes = [float(s) for s in re.findall(r"\b(?:fontsize|size)\s*=\s*(\d+(?:\.\d+)?)", code)]
    assert all(size >= FIGURE_FONT_PT for size in sizes), f"fonts below {FIGURE_FONT_PT} pt: {sizes}"
    assert not re.search(r"fontsize\s*=\s*[\"'](?:x-|xx-)?small", code), "a font set 'small'"
