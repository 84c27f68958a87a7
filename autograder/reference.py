"""Load a chapter's reference solution from its instructor notebook (the one source).

The reference is what the instructor notebook's solution cells define, run after the cells it
tags ``reference`` (its imports and provided helpers). Hidden tests and unit tests use it; there is
no second copy of the reference anywhere.
"""

import functools
from types import SimpleNamespace

import nbformat

from autograder.course import source_path


def is_solution_cell(cell):
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution", False)


def is_reference_cell(cell):
    return cell.cell_type == "code" and (
        is_solution_cell(cell) or "reference" in cell.metadata.get("tags", [])
    )


@functools.cache
def load_reference(chapter):
    """Run the reference cells of ``solutions/<chapter>`` and return what they define."""
    path = source_path(chapter)
    notebook = nbformat.read(path, as_version=4)
    namespace = {"__name__": f"reference_{chapter}"}
    for index, cell in enumerate(notebook.cells):
        if is_reference_cell(cell):
            code = compile(cell.source, f"{path.name} (cell {index})", "exec")
            exec(code, namespace)
    names = {k: v for k, v in namespace.items() if not k.startswith("_")}
    return SimpleNamespace(**names)
