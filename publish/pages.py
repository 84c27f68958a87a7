"""Book pages: the executed instructor notebook as a student sees it, with the reference's outputs.

The staging folder mirrors the repository: ``book/`` is copied as it is, and each chapter page is
written to ``notebooks/chNN_slug/slug.ipynb``, so the theme's Colab button opens the student
notebook of the same path in the repository.

Executing the chapters is most of a build (Chapter 4 takes about seven minutes at one thread), so an executed
notebook is kept in ``_build/cache`` under a hash of everything its outputs depend on (``inputs``),
and chapters that must run do so side by side.
"""

import hashlib
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
from nbclient import NotebookClient
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.course import BUILD, ROOT, SOLUTIONS, source_path, thread_cap, threads_each
from publish.release import student_colab_url, with_setup

STAGE = BUILD / "src"
CACHE = BUILD / "cache"
# The course's modules a chapter imports as it runs (its hidden tests and reference loader); the
# code it takes from them at release (provided code, the set-up cell) is in the notebook it runs.
RUNTIME = tuple(f"autograder/{name}.py" for name in ("checks", "course", "plain", "probe", "provided", "reference"))


def executed(chapter, timeout=1800, threads=None):
    """The instructor notebook with the set-up cell, executed with its solutions in place;
    ``threads`` caps the kernel's math threads (side-by-side kernels must not oversubscribe the
    cores)."""
    path = source_path(chapter)
    notebook = with_setup(nbformat.read(path, as_version=4))
    env = os.environ | thread_cap(threads)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    return notebook


WIDGET = "application/vnd.jupyter.widget-view+json"
WRITTEN_STUB = "*Your answer goes here, in the notebook; the instructor grades it by hand.*"


def without_progress_bars(notebook):
    """Drop widget outputs (the progress bars of loops and model loading): in a static page they
    would only say 0 % and load Jupyter's widget scripts from a CDN."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
    return notebook


def without_image_heights(notebook):
    """A 2x PNG's output says the width and height it is shown at; the height is dropped, so that
    a figure shrunk to a phone's column keeps its shape."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for size in output.get("metadata", {}).values():
                if isinstance(size, dict):
                    size.pop("height", None)
    return notebook


FOLDED = {"setup", "reference", "provided"}  # code a reader needs only on demand
PROVIDED_NOTE = ("# Provided code: the reference answers of the earlier chapters' exercises. The student\n"
                 "# notebook holds them; the book does not show them, so that it gives away no answer.")


def student_view(notebook, chapter):
    """Replace solution code by the student stub and remove hidden tests; outputs stay, but for
    progress bars. For the book: the Colab badge under the title, the provided code (earlier
    chapters' answers) replaced by a note, and the set-up, reference and provided cells folded behind a toggle (exercises, tests and results stay open)."""
    resources = {}
    notebook, resources = ClearSolutions(text_stub=WRITTEN_STUB).preprocess(notebook, resources)
    notebook, resources = ClearHiddenTests().preprocess(notebook, resources)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "provided" in tags:
            cell.source = PROVIDED_NOTE  # earlier chapters' answers: in the student notebook only
        if cell.cell_type == "code" and FOLDED & set(tags) and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
    title, *rest = notebook.cells[0].source.split("\n", 1)
    notebook.cells[0].source = "\n\n".join([title, page_badge(chapter), *rest])
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = boxed_task(cell.source)
    return without_image_heights(without_progress_bars(notebook))


TASK = re.compile(r"^(### (Exercise|Question) \d+ — .*\((\d+) points?(, written)?\))\n+(.+)",
                  flags=re.DOTALL | re.MULTILINE)


def boxed_task(source):
    """An exercise's or a written question's text in a box under its heading (the heading stays
    outside, in the page's contents): "Exercise · 3 points", "Written question · 2 points"."""
    found = TASK.search(source)
    if not found:
        return source
    heading, kind, points, written, body = found.groups()
    label = "Written question" if written else kind
    return (f"{source[:found.start()]}{heading}\n\n"
            f":::{{admonition}} {label} · {points} point{'s' if points != '1' else ''}\n"
            f":class: {'note' if written else 'tip'}\n{body.rstrip()}\n:::\n")


def with_colab_links(text):
    """``(colab:chNN_slug)`` link targets of the book's Markdown made the chapter's Colab URL,
    from ``_config.yml`` as the badges are."""
    return re.sub(r"\(colab:(ch\d\d_\w+)\)", lambda m: f"({student_colab_url(m.group(1))})", text)


def page_badge(chapter):
    """The Colab badge of a chapter page, under its title, from the site itself (offline)."""
    return f"[![Open in Colab](../../book/figures/open-in-colab.svg)]({student_colab_url(chapter)})"


def page_path(chapter, stage=STAGE):
    return stage / "notebooks" / chapter / source_path(chapter).name


def inputs(chapter):
    """A hash of what the executed chapter depends on: the notebook as it runs (set-up cell and
    provided code pasted in), the data it reads, the code it imports, the pinned packages."""
    digest = hashlib.sha256(nbformat.writes(with_setup(nbformat.read(source_path(chapter), as_version=4))).encode())
    code = [ROOT / path for path in RUNTIME]
    files = sorted((SOLUTIONS / "data").rglob("*")) + code
    for path in [*files, ROOT / "requirements.txt"]:
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cached_execution(chapter, threads=None):
    """The executed chapter from the cache, or executed now and cached; and whether it was cached."""
    path = CACHE / f"{chapter}-{inputs(chapter)}.ipynb"
    if path.exists():
        return nbformat.read(path, as_version=4), True
    notebook = executed(chapter, threads=threads)
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob(f"{chapter}-*.ipynb"):
        stale.unlink()
    nbformat.write(notebook, path)
    return notebook, False


def write_pages(chapters, stage=STAGE):
    """Stage ``book/`` and one executed page per chapter for ``jupyter-book build``."""
    shutil.rmtree(stage / "book", ignore_errors=True)
    shutil.copytree(ROOT / "book", stage / "book")
    for markdown in (stage / "book").glob("*.md"):
        markdown.write_text(with_colab_links(markdown.read_text()))

    side_by_side = min(os.cpu_count() or 1, len(chapters)) or 1
    threads = threads_each(side_by_side)

    def write(chapter):
        start = time.perf_counter()
        notebook, cached = cached_execution(chapter, threads)
        path = page_path(chapter, stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_view(notebook, chapter), path)
        took = "cached" if cached else f"executed in {time.perf_counter() - start:.0f} s, {threads} thread(s)"
        print(f"page {path.relative_to(ROOT)} ({took})", flush=True)

    longest_first = sorted(chapters, key=lambda c: source_path(c).stat().st_size, reverse=True)  # a proxy
    with ThreadPoolExecutor(side_by_side) as pool:
        list(pool.map(write, longest_first))
