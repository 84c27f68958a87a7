"""Nothing honest is dropped, and no run stops or stalls (issue 26).

Unit tests first (no nbgrader): which cells grading keeps, names that cannot meet, the key of a
saved result, the error boundary of a job. Then one real grading run of Chapter 1 with honest
notebooks that an earlier grader marked down (a helper or an import in a cell of its own, a local
``last_value``, a long computation of the student's own), beside an honest and a blank control, a
file named after another student's job folder and two near-copies of a provided cell; graded again
with a larger cell limit, and once more after a job's row was a timeout.
"""

import copy
import json
import re
import subprocess

import nbformat
import pytest

from autograder import coursedir
from autograder.collect import Found
from autograder.course import source_path
from autograder.grader import grade, grade_job, prepared, result_key, safe_name, saved_row
from autograder.repair import grade_id, release_notebook
from autograder.sandbox import Limits
from autograder.submissions import blank, submission

CHAPTER = "ch01_minmax"
FULL = 11.0

HELPER = '''def code_range(n_bit, zero_point):
    """Smallest and largest code."""
    if zero_point:
        return 0, 2**n_bit - 1
    return -(2 ** (n_bit - 1)), 2 ** (n_bit - 1) - 1'''

QUANTIZE_WITH_HELPER = '''def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    min_int, max_int = code_range(n_bit, zero_point)
    return torch.clamp(torch.round(w / scales) + zeros, min_int, max_int)'''

BITS_WITH_NUMPY = '''def bits_per_weight(n_bit, group_size, scale_bits=16, zero_bits=16):
    return float(n_bit + np.divide(scale_bits + zero_bits, group_size))'''

DEQUANTIZE_WITH_LAST_VALUE = '''def dequantize(codes, scales, zeros):
    last_value = (codes - zeros) * scales
    return last_value'''

LONG_EXPERIMENT = '''import time

for step in range(10**6):  # the student's own long experiment: cut by the cell limit
    time.sleep(1)'''


def answered(exercise, code, before=None, notebook=None):
    """The reference submission (or ``notebook``) with ``code`` as the answer to ``exercise`` and,
    if given, a new code cell ``before`` it."""
    notebook = copy.deepcopy(notebook or submission(CHAPTER))
    index = next(i for i, c in enumerate(notebook.cells) if grade_id(c) == exercise)
    if code is not None:
        notebook.cells[index].source = code
    if before is not None:
        notebook.cells.insert(index, nbformat.v4.new_code_cell(before))
    return notebook


def provided_copies():
    """The reference submission with two near-copies of Chapter 4's 130 KB provided cell (each a
    line apart from it and from the other), tagged ``provided``, after Chapter 1's reference code
    (whose ``torch`` they need) and before the exercises (which define the graded functions again)."""
    release = release_notebook("ch04_gptq")
    provided = next(c for c in release.cells if "provided" in c.metadata.get("tags", []))
    notebook = submission(CHAPTER)
    first = next(i for i, c in enumerate(notebook.cells) if grade_id(c))
    for number in (1, 2):
        cell = nbformat.v4.new_code_cell(f"import os\nfrom pathlib import Path  # copy {number}\n" + provided.source)
        cell.metadata["tags"] = ["provided"]
        notebook.cells.insert(first, cell)
    return notebook


