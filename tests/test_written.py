"""Written questions: in every chapter, empty in the release, found again after a Colab download,
and marks an instructor gave kept when grading again. The grading run itself is in test_grader."""

import re

import nbformat
import pytest

from autograder.course import chapters, release_path, source_path
from autograder.repair import repair
from autograder.submissions import submission
from autograder.written import STUB, answers, is_written, questions, written_rows

HEADING = re.compile(r"^### Question (\d+) — .+ \((\d+) points?, written\)$", flags=re.MULTILINE)


@pytest.mark.parametrize("chapter", chapters())
def test_each_chapter_asks_written_questions_headed_with_their_points(chapter):
    found = questions(chapter)
    assert 2 <= len(found) <= 3, "two or three written questions a chapter"
    assert sum(points for _, points, _, _ in found) <= 4
    for number, (grade_id, points, question, model) in enumerate(found, start=1):
        heading = HEADING.search(question)
        assert heading, f"{grade_id}: the cell before the answer starts '### Question {number} — ... (P points, written)'"
        assert (int(heading.group(1)), int(heading.group(2))) == (number, points), heading.group(0)
        assert grade_id.startswith("written-"), grade_id
        rubric = re.findall(r"^- \*\*1 point\*\*", model, flags=re.MULTILINE)
        assert len(rubric) == points, f"{grade_id}: one rubric line ('- **1 point** ...') per point"


@pytest.mark.parametrize("chapter", chapters())
def test_the_release_leaves_an_empty_answer_cell(chapter):
    released = [c for c in nbformat.read(release_path(chapter), as_version=4).cells if is_written(c)]
    assert [c.source.strip() for c in released] == [STUB] * len(questions(chapter))
    text = release_path(chapter).read_text()
    for _, _, _, model in questions(chapter):
        longest = max(model.splitlines(), key=len)
        assert longest not in text


def test_an_answer_whose_cell_lost_its_metadata_is_still_found():
    chapter = chapters()[0]
    notebook = submission(chapter)
    expected = answers(notebook)
    for cell in notebook.cells:
        if is_written(cell):
            cell.metadata = {}  # as after some downloads and copies between notebooks
    repaired, repairs = repair(notebook, chapter)
    assert answers(repaired) == expected and all(expected.values())
    assert any("restored the grading metadata" in r for r in repairs)


def test_an_answer_cell_deleted_is_graded_as_not_answered():
    chapter = chapters()[0]
    notebook = submission(chapter)
    first = next(i for i, c in enumerate(notebook.cells) if is_written(c))
    del notebook.cells[first]
    repaired, repairs = repair(notebook, chapter)
    assert list(answers(repaired).values())[0] == ""
    assert any("re-inserted the deleted written answer" in r for r in repairs)


def test_grading_again_keeps_the_points_given_to_an_unchanged_answer():
    chapter = chapters()[0]
    first, second = [q for q, _, _, _ in questions(chapter)][:2]
    rows = [{"student": "ana", "chapter": chapter, "written": {first: "same", second: "new text"}}]
    previous = [{"student": "ana", "chapter": chapter, "question": first, "answer": "same", "points": "1"},
                {"student": "ana", "chapter": chapter, "question": second, "answer": "old", "points": "1"}]
    got = {r["question"]: r["points"] for r in written_rows(rows, previous)}
    assert got[first] == "1", "the same answer keeps its points"
    assert got[second] == "", "a changed answer is graded again"


@pytest.mark.parametrize("chapter", chapters())
def test_the_instructor_notebook_keeps_each_question_before_its_answer(chapter):
    cells = nbformat.read(source_path(chapter), as_version=4).cells
    for index, cell in enumerate(cells):
        if is_written(cell):
            assert cells[index - 1].cell_type == "markdown" and not is_written(cells[index - 1])
            assert cell.source.strip().startswith("### BEGIN SOLUTION"), "the model answer is between the markers"
