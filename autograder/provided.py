"""Provided code: what a chapter takes from an earlier one.

In an instructor notebook, a cell tagged ``provided`` holds calls such as::

    provide(globals(), "ch01_minmax", "quant_params", "quantize", "dequantize", "pseudo_quantize")
    provide_sentences(globals(), "technical")

Run as they are (instructor notebook, reference loader, the grader's verdict), they fetch the
definitions from the earlier instructor notebook and the sentences from ``solutions/data``. The
release and the book replace the cell with the literal code this module finds
(``publish/paste.py``), so a student notebook is self-contained: it runs in Colab with nothing
from this repository, and its code is always the earlier chapter's reference.
"""

import ast
import json

from autograder.course import SOLUTION_MARKERS, SOLUTIONS, cell_source, is_reference_cell, source_path

TAG = "provided"
DATA = SOLUTIONS / "data"


def definitions(chapter):
    """``{name: source}`` of the top-level functions, classes and constants (``NAME = ...``) of a
    chapter's reference cells."""
    found = {}
    for cell in json.loads(source_path(chapter).read_text())["cells"]:
        if not is_reference_cell(cell):
            continue
        source = cell_source(cell)
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])  # keep the decorators
                found[node.name] = "\n".join(source.splitlines()[first - 1 : node.end_lineno])
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                found[node.targets[0].id] = ast.get_source_segment(source, node)
    return found


def provided_source(chapter, names):
    """Literal code of ``names`` from ``chapter``, in the given order, solution markers removed."""
    available = definitions(chapter)
    missing = [name for name in names if name not in available]
    if missing:
        raise KeyError(f"{chapter} defines no {', '.join(missing)}")
    blocks = ["\n".join(line for line in available[name].splitlines() if line.strip() not in SOLUTION_MARKERS)
              for name in names]
    return "\n\n\n".join(blocks)


def sentences(domain):
    return (DATA / f"{domain}.txt").read_text().splitlines()






def provide(namespace, chapter, *names):
    """Define ``names`` from ``chapter``'s reference in ``namespace`` (instructor side)."""
    exec(compile(provided_source(chapter, names), f"<provided from {chapter}>", "exec"), namespace)


def provide_sentences(namespace, *domains):
    """Define ``SENTENCES = {domain: [sentence, ...]}`` in ``namespace`` (instructor side)."""
    namespace["SENTENCES"] = {domain: sentences(domain) for domain in domains}