def stripped(notebook):
    """``notebook`` as after a Colab round trip that lost every cell's metadata."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell.metadata = {"colab": {}}
    return notebook


def found_in(tmp_path, name, notebook):
    path = tmp_path / f"{name}_{CHAPTER}.ipynb"
    path.write_text(nbformat.writes(notebook))
    return Found(path, path.name, name, CHAPTER)


# ---------------------------------------------------------------- unit tests, without nbgrader


@pytest.mark.parametrize("strip", [False, True], ids=["as saved", "metadata lost in Colab"])
def test_every_cell_the_student_wrote_is_graded_and_the_experiments_are_not(tmp_path, strip):
    notebook = answered("quantize", QUANTIZE_WITH_HELPER, before=HELPER)
    notebook = answered("bits_per_weight", BITS_WITH_NUMPY, before="import numpy as np", notebook=notebook)
    edited = next(c for c in notebook.cells if c.source.startswith("bits = list(range(2, 9))"))
    edited.source = edited.source.replace("range(2, 9)", "range(2, 5)")  # an experiment the student changed
    notebook = stripped(notebook) if strip else notebook
    kept = [c.source for c in prepared(found_in(tmp_path, "helper", notebook))[0].cells if c.cell_type == "code"]
    assert HELPER in kept and "import numpy as np" in kept
    # an experiment the student changed is left out by its tag; once Colab stripped the tags,
    # nothing tells it from the student's own work, and it runs
    assert (edited.source in kept) == strip
    experiments = [c.source for c in release_notebook(CHAPTER).cells
                   if c.cell_type == "code" and "experiment" in c.metadata.get("tags", [])]
    assert len(experiments) == 6 and not set(experiments) & set(kept)
    graded = [c.source for c in prepared(found_in(tmp_path, "reference", submission(CHAPTER)))[0].cells
              if c.cell_type == "code"]
    assert len(graded) == len([c for c in submission(CHAPTER).cells if c.cell_type == "code"]) - 6


def test_saved_outputs_are_dropped_and_a_huge_notebook_is_refused(tmp_path):
    notebook = submission(CHAPTER)
    cell = next(c for c in notebook.cells if grade_id(c) == "quantize")
    cell.outputs = [nbformat.v4.new_output("stream", text="x" * 100_000)]
    graded = prepared(found_in(tmp_path, "outputs", notebook))[0]
    assert all(not c.outputs for c in graded.cells if c.cell_type == "code")
    notebook.cells.append(nbformat.v4.new_code_cell("#" * (16 * 2**20 + 1)))
    with pytest.raises(ValueError, match="characters of source"):
        prepared(found_in(tmp_path, "huge", notebook))


def test_distinct_students_never_share_a_folder():
    """A name kept as it is never ends as a changed one does, so a file named after another
    student's folder gets a folder of its own."""
    names = ["bob jones", "Bob Jones", "bob_jones", safe_name("bob jones"), safe_name(safe_name("bob jones")),
             "bob_jones-" + safe_name("bob jones").rsplit("-", 1)[1][:8], "", ".", "..", "_", "a" * 80,
             "a" * 81, "a" * 80 + "b", "élève", "e_l_ve", "x/../y", "x_.._y"]
    folders = [safe_name(name) for name in names]
    assert len(set(folders)) == len(names), dict(zip(names, folders, strict=True))
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", f) and len(f) <= 97 for f in folders), folders
    assert safe_name("alice") == "alice" and safe_name("Anna Smith (111)").startswith("Anna_Smith__111-")


def test_the_key_of_a_saved_result_covers_the_limits_and_what_grades():
    limits = Limits(cell_seconds=20, notebook_seconds=600, memory_gb=6)
    key = result_key("notebook", "tests", limits)
    assert result_key("notebook", "tests", limits.shared_by(1)) == result_key("notebook", "tests", limits.shared_by(2))
    changed = [result_key("notebook", "tests", Limits(cell_seconds=30, notebook_seconds=600, memory_gb=6)),
               result_key("notebook", "tests", Limits(cell_seconds=20, notebook_seconds=900, memory_gb=6)),
               result_key("notebook", "tests", Limits(cell_seconds=20, notebook_seconds=600, memory_gb=8)),
               result_key("notebook", "tests", Limits(cell_seconds=20, notebook_seconds=600, memory_gb=6, whole=True)),
               result_key("notebook", "tests", Limits(cell_seconds=20, notebook_seconds=600, memory_gb=6, plain=True)),
               result_key("notebook", "other tests", limits), result_key("other notebook", "tests", limits)]
    assert key not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize(("status", "kept"), [("graded", True), ("graded, flagged for review", True),
                                              ("timeout", False), ("crashed", False)])
def test_a_saved_row_is_kept_unless_the_job_was_stopped_or_crashed(tmp_path, status, kept):
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps({"digest": "d", "row": {"status": status, "score": 3}}))
    assert (saved_row(saved, "d") is not None) == kept
    assert saved_row(saved, "another digest") is None
    saved.write_text("{not json")
    assert saved_row(saved, "d") is None and saved_row(tmp_path / "none.json", "d") is None


class FailingWorker:
    def grade(self, job, chapter, student):
        raise RuntimeError("the worker's pipe broke")


def test_whatever_goes_wrong_in_a_job_is_its_crashed_row(tmp_path):
    template_root = tmp_path / "template"
    template_root.mkdir()
    found = found_in(tmp_path, "alice", submission(CHAPTER))
    result = grade_job(found, tmp_path / "work", Limits(), FailingWorker(), (template_root, "tests"))
    assert result["status"] == "crashed" and "RuntimeError: the worker's pipe broke" in result["message"]
    missing = grade_job(found, tmp_path / "work", Limits(), FailingWorker(), (tmp_path / "no template", "tests"))
    assert missing["status"] == "crashed" and "FileNotFoundError" in missing["message"], missing


# ---------------------------------------------------------------- real grading runs (heavy)


