"""The instructor's grader (python -m autograder grade) on an adversarial folder of real submissions.

Every file is graded in one run, side by side: each gets the grade or status a fair instructor would
give, and none affects the others. Chapter 1 keeps the run short; the grader is the same for all.
"""

import copy
import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import jail
from autograder.course import ROOT, chapters, source_path, tool_env
from autograder.grader import grade
from autograder.repair import grade_id
from autograder.sandbox import Limits, protections
from autograder.submissions import blank, submission
from autograder.verdict import EXCHANGE_MB
from autograder.written import questions, write_rows
from tests.archives import bomb, zipped

CHAPTER = "ch01_minmax"
FULL = 11.0


def with_code(notebook, exercise, before="", after=""):
    """``notebook`` with ``before`` run at the top of the cell of ``exercise`` and ``after`` at its
    end (code after the answer replaces it)."""
    notebook = copy.deepcopy(notebook)
    cell = next(c for c in notebook.cells if grade_id(c) == exercise)
    cell.source = "\n\n".join(part for part in (before, cell.source, after) if part)
    return notebook


def adversarial(folder):
    """Real submission files in ``folder / "in"``; grading writes to ``folder / "out"``."""
    good = submission(CHAPTER)
    texts = {
        "correct": nbformat.writes(good),
        "corrupt_json": nbformat.writes(good)[:5000],
        "empty": "",
        "nbformat3": nbformat.writes(nbformat.convert(copy.deepcopy(good), 3), version=3),
    }
    stripped = copy.deepcopy(good)
    for cell in stripped.cells:
        cell.metadata = {"id": "x", "colab": {}}
    deleted = copy.deepcopy(good)
    deleted.cells = [c for c in deleted.cells if grade_id(c) != "test_dequantize"]
    edited = copy.deepcopy(good)
    next(c for c in edited.cells if grade_id(c) == "test_bits_per_weight").source = "print('all tests passed')"
    duplicated = copy.deepcopy(good)
    index = next(i for i, c in enumerate(duplicated.cells) if grade_id(c) == "quantize")
    duplicated.cells.insert(index, copy.deepcopy(duplicated.cells[index]))
    notebooks = {
        "colab_stripped": stripped, "deleted_test": deleted, "edited_test": edited, "duplicated_cell": duplicated,
        "infinite_loop": with_code(good, "quantize", before="while True:\n    pass"),
        "import_error": with_code(good, "quant_params", before="import a_module_that_does_not_exist"),
        "memory_bomb": with_code(good, "dequantize", before="hog = bytearray(64 * 2**30)"),
        "huge_output": with_code(good, "bits_per_weight", before="print('x' * 50_000_000)"),
        "network": with_code(good, "pseudo_quantize", before=NETWORK),
        "sys_exit": with_code(good, "bits_per_weight", before="import sys\nsys.exit()"),
        "snooper": with_code(good, "bits_per_weight", after=SNOOPER.replace("TARGETS", repr(targets(folder)))),
        "reference_import": with_code(good, "dequantize", after=REFERENCE_IMPORT),
        "kernel_home": with_code(good, "bits_per_weight", before=FONT_LIST),
        "warning": with_code(good, "quantize", after=WARNING),
        "symlinks": with_code(good, "bits_per_weight", before=SYMLINKS),
        "planted_helper": with_code(good, "bits_per_weight", before=PLANTED),
        "fork_bomb": with_code(good, "bits_per_weight", before=FORK_BOMB),
        "memory_spread": with_code(good, "dequantize", before=MEMORY_SPREAD),
        "disk_filler": with_code(good, "bits_per_weight", before=DISK_FILLER),
    }
    notebooks |= {name: with_code(blank(CHAPTER), "quant_params", before=code) for name, code in CHEATS.items()}
    texts |= {name: nbformat.writes(nb) for name, nb in notebooks.items()}
    inbox = folder / "in"
    inbox.mkdir()
    for name, text in texts.items():
        (inbox / f"{name}_{CHAPTER}.ipynb").write_text(text)
    (inbox / f"pdf_{CHAPTER}.ipynb").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    look_alikes_and_archives(inbox, texts["correct"], nbformat.writes(blank(CHAPTER)))
    (inbox / "stray_notes.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                           "nbformat_minor": 5}))


def look_alikes_and_archives(inbox, correct, empty):
    """Students whose names look alike, and archives that once stopped the whole run."""
    (inbox / f"Bob Jones_{CHAPTER}.ipynb").write_text(correct)
    (inbox / f"Bob_Jones_{CHAPTER}.ipynb").write_text(empty)
    for lms_id, text in (("111", correct), ("222", empty)):
        folder = inbox / f"Anna Smith_{lms_id}_assignsubmission_file_"
        folder.mkdir()
        (folder / "minmax.ipynb").write_text(text)
    nested = zipped({f"deep_{CHAPTER}.ipynb": correct})
    for level in range(24):
        nested = zipped({f"level{level}.zip": nested})
    (inbox / "nested.zip").write_bytes(nested)
    (inbox / "long.zip").write_bytes(zipped({"x" * 300 + ".ipynb": correct}))
    (inbox / "zipfolder.zip").mkdir()
    (inbox / "zipfolder.zip" / "minmax.ipynb").write_text(correct)
    (inbox / "dave").write_text("a file with an archive's name")
    (inbox / "dave.zip").write_bytes(zipped({"minmax.ipynb": correct}))
    (inbox / "bomb.zip").write_bytes(bomb(4.5))  # 4.7 MB that inflate to 4.5 GiB


OTHER_CHECKOUT = Path("/var/lib") / f"awq-course-copy-{os.getpid()}"  # another copy of the course


def targets(folder):
    """What a submission must not read: the course (solutions, git), its gradebook, the instructor
    notebook and its own notebook (which holds the hidden tests while they run), another student's
    submission and job, the same through other processes' ``/proc`` links, another checkout of the
    course elsewhere on the machine, and the parts of ``/sys`` and ``/dev`` the kernel has no use for."""
    solutions = ROOT / "solutions" / CHAPTER / "minmax.ipynb"
    work = folder / "out" / "work"
    return [str(solutions), str(ROOT / ".git" / "HEAD"), "../../../gradebook.db",
            f"../../../source/{CHAPTER}/minmax.ipynb", "minmax.ipynb", str(folder / "in" / f"correct_{CHAPTER}.ipynb"),
            str(work / "jobs" / CHAPTER / "correct" / "gradebook.db"), str(work / "templates" / CHAPTER / "gradebook.db"),
            f"/proc/*/root{solutions}", "/proc/*/cwd/../../../gradebook.db", str(Path.home() / ".bashrc"),
            str(OTHER_CHECKOUT / "solutions" / CHAPTER / "minmax.ipynb"), "/sys/class/net/*/address",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/dev/vd*", "/dev/sd*", "/var/log/*.log"]


SNOOPER = """
import glob

found = []
for pattern in TARGETS:
    for path in glob.glob(pattern) or [pattern]:
        try:
            with open(path, "rb") as handle:
                if handle.read(1):
                    found.append(path)
        except OSError:
            pass
print(f"snooped: {found or 'nothing'}")  # one write: a stream may be cut between writes


def bits_per_weight(n_bit, group_size, scale_bits=16, zero_bits=16):
    # a cheat would copy the answer from what it found; this one says whether it could
    return n_bit + (scale_bits + zero_bits) / group_size if found else 0.0
"""

REFERENCE_IMPORT = """
try:
    from autograder.reference import load_reference
    _reference_dequantize = load_reference("ch01_minmax").dequantize
except Exception as error:
    print(f"reference refused: {type(error).__name__}")
    _reference_dequantize = None


def dequantize(codes, scales, zeros):
    return _reference_dequantize(codes, scales, zeros) if _reference_dequantize else codes * scales
"""

WARNING = """
import warnings

_correct_quantize = quantize


def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    warnings.warn("a correct answer that warns", UserWarning)  # nbgrader counts stderr as failing
    print("and prints")
    return _correct_quantize(w, scales, zeros, n_bit, zero_point)
"""

SYMLINKS = """
import os

for name, target in (("leak_solutions.ipynb", SOLUTIONS), ("gradebook.db", "../../../gradebook.db"),
                     ("leak_folder", "../../..")):
    os.symlink(target, name)
""".replace("SOLUTIONS", repr(str(ROOT / "solutions" / CHAPTER / "minmax.ipynb")))

PLANTED = """
import os

planted = []
for path in ("/usr/local/bin/unshare", "/usr/local/sbin/pkill", "/etc/for-the-grader",
             os.path.join(os.path.dirname(os.__file__), "for-the-grader.py"), "/var/tmp/for-the-next-job"):
    try:
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\\necho escaped\\n")
        planted.append(path)
    except OSError:
        pass
print(f"planted: {planted or 'nothing'}, uid {os.getuid()}")
"""

FORK_BOMB = """
import os

go_read, go_write = os.pipe()
children = []
try:
    while len(children) < 5000:
        pid = os.fork()
        if pid == 0:  # each child waits for the pipe to close, holding a process slot
            os.close(go_write)
            os.read(go_read, 1)
            os._exit(0)
        children.append(pid)
except OSError:
    pass
os.close(go_write)  # then lets them go, so that the notebook goes on
for pid in children:
    os.waitpid(pid, 0)
print(f"forked {len(children)} children")
"""

DISK_FILLER = """
import glob, os

filled = {}
for name, folder in (("work", "."), ("exchange", (glob.glob("../*.grading") or ["."])[0]), ("tmp", "/tmp")):
    files, written = [], 0
    try:
        while written < 2 * 2**30:
            files.append(os.path.join(folder, f"fill{len(files)}"))
            with open(files[-1], "wb") as handle:
                handle.write(bytes(2**27))
            written += 2**27
    except OSError:
        pass
    for path in files:
        if os.path.exists(path):
            os.remove(path)
    filled[name] = written // 2**20
print(f"filled (MB): {filled}")
"""

MEMORY_SPREAD = """
import os, signal

ready_read, ready_write = os.pipe()
go_read, go_write = os.pipe()
children = []
for _ in range(4):  # 4 x 2 GiB, each under the per-process limit, together over the job's
    pid = os.fork()
    if pid == 0:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")  # a child goes first when the job's memory runs out
        os.close(ready_read)
        os.close(go_write)
        hog = b"x" * 2**31
        os.write(ready_write, b"r")
        os.close(ready_write)
        os.read(go_read, 1)
        os._exit(0)
    children.append(pid)
os.close(ready_write)
while os.read(ready_read, 1):  # until every child has its memory or is gone
    pass
os.close(go_write)
killed = sum(os.waitpid(pid, 0)[1] & 0x7F == signal.SIGKILL for pid in children)
print(f"children killed: {killed} of 4")
"""

# Code that tries to get points without solving, each in an otherwise blank notebook: all score 0.
CHEATS = {
    "cheat_ast_transformer": """
import ast
from IPython import get_ipython


class Forgive(ast.NodeTransformer):  # wraps every later cell, hidden tests included, in try/except
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None, body=[ast.Pass()])
        body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]
        return ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))


get_ipython().ast_transformers.append(Forgive())
""",
    "cheat_displayhook": """
import sys
from IPython import get_ipython

get_ipython().events.register("post_run_cell", lambda result: sys.displayhook("ok"))
get_ipython().showtraceback = lambda *args, **kwargs: None
""",
    "cheat_patched_checks": """
import sys, types
import torch

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.Tensor.__eq__ = lambda *args: True
fake = types.ModuleType("autograder.checks")
fake.compare = fake.use_reference = lambda *args, **kwargs: None
sys.modules["autograder.checks"] = fake
""",
    "cheat_agreeable_tensor": """
import torch


class Agreeable(torch.Tensor):  # every comparison true, every function its own input
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


def quant_params(w, n_bit=4, zero_point=True):
    return torch.zeros(w.shape[0], 1).as_subclass(Agreeable), torch.zeros(w.shape[0], 1).as_subclass(Agreeable)
""",
    "cheat_forged_record": """
import os
import autograder.probe as probe
from autograder.plain import pack


def forged(grade_id, exchange):
    outcome = {"result": 0.0, "raised": ["ValueError"], "after": [], "mutated": {}}
    with open(os.path.join(exchange, f"{grade_id}.record"), "wb") as handle:
        handle.write(pack([{"calls": [outcome] * 500}]))


probe.run = forged
""",
}

NETWORK = """
import socket, subprocess, sys
try:
    socket.create_connection(("pypi.org", 443), timeout=5).close()
    print("network: open")
except OSError:
    print("network: blocked")
status = subprocess.run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org', timeout=5)"],
                        capture_output=True).returncode
print(f"subprocess network: {'blocked' if status else 'open'}")
"""

FONT_LIST = """
import glob, os
fonts = glob.glob(os.path.expanduser("~/.matplotlib/fontlist-*.json"))
started = os.path.getmtime(os.path.expanduser("~/.kernel/connection.json"))
print("font list:", "ready before the kernel" if fonts and os.path.getmtime(fonts[0]) < started else "not ready")
"""

EXPECTED = {  # student: (status, tests lost)
    "correct": ("graded", set()),
    "nbformat3": ("graded", set()),
    "colab_stripped": ("graded with repairs", set()),
    "deleted_test": ("graded with repairs", set()),
    "edited_test": ("graded with repairs", set()),
    "duplicated_cell": ("graded with repairs", set()),
    "infinite_loop": ("graded", {"test_quantize_asymmetric", "test_quantize_symmetric"}),
    "import_error": ("graded", {"test_quant_params_asymmetric", "test_quant_params_symmetric"}),
    "memory_bomb": ("graded", {"test_dequantize"}),
    "huge_output": ("graded", set()),
    "network": ("graded", set()),
    "sys_exit": ("graded", {"test_bits_per_weight"}),
    "kernel_home": ("graded", set()),
    "warning": ("graded", set()),
    "planted_helper": ("graded", set()),
    "fork_bomb": ("graded", set()),
    "memory_spread": ("graded, flagged for review", set()),
    "disk_filler": ("graded", set()),  # it writes to /proc
    "bob jones": ("graded", set()),
    "Anna Smith (111)": ("graded", set()),
    "zipfolder.zip": ("graded", set()),
    "dave (2)": ("graded", set()),
}
JAILED = {  # what the kernel's jail takes away (where the machine allows the jail)
    "snooper": ("graded, flagged for review", {"test_bits_per_weight"}),
    "reference_import": ("graded, flagged for review", {"test_dequantize"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grader")
    copy_of_the_course = OTHER_CHECKOUT / "solutions" / CHAPTER
    copy_of_the_course.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / CHAPTER / "minmax.ipynb", copy_of_the_course)
    adversarial(folder)
    limits = Limits(cell_seconds=20, notebook_seconds=600, memory_gb=6)
    try:
        rows = grade(folder / "in", folder / "out", workers=2, limits=limits)
    finally:
        shutil.rmtree(OTHER_CHECKOUT)
    return folder, {r["student"] or r["file"]: r for r in rows}


def lost(row):
    tests = [part.rsplit(" ", 1) for part in row["per_test"].split("; ") if part]
    return {name for name, points in tests if points.split("/")[0] != points.split("/")[1]}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_a_fair_grade(graded, student):
    _, rows = graded
    status, failing = EXPECTED[student]
    row = rows[student]
    assert (row["status"], lost(row)) == (status, failing), row
    if not failing:
        assert float(row["score"]) == FULL


@pytest.mark.skipif(not jail.available(), reason="the kernel jail needs root, unshare and setpriv")
@pytest.mark.parametrize("student", sorted(JAILED))
def test_what_a_submission_must_not_see_gives_it_nothing(graded, student):
    folder, rows = graded
    status, failing = JAILED[student]
    assert (rows[student]["status"], lost(rows[student])) == (status, failing), rows[student]
    page = (folder / "out" / "feedback" / student / f"{CHAPTER}.html").read_text()
    assert "snooped: nothing" in page if student == "snooper" else "reference refused: FileNotFoundError" in page


@pytest.mark.skipif(not jail.available(), reason="the kernel jail needs root, unshare and setpriv")
def test_a_jailed_kernel_starts_with_matplotlibs_font_list(graded):
    """Built once per run, not in every kernel (0.1-0.3 s of CPU each)."""
    folder, _ = graded
    assert "font list: ready before the kernel" in (folder / "out" / "feedback" / "kernel_home" / f"{CHAPTER}.html").read_text()


@pytest.mark.parametrize("student", sorted(CHEATS))
def test_code_that_fakes_passing_tests_scores_what_the_blank_notebook_does(graded, student):
    _, rows = graded
    assert rows[student]["status"].startswith("graded") and float(rows[student]["score"]) == 0, rows[student]


@pytest.mark.skipif(not jail.available(), reason="the kernel jail needs root, unshare and setpriv")
def test_a_kernel_can_leave_nothing_where_the_grader_or_the_next_job_would_find_it(graded):
    folder, _ = graded
    page = (folder / "out" / "feedback" / "planted_helper" / f"{CHAPTER}.html").read_text()
    assert "planted: nothing" in page and "uid 0" not in page
    assert not Path("/usr/local/bin/unshare").exists() and not Path("/var/tmp/for-the-next-job").exists()


def test_feedback_is_built_from_the_graded_notebook_alone(graded):
    """No file of the kernel's folder reaches the feedback: links to the solutions, the gradebook
    and the job's folder are not followed."""
    folder, rows = graded
    assert float(rows["symlinks"]["score"]) == FULL
    feedback = folder / "out" / "feedback"
    assert sorted(p.name for p in (feedback / "symlinks").iterdir()) == [f"{CHAPTER}.html"]
    for page in feedback.rglob("*.html"):
        assert "BEGIN SOLUTION" not in page.read_text(), page
    job = folder / "out" / "work" / "jobs" / CHAPTER / "symlinks"
    assert not [p for p in job.rglob("*") if p.is_symlink()], "links the kernel made are removed after the job"


@pytest.mark.parametrize("student", ["bob_jones", "Anna Smith (222)"])
def test_students_whose_names_look_alike_are_graded_apart(graded, student):
    """The blank twin scores 0, and the correct one (above) full marks: neither overwrote the other."""
    _, rows = graded
    assert rows[student]["status"] == "graded" and float(rows[student]["score"]) == 0, rows[student]


def test_archives_past_a_limit_get_a_row_each_and_stop_nothing(graded):
    folder, rows = graded
    unreadable = {r["file"]: r["message"] for r in rows.values() if r["status"] == "unreadable" and not r["student"]}
    assert unreadable["long.zip"] == "archive: an entry's name is longer than 240 bytes"
    assert any("nested more than 8 deep" in m for m in unreadable.values()), unreadable
    assert unreadable["bomb.zip"] == "archive: an entry inflates to 4,608 MB, more than 256 MB"
    assert not list((folder / "out" / "work" / "input").rglob("zeros.ipynb")), "nothing of the bomb is extracted"


@pytest.mark.skipif(not jail.available(), reason="the kernel jail needs root, unshare and setpriv")
def test_processes_and_memory_are_limited_for_the_whole_job(graded):
    """A fork bomb stops at the job's process count, and four children that each stay under the
    per-process memory limit are stopped by the job's (where there are cgroups); the answer is
    graded in full all the same."""
    folder, _ = graded
    feedback = folder / "out" / "feedback"
    forked = re.search(r"forked (\d+) children", (feedback / "fork_bomb" / f"{CHAPTER}.html").read_text())
    assert forked and int(forked.group(1)) < 256
    killed = re.search(r"children killed: (\d) of 4", (feedback / "memory_spread" / f"{CHAPTER}.html").read_text())
    assert killed and (int(killed.group(1)) >= 1 or not jail.cgroups_available())


@pytest.mark.skipif(not jail.available(), reason="the kernel jail needs root, unshare and setpriv")
def test_a_kernel_writes_only_into_folders_of_a_fixed_size(graded):
    """Its working folder (1 GiB), the exchange folder (1.5 GiB) and its /tmp (512 MiB) are
    in-memory folders of their own: nothing reaches the disk, and each stops at its size."""
    folder, _ = graded
    page = (folder / "out" / "feedback" / "disk_filler" / f"{CHAPTER}.html").read_text()
    filled = re.search(r"filled \(MB\): \{'work': (\d+), 'exchange': (\d+), 'tmp': (\d+)\}", html.unescape(page))
    assert filled, "the filler reports what it wrote"
    assert all(int(m) <= size for m, size in zip(filled.groups(), (1024, EXCHANGE_MB, 512), strict=True))


@pytest.mark.parametrize("student", ["corrupt_json", "empty", "pdf"])
def test_unreadable_files_get_a_row_with_the_reason(graded, student):
    _, rows = graded
    assert rows[student]["status"] == "unreadable" and "not a notebook" in rows[student]["message"]


def test_a_file_that_cannot_be_placed_is_listed(graded):
    _, rows = graded
    unplaced = [r for r in rows.values() if r["status"] == "unplaced"]
    assert [r["file"] for r in unplaced] == ["stray_notes.ipynb"]


def test_repairs_are_in_the_feedback_and_outputs_are_capped(graded):
    folder, _ = graded
    feedback = folder / "out" / "feedback"
    assert "Repairs made before grading" in (feedback / "colab_stripped" / f"{CHAPTER}.html").read_text()
    assert (feedback / "huge_output" / f"{CHAPTER}.html").stat().st_size < 2_000_000
    assert "output cut by the grader" in (feedback / "huge_output" / f"{CHAPTER}.html").read_text()


@pytest.mark.skipif(not protections()["network namespace"], reason="no network namespace on this machine")
def test_no_network_from_a_submission(graded):
    folder, _ = graded
    page = (folder / "out" / "feedback" / "network" / f"{CHAPTER}.html").read_text()
    assert "network: blocked" in page and "subprocess network: blocked" in page


def test_running_again_resumes_and_writes_the_same_csv(graded):
    folder, _ = graded
    before = (folder / "out" / "grades.csv").read_text()
    grade(folder / "in", folder / "out", workers=2, limits=Limits(cell_seconds=20, notebook_seconds=600, memory_gb=6))
    assert (folder / "out" / "grades.csv").read_text() == before
    assert list(csv.DictReader(before.splitlines()))[0].keys() >= {"student", "chapter", "score", "max_score",
                                                                  "status", "message", "per_test"}


def test_a_notebook_over_its_time_is_stopped_with_its_kernel(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    slow = with_code(submission(CHAPTER), "quant_params", before="import time\ntime.sleep(30)")
    (folder / f"slow_{CHAPTER}.ipynb").write_text(nbformat.writes(slow))
    rows = grade(folder, tmp_path / "out", workers=1, limits=Limits(cell_seconds=60, notebook_seconds=20))
    assert [(r["student"], r["status"]) for r in rows] == [("slow", "timeout")]
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "out" / "work" / "jobs")], capture_output=True, check=False)
    assert left.stdout == b"", "the job's kernel must not outlive it"
    jailed = subprocess.run(["pgrep", "-f", jail.CONNECTION], capture_output=True, check=False)
    assert jailed.stdout == b"", "the jailed kernel must not outlive its job"


def test_every_chapter_grades_the_reference_in_full_and_the_blank_at_zero(tmp_path):
    """Through the command an instructor types, with relative paths."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    for chapter in chapters():
        (inbox / f"reference_{chapter}.ipynb").write_text(nbformat.writes(submission(chapter)))
        (inbox / f"blank_{chapter}.ipynb").write_text(nbformat.writes(blank(chapter)))
    command = [sys.executable, "-m", "autograder", "grade", "in", "--out", "out", "--workers", "2"]  # as typed
    run = subprocess.run(command, cwd=tmp_path, env=tool_env(), capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    with (tmp_path / "out" / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    got = {(r["student"], r["chapter"]): (r["status"], float(r["score"]), float(r["max_score"]),
                                          float(r["written_max"])) for r in rows}
    for chapter in chapters():
        cells = nbformat.read(source_path(chapter), as_version=4).cells
        points = sum(c.metadata["nbgrader"]["points"] for c in cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
        by_hand = sum(p for _, p, _, _ in questions(chapter))
        assert got[("reference", chapter)] == ("graded", points, points, by_hand)
        assert got[("blank", chapter)] == ("graded", 0.0, points, by_hand)
        assert (tmp_path / "out" / "feedback" / "reference" / f"{chapter}.html").stat().st_size > 0
    check_written_answers(tmp_path / "out")


def check_written_answers(out):
    """The written answers of the same run: gathered for the instructor, then added up by
    ``python -m autograder total`` once the points are in; bad points are refused by name."""
    with (out / "written.csv").open() as handle:
        written = list(csv.DictReader(handle))
    model = {(c, q): text for c in chapters() for q, _, _, text in questions(c)}
    assert {(r["chapter"], r["question"]) for r in written} == set(model)
    for r in written:
        if r["student"] == "reference":
            assert r["answer"] == model[r["chapter"], r["question"]] and r["points"] == ""
            r["points"] = r["max_points"]
        else:
            assert (r["answer"], r["points"]) == ("", "0"), r
    for chapter in chapters():
        assert "graded by hand" in (out / "feedback" / "blank" / f"{chapter}.html").read_text()
        document = (out / "written" / f"{chapter}.md").read_text()
        assert all(text in document for (c, _), text in model.items() if c == chapter)
    total = [sys.executable, "-m", "autograder", "total", "--out", str(out)]
    rows = [{**r, "points": "lots"} if i == 0 else r for i, r in enumerate(written)]
    write_rows(out / "written.csv", list(written[0]), rows)
    refused = subprocess.run(total, env=tool_env(), capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "'lots' are not a number" in refused.stderr, refused.stderr
    assert not (out / "totals.csv").exists()
    write_rows(out / "written.csv", list(written[0]), written)
    subprocess.run(total, env=tool_env(), capture_output=True, text=True, check=True)
    with (out / "totals.csv").open() as handle:
        totals = {(r["student"], r["chapter"]): r for r in csv.DictReader(handle)}
    for chapter in chapters():
        full = totals["reference", chapter]
        assert float(full["total"]) == float(full["max_score"]) > float(full["score"]) and not full["missing"]
        assert float(totals["blank", chapter]["total"]) == 0


def test_whole_runs_the_experiments_on_the_real_model_inside_the_sandbox(tmp_path):
    """``--whole`` executes a chapter's experiments too, in the sandbox (a home of its own, a
    200 MB limit on file sizes): Chapter 2, the first on SmolLM2, loads the model where it cannot
    keep its 520 MB cache, runs every cell without an error, and grades the same."""
    from autograder.grader import autograde

    chapter = "ch02_salient"
    grades = autograde(chapter, {"anna": submission(chapter)}, tmp_path, 1, whole=True)["anna"]
    assert all(score == most for score, most in grades.values()), grades
    graded = tmp_path / "out" / "work" / "jobs" / chapter / "anna" / "autograded" / "anna" / chapter
    notebook = nbformat.read(graded / source_path(chapter).name, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [c.source[:60] for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"cells that raised under --whole: {errors}"
    assert any("perplexity" in o.get("text", "") for c in code for o in c.outputs), "the experiments ran"
