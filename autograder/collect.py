"""Find who handed in which chapter, in the folders and archives instructors really have.

Accepted layouts (the input is never modified; archives are extracted into a work folder):

* a folder per student: ``alice/minmax.ipynb``, ``alice/ch01_minmax/minmax.ipynb``, or an LMS
  folder such as ``Alice Smith_123456_assignsubmission_file_/anything.ipynb``;
* a flat folder: ``alice_ch01.ipynb``, ``ch01_minmax_alice.ipynb``, ``alice-minmax.ipynb``;
* ``.zip`` archives of either, as an LMS exports them (nbgrader ``zip_collect``'s convention:
  each archive is extracted into a folder of its own, archives inside archives too);
* a ``--pattern`` regular expression with a named group ``student`` (and optionally ``chapter``)
  applied to each file's path relative to the input, like ``zip_collect``'s ``named_regexp``.

The chapter of a notebook is read from its content first (the ``grade_id`` of its cells, then the
similarity of its cells to each released notebook), then from its name (``ch01``, ``minmax``).
A file that cannot be placed is reported with the reason, never silently dropped.
"""

import difflib
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import chapters, release_path

IGNORED = ("__MACOSX", ".ipynb_checkpoints", ".DS_Store")
LMS_FOLDER = re.compile(r"^(?P<student>.+?)_(?P<id>\d+)_assignsubmission_.*$")  # Moodle


@dataclass
class Found:
    """One submitted file: where it is, whose and which chapter's it is, or why that is unknown."""

    path: Path
    relative: str
    student: str | None = None
    chapter: str | None = None
    problems: list[str] = field(default_factory=list)
    ignored: bool = False
    unreadable: str | None = None  # why an archive was not extracted, or a file not read


@dataclass(frozen=True)
class ArchiveLimits:
    """What one run extracts at most: an archive past a limit is not extracted and gets a row."""
    total_bytes: int = 4 * 2**30  # inflated, over all archives of the run
    file_bytes: int = 256 * 2**20  # per file, in an archive or not: no notebook is near this
    entries: int = 20_000  # per archive
    depth: int = 8  # archives inside archives
    name_bytes: int = 240  # per path component (most file systems allow 255)


def extract_archives(source, work, limits=ArchiveLimits()):
    """Copy ``source`` (a folder or a zip) into ``work``, extracting every archive in place of it.

    Returns ``(work, problems)``: ``{archive's path relative to work: why it was not extracted}``.
    Each archive is handled on its own: a broken or oversized one is left as it is and reported."""
    source, work = Path(source), Path(work)
    if work.exists():
        shutil.rmtree(work)
    if source.is_file():
        work.mkdir(parents=True)
        shutil.copy2(source, work / source.name)
    else:
        shutil.copytree(source, work, symlinks=True)
    problems, budget = {}, [limits.total_bytes]
    pending = [(p, 1) for p in archives_in(work)]
    while pending:
        archive, depth = pending.pop()
        relative = archive.relative_to(work).as_posix()
        try:
            target = extract_one(archive, depth, limits, budget)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as error:
            problems[relative] = f"archive: {reason(error)}"
            continue
        archive.unlink()
        pending += [(p, depth + 1) for p in archives_in(target)]
    return work, problems


def archives_in(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".zip" and p.is_file()
                  and not p.is_symlink())


def reason(error):
    if isinstance(error, zipfile.BadZipFile):
        return "a .zip file that is not a readable zip archive"
    return str(error) if isinstance(error, ValueError) else f"could not be extracted ({type(error).__name__})"


