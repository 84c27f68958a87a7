"""Put back what a Colab round trip or a careless edit took from a submission, and say so.

nbgrader grades cells by their ``metadata.nbgrader.grade_id`` and trusts nothing else. A notebook
downloaded from Colab, saved by another editor or edited by hand may have lost that metadata,
deleted a test cell or duplicated an exercise. ``repair`` matches every graded cell of the released
notebook to the submission (by ``grade_id``, then by the function an exercise defines or the text
of a test, then by position), restores the metadata, re-inserts what was deleted, drops duplicated
graded cells, and returns the list of repairs for the student's feedback.
"""

import functools
import re
from collections import Counter

import nbformat

from autograder.course import release_path
from autograder.submissions import KEPT_TAGS as SUPPORT_TAGS


def read_any(text):
    """A version-4 notebook from the text of any nbformat 3 or 4.x notebook (Colab, JupyterLab,
    VS Code). Raises ValueError with a readable reason otherwise."""
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for bad input
        raise ValueError(f"not a notebook nbformat can read ({type(error).__name__})") from error
    _, notebook = nbformat.validator.normalize(notebook)
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        cell.source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
    return notebook


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def defined_function(source):
    found = re.search(r"^def\s+(\w+)\s*\(", source, re.MULTILINE)
    return found.group(1) if found else None


def defines(source, name):
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", source, re.MULTILINE) is not None


MAX_COMPARED = 1_000_000  # characters: a longer cell is never taken for one of the release's (which hold < 150 KB)


def pieces(text, unit):
    """``Counter`` of the non-blank pieces of ``text``: its lines (``unit="lines"``, ends stripped)
    or its words."""
    parts = text.splitlines() if unit == "lines" else text.split()
    return Counter(part.strip() for part in parts if part.strip())


def similarity(a, b, floor=0.0, unit="lines"):
    """How much of ``a`` and ``b`` is the same pieces (lines, or words), weighted by their length:
    1 for the same text, 0 for nothing in common, and 0 as soon as their lengths show it is below
    ``floor``. Linear in the texts' length, unlike difflib's ratio, which took 100 s on two
    near-copies of a 130 KB provided cell; texts over ``MAX_COMPARED`` characters are not compared."""
    if a == b:
        return 1.0
    if max(len(a), len(b)) > MAX_COMPARED or 2 * min(len(a), len(b)) < floor * (len(a) + len(b)):
        return 0.0
    left, right = pieces(a, unit), pieces(b, unit)
    total = sum((len(p) + 1) * n for p, n in left.items()) + sum((len(p) + 1) * n for p, n in right.items())
    common = sum((len(p) + 1) * n for p, n in (left & right).items())
    return 2 * common / total if total else 1.0


def find_match(released, cells, taken, question=None, given=()):
    """Index of the unlabelled submitted cell that stands for the released graded cell, or None.
    A written answer is the Markdown cell right after its ``question``, unchanged, unless that
    cell is one of the release's own (``given``: the answer cell was deleted)."""
    if released.cell_type == "markdown":
        after = [i + 1 for i, c in enumerate(cells[:-1]) if question is not None and c.source == question.source]
        return next((i for i in after if i not in taken and cells[i].cell_type == "markdown"
                     and not grade_id(cells[i]) and cells[i].source not in given), None)
    candidates = [i for i, c in enumerate(cells) if i not in taken and c.cell_type == "code" and not grade_id(c)]
    if released.metadata["nbgrader"].get("solution"):
        name = defined_function(released.source)
        named = [i for i in candidates if name and defines(cells[i].source, name)]
        return named[-1] if named else None
    scored = [(similarity(released.source, cells[i].source, 0.6), i) for i in candidates]
    best = max(scored, default=(0, None))
    return best[1] if best[0] >= 0.6 else None


