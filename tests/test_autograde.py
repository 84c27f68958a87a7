"""A real ``nbgrader autograde`` round trip for each chapter, in a temporary course directory.

The reference answers get full marks; the blank student notebook gets 0 and grading completes;
each plausible wrong answer loses the points of the test cells of the function it breaks and
only those; correct answers written differently from the reference get full marks.
"""

import importlib
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import chapters, source_path, tool_env
from tests.submissions import blank, submission

CONFIG = """
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Execute.timeout = 120
"""


def answers(chapter):
    return importlib.import_module(f"tests.answers.{chapter}")


def nbgrader(*args, cwd):
    command = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    result = subprocess.run(command, cwd=cwd, env=tool_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def autograde(chapter, submissions, root):
    """Grade ``{student: notebook}`` with nbgrader; return ``{student: {grade_id: (score, max)}}``."""
    name = source_path(chapter).name
    (root / "nbgrader_config.py").write_text(CONFIG.format(root=str(root)))
    (root / "source" / chapter).mkdir(parents=True)
    shutil.copy(source_path(chapter), root / "source" / chapter / name)
    nbgrader("generate_assignment", chapter, cwd=root)
    for student, notebook in submissions.items():
        folder = root / "submitted" / student / chapter
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / name)
    nbgrader("autograde", chapter, cwd=root)
    with Gradebook(f"sqlite:///{root}/gradebook.db") as gradebook:
        return {
            student: {
                grade.name: (grade.score, grade.max_score)
                for grade in gradebook.find_submission_notebook(name.removesuffix(".ipynb"), chapter, student).grades
            }
            for student in submissions
        }


@pytest.fixture(scope="module", params=chapters())
def graded(request, tmp_path_factory):
    chapter = request.param
    module = answers(chapter)
    submissions = {"reference": submission(chapter), "blank": blank(chapter),
                   "alternative": submission(chapter, module.ALTERNATIVE)}
    submissions |= {f"wrong_{key}": submission(chapter, code) for key, (code, _) in module.WRONG.items()}
    scores = autograde(chapter, submissions, tmp_path_factory.mktemp(chapter))
    print(f"\n{chapter} scores:")
    for student, grades in scores.items():
        print(f"  {student:<34}{sum(s for s, _ in grades.values()):>5g} / {sum(m for _, m in grades.values()):g}")
    return chapter, module, scores


def lost(grades):
    return {grade_id for grade_id, (score, top) in grades.items() if score < top}


def test_reference_gets_full_marks(graded):
    _, _, scores = graded
    assert scores["reference"] and not lost(scores["reference"])


def test_blank_notebook_gets_zero_and_grading_completes(graded):
    _, _, scores = graded
    assert scores["blank"] and all(score == 0 for score, _ in scores["blank"].values())


def test_correct_answers_written_differently_get_full_marks(graded):
    _, _, scores = graded
    assert not lost(scores["alternative"])


def test_each_wrong_answer_loses_exactly_the_points_of_what_it_breaks(graded):
    _, module, scores = graded
    assert len(module.WRONG) >= 5
    outcome = {key: lost(scores[f"wrong_{key}"]) for key in module.WRONG}
    expected = {key: failing for key, (_, failing) in module.WRONG.items()}
    assert outcome == expected
