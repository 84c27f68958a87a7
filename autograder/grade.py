"""Grade submissions with the real nbgrader, in a course directory of their own.

``autograde`` builds ``ROOT/source`` from the instructor notebook, runs ``nbgrader
generate_assignment`` (which fills the gradebook with the hidden tests), places each submission
under ``submitted/<student>/``, runs ``nbgrader autograde`` and reads the scores back.
"""

import shutil
import subprocess
import sys

import nbformat

from autograder.course import source_path, tool_env

CONFIG = """
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Execute.timeout = {timeout}
"""


def nbgrader(*args, cwd):
    """Run an nbgrader command; raise with its output when it fails."""
    command = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    result = subprocess.run(command, cwd=cwd, env=tool_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def prepare(chapter, root, timeout=120):
    """A course directory at ``root`` with ``chapter`` generated into its gradebook."""
    (root / "nbgrader_config.py").write_text(CONFIG.format(root=str(root), timeout=timeout))
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
    """``{student: {grade_id: (score, max_score)}}`` from the gradebook at ``root``."""
    from nbgrader.api import Gradebook  # noqa: PLC0415 - slow import, only needed here

    notebook_id = source_path(chapter).stem
    with Gradebook(f"sqlite:///{root}/gradebook.db") as gradebook:
        return {
            student: {grade.name: (grade.score, grade.max_score)
                      for grade in gradebook.find_submission_notebook(notebook_id, chapter, student).grades}
            for student in students
        }


def autograde(chapter, submissions, root):
    """Grade ``{student: notebook}`` for ``chapter`` in a new course directory at ``root``."""
    prepare(chapter, root)
    submit(chapter, submissions, root)
    nbgrader("autograde", chapter, cwd=root)
    return scores(chapter, submissions, root)