def drop_duplicates(cells, repairs):
    """Keep one cell per grade_id: the last exercise cell (it defines the function that runs), the
    first test cell (nbgrader restores its text anyway)."""
    keep = {}
    for index, cell in enumerate(cells):
        key = grade_id(cell)
        if key is None:
            continue
        if key in keep and not cell.metadata["nbgrader"].get("solution"):
            continue
        keep[key] = index
    kept = []
    for index, cell in enumerate(cells):
        key = grade_id(cell)
        if key is not None and keep[key] != index:
            repairs.append(f"dropped a duplicate of graded cell '{key}'")
            continue
        kept.append(cell)
    return kept


def restore_support_cells(cells, release, repairs):
    """The set-up, reference and provided cells the tests rely on: their tags put back on the
    submitted cell that holds their code, or the cell re-inserted where it was deleted."""
    for order, released in enumerate(release.cells):
        tags = SUPPORT_TAGS & set(released.metadata.get("tags", []))
        if not tags or released.cell_type != "code":
            continue
        tagged = [c for c in cells if c.cell_type == "code" and tags & set(c.metadata.get("tags", []))
                  and similarity(c.source, released.source, 0.9) >= 0.9]
        if tagged:
            continue
        close = [c for c in cells if c.cell_type == "code" and not grade_id(c)
                 and similarity(c.source, released.source, 0.9) >= 0.9]
        if close:
            close[0].metadata["tags"] = list(released.metadata.get("tags", []))
            continue
        later = [grade_id(c) for c in release.cells[order:] if grade_id(c)]
        anchor = next((i for i, c in enumerate(cells) if grade_id(c) in later), len(cells))
        cells.insert(anchor, nbformat.from_dict(dict(released)))
        repairs.append(f"re-inserted a deleted cell of provided code ({', '.join(sorted(tags))})")


@functools.cache
def release_notebook(chapter):
    """The chapter's student notebook as released, read once per run (callers only read it)."""
    return nbformat.read(release_path(chapter), as_version=4)


def repair(notebook, chapter):
    """``(repaired notebook, repairs)`` for a submission of ``chapter``; ``notebook`` is changed."""
    release = release_notebook(chapter)
    repairs = []
    cells = drop_duplicates(list(notebook.cells), repairs)
    restore_support_cells(cells, release, repairs)
    graded = [c for c in release.cells if grade_id(c)]
    given = {c.source for c in release.cells if not grade_id(c)}
    position = {grade_id(c): i for i, c in enumerate(cells) if grade_id(c)}
    taken = set(position.values())
    for released in graded:
        key = grade_id(released)
        if key in position:
            continue
        before = release.cells.index(released) - 1
        index = find_match(released, cells, taken, release.cells[before] if before >= 0 else None, given)
        if index is not None:
            cells[index].metadata["nbgrader"] = dict(released.metadata["nbgrader"])
            position[key] = index
            taken.add(index)
            repairs.append(f"restored the grading metadata of cell '{key}' (lost, as after a Colab download)")
    inserted = []
    for order, released in enumerate(graded):
        key = grade_id(released)
        if key not in position:
            inserted.append((order, released))
            kind = ("written answer" if released.cell_type == "markdown"
                    else "exercise" if released.metadata["nbgrader"].get("solution") else "test")
            note = " (graded as not done)" if kind == "exercise" else ""
            repairs.append(f"re-inserted the deleted {kind} cell '{key}'{note}")
    for order, released in inserted:
        previous = [grade_id(c) for c in graded[:order]]
        anchor = max((i for i, c in enumerate(cells) if grade_id(c) in previous), default=-1)
        cell = nbformat.from_dict(dict(released))
        cells.insert(anchor + 1, cell)
    for cell in cells:
        key = grade_id(cell)
        released = next((c for c in graded if grade_id(c) == key), None)
        if (released is not None and released.metadata["nbgrader"].get("grade")
                and not released.metadata["nbgrader"].get("solution") and cell.source != released.source):
            repairs.append(f"test cell '{key}' was edited: graded with the original tests")
    notebook.cells = cells
    notebook.metadata["kernelspec"] = dict(release.metadata.get("kernelspec", {}))
    return notebook, repairs
