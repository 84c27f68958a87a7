"""A real ``nbgrader autograde`` round trip for each chapter through the course's grader
(``grader.autograde``: the jobs, workers and course directories of ``python -m autograder grade``),
with its verdict (``verdict.py``) deciding the test cells.

The reference answers get full marks; the blank student notebook gets 0 and grading completes;
each plausible wrong answer loses the points of the test cells of the function it breaks and
only those; correct answers written differently from the reference get full marks.

Every submission is graded with the chapter's experiments left out (``graded_only``, as the
course's grader does by default), which shows that no test cell depends on an experiment. The
reference's experiments run once, in the book's build (``tests/test_book.py`` checks that run),
not a second time here.
"""

import importlib

import pytest

from autograder.course import BUILD, chapters
from autograder.grader import autograde
from autograder.submissions import blank, graded_only, submission


def answers(chapter):
    return importlib.import_module(f"tests.answers.{chapter}")


@pytest.fixture(scope="module", params=chapters())
def graded(request, tmp_path_factory):
    chapter = request.param
    module = answers(chapter)
    submissions = {"reference": graded_only(submission(chapter)), "blank": graded_only(blank(chapter)),
                   "alternative": graded_only(submission(chapter, module.ALTERNATIVE))}
    submissions |= {f"alternative_{key}": graded_only(submission(chapter, code))
                    for key, code in getattr(module, "ALTERNATIVES", {}).items()}
    submissions |= {f"wrong_{key}": graded_only(submission(chapter, code)) for key, (code, _) in module.WRONG.items()}
    scores = autograde(chapter, submissions, tmp_path_factory.mktemp(chapter))
    lines = [f"{chapter} scores:"] + [
        f"  {student:<34}{sum(s for s, _ in grades.values()):>5g} / {sum(m for _, m in grades.values()):g}"
        for student, grades in scores.items()]
    BUILD.mkdir(exist_ok=True)
    (BUILD / f"scores_{chapter}.txt").write_text("\n".join(lines) + "\n")  # for the record; see also -s
    print("\n" + "\n".join(lines))
    return chapter, module, scores


def lost(grades):
    return {grade_id for grade_id, (score, top) in grades.items() if score < top}


def test_reference_gets_full_marks(graded):
    _, _, scores = graded
    assert scores["reference"] and not lost(scores["reference"]), "a test cell depends on an experiment cell?"


def test_blank_notebook_gets_zero_and_grading_completes(graded):
    _, _, scores = graded
    assert scores["blank"] and all(score == 0 for score, _ in scores["blank"].values())


def test_correct_answers_written_differently_get_full_marks(graded):
    _, _, scores = graded
    alternatives = [student for student in scores if student.startswith("alternative")]
    assert {student: lost(scores[student]) for student in alternatives} == dict.fromkeys(alternatives, set())


def test_each_wrong_answer_loses_exactly_the_points_of_what_it_breaks(graded):
    _, module, scores = graded
    assert len(module.WRONG) >= 5
    outcome = {key: lost(scores[f"wrong_{key}"]) for key in module.WRONG}
    expected = {key: failing for key, (_, failing) in module.WRONG.items()}
    assert outcome == expected


@pytest.mark.parametrize("chapter", chapters())
def test_plain_nbgrader_still_grades_the_reference_in_full_and_the_blank_at_zero(chapter, tmp_path):
    """The instructor notebooks stay ordinary nbgrader source notebooks: without the grader's
    verdict, the hidden tests run in the student's kernel and give the same grades."""
    submissions = {"reference": graded_only(submission(chapter)), "blank": graded_only(blank(chapter))}
    scores = autograde(chapter, submissions, tmp_path, plain=True)
    assert not lost(scores["reference"])
    assert scores["blank"] and all(score == 0 for score, _ in scores["blank"].values())
