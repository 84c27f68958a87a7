"""Submissions built from the committed student notebook, for round trips and benchmarks.

``submission(chapter, answers)`` fills each exercise with the reference's code (markers removed,
as a student would write it) unless ``answers`` gives that exercise other code. ``graded_only``
keeps just what grading needs, to test many answers quickly.
"""

import nbformat

from autograder.course import SOLUTION_MARKERS, is_solution_cell, release_path, source_path
from autograder.written import is_written, questions


def reference_answers(chapter):
    notebook = nbformat.read(source_path(chapter), as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS
        )
        for cell in notebook.cells if is_solution_cell(cell)
    }


def submission(chapter, answers=None):
    """The student notebook with the reference's code in every exercise (or ``answers``' code)
    and the model answer in every written answer cell."""
    notebook = nbformat.read(release_path(chapter), as_version=4)
    code = {**reference_answers(chapter), **(answers or {})}
    model = {grade_id: text for grade_id, _, _, text in questions(chapter)}
    for cell in notebook.cells:
        if is_solution_cell(cell):
            cell.source = code[cell.metadata["nbgrader"]["grade_id"]]
        elif is_written(cell):
            cell.source = model[cell.metadata["nbgrader"]["grade_id"]]
    return notebook


def blank(chapter):
    return nbformat.read(release_path(chapter), as_version=4)


KEPT_TAGS = {"setup", "reference", "provided"}


def graded_only(notebook):
    """``notebook`` without the code cells grading does not need: the demonstrations and experiments.

    Kept: markdown, the set-up cell, reference and provided code, exercises and test cells. Test
    cells depend only on these (the round-trip test grades the reference this way to prove it), so
    the grades are the same as for the whole notebook, in a fraction of the time.
    """
    def needed(cell):
        nbgrader = cell.metadata.get("nbgrader", {})
        return (cell.cell_type != "code" or nbgrader.get("solution") or nbgrader.get("grade")
                or KEPT_TAGS & set(cell.metadata.get("tags", [])))

    notebook.cells = [cell for cell in notebook.cells if needed(cell)]
    return notebook
