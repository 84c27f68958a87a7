"""Submissions built from the committed student notebook, for round trips and benchmarks.

``submission(chapter, answers)`` fills each exercise with the reference's code (markers removed,
as a student would write it) unless ``answers`` gives that exercise other code. ``graded_only``
leaves out the release's experiments, which grading does not need, to test many answers quickly.
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
EXPERIMENT = "experiment"  # the release's tag of its demonstrations and experiments


def normalised(source):
    """``source`` without the blank lines around it and the spaces that end its lines: what an
    editor or a Colab round trip may change in a cell nobody edited."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def experiments(released):
    """The normalised sources of the released notebook's demonstrations and experiments: its code
    cells that are neither graded nor set-up, reference or provided code."""
    return {normalised(cell.source) for cell in released.cells if is_experiment(cell)}


def is_experiment(cell):
    """Whether ``cell`` of the release is a demonstration or experiment: code that is neither
    graded nor set-up, reference or provided code."""
    return cell.cell_type == "code" and not is_graded(cell) and not KEPT_TAGS & set(cell.metadata.get("tags", []))


def is_graded(cell):
    nbgrader = cell.metadata.get("nbgrader", {})
    return bool(nbgrader.get("solution") or nbgrader.get("grade"))


def graded_only(notebook, released=None):
    """``notebook`` without the release's own demonstrations and experiments (``experiments``).

    Every other cell is kept: markdown, the set-up cell, reference and provided code, exercises,
    test cells, and every code cell the student wrote or changed (a helper, an import in a cell of
    its own: the notebook must run as it ran in Colab). The experiments are known by the release's
    tag ``experiment`` (an experiment the student edited keeps it) and by their text (a Colab round
    trip that strips the tags leaves it). Test cells depend only on the kept cells (the round-trip test grades the reference this way to prove it), so the grades are the same as for
    the whole notebook, in a fraction of the time; a student's own long computation is cut by the
    cell time limit (``sandbox.Limits``), as any cell is, and grading goes on.

    ``released``: the chapter's notebook as released; by default ``notebook`` itself, for a notebook
    built from the release (``submission``, ``blank``), whose untagged code cells are the experiments.
    """
    dropped = experiments(released if released is not None else notebook)
    notebook.cells = [cell for cell in notebook.cells
                      if cell.cell_type != "code" or is_graded(cell)
                      or not (EXPERIMENT in cell.metadata.get("tags", []) or normalised(cell.source) in dropped)]
    return notebook
