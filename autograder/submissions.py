"""Submissions built from the committed student notebook, for round trips and benchmarks.

``submission(chapter, answers)`` fills each exercise with the reference's code (markers removed,
as a student would write it) unless ``answers`` gives that exercise other code.
"""

import nbformat

from autograder.course import SOLUTION_MARKERS, release_path, source_path
from autograder.reference import is_solution_cell


def reference_answers(chapter):
    notebook = nbformat.read(source_path(chapter), as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS
        )
        for cell in notebook.cells if is_solution_cell(cell)
    }


def submission(chapter, answers=None):
    notebook = nbformat.read(release_path(chapter), as_version=4)
    code = {**reference_answers(chapter), **(answers or {})}
    for cell in notebook.cells:
        if is_solution_cell(cell):
            cell.source = code[cell.metadata["nbgrader"]["grade_id"]]
    return notebook


def blank(chapter):
    return nbformat.read(release_path(chapter), as_version=4)