def extract_one(archive, depth, limits, budget):
    """Extract ``archive`` into a new folder beside it (its name without ``.zip``, or with a
    number if that name is taken); raise ValueError when it breaks a limit."""
    if depth > limits.depth:
        raise ValueError(f"nested more than {limits.depth} deep")
    with zipfile.ZipFile(archive) as opened:
        members = opened.infolist()
        if len(members) > limits.entries:
            raise ValueError(f"{len(members):,} entries, more than {limits.entries:,}")
        largest = max((m.file_size for m in members), default=0)
        if largest > limits.file_bytes:
            raise ValueError(f"an entry inflates to {largest / 2**20:,.0f} MB, more than "
                             f"{limits.file_bytes / 2**20:,.0f} MB")
        inflated = sum(m.file_size for m in members)
        if inflated > budget[0]:
            raise ValueError(f"inflates to {inflated / 2**20:,.0f} MB, more than this run allows")
        for member in members:
            if any(len(part.encode()) > limits.name_bytes for part in member.filename.split("/")):
                raise ValueError(f"an entry's name is longer than {limits.name_bytes} bytes")
        target = free_name(archive.with_suffix(""))
        target.mkdir()
        for member in members:
            destination = (target / member.filename).resolve()
            if not destination.is_relative_to(target.resolve()):
                continue  # a path that climbs out of the archive's folder is skipped
            opened.extract(member, target)
        budget[0] -= inflated
    return target


def free_name(path):
    """``path``, or ``path (2)``, ``path (3)``... whichever does not exist yet."""
    candidate, number = path, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.name} ({number})")
    return candidate


def chapter_names():
    """``{chapter: (number token, slug)}``, e.g. ``{"ch01_minmax": ("ch01", "minmax")}``."""
    return {chapter: (chapter[:4], release_path(chapter).stem) for chapter in chapters()}


def released_cells(chapter):
    notebook = json.loads(release_path(chapter).read_text())
    return notebook["cells"]


def cell_text(cell):
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def chapter_from_content(notebook):
    """The chapter whose released notebook this one resembles, or None.

    ``grade_id``s decide when there are any (they survive a Colab round trip); otherwise each
    chapter's longer Markdown cells are looked up among this notebook's Markdown cells, exactly,
    then closely (at least a third must match, so a stray notebook is not mistaken for a chapter).
    """
    def grade_ids(cells):
        return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells} - {None}

    ids = grade_ids(notebook.get("cells", []))
    scores = {}
    for chapter in chapters():
        expected = grade_ids(released_cells(chapter))
        if ids & expected:
            scores[chapter] = len(ids & expected) / len(expected) + 1  # metadata beats text
    if not scores:  # no metadata left: compare the text of the Markdown cells (exact matches first)
        texts = [cell_text(c) for c in notebook.get("cells", []) if c.get("cell_type") == "markdown"]
        for chapter in chapters():
            fixed = [cell_text(c) for c in released_cells(chapter)
                     if c["cell_type"] == "markdown" and len(cell_text(c)) > 80]
            hits = sum(1 for text in fixed if text in texts or difflib.get_close_matches(text, texts, n=1, cutoff=0.8))
            scores[chapter] = hits / max(1, len(fixed))
    best = max(scores, key=scores.get) if scores else None
    return best if best and scores[best] >= 1 / 3 else None


def chapter_from_name(name):
    tokens = set(re.split(r"[^a-z0-9]+", name.lower()))
    for chapter, (number, slug) in chapter_names().items():
        if number in tokens or slug in tokens or chapter in name.lower():
            return chapter
    return None


def student_from_name(name):
    """What is left of a flat file's name once the chapter's number and slug are taken out."""
    stem = name.lower()
    for chapter, (number, slug) in chapter_names().items():
        stem = re.sub(rf"(^|[^a-z0-9]){re.escape(chapter)}(?=$|[^a-z0-9])", r"\1", stem)
        stem = re.sub(rf"(^|[^a-z0-9])({number}|{slug})(?=$|[^a-z0-9])", r"\1", stem)
    stem = re.sub(r"(^|[^a-z0-9])(submission|notebook|copy of|copy)(?=$|[^a-z0-9])", r"\1", stem)
    stem = re.sub(r"\s*\(\d+\)$", "", stem)  # "alice (1)" as a browser saves a second download
    return re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", stem) or None


