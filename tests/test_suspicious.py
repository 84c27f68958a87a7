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


@pytest.mark.parametrize(("code", "reason"), [
    ("import importlib\nchecks = importlib.import_module('autograder.checks')", "the grader's package"),
    ("import sys\nsys.modules['autograder.checks'] = None", "the grader's package"),
    ("from nbgrader.api import Gradebook", "the grader's package"),
    ("import inspect\ncaller = inspect.currentframe().f_back", "frame or object introspection"),
    ("def peek(f):\n    return f.__globals__", "frame or object introspection"),
    ("import gc\nobjects = gc.get_objects()", "frame or object introspection"),
    ("import threading\nthreading.setprofile(print)", "tracing or audit hooks"),
    ("from sys import addaudithook", "tracing or audit hooks"),
    ("previous = _ih[-2]", "IPython's hooks or input history"),
    ("print(_ii)", "IPython's hooks or input history"),
    ("shell = get_ipython()  # only to run a magic", "IPython's hooks or input history"),
    ("print(f'{In[1]}')", "IPython's hooks or input history"),
    ("import sys\nerror = sys.last_value", "the last traceback"),
    ("from sys import last_type, last_value", "the last traceback"),
    ("import sqlite3\nsqlite3.connect('../../../gradebook.db')", "other processes or the grader's files"),
    ("import glob\nglob.glob('/proc/*/root/course/solutions/ch01_minmax/*')", "other processes or the grader's files"),
    ("open('../solutions/ch01_minmax/minmax.ipynb')", "other processes or the grader's files"),
])
def test_each_real_use_is_flagged(code, reason):
    released = nbformat.read(release_path("ch01_minmax"), as_version=4)
    notebook = submission("ch01_minmax")
    notebook.cells.append(nbformat.v4.new_code_cell(code))
    assert [f.split(" (")[0] for f in flags(notebook, released)] == [reason]


ORDINARY = {
    "a local last_value": "def running_max(xs):\n    last_value = None\n    for x in xs:\n"
                          "        last_value = x if last_value is None else max(last_value, x)\n    return last_value",
    "an attribute last_value of the student's own class": "class Meter:\n    def update(self, v):\n"
                                                          "        self.last_value = v\n        self.last_type = type(v)",
    "last_traceback as a name": "last_traceback, last_exc = None, None\nprint(last_traceback, last_exc)",
    "the grader named in a comment": "# the autograder checks quantize; see the gradebook in solutions/\nx = 1",
    "the grader named in a string": 'print("passes the autograder In [3] _ih; my gradebook; see solutions/ below")',
    "a docstring that names everything": 'def f():\n    """Uses no sys.last_value, no _getframe, no get_ipython,'
                                         ' no /proc/ nor gradebook.db."""\n    return 0',
    "IPython's history names bound by the student": "_ii = 3\nfor _iii in range(2):\n    print(_ii + _iii)\n"
                                                    "def g(_ih):\n    return _ih",
    "a magic line and a shell line": "%matplotlib inline\n!pip list\nimport numpy as np",
    "a dict and names that look like the patterns": "In_ = {'In': 1}\nfrom_gc = 'get_objects'\nprocess = 'proc'\n"
                                                    "events = []\nevents.append('register')\nframe_back = 2\n"
                                                    "solutions = ['a']\nprint(solutions[0], In_['In'])",
    "an f-string with ordinary fields": "value = 2\nprint(f'In [{value}] /proc/ {value!r:>4}')",
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_code_is_not_flagged(name):
    released = nbformat.read(release_path("ch01_minmax"), as_version=4)
    added = submission("ch01_minmax")
    added.cells.append(nbformat.v4.new_code_cell(ORDINARY[name]))
    assert flags(added, released) == []
    inside = submission("ch01_minmax")
    cell = next(c for c in inside.cells if grade_id(c) == "dequantize")
    cell.source = ORDINARY[name] + "\n\n" + cell.source
    assert flags(inside, released) == []


def test_a_path_on_a_line_of_its_own_is_still_a_value():
    released = nbformat.read(release_path("ch01_minmax"), as_version=4)
    notebook = submission("ch01_minmax")
    notebook.cells.append(nbformat.v4.new_code_cell('db = open(\n    "../../../gradebook.db"\n)'))
    assert [f.split(" (")[0] for f in flags(notebook, released)] == ["other processes or the grader's files"]
