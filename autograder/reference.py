"""Load a chapter's reference solution from its instructor notebook (the one source).

The reference is what the instructor notebook's solution cells define, run after the cells it
tags ``reference`` (its imports and provided helpers). Hidden tests and unit tests use it; there is
no second copy of the reference anywhere.

This module runs inside every grading kernel, so it reads the notebook as plain JSON: importing
``nbformat`` there would cost two seconds per graded notebook.
"""

import contextlib
import functools
import io
import json
from types import SimpleNamespace

from autograder.course import cell_source, is_reference_cell, source_path


@functools.cache
def load_reference(chapter):
    """What ``chapter``'s reference cells define, by running the reference cells of
    ``solutions/<chapter>`` (the grader's process, unit tests, plain ``nbgrader autograde``; the
    course's grader never loads it in a student's kernel)."""
    try:
        path = source_path(chapter)
        cells = json.loads(path.read_text())["cells"]
    except OSError as error:
        raise FileNotFoundError(f"the reference of {chapter} cannot be read here (a grading kernel "
                                "has no access to the instructor notebooks)") from error
    return run_cells(chapter, [cell_source(c) for c in cells if is_reference_cell(c)], path.name)


def run_cells(chapter, sources, origin):
    namespace = {"__name__": f"reference_{chapter}"}
    with contextlib.redirect_stdout(io.StringIO()):  # the reference cells' own demonstrations
        for index, source in enumerate(sources):
            exec(compile(source, f"{origin} (cell {index})", "exec"), namespace)
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("_")})
