"""Grade submissions with the real nbgrader, in a course directory of their own.

For each worker, ``autograde`` builds a course directory with ``source/`` from the instructor
notebook, runs ``nbgrader generate_assignment`` (which fills its gradebook with the hidden tests),
places its share of the submissions under ``submitted/<student>/``, runs ``nbgrader autograde``
and reads the scores back; the workers' scores are merged.
"""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat

from autograder.course import source_path, thread_cap, threads_each, tool_env
from autograder.written import written_ids

CONFIG = """
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Execute.timeout = {timeout}
"""

# The grader's verdict (``verdict.py``): test cells decided outside the student's process. Without
# it, this is plain nbgrader, whose hidden tests run in the student's kernel.
TRUSTED = """
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades
from autograder.verdict import TrustedExecute
c.Autograde.autograde_preprocessors = [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
"""


def nbgrader(*args, cwd, threads=None, attempts=2):
    """Run an nbgrader command; raise with its traceback when it fails ``attempts`` times.

    ``threads`` caps the math threads of the kernels it starts (side-by-side workers must not
    oversubscribe the cores). A second attempt absorbs a transient failure to start a kernel when
    many start at once; a real failure fails twice."""
    command = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    env = tool_env() | thread_cap(threads)
    for _ in range(attempts):
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
    raise RuntimeError(f"nbgrader {args[0]} failed:\n{failure_excerpt(result.stdout + result.stderr)}")


def failure_excerpt(text, limit=4000):
    """The first traceback of nbgrader's output (it names the cause), else the end of the output."""
    lines = [line for line in text.splitlines() if "checksum" not in line and "without encryption" not in line]
    text = "\n".join(lines)
    start = text.find("Traceback")
    return text[start : start + limit] if start >= 0 else text[-limit:]


def prepare(chapter, root, timeout=120, trusted=True):
    """A course directory at ``root`` with ``chapter`` generated into its gradebook; with
    ``trusted``, the grader's verdict decides the test cells."""
    root.mkdir(parents=True, exist_ok=True)
    config = CONFIG.format(root=str(root), timeout=timeout) + (TRUSTED if trusted else "")
    (root / "nbgrader_config.py").write_text(config)
    (root / "source" / chapter).mkdir(parents=True)
    shutil.copy(source_path(chapter), root / "source" / chapter / source_path(chapter).name)
    nbgrader("generate_assignment", chapter, cwd=root)


def submit(chapter, submissions, root):
    """Place ``{student: notebook}`` where ``nbgrader autograde`` looks for them."""
    for student, notebook in submissions.items():
        folder = root / "submitted" / student / chapter
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / source_path(chapter).name)


def scores(chapter, students, root):
    """``{student: {grade_id: (score, max_score)}}`` of the automatically graded cells, from the
    gradebook at ``root``; the written questions are graded by hand (``written.py``)."""
    from nbgrader.api import Gradebook  # noqa: PLC0415 - slow import, only needed here

    notebook_id = source_path(chapter).stem
    by_hand = written_ids(chapter)
    with Gradebook(f"sqlite:///{root}/gradebook.db") as gradebook:
        return {
            student: {grade.name: (grade.score, grade.max_score)
                      for grade in gradebook.find_submission_notebook(notebook_id, chapter, student).grades
                      if grade.name not in by_hand}
            for student in students
        }


def autograde(chapter, submissions, root, workers=None, trusted=True):
    """Grade ``{student: notebook}`` for ``chapter`` under ``root``; return their scores.

    Students are dealt to ``workers`` course directories (default: one per CPU), each with its own
    gradebook and ``nbgrader autograde`` process, run side by side: nbgrader itself grades one
    notebook at a time.
    """
    workers = max(1, min(workers or os.cpu_count() or 1, len(submissions)))
    students = list(submissions)
    shares = [students[i::workers] for i in range(workers)]

    def grade(index):
        folder = root / f"worker{index}"
        prepare(chapter, folder, trusted=trusted)
        submit(chapter, {s: submissions[s] for s in shares[index]}, folder)
        nbgrader("autograde", chapter, cwd=folder, threads=threads_each(workers))
        return scores(chapter, shares[index], folder)

    with ThreadPoolExecutor(workers) as pool:
        merged = {}
        for part in pool.map(grade, range(workers)):
            merged |= part
    return {student: merged[student] for student in students}