def test_the_template_is_made_again_when_the_instructor_notebook_changes(tmp_path, monkeypatch):
    """A test worth 4 points instead of 1 is graded out of 14, not out of an earlier run's 11."""
    from nbgrader.api import Gradebook

    def max_score(root):
        with Gradebook(f"sqlite:///{root}/gradebook.db") as gradebook:
            return gradebook.find_assignment(CHAPTER).max_score

    root = coursedir.template(CHAPTER, tmp_path, 20)
    points = sum(c.metadata["nbgrader"]["points"] for c in nbformat.read(source_path(CHAPTER), as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    assert max_score(root) == points
    changed = nbformat.read(source_path(CHAPTER), as_version=4)
    cell = next(c for c in changed.cells if grade_id(c) == "test_dequantize")
    cell.metadata["nbgrader"]["points"] = 4
    path = tmp_path / "instructor" / source_path(CHAPTER).name
    path.parent.mkdir()
    nbformat.write(changed, path)
    monkeypatch.setattr(coursedir, "source_path", lambda chapter: path)
    assert max_score(coursedir.template(CHAPTER, tmp_path, 20)) == points + 3
    stamp = (root / coursedir.STAMP).stat().st_mtime_ns
    coursedir.template(CHAPTER, tmp_path, 20)
    assert (root / coursedir.STAMP).stat().st_mtime_ns == stamp, "an unchanged notebook's template is kept"


HONEST = {  # student: (notebook, score)
    "control": (submission, FULL),
    "blank": (lambda _: blank(CHAPTER), 0.0),
    "helper": (lambda _: answered("quantize", QUANTIZE_WITH_HELPER, before=HELPER), FULL),
    "numpy": (lambda _: answered("bits_per_weight", BITS_WITH_NUMPY, before="import numpy as np"), FULL),
    "lastvalue": (lambda _: answered("dequantize", DEQUANTIZE_WITH_LAST_VALUE), FULL),
    "longexperiment": (lambda _: answered("bits_per_weight", None, before=LONG_EXPERIMENT), FULL),
    "bob jones": (submission, FULL),
    safe_name("bob jones"): (lambda _: blank(CHAPTER), 0.0),  # a file named after bob jones's folder
    "providedcopies": (lambda _: provided_copies(), FULL),
}


def limits_of(cell_seconds):
    return Limits(cell_seconds=cell_seconds, notebook_seconds=600, memory_gb=6)


def results(out):
    """``{student: mtime of the job's saved result}``."""
    return {path.parent.name: path.stat().st_mtime_ns for path in (out / "work" / "jobs" / CHAPTER).glob("*/result.json")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs of the same folder: cell limit 20 s, then 30 s, then 30 s again after one job's
    saved row was turned into a timeout; each run's rows and the saved results' times after it."""
    folder = tmp_path_factory.mktemp("honest")
    inbox = folder / "in"
    inbox.mkdir()
    for student, (make, _) in HONEST.items():
        (inbox / f"{student}_{CHAPTER}.ipynb").write_text(nbformat.writes(make(CHAPTER)))
    out = folder / "out"
    first = grade(inbox, out, workers=2, limits=limits_of(20))
    after_first = results(out)
    second = grade(inbox, out, workers=2, limits=limits_of(30))
    after_second = results(out)
    saved = out / "work" / "jobs" / CHAPTER / "helper" / "result.json"
    record = json.loads(saved.read_text())
    record["row"] |= {"status": "timeout", "score": 0, "message": "grading took longer than 600 s and was stopped"}
    saved.write_text(json.dumps(record))
    third = grade(inbox, out, workers=2, limits=limits_of(30))
    return out, [first, second, third], [after_first, after_second, results(out)]


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_work_gets_its_points_in_every_run(runs, student):
    _, rows, _ = runs
    for run in rows:
        row = next(r for r in run if r["student"] == student)
        assert (row["status"], float(row["score"])) == ("graded", HONEST[student][1]), row


def test_a_file_named_after_another_students_folder_gets_its_own_job_and_page(runs):
    out, _, _ = runs
    twins = ["bob jones", safe_name("bob jones")]
    assert len({safe_name(name) for name in twins}) == 2
    for name in twins:
        assert (out / "work" / "jobs" / CHAPTER / safe_name(name) / "result.json").exists()
        assert (out / "feedback" / safe_name(name) / f"{CHAPTER}.html").exists()


def test_a_larger_cell_limit_grades_again_and_a_timeout_is_retried(runs):
    _, rows, times = runs
    first, second, third = times
    assert len(first) == len(HONEST) and set(first) == set(second) == set(third)
    assert all(second[job] != first[job] for job in first), "a larger cell limit grades every job again"
    assert {job for job in second if third[job] != second[job]} == {"helper"}, "only the timed-out job"
    assert [r["status"] for r in rows[2] if r["student"] == "helper"] == ["graded"]


def test_a_long_experiment_of_the_students_own_is_cut_at_the_cell_limit(runs):
    out, _, _ = runs
    page = (out / "feedback" / "longexperiment" / f"{CHAPTER}.html").read_text()
    assert "CellTimeoutError" in page or "KeyboardInterrupt" in page
    left = subprocess.run(["pgrep", "-f", str(out / "work" / "jobs")], capture_output=True, check=False)
    assert left.stdout == b""
