"""Load a chapter's reference solution from its instructor notebook (the one source).

The reference is what the instructor notebook's solution cells define, run after the cells it
tags ``reference`` (its imports and provided helpers). Hidden tests and unit tests use it; there is
no second copy of the reference anywhere.

This module runs inside every grading kernel, so it reads the notebook as plain JSON: importing
``nbformat`` there would cost two seconds per graded notebook.
"""

import base64
import contextlib
import functools
import io
import json
import linecache
import re
import sys
import zlib
from types import SimpleNamespace

from autograder.course import HIDDEN_MARKERS, source_path


def cell_source(cell):
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def is_solution_cell(cell):
    return cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)


def is_reference_cell(cell):
    return cell["cell_type"] == "code" and (
        is_solution_cell(cell) or "reference" in cell.get("metadata", {}).get("tags", [])
    )


def load_reference(chapter):
    """What ``chapter``'s reference cells define: from the seal inside a grading kernel (see below),
    else by running the reference cells of ``solutions/<chapter>``."""
    return sealed_reference(chapter) or reference_from_notebook(chapter)


@functools.cache
def reference_from_notebook(chapter):
    try:
        path = source_path(chapter)
        cells = json.loads(path.read_text())["cells"]
    except OSError as error:
        raise FileNotFoundError(f"the reference of {chapter} cannot be read here (a grading kernel "
                                "has no access to the instructor notebooks)") from error
    return run_cells(chapter, [cell_source(c) for c in cells if is_reference_cell(c)], path.name)


# --- Sealed reference: how hidden tests get the reference inside a grading kernel -------------------
#
# A grading kernel cannot read ``solutions/`` (see ``jail.py``). Instead, when the grader makes a
# chapter's course directory, it writes ``unseal_line(chapter)`` at the top of every hidden-test
# region: the reference's code travels inside the hidden test, which nbgrader only puts into the
# notebook at grading time, after the student's cells have run. ``unseal`` makes the reference
# available to that cell's hidden tests, and to nothing else: a student's function that calls
# ``load_reference`` is refused, and the reference is dropped when the cell ends.

SEAL_CALL = '__import__("autograder.reference", fromlist=["unseal"]).unseal'
_sealed = {}  # chapter -> (file name of the hidden cell that unsealed it, its reference namespace)


def reference_sources(chapter):
    """The sources of the reference cells of ``chapter``, provided code pasted in."""
    import nbformat  # noqa: PLC0415 - instructor side only (slow import)

    from autograder.provided import expand  # noqa: PLC0415 - provided imports this module

    notebook = expand(nbformat.read(source_path(chapter), as_version=4))
    return [cell.source for cell in notebook.cells if is_reference_cell(cell)]


def unseal_line(chapter):
    """One line of code that carries the whole reference of ``chapter`` (compressed, base85)."""
    blob = base64.b85encode(zlib.compress(json.dumps(reference_sources(chapter)).encode(), 9)).decode()
    return f'{SEAL_CALL}("{chapter}", "{blob}")'


def run_cells(chapter, sources, origin):
    namespace = {"__name__": f"reference_{chapter}"}
    for index, source in enumerate(sources):
        exec(compile(source, f"{origin} (cell {index})", "exec"), namespace)
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("_")})


def unseal(chapter, blob):
    """Make ``chapter``'s reference available to the calling cell's hidden tests until it ends."""
    from IPython import get_ipython  # noqa: PLC0415 - only hidden tests, which run in a kernel, call this

    sources = json.loads(zlib.decompress(base64.b85decode(blob)))
    with contextlib.redirect_stdout(io.StringIO()):  # the reference cells' own demonstrations
        reference = run_cells(chapter, sources, "sealed reference")
    _sealed[chapter] = (sys._getframe(1).f_code.co_filename, reference)
    shell = get_ipython()

    def forget(*_):
        shell.events.unregister("post_run_cell", forget)
        _sealed.pop(chapter, None)
        scrub(shell)

    if shell is not None:
        shell.events.register("post_run_cell", forget)


def scrub(shell):
    """Remove the seal from where IPython keeps a cell's source: the input history, the ``_i``
    variables, the line cache used for tracebacks, and the last traceback."""
    hidden = "# (hidden tests)"

    def clean(text):
        return hidden if isinstance(text, str) and SEAL_CALL in text else text

    history = shell.history_manager
    for entries in (history.input_hist_parsed, history.input_hist_raw):
        entries[:] = [clean(entry) for entry in entries]
    history.db_input_cache[:] = [tuple(clean(part) for part in entry) for entry in history.db_input_cache]
    for name in ("_i", "_ii", "_iii", "_i00"):
        setattr(history, name, clean(getattr(history, name, "")))
    for name, value in list(shell.user_ns.items()):
        if name.startswith("_i"):
            shell.user_ns[name] = clean(value)
    for name, entry in list(linecache.cache.items()):
        if any(SEAL_CALL in line for line in entry[2]):
            del linecache.cache[name]
    sys.last_type = sys.last_value = sys.last_traceback = None


def sealed_reference(chapter):
    """The unsealed reference, when the hidden cell that unsealed it asks (directly or through
    the checks in ``autograder``); None when nothing is unsealed."""
    if chapter not in _sealed:
        return None
    cell, reference = _sealed[chapter]
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("autograder."):
        frame = frame.f_back
    if frame is None or frame.f_code.co_filename != cell:
        raise PermissionError("the reference is for the hidden tests only")
    return reference


def seal_hidden_tests(notebook):
    """``notebook`` (nbformat) with the sealed reference at the top of each hidden-test region,
    for every chapter the region names."""
    begin = HIDDEN_MARKERS[0]
    lines_for = functools.cache(unseal_line)
    for cell in notebook.cells:
        if cell.cell_type != "code" or begin not in cell.source:
            continue
        parts = cell.source.split(begin)
        for index in range(1, len(parts)):
            region = parts[index].split(HIDDEN_MARKERS[1])[0]
            names = sorted(set(re.findall(r"[\"'](ch\d\d_\w+)[\"']", region)))
            parts[index] = "".join(f"\n{lines_for(name)}" for name in names) + parts[index]
        cell.source = begin.join(parts)
    return notebook
