"""A Sphinx extension for the book (``_config.yml``: ``sphinx.extra_extensions``) that removes two
errors the browser console shows on every page of a Jupyter Book 1.0 site:

- sphinx-thebe registers its configuration script twice, and the second ``const THEBE_JS_URL``
  is a syntax error: each page keeps one copy of every script;
- the PyData theme reads an empty default colour mode as invalid: it gets ``auto`` (follow the
  reader's system setting) unless one is configured.

It also serves MathJax from the site itself, from the PyPI package ``django-static-mathjax`` (plain
static files, no Django needed), instead of a CDN: the book's equations render offline, and in
the browser tests on a machine without internet.

And it adds the course's stylesheet, ``static/course.css``: display equations that fit a phone's
width, inline code that wraps, result tables that scroll inside their output.
"""

import shutil
from importlib.util import find_spec
from pathlib import Path


def mathjax_files():
    """MathJax 3's ``es5`` folder from the installed package, or None."""
    spec = find_spec("mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" / "es5" if spec and spec.origin else None
    return folder if folder and (folder / "tex-mml-chtml.js").exists() else None


def use_local_mathjax(app, config):
    if mathjax_files():
        config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative: under the site's _static/


def copy_mathjax(app, exception):
    if exception is None and mathjax_files() and app.builder.format == "html":
        shutil.copytree(mathjax_files(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def one_of_each_script(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
        key = (str(getattr(script, "filename", script) or ""), attributes)  # an inline script's is None or ""
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


STATIC = Path(__file__).parent / "static"


def add_course_css(app, config):
    config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("config-inited", add_course_css)
    app.add_css_file("course.css")
    app.connect("html-page-context", one_of_each_script, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
