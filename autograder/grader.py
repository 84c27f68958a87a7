"""``python -m autograder grade SUBMISSIONS --out RESULTS``: a folder of submissions to grades.

1. **Collect** (``collect.py``): extract archives into ``RESULTS/work/input`` (the input is never
   changed) and work out each notebook's student and chapter; what cannot be placed is listed.
2. **Repair** (``repair.py``, in linear time): restore lost grading metadata, re-insert deleted test
   cells, drop duplicated graded cells; the repairs head the student's feedback. The release's own
   experiments are left out (``graded_only``); every cell the student wrote is graded with the rest.
3. **Grade** with the real nbgrader, one job per student and chapter, ``--workers`` at a time: each
   job is a copy of the chapter's course directory (``coursedir.py``: its own gradebook, made per
   version of the instructor notebook by ``nbgrader generate_assignment``) in which a sandboxed worker
   (``sandbox.Worker``, ``worker.py``) runs nbgrader's ``autograde`` and ``generate_feedback``; the
   kernel is jailed (``jail.py``) and only calls the student's functions: the worker decides each
   test cell's points from what they returned (``verdict.py``).
4. **Report**: ``RESULTS/grades.csv``, ``RESULTS/feedback/<student>/<chapter>.html`` and a summary.

``autograde`` grades notebooks given in memory the same way, for the tests' round trips and the
benchmark; with ``Limits(plain=True)`` it is nbgrader as it comes (``coursedir.py``).

A job's result is kept in its folder (one per student and chapter, ``safe_name``) with the hash of
what was graded, of what graded it (the instructor notebook its gradebook was made from, this
package) and of the limits (``result_key``), so running the command again resumes where it stopped
and writes the same CSV, and grades again whatever changed tests, points or limits could grade
differently; a job that timed out or crashed is always graded again. Whatever goes wrong in one job
is that job's ``crashed`` row: no job stops the run.
"""

import dataclasses
import functools
import hashlib
import json
import os
import queue
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from autograder import feedback, jail
from autograder.collect import collect
from autograder.course import source_path
from autograder.coursedir import STAMP, job_directory, scores, template
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


MAX_SOURCE_CHARS = 16 * 2**20  # of all cells' sources: a chapter's notebook holds about 300,000


