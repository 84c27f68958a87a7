"""The sealed reference: hidden tests get it, the student's code does not, and it leaves no trace.

Cells run in a real IPython shell, as in a grading kernel; the solutions are made unreadable the way
the jail makes them (``solutions/`` is not there), so the seal is the only way to the reference.
"""

import re

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from autograder import course, reference
from autograder.preprocessors import StripSeal
from autograder.reference import SEAL_CALL, seal_hidden_tests, unseal_line

CHAPTER = "ch01_minmax"


@pytest.fixture
def shell(monkeypatch, tmp_path):
    line = unseal_line(CHAPTER)  # made before the solutions "disappear"
    reference.reference_from_notebook.cache_clear()
    monkeypatch.setattr(reference, "source_path", lambda chapter: tmp_path / "nothing-here" / "x.ipynb")
    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # as nbclient starts a kernel
    ipython = InteractiveShell.instance(config=config)
    yield ipython, line
    reference.reference_from_notebook.cache_clear()
    InteractiveShell.clear_instance()


def run(ipython, source):
    result = ipython.run_cell(source, store_history=True)  # as a kernel runs a cell
    return result.error_in_exec


def test_a_hidden_cell_gets_the_reference(shell):
    ipython, line = shell
    assert run(ipython, f"{line}\nfrom autograder.reference import load_reference\n"
                        "ref = load_reference('ch01_minmax')\nbits = ref.bits_per_weight(4, 128)") is None
    assert ipython.user_ns["bits"] == pytest.approx(4.25)


def test_the_checks_get_it_through_autograder(shell):
    ipython, line = shell
    run(ipython, "import torch\ndef dequantize(codes, scales, zeros):\n    return (codes - zeros) * scales")
    error = run(ipython, f"{line}\nfrom autograder.checks import compare\ncompare('ch01_minmax', 'dequantize', "
                         "dequantize, [('small', (torch.ones(2, 4), torch.ones(2, 1), torch.zeros(2, 1)))])")
    assert error is None


def test_a_student_function_that_asks_for_it_is_refused(shell):
    ipython, line = shell
    run(ipython, "def cheat():\n    from autograder.reference import load_reference\n"
                 "    return load_reference('ch01_minmax')")
    error = run(ipython, f"{line}\ncheat()")
    assert isinstance(error, PermissionError)


def test_outside_a_hidden_cell_there_is_nothing_to_load(shell):
    ipython, line = shell
    run(ipython, f"{line}\nx = 1")
    error = run(ipython, "from autograder.reference import load_reference\nload_reference('ch01_minmax')")
    assert isinstance(error, FileNotFoundError) and "grading kernel" in str(error)
    assert reference._sealed == {}


def test_the_seal_leaves_no_trace_in_the_kernel(shell):
    ipython, line = shell
    run(ipython, f"{line}\nraise ValueError('a failing hidden test')")
    run(ipython, "import linecache, sys\nseen = [In, _ih, _i, _ii, str(sys.last_traceback),"
                 " [''.join(e[2]) for e in linecache.cache.values() if len(e) > 2]]")
    assert SEAL_CALL not in repr(ipython.user_ns["seen"])


@pytest.mark.parametrize("chapter", course.chapters())
def test_every_hidden_region_that_uses_the_reference_is_sealed(chapter):
    notebook = seal_hidden_tests(nbformat.read(course.source_path(chapter), as_version=4))
    regions = [part.split(course.HIDDEN_MARKERS[1])[0] for cell in notebook.cells
               for part in cell.source.split(course.HIDDEN_MARKERS[0])[1:]]
    users = [r for r in regions if re.search(r"\b(compare|use_reference|load_reference)\(", r)]
    assert users, chapter
    assert all(r.lstrip("\n").startswith(f'{SEAL_CALL}("{chapter}"') for r in users)


def test_feedback_shows_hidden_tests_without_the_seal(shell):
    ipython, line = shell
    cell = nbformat.v4.new_code_cell(f"### BEGIN HIDDEN TESTS\n{line}\nassert False\n### END HIDDEN TESTS")
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[
        "Traceback", f"\x1b[32m      1\x1b[39m {line[:30]}\x1b[33m{line[30:]}\x1b[39m\n----> 2 assert False"])]
    cleaned, _ = StripSeal().preprocess_cell(cell, {}, 0)
    assert "unseal" not in cleaned.source and "assert False" in cleaned.source
    assert "unseal" not in str(cleaned.outputs) and "assert False" in str(cleaned.outputs)
