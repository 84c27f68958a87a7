"""``python -m autograder grade SUBMISSIONS --out RESULTS``: a folder of submissions to grades.

1. **Collect** (``collect.py``): extract archives into ``RESULTS/work/input`` (the input is never
   changed) and work out each notebook's student and chapter; what cannot be placed is listed.
2. **Repair** (``repair.py``): restore lost grading metadata, re-insert deleted test cells, drop
   duplicated graded cells; the repairs head the student's feedback.
3. **Grade** with the real nbgrader, one job per student and chapter, ``--workers`` at a time: each
   job is a copy of the chapter's course directory (``coursedir.py``: its own gradebook, made once
   per chapter by ``nbgrader generate_assignment`` from the instructor notebook) in which a sandboxed worker
   (``sandbox.Worker``, ``worker.py``) runs nbgrader's ``autograde`` and ``generate_feedback``; the
   kernel is jailed (``jail.py``) and only calls the student's functions: the worker decides each
   test cell's points from what they returned (``verdict.py``).
4. **Report**: ``RESULTS/grades.csv``, ``RESULTS/feedback/<student>/<chapter>.html`` and a summary.

``autograde`` grades notebooks given in memory the same way, for the tests' round trips and the
benchmark; with ``Limits(plain=True)`` it is nbgrader as it comes (``coursedir.py``).

A job's result is kept in its folder with the hash of what was graded and of what graded it (the
instructor notebook and this package), so running the command again resumes where it stopped and
writes the same CSV, and grades again whatever the changed tests would grade differently.
"""

import functools
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from autograder import jail
from autograder.collect import collect
from autograder.course import source_path
from autograder.coursedir import job_directory, scores, template
from autograder.repair import read_any, release_notebook, repair
from autograder.sandbox import Limits, Worker, protections
from autograder.submissions import graded_only
from autograder.suspicious import flags
from autograder.written import answers, questions, write_rows, write_written

FIELDS = ["student", "chapter", "score", "max_score", "written_max", "status", "message", "per_test", "file"]


def feedback_cell(repairs):
    lines = ["**Repairs made before grading** (your notebook had lost or changed cells that grading needs):", ""]
    return nbformat.v4.new_markdown_cell("\n".join(lines + [f"- {r}" for r in repairs]))


WRITTEN_NOTE = ("**Written questions** are graded by hand by your instructor: until then their "
                "answers show 0 points here, and so does the total at the top of this page.")


