"""Book pages: the executed instructor notebook as a student sees it, with the reference's outputs.

The staging folder mirrors the repository: ``book/`` is copied as it is, and each chapter page is
written to ``notebooks/chNN_slug/slug.ipynb``, so the theme's Colab button opens the student
notebook of the same path in the repository.
"""

import shutil

import nbformat
from nbclient import NotebookClient
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.course import BUILD, ROOT, source_path
from autograder.release import with_setup

STAGE = BUILD / "src"


def executed(chapter, timeout=300):
    """The instructor notebook with the set-up cell, executed with its solutions in place."""
    path = source_path(chapter)
    notebook = with_setup(nbformat.read(path, as_version=4))
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def student_view(notebook):
    """Replace solution code by the student stub and remove hidden tests; outputs stay."""
    resources = {}
    notebook, resources = ClearSolutions().preprocess(notebook, resources)
    notebook, resources = ClearHiddenTests().preprocess(notebook, resources)
    return notebook


def page_path(chapter, stage=STAGE):
    return stage / "notebooks" / chapter / source_path(chapter).name


def write_pages(chapters, stage=STAGE):
    """Stage ``book/`` and one executed page per chapter for ``jupyter-book build``."""
    shutil.rmtree(stage / "book", ignore_errors=True)
    shutil.copytree(ROOT / "book", stage / "book")
    for chapter in chapters:
        path = page_path(chapter, stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_view(executed(chapter)), path)
        print(f"page {path.relative_to(ROOT)}")
