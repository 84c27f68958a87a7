"""nbgrader course directories: the one place they are made and their grades read back.

A chapter's **template** is a course directory with ``source/<chapter>/`` from the instructor
notebook and a gradebook that ``nbgrader generate_assignment`` filled with its tests; it is made
once per grading run and copied for each **job** (one student, one chapter), which gets its own
``nbgrader_config.py`` and gradebook. ``scores`` reads a gradebook's automatic grades.

Two configurations: with the grader's **verdict** (``verdict.TrustedExecute`` decides the test
cells outside the student's process, ``LimitOutputSize`` cuts huge outputs), or **plain**
nbgrader as it comes, whose hidden tests run in the student's kernel: the benchmark's baseline,
and the tests' proof that the instructor notebooks stay ordinary nbgrader notebooks.
"""

import hashlib
import shutil
import subprocess
import sys

from autograder.course import source_path, tool_env
from autograder.written import written_ids

CONFIG = """
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Execute.timeout = {cell_timeout}
c.Execute.shutdown_kernel = "immediate"  # all outputs are in; Python's exit with torch loaded costs ~1.4 CPU-s
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = "autograder.feedback.SafeHTMLExporter"  # no hidden tests, no script
"""

VERDICT = """
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                    SaveAutoGrades)
from autograder.preprocessors import LimitOutputSize
from autograder.verdict import TrustedExecute
c.Autograde.autograde_preprocessors = [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, LimitOutputSize,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
"""


def write_config(root, cell_seconds, plain=False):
    """``root/nbgrader_config.py``: the grader's verdict, or nbgrader's own preprocessors if ``plain``."""
    text = CONFIG.format(root=str(root), cell_timeout=cell_seconds) + ("" if plain else VERDICT)
    (root / "nbgrader_config.py").write_text(text)


def nbgrader_command(*args):
    return [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]


STAMP = "instructor.sha256"  # in a template: the hash of the instructor notebook its gradebook was made from


def instructor_hash(chapter):
    return hashlib.sha256(source_path(chapter).read_bytes()).hexdigest()


def template(chapter, folder, cell_seconds, plain=False):
    """The course directory of ``chapter`` under ``folder/templates``, with its gradebook: made once
    per version of the instructor notebook (its hash is kept beside the gradebook, ``STAMP``): a run
    grades with the points and tests the instructor notebook has now, not an earlier run's."""
    root = folder / "templates" / chapter
    stamp = instructor_hash(chapter)
    if (root / "gradebook.db").exists() and (root / STAMP).exists() and (root / STAMP).read_text() == stamp:
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / "source" / chapter).mkdir(parents=True)
    shutil.copy(source_path(chapter), root / "source" / chapter / source_path(chapter).name)
    write_config(root, cell_seconds, plain)
    result = subprocess.run(nbgrader_command("generate_assignment", chapter), cwd=root, env=tool_env(),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {chapter} failed:\n{result.stderr[-2000:]}")
    (root / STAMP).write_text(stamp)
    return root


def job_directory(template_root, root, chapter, student, text, cell_seconds, plain=False):
    """A copy of the chapter's course directory at ``root`` with ``text``, the student's notebook,
    where ``nbgrader autograde`` looks for it."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(template_root, root)
    write_config(root, cell_seconds, plain)
    submitted = root / "submitted" / student / chapter
    submitted.mkdir(parents=True)
    (submitted / source_path(chapter).name).write_text(text)
    return root


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