def prepared(found, whole=False):
    """``(notebook, repairs, flags)`` ready for nbgrader, or raise ValueError with the reason. Unless
    ``whole``, the chapter's experiments are left out (``graded_only``): grades do not depend on them.
    ``flags`` say what in the student's code reaches for what grading keeps from it (``suspicious``)."""
    try:
        text = Path(found.path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("not a notebook nbformat can read (binary data, not UTF-8 text)") from error
    notebook = read_any(text)
    notebook, repairs = repair(notebook, found.chapter)
    flagged = flags(notebook, release_notebook(found.chapter))
    if not whole:
        notebook = graded_only(notebook)
    if repairs:
        notebook.cells.insert(0, feedback_cell(repairs))
    if questions(found.chapter):
        notebook.cells.insert(0, nbformat.v4.new_markdown_cell(WRITTEN_NOTE))
    for index, cell in enumerate(notebook.cells):  # fixed ids: the same file is the same job when resumed
        cell.id = f"cell-{index:04d}"
    return notebook, repairs, flagged


def row(found, status, message, grades=None, written=None):
    """The CSV row of one job: the automatic points (``grades``), the points of the written
    questions the instructor gives (``written_max``) and, kept beside the CSV's fields, the
    ``written`` answers when the notebook could be read."""
    grades = grades or {}
    result = {"student": found.student or "", "chapter": found.chapter or "",
              "score": sum(s for s, _ in grades.values()) if grades else 0,
              "max_score": sum(m for _, m in grades.values()) if grades else "",
              "written_max": sum(p for _, p, _, _ in questions(found.chapter)) if found.chapter else "",
              "status": status, "message": message, "file": found.relative,
              "per_test": "; ".join(f"{k} {s:g}/{m:g}" for k, (s, m) in sorted(grades.items()))}
    if written is not None:
        result["written"] = written
    if grades:
        result["grades"] = grades  # beside the CSV's fields, for ``autograde``
    return result


def grade_job(found, folder, limits, worker):
    """Grade one student's notebook for one chapter; return its CSV row (never raises)."""
    try:
        notebook, repairs, flagged = prepared(found, limits.whole)
    except (ValueError, OSError) as error:
        return row(found, "unreadable", str(error))
    text = nbformat.writes(notebook)
    digest = hashlib.sha256(text.encode() + tests_fingerprint(found.chapter, limits.plain).encode()).hexdigest()
    job = folder / "jobs" / found.chapter / safe_name(found.student)
    result_file = job / "result.json"
    if result_file.exists():
        saved = json.loads(result_file.read_text())
        if saved.get("digest") == digest:
            return saved["row"]
    job_directory(template(found.chapter, folder, limits.cell_seconds, limits.plain), job, found.chapter,
                  safe_name(found.student), text, limits.cell_seconds, limits.plain)
    outcome = run_autograde(job, found, limits, worker)
    if outcome is None:
        grades = scores(found.chapter, [safe_name(found.student)], job)[safe_name(found.student)]
        status = ("graded with repairs" if repairs else "graded") + (", flagged for review" if flagged else "")
        notes = repairs + [f"flagged for review: the student's code uses {reason}" for reason in flagged]
        result = row(found, status, "; ".join(notes), grades, answers(notebook))
        export_feedback(job, found, folder.parent)
    else:
        result = row(found, outcome[0], outcome[1], written=answers(notebook))
    result_file.write_text(json.dumps({"digest": digest, "row": result}))
    return result


@functools.cache
def tests_fingerprint(chapter, plain=False):
    """What a saved result depends on besides the submission: the instructor notebook (its tests
    and reference), the grader's own code and whether it is plain nbgrader; when one of them
    changes, a resumed run grades again."""
    files = [source_path(chapter), *sorted(Path(__file__).parent.glob("*.py"))]
    return hashlib.sha256(b"".join(path.read_bytes() for path in files) + b"plain" * plain).hexdigest()


def run_autograde(job, found, limits, worker):
    """None when nbgrader graded the job and wrote its feedback, else ``(status, reason)``."""
    for _ in range(2):  # a second attempt absorbs a transient failure to start a kernel
        try:
            outcome = worker.grade(job, found.chapter, safe_name(found.student))
        except subprocess.TimeoutExpired:
            return "timeout", f"grading took longer than {limits.notebook_seconds} s and was stopped"
        if outcome["success"]:
            return None
    return "crashed", f"nbgrader failed: {cause(outcome['log'])}"


def export_feedback(job, found, results):
    student = safe_name(found.student)
    for html in (job / "feedback" / student / found.chapter).glob("*.html"):
        target = results / "feedback" / student / f"{found.chapter}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(html, target)


def cause(log):
    """The line of nbgrader's log that names what went wrong: its last exception, not the
    "see the above traceback" that nbgrader adds."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"[\w.]*(Error|Exception|Exit)\b.*:", line)
              and "NbGraderException" not in line]
    found = errors[-1] if errors else (lines[-1] if lines else "no message")
    return found[:300]


def safe_name(student):
    """A student name usable as a folder and as an nbgrader student id, distinct for distinct
    names: one that had to be changed ("Bob Jones") carries a hash of the name as given, so it
    never meets another ("Bob_Jones")."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in student).strip("._")[:80]
    if safe == student:
        return safe
    return f"{safe or 'student'}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def newest_per_job(found):
    """One file per (student, chapter): the newest; the others are reported as superseded."""
    chosen, superseded = {}, []
    for item in found:
        key = (item.student, item.chapter)
        if key in chosen:
            older, newer = sorted([chosen[key], item], key=lambda f: Path(f.path).stat().st_mtime)
            chosen[key] = newer
            superseded.append(older)
        else:
            chosen[key] = item
    return list(chosen.values()), superseded


def grade(source, out, workers=None, pattern=None, limits=None):
    """Grade every submission under ``source`` into ``out``; return the CSV rows."""
    source, out, limits = Path(source).resolve(), Path(out).resolve(), limits or Limits()
    folder = out / "work"
    found = collect(source, folder / "input", pattern)
    placeable = [f for f in found if not f.ignored and not f.unreadable and f.student and f.chapter]
    unplaced = [f for f in found if not f.ignored and not f.unreadable and not (f.student and f.chapter)]
    jobs, superseded = newest_per_job(placeable)
    rows = [row(f, "unreadable", f.unreadable) for f in found if f.unreadable]
    rows += [row(f, "unplaced", "; ".join(f.problems)) for f in unplaced]
    rows += [row(f, "superseded", "a newer file of the same student and chapter was graded") for f in superseded]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    with ThreadPoolExecutor(workers) as pool:  # one nbgrader generate_assignment per chapter, side by side
        list(pool.map(lambda chapter: template(chapter, folder, limits.cell_seconds, limits.plain),
                      sorted({f.chapter for f in jobs})))
    if jail.available() and not limits.plain:  # plain nbgrader's hidden tests read solutions/ in the kernel
        jail.install_kernel(folder, limits=limits.jail_options())
    limits = limits.shared_by(workers)
    idle = queue.SimpleQueue()
    for index in range(workers):
        idle.put(Worker(folder / "workers" / str(index), folder / "jupyter", limits))

    def task(found):
        worker = idle.get()
        try:
            return grade_job(found, folder, limits, worker)
        finally:
            idle.put(worker)

    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(jobs), desc="grading", unit="notebook") as bar:
        for future in as_completed([pool.submit(task, f) for f in jobs]):
            rows.append(future.result())
            bar.update()
    while not idle.empty():
        idle.get().stop()
    rows.sort(key=lambda r: (r["student"], r["chapter"], r["file"]))
    write_csv(out / "grades.csv", rows)
    write_written(out, rows)
    print(summary(rows, [f for f in found if f.ignored]))
    print("sandbox: " + ", ".join(f"{name} {'yes' if on else 'NO'}" for name, on in protections().items()))
    return rows


