"""Feedback pages: the graded notebook as HTML, safe to send to a student and to open anywhere.

nbgrader's ``generate_feedback`` renders the autograded notebook, in which every test cell has its
source restored from the gradebook, hidden tests included, and in which whatever a submission
printed or displayed is written into the page as it came: an ``text/html`` output, a Markdown
cell or a written answer holding ``<script>`` runs in the browser of whoever opens the page.
``SafeHTMLExporter`` (``GenerateFeedback.exporter_class`` in ``coursedir.CONFIG``) is nbgrader's
HTML exporter with the page made data:

- **no hidden tests**: every cell loses what lies between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` (an unterminated region to the cell's end), as nbgrader's own
  ``ClearHiddenTests`` does for the release, but never raising on a student's own text;
- **outputs as text**: a code cell's outputs keep only plain text and PNG/JPEG images; any other
  kind (HTML, SVG, JavaScript, Markdown, LaTeX, widgets) is shown as its source text, escaped, and
  output metadata (file names, iframes, sizes) is dropped;
- **Markdown sanitised**: every Markdown rendering (cells, written answers, comments) goes through
  an allow-list of tags and attributes (``clean``): other tags show as text, comments go, event
  handlers and ``style`` go, links keep only http(s), mailto and in-page targets, images only
  ``data:image/`` sources;
- **no script at all**: the page carries a Content-Security-Policy that allows no script, no
  frame, no form, no remote resource (``POLICY``), and its own ``<script>`` tags (MathJax from a
  CDN) are removed, so formulas show as their TeX source. A page without script is the one
  guarantee that does not depend on the sanitiser seeing every trick.

``export`` copies a job's page into ``RESULTS/feedback/<student>/<chapter>.html``, applying the
page-level part again, so that no page leaves the grader without its policy.
"""

import copy
import json
import re

import bleach
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from traitlets import default

HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
KEPT_OUTPUTS = ("text/plain", "image/png", "image/jpeg")
POLICY = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
          "base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'")
POLICY_TAG = f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")


def without_hidden_tests(source):
    """``source`` without its hidden-test regions, marker lines included; a region left open runs
    to the end (nbgrader's ``ClearHiddenTests`` raises there, which would cost a student their page)."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if HIDDEN_BEGIN in line:
            hidden = True
        elif HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def as_text(output):
    """A display output with only the kinds the page shows as data; a rich-only one (HTML, SVG,
    JavaScript, ...) becomes its source as plain text."""
    data = output.get("data", {})
    kept = {kind: value for kind, value in data.items() if kind in KEPT_OUTPUTS}
    if not kept and data:
        value = next(iter(data.values()))
        kept = {"text/plain": value if isinstance(value, str) else json.dumps(value, indent=1)}
    output["data"] = kept
    output["metadata"] = {}
    return output


def safe_notebook(notebook):
    """What of the graded notebook the page may show (a copy): no hidden tests, outputs as data,
    grade ids fit for an HTML attribute, no raw cells or widget state."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.source = without_hidden_tests(cell.source)
        if cell.cell_type == "raw":
            cell.metadata = {}  # nbconvert writes a raw cell marked text/html into the page as HTML
        meta = cell.metadata.get("nbgrader", {})
        if "grade_id" in meta and not SAFE_ID.fullmatch(str(meta["grade_id"])):
            meta["grade_id"] = re.sub(r"[^A-Za-z0-9_-]", "_", str(meta["grade_id"]))
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("display_data", "execute_result"):
                as_text(output)
            else:
                output.pop("metadata", None)
    return notebook


def allowed_attribute(tag, name, value):
    """The attributes a sanitised fragment keeps: layout and anchors, links that only navigate,
    images that are data."""
    if name in ("class", "id", "title"):
        return True
    if tag == "a" and name == "href":
        return not re.match(r"\s*data:", value, flags=re.IGNORECASE)
    if tag == "img":
        return name in ("alt", "width", "height") or (name == "src" and value.startswith("data:image/"))
    return tag in ("td", "th") and name in ("colspan", "rowspan")


def clean(fragment):
    """``fragment`` of HTML with only the allowed tags and attributes; others show as text."""
    return bleach.clean(str(fragment), tags=TAGS, attributes=allowed_attribute,
                        protocols={"http", "https", "mailto", "data"}, strip=False, strip_comments=True)


def with_policy(page):
    """``page`` with no script in its head and the Content-Security-Policy first in it (again
    unchanged when already so)."""
    head, marker, rest = page.partition("</head>")
    if not marker:
        raise ValueError("a feedback page without a <head>")
    head = re.sub(r"<script\b.*?</script>\s*", "", head, flags=re.DOTALL | re.IGNORECASE)
    head = head.replace("\n" + POLICY_TAG, "").replace(POLICY_TAG, "")
    opening = re.search(r"<head\b[^>]*>", head, flags=re.IGNORECASE)
    if not opening:
        raise ValueError("a feedback page without a <head>")
    return head[:opening.end()] + "\n" + POLICY_TAG + head[opening.end():] + marker + rest


class SafeHTMLExporter(HTMLExporter):
    """nbgrader's feedback exporter (its ``feedback`` template, set by ``GenerateFeedback``) on
    ``safe_notebook`` of the graded notebook, with sanitised Markdown and a page without script."""

    @default("sanitize_html")
    def _sanitize_html_default(self):
        return True  # nbconvert's own switch: no JavaScript or widget output, cleaned HTML output

    def _preprocess(self, nb, resources):
        nb, resources = super()._preprocess(nb, resources)  # GetGrades first: it reads the grade ids
        return safe_notebook(nb), resources

    @pass_context
    def markdown2html(self, context, source):
        return clean(super().markdown2html(context, source))

    def from_notebook_node(self, nb, resources=None, **kw):
        page, resources = super().from_notebook_node(nb, resources, **kw)
        return with_policy(page), resources


def export(job, student, chapter, results):
    """Copy the feedback page nbgrader wrote for ``student`` in ``job`` to
    ``results/feedback/<student>/<chapter>.html``, with its policy checked."""
    for page in (job / "feedback" / student / chapter).glob("*.html"):
        target = results / "feedback" / student / f"{chapter}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(with_policy(page.read_text()))
