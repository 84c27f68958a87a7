"""Where the course's files are, and what a chapter is."""

import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "_build"

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


# A notebook's cells as plain JSON dicts (``nbformat`` nodes are dicts too): the grading kernel reads
# the instructor notebook without ``nbformat``, which would cost two seconds per graded notebook.
def cell_source(cell):
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def is_solution_cell(cell):
    return cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)


def is_reference_cell(cell):
    return cell["cell_type"] == "code" and (
        is_solution_cell(cell) or "reference" in cell.get("metadata", {}).get("tags", [])
    )


def chapters():
    """Chapter ids (``chNN_slug``), in order: one folder each in ``solutions/``."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if re.fullmatch(r"ch\d\d_\w+", p.name))


def source_path(chapter):
    """The instructor notebook of a chapter: the single source of everything else."""
    found = sorted((SOLUTIONS / chapter).glob("*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"solutions/{chapter} must hold exactly one notebook, found {len(found)}")
    return found[0]


def release_path(chapter):
    """The student notebook of a chapter, as the release writes it."""
    return NOTEBOOKS / chapter / source_path(chapter).name


def config():
    """The book's ``_config.yml``."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def colab_url(repo_path):
    """Colab link that opens ``repo_path`` (relative to the repository root) as committed."""
    repository = config()["repository"]
    github = repository["url"].removeprefix("https://github.com/").strip("/")
    return f"https://colab.research.google.com/github/{github}/blob/{repository['branch']}/{repo_path}"


DEFAULT_REPOSITORY = "https://github.com/awq-course/awq-course"


def repository_warning(repository=None):
    """A warning while ``_config.yml`` names the course's default repository, else None: the
    Colab badges and launch buttons would open that repository's notebooks, not the instructor's."""
    repository = repository or config()["repository"]
    if repository["url"].rstrip("/") != DEFAULT_REPOSITORY:
        return None
    return (f"warning: _config.yml's repository.url is the course's default ({DEFAULT_REPOSITORY}): "
            "the Colab badges and the book's launch buttons open the notebooks there, not in your "
            "fork. Set repository.url (and branch) to your repository, then run make again.")


def tool_env():
    """Environment for nbgrader and kernels: this package importable, this Python's tools on PATH.

    nbgrader runs ``alembic`` by name, so the virtual environment's ``bin`` must be on PATH even
    when it is not activated.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)}


def threads_each(side_by_side):
    """Math threads for each of ``side_by_side`` processes sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // side_by_side)


def thread_cap(threads):
    """Environment variables that cap a process's math threads at ``threads`` (none if 0 or None)."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {}


# The figures' style, set by every notebook's set-up cell (release.py): drawn for the width they
# are shown at in the book's column (at 100 dpi, as a PNG of twice the pixels for sharp screens),
# with text of FIGURE_FONT_PT points: 16.7 px on a laptop, at least 9 px in a phone's 342-px column.
FIGURE_WIDTH_IN = 6.2
FIGURE_FONT_PT = 12
FIGURE_STYLE = {"figure.figsize": (FIGURE_WIDTH_IN, 3.8), "figure.dpi": 100, "font.size": FIGURE_FONT_PT,
                "axes.titlesize": FIGURE_FONT_PT, "legend.fontsize": FIGURE_FONT_PT}
