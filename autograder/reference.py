"""Load a chapter's reference solution from its instructor notebook (the one source).

The reference is what the instructor notebook's solution cells define, run after the cells it
tags ``reference`` (its imports and provided helpers). Hidden tests and unit tests use it; there is
no second copy of the reference anywhere.

This module runs inside every grading kernel, so it reads the notebook as plain JSON: importing
``nbformat`` there would cost two seconds per graded notebook.
"""

import functools
import json
from types import SimpleNamespace

from autograder.course import source_path


def cell_source(cell):
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def is_solution_cell(cell):
    return cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)


def is_reference_cell(cell):
    return cell["cell_type"] == "code" and (
        is_solution_cell(cell) or "reference" in cell.get("metadata", {}).get("tags", [])
    )


@functools.cache
def load_reference(chapter):
    """Run the reference cells of ``solutions/<chapter>`` and return what they define."""
    path = source_path(chapter)
    cells = json.loads(path.read_text())["cells"]
    namespace = {"__name__": f"reference_{chapter}"}
    for index, cell in enumerate(cells):
        if is_reference_cell(cell):
            exec(compile(cell_source(cell), f"{path.name} (cell {index})", "exec"), namespace)
    names = {k: v for k, v in namespace.items() if not k.startswith("_")}
    return SimpleNamespace(**names)