def prepared(found, whole=False):
    """``(notebook, repairs, flags)`` ready for nbgrader, or raise ValueError with the reason. Unless
    ``whole``, the release's own experiments are left out (``graded_only``): grades do not depend on
    them; every cell the student wrote is kept. ``flags`` say what in the student's code reaches for
    what grading keeps from it (``suspicious``). The outputs the student saved are dropped (grading
    runs every cell again), and a notebook whose sources pass ``MAX_SOURCE_CHARS`` is not repaired."""
    try:
        text = Path(found.path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("not a notebook nbformat can read (binary data, not UTF-8 text)") from error
    notebook = read_any(text)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    size = sum(len(cell.source) for cell in notebook.cells)
    if size > MAX_SOURCE_CHARS:
        raise ValueError(f"not graded: its cells hold {size:,} characters of source, more than "
                         f"{MAX_SOURCE_CHARS:,} (a chapter's notebook holds about 300,000)")
    notebook, repairs = repair(notebook, found.chapter)
    flagged = flags(notebook, release_notebook(found.chapter))
    if not whole:
        notebook = graded_only(notebook, release_notebook(found.chapter))
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


RETRIED = ("timeout", "crashed")  # statuses a saved result never keeps: a rerun grades these again


def grade_job(found, folder, limits, worker, graded_by):
    """Grade one student's notebook for one chapter with ``graded_by`` (the chapter's template and
    the fingerprint of what grades it, ``grading_of``); return its CSV row. Never raises: whatever
    goes wrong in one job is that job's ``crashed`` row, with the reason, and the run goes on."""
    try:
        return grade_one_job(found, folder, limits, worker, graded_by)
    except Exception as error:  # noqa: BLE001 - one job's failure must not stop the others
        return row(found, "crashed", f"the grader failed on this notebook: {type(error).__name__}: {error}"[:300])


def grade_one_job(found, folder, limits, worker, graded_by):
    template_root, fingerprint = graded_by
    try:
        notebook, repairs, flagged = prepared(found, limits.whole)
    except (ValueError, OSError) as error:
        return row(found, "unreadable", str(error))
    text = nbformat.writes(notebook)
    digest = result_key(text, fingerprint, limits)
    job = job_folder(folder, found)
    result_file = job / "result.json"
    saved = saved_row(result_file, digest)
    if saved is not None:
        return saved
    job_directory(template_root, job, found.chapter, safe_name(found.student), text, limits.cell_seconds,
                  limits.plain)
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


def job_folder(folder, found):
    """``folder/jobs/<chapter>/<student>``: one per (student, chapter), whatever the names, since
    ``safe_name`` gives distinct students distinct folders."""
    return folder / "jobs" / found.chapter / safe_name(found.student)


def saved_row(result_file, digest):
    """The row saved by an earlier run for the same ``digest`` (``result_key``), or None: when there is
    none, it is unreadable, or the job was stopped or crashed (``RETRIED``), whose cause may be gone."""
    try:
        saved = json.loads(result_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("digest") != digest or not isinstance(saved.get("row"), dict):
        return None
    return None if saved["row"].get("status") in RETRIED else saved["row"]


def result_key(text, fingerprint, limits):
    """The key of a saved result: the graded notebook, what grades it (``grading_of``) and every
    limit that can change its grade (a cell cut at 20 s may pass at 120 s); not the threads, which
    follow the number of workers."""
    kept = {name: value for name, value in dataclasses.asdict(limits).items() if name != "threads"}
    parts = [hashlib.sha256(text.encode()).hexdigest(), fingerprint, json.dumps(kept, sort_keys=True)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def grading_of(chapter, limits, folder):
    """``(template, fingerprint)`` of ``chapter`` for this run: its course directory with the
    gradebook made from the instructor notebook as it is now (``coursedir.template``), and the hash
    of that notebook (``coursedir.STAMP``: its points, tests and reference) and of the grader's own
    code; when one of them changes, a resumed run grades again."""
    root = template(chapter, folder, limits.cell_seconds, limits.plain)
    fingerprint = hashlib.sha256((root / STAMP).read_bytes() + code_fingerprint().encode()
                                 + b"plain" * limits.plain).hexdigest()
    return root, fingerprint


@functools.cache
def code_fingerprint():
    """The hash of this package's code as this process loaded it (read once: the code that runs)."""
    return hashlib.sha256(b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py")))).hexdigest()


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
    """The job's feedback page into ``results/feedback``, without hidden tests or script (``feedback.py``)."""
    feedback.export(job, safe_name(found.student), found.chapter, results)


def cause(log):
    """The line of nbgrader's log that names what went wrong: its last exception, not the
    "see the above traceback" that nbgrader adds."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"[\w.]*(Error|Exception|Exit)\b.*:", line)
              and "NbGraderException" not in line]
    found = errors[-1] if errors else (lines[-1] if lines else "no message")
    return found[:300]


HASHED = re.compile(r"-[0-9a-f]{16}$")  # how a changed name ends


def safe_name(student):
    """A student name usable as a folder and as an nbgrader student id, distinct for distinct
    names: one that had to be changed ("Bob Jones") carries 16 hex digits of a hash of the name as
    given, so it never meets another ("Bob_Jones"); and a name kept as it is never ends that way (a
    file named after another's folder, "bob_jones-<hash>", is changed too), so it never meets a
    changed one."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in student).strip("._")[:80]
    if safe and safe == student and not HASHED.search(student):
        return safe
    return f"{safe or 'student'}-{hashlib.sha256(student.encode()).hexdigest()[:16]}"


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
    graded = sorted({f.chapter for f in jobs})
    with ThreadPoolExecutor(workers) as pool:  # one nbgrader generate_assignment per chapter, side by side
        graded_by = dict(zip(graded, pool.map(lambda chapter: grading_of(chapter, limits, folder), graded),
                             strict=True))
    if jail.available() and not limits.plain:  # plain nbgrader's hidden tests read solutions/ in the kernel
        jail.install_kernel(folder, limits=limits.jail_options())
    limits = limits.shared_by(workers)
    idle = queue.SimpleQueue()
    for index in range(workers):
        idle.put(Worker(folder / "workers" / str(index), folder / "jupyter", limits))

    def task(found):
        worker = idle.get()
        try:
            return grade_job(found, folder, limits, worker, graded_by[found.chapter])
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