def autograde(chapter, submissions, root, workers=None, plain=False, whole=False):
    """Grade ``{student: notebook}`` of ``chapter`` under ``root`` as ``grade`` does (``root/in``
    to ``root/out``); return ``{student: {grade_id: (score, max_score)}}``, or raise when a
    notebook was not graded. ``plain``: nbgrader as it comes (the tests' check that the instructor
    notebooks stay ordinary nbgrader notebooks, the benchmark's baseline)."""
    root = Path(root)
    for student, notebook in submissions.items():
        path = root / "in" / student / chapter / source_path(chapter).name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
    pattern = r"^(?P<student>[^/]+)/(?P<chapter>[^/]+)/"
    rows = grade(root / "in", root / "out", workers, pattern, Limits.of_run(whole, plain=plain))
    failed = [f"{r['student']}: {r['status']}: {r['message']}" for r in rows if not r["status"].startswith("graded")]
    if failed:
        raise RuntimeError("not graded: " + "; ".join(failed))
    graded = {r["student"]: {k: tuple(v) for k, v in r.get("grades", {}).items()} for r in rows}
    return {student: graded[student] for student in submissions}


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rows(path, FIELDS, rows)


def look_alike(students):
    """Groups of distinct students whose names become the same folder name when cut to letters,
    digits and ``-_.``: each is graded on its own (``safe_name``), and the summary says so."""
    groups = {}
    for student in sorted(set(students)):
        groups.setdefault(safe_name(student).rsplit("-", 1)[0] if safe_name(student) != student else student,
                          []).append(student)
    return [names for names in groups.values() if len(names) > 1]


def summary(rows, ignored):
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = [f"{len(rows)} rows: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    for r in rows:
        if r["status"] not in ("graded", "graded with repairs"):
            lines.append(f"  {r['status']:<11} {r['file']}: {r['message']}")
    if ignored:
        lines.append(f"  ignored (not .ipynb): {', '.join(f.relative for f in ignored)}")
    for names in look_alike(r["student"] for r in rows if r["student"]):
        lines.append(f"  kept apart, graded separately: {', '.join(repr(n) for n in names)}")
    return "\n".join(lines)


def main(args):
    start = time.perf_counter()
    limits = Limits.of_run(args.whole, args.cell_timeout, notebook_seconds=args.notebook_timeout,
                           memory_gb=args.memory_gb)
    grade(args.submissions, args.out, args.workers, args.pattern, limits)
    print(f"done in {time.perf_counter() - start:.0f} s: {Path(args.out) / 'grades.csv'}")
