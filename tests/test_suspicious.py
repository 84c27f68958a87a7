"""Submissions whose own code reaches for the grader's internals are flagged; honest ones are not."""

import copy

import nbformat
import pytest

from autograder.course import chapters, release_path
from autograder.repair import grade_id
from autograder.submissions import submission
from autograder.suspicious import flags


@pytest.mark.parametrize("chapter", chapters())
def test_the_reference_answers_are_not_flagged(chapter):
    assert flags(submission(chapter), nbformat.read(release_path(chapter), as_version=4)) == []


@pytest.mark.parametrize(("code", "reason"), [
    ("from autograder.reference import load_reference", "the grader's package"),
    ("import sys\nframe = sys._getframe(1)", "frame or object introspection"),
    ("import sys\nsys.settrace(lambda *a: None)", "tracing or audit hooks"),
    ("get_ipython().events.register('pre_run_cell', print)", "IPython's hooks or input history"),
    ("print(In[-1])", "IPython's hooks or input history"),
    ("import sys\ntb = sys.last_traceback", "the last traceback"),
    ("open('/proc/1/environ').read()", "other processes or the grader's files"),
])
def test_code_that_reaches_for_the_grader_is_flagged(code, reason):
    released = nbformat.read(release_path("ch01_minmax"), as_version=4)
    notebook = submission("ch01_minmax")
    added = copy.deepcopy(notebook)
    added.cells.append(nbformat.v4.new_code_cell(code))
    assert [f.split(" (")[0] for f in flags(added, released)] == [reason]
    inside = copy.deepcopy(notebook)
    cell = next(c for c in inside.cells if grade_id(c) == "dequantize")
    cell.source += "\n" + code
    assert [f.split(" (")[0] for f in flags(inside, released)] == [reason]
