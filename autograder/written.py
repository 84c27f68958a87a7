"""Written questions: the answers nbgrader cannot grade, gathered for the instructor.

A written question is two Markdown cells of the instructor notebook: the question, then an
answer cell that nbgrader grades by hand (``grade`` and ``solution`` set, with ``points``) holding
the model answer and its rubric between the solution markers. The release leaves the student the
question and an empty answer cell.

The grader gives the automatic points in ``grades.csv`` and leaves these to the instructor:

- ``written/<chapter>.md``: question by question, the model answer with its rubric, then every
  student's answer;
- ``written.csv``: one row per student and question, with an empty ``points`` column to fill in.
  Grading again keeps the points already entered for an answer that did not change.

``python -m autograder total --out RESULTS`` adds the two into ``totals.csv``.

Everything written here is data, escaped for where it is read:

- **CSV cells** that a spreadsheet would read as a formula (beginning with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return, after any spaces or quotes) get a leading ``'``; numbers stay
  numbers. ``read_rows`` takes the ``'`` off again, so that ``total`` matches a student called
  ``=evil`` in ``grades.csv`` and ``written.csv`` alike (``neutral``, ``restored``).
- **Long answers** are cut at ``ANSWER_LIMIT`` characters with a visible mark, and the CSVs are read
  without the csv module's field-size limit, so one huge answer stops neither ``total`` nor a later
  run with the same ``--out``.
- **The Markdown file** shows each answer in a code fence longer than any run of backticks in it,
  so no answer can close its fence, start a heading, an HTML comment or a tag: it reads as the text
  the student wrote, under the name of the student who wrote it; names in headings are escaped.
  (A fence rather than an HTML page: the file stays plain text an instructor can read in an editor,
  and the instructor's model answers in it still render as Markdown.)
"""

import csv
import functools
import re
from pathlib import Path

import nbformat

from autograder.course import SOLUTION_MARKERS, source_path

STUB = "YOUR ANSWER HERE"  # what nbgrader leaves in an answer cell
ANSWER_LIMIT = 20_000  # characters of a written answer kept (a page of text is about 3,000)
FORMULA_START = set("=+-@\t\r\uff1d\uff0b\uff0d\uff20")  # the ASCII ones and their full-width forms
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
FIELD_LIMIT = 2**31 - 1  # the csv module's default is 131,072 characters a field
FIELDS = ["student", "chapter", "question", "max_points", "points", "answer"]
TOTAL_FIELDS = ["student", "chapter", "score", "written", "total", "max_score", "status", "missing"]


def is_written(cell):
    """Whether ``cell`` is the answer cell of a written question."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "markdown" and bool(meta.get("grade") and meta.get("solution"))


def model_answer(source):
    """The text between the solution markers of an instructor's answer cell."""
    lines = source.splitlines()
    inside = [i for i, line in enumerate(lines) if line.strip() in SOLUTION_MARKERS]
    if len(inside) < 2:
        return source.strip()
    return "\n".join(lines[inside[0] + 1 : inside[1]]).strip()


@functools.cache
def questions(chapter):
    """``[(grade_id, points, question, model answer)]`` of ``chapter``, in the notebook's order;
    the question is the Markdown cell before the answer cell."""
    cells = nbformat.read(source_path(chapter), as_version=4).cells
    return [(cell.metadata["nbgrader"]["grade_id"], cell.metadata["nbgrader"]["points"],
             cells[index - 1].source.strip(), model_answer(cell.source))
            for index, cell in enumerate(cells) if is_written(cell)]


def written_ids(chapter):
    return {grade_id for grade_id, *_ in questions(chapter)}


def cut(text, limit=ANSWER_LIMIT):
    """``text`` kept to ``limit`` characters, with a mark saying so when cut."""
    return text if len(text) <= limit else f"{text[:limit]}\n\n[cut at {limit} characters]"


def answers(notebook):
    """``{grade_id: text}`` of the answer cells of a student's notebook ("" when not answered),
    each at most ``ANSWER_LIMIT`` characters."""
    found = {}
    for cell in notebook.cells:
        if is_written(cell):
            text = cell.source.strip()
            found[cell.metadata["nbgrader"]["grade_id"]] = "" if text in ("", STUB) else cut(text)
    return found


def is_formula(text):
    """Whether a spreadsheet could take ``text`` for a formula: it begins (after spaces and
    quotes) with a formula sign, and is not a plain number."""
    return text.lstrip(" '")[:1] in FORMULA_START and not NUMBER.fullmatch(text)