def read_notebook_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError):
        return None


def folders_of(relative):
    """The folders of a relative path that do not name a chapter (``alice``, not ``ch01_minmax``)."""
    return [part for part in relative.split("/")[:-1] if chapter_from_name(part) is None]


def student_of(path, relative, shared):
    """The first folder below the shared ones (an LMS folder reduced to the name in it), else the
    file's name without the chapter's tokens, else the last shared folder."""
    folders = folders_of(relative)[len(shared):]
    if folders:
        lms = LMS_FOLDER.match(folders[0])  # the LMS id tells two students of the same name apart
        return f"{lms.group('student')} ({lms.group('id')})" if lms else folders[0]
    return student_from_name(path.stem) or (shared[-1] if shared else None)


def chapter_of(path, relative):
    """``(chapter, problem)`` for a notebook file: from its content, then from its name."""
    notebook = read_notebook_json(path)
    chapter, problem = None, None
    if notebook is None:
        problem = "not a readable notebook (not JSON text)"
    elif not isinstance(notebook, dict) or ("cells" not in notebook and "worksheets" not in notebook):
        problem = "JSON, but not a notebook"
    else:
        cells = notebook.get("cells") or [c for ws in notebook.get("worksheets", []) for c in ws.get("cells", [])]
        chapter = chapter_from_content({"cells": [c for c in cells if isinstance(c, dict)]})
    return chapter or chapter_from_name(relative), problem


def place(path, root, shared=(), pattern=None, limits=ArchiveLimits()):
    """A ``Found`` for the file at ``path`` under ``root``; ``shared`` are the folders every file
    sits in (an archive's own folder, say), which name no student."""
    relative = path.relative_to(root).as_posix()
    found = Found(path, relative)
    if path.suffix.lower() != ".ipynb":
        found.ignored = True
        found.problems.append("not an .ipynb file")
        return found
    size = path.stat().st_size
    if size > limits.file_bytes:
        found.unreadable = (f"{size / 2**20:,.0f} MB, more than a notebook may be "
                            f"({limits.file_bytes / 2**20:,.0f} MB)")
        found.problems.append(found.unreadable)
        return found
    match = re.search(pattern, relative) if pattern else None
    if match:
        found.student = match.groupdict().get("student")
        found.chapter = chapter_from_name(match.groupdict().get("chapter") or "")
    found.student = found.student or student_of(path, relative, shared)
    chapter, problem = chapter_of(path, relative)
    found.chapter = found.chapter or chapter
    found.problems += [problem] if problem else []
    if not found.student:
        found.problems.append("no student name in its folder or file name")
    if not found.chapter:
        found.problems.append("no chapter recognised from its content or its name")
    return found


def common_prefix(lists):
    prefix = []
    for parts in zip(*lists, strict=False):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    return prefix


def collect(source, work, pattern=None, limits=ArchiveLimits()):
    """Every file of ``source`` (a folder or a zip), extracted under ``work``, placed; an archive
    that could not be extracted is one ``Found`` with ``unreadable`` set."""
    root, problems = extract_archives(source, work, limits)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                   and not any(part in IGNORED for part in p.parts) and not p.name.startswith(".")
                   and p.relative_to(root).as_posix() not in problems)
    broken = [Found(root / relative, relative, problems=[why], unreadable=why) for relative, why in sorted(problems.items())]
    notebooks = [p.relative_to(root).as_posix() for p in files if p.suffix.lower() == ".ipynb"]
    shared = common_prefix([folders_of(r) for r in notebooks]) if len(notebooks) > 1 else []
    if len(notebooks) == 1:
        shared = folders_of(notebooks[0])[:-1] if len(folders_of(notebooks[0])) > 1 else []
    return broken + [place(path, root, shared, pattern, limits) for path in files]