def neutral(value):
    """A CSV cell's text that no spreadsheet runs: a formula gets a leading ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula(text) else text


def restored(text):
    """The value ``neutral`` was given (also for a cell a spreadsheet saved without the ``'``)."""
    return text[1:] if text[:1] == "'" and is_formula(text[1:]) else text


def read_rows(path):
    """The rows of a CSV this package wrote, values as they were before ``neutral``."""
    if not Path(path).exists():
        return []
    csv.field_size_limit(FIELD_LIMIT)
    with Path(path).open(newline="") as handle:
        return [{key: restored(value) if isinstance(value, str) else value for key, value in row.items()}
                for row in csv.DictReader(handle)]


def write_rows(path, fields, rows):
    """``rows`` (their ``fields`` only) as a CSV whose cells are all ``neutral``."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({key: neutral(row[key]) for key in fields if key in row} for row in rows)


def written_rows(grade_rows, previous):
    """One row per graded notebook and question; points the instructor gave to the same answer
    before (``previous``, the old ``written.csv``) are kept."""
    given = {(r["student"], r["chapter"], r["question"], r["answer"]): r["points"] for r in previous}
    rows = []
    for grade_row in grade_rows:
        if "written" not in grade_row:
            continue
        student, chapter = grade_row["student"], grade_row["chapter"]
        for grade_id, points, _, _ in questions(chapter):
            answer = grade_row["written"].get(grade_id, "")
            rows.append({"student": student, "chapter": chapter, "question": grade_id,
                         "max_points": f"{points:g}", "answer": answer,
                         "points": given.get((student, chapter, grade_id, answer), "" if answer else "0")})
    return rows


def fenced(text):
    """``text`` as a Markdown code block whose fence is longer than any run of backticks in it:
    nothing in it can end the block, so it all shows as written."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def escaped(text):
    """``text`` on one line with every ASCII punctuation character backslash-escaped: Markdown
    shows it as is (no emphasis, link, tag or comment), e.g. a student's name in a heading."""
    line = " ".join(str(text).split())
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", line)


def chapter_document(chapter, rows):
    """The Markdown file an instructor reads to grade one chapter's written answers; each answer
    is fenced text under its student's escaped name."""
    lines = [f"# Written answers: {chapter}", "",
             "Give each answer its points in the `points` column of `written.csv`, then run",
             "`python -m autograder total --out <this folder>`. Empty answers already have 0.", ""]
    for grade_id, points, question, model in questions(chapter):
        lines += [f"## {grade_id} ({points:g} point{'s' if points != 1 else ''})", "", question, "",
                  "**Model answer and rubric (instructor only)**", "", model, ""]
        for r in (r for r in rows if r["chapter"] == chapter and r["question"] == grade_id):
            lines += [f"#### Student: {escaped(r['student'])}", "",
                      fenced(r["answer"]) if r["answer"] else "*(not answered)*", ""]
    return "\n".join(lines)


def write_written(out, grade_rows):
    """``written.csv`` and ``written/<chapter>.md`` under ``out`` for the graded rows."""
    out = Path(out)
    rows = written_rows(grade_rows, read_rows(out / "written.csv"))
    write_rows(out / "written.csv", FIELDS, rows)
    for chapter in sorted({r["chapter"] for r in rows}):
        folder = out / "written"
        folder.mkdir(exist_ok=True)
        (folder / f"{chapter}.md").write_text(chapter_document(chapter, rows))
    return rows


def points_given(row):
    """The instructor's points of one ``written.csv`` row, or None when not given yet; raises
    ValueError with the row named when they are not a number from 0 to the question's points."""
    text = row["points"].strip()
    if not text:
        return None
    where = f"written.csv: {row['student']}, {row['chapter']}, {row['question']}"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: points {text!r} are not a number") from None
    if not 0 <= value <= float(row["max_points"]):
        raise ValueError(f"{where}: points {value:g} are not between 0 and {row['max_points']}")
    return value


def totals(out):
    """``totals.csv`` under ``out``: automatic score plus written points per graded notebook; a
    row lists the questions still without points (its total then counts them as 0)."""
    out = Path(out)
    written = read_rows(out / "written.csv")
    given = {}
    for r in written:
        given.setdefault((r["student"], r["chapter"]), []).append((r["question"], r["max_points"], points_given(r)))
    rows = []
    for r in read_rows(out / "grades.csv"):
        if not r["max_score"]:
            rows.append({**r, "written": "", "total": "", "missing": ""})
            continue
        marks = given.get((r["student"], r["chapter"]), [])
        earned = sum(p for _, _, p in marks if p is not None)
        maximum = float(r["max_score"]) + sum(float(m) for _, m, _ in marks)
        rows.append({"student": r["student"], "chapter": r["chapter"], "score": r["score"],
                     "written": f"{earned:g}", "total": f"{float(r['score']) + earned:g}",
                     "max_score": f"{maximum:g}", "status": r["status"],
                     "missing": " ".join(q for q, _, p in marks if p is None)})
    write_rows(out / "totals.csv", TOTAL_FIELDS, rows)
    return rows


def main(args):
    try:
        rows = totals(args.out)
    except ValueError as error:
        raise SystemExit(f"totals.csv not written: {error}") from None
    waiting = sum(len(r["missing"].split()) for r in rows)
    print(f"{len(rows)} rows: {Path(args.out) / 'totals.csv'}"
          + (f"; {waiting} written answers still without points" if waiting else ""))
