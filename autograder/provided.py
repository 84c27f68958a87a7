"""Provided code: what a chapter takes from an earlier one, pasted in at release.

In an instructor notebook, a cell tagged ``provided`` holds calls such as::

    provide(globals(), "ch01_minmax", "quant_params", "quantize", "dequantize", "pseudo_quantize")
    provide_sentences(globals(), "technical")

Run as they are (instructor notebook, reference loader), they fetch the definitions from the earlier
instructor notebook and the sentences from ``solutions/data``. The release and the book replace
the cell with the literal code, so a student notebook is self-contained: it runs in Colab with
nothing from this repository, and its code is always the earlier chapter's reference.
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


def string_lines(text, indent, width=88):
    """``text`` as implicitly concatenated string literals, one a line, ``indent`` in and
    split after spaces so that each line, the comma after the last included, is at most
    ``width`` wide (unless a word is longer): pasted code keeps the book's column."""
    parts, words = [], text.split(" ")
    for word in words[:-1]:
        if parts and len(indent) + len(json.dumps(parts[-1] + word + " ")) <= width:
            parts[-1] += word + " "
        else:
            parts.append(word + " ")
    last = words[-1]
    if parts and len(indent) + len(json.dumps(parts[-1] + last)) + 1 <= width:
        parts[-1] += last
    else:
        parts.append(last)
    assert "".join(parts) == text
    return [f"{indent}{json.dumps(part)}" for part in parts[:-1]] + [f"{indent}{json.dumps(parts[-1])},"]


def sentences_source(domains):
    lines = ["SENTENCES = {"]
    for domain in domains:
        lines.append(f"    {domain!r}: [")
        for s in sentences(domain):
            lines += string_lines(s, " " * 8)
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines)


def provide(namespace, chapter, *names):
    """Define ``names`` from ``chapter``'s reference in ``namespace`` (instructor side)."""
    exec(compile(provided_source(chapter, names), f"<provided from {chapter}>", "exec"), namespace)


def provide_sentences(namespace, *domains):
    """Define ``SENTENCES = {domain: [sentence, ...]}`` in ``namespace`` (instructor side)."""
    namespace["SENTENCES"] = {domain: sentences(domain) for domain in domains}


def expand(notebook):
    """Replace each ``provided`` cell's calls with the code they stand for (student side)."""
    for cell in notebook.cells:
        if cell.cell_type != "code" or TAG not in cell.metadata.get("tags", []):
            continue
        parts = []
        for node in ast.parse(cell.source).body:
            call = node.value if isinstance(node, ast.Expr) else None
            if not isinstance(call, ast.Call) or getattr(call.func, "id", "") not in ("provide", "provide_sentences"):
                continue
            args = [ast.literal_eval(arg) for arg in call.args[1:]]
            if call.func.id == "provide":
                parts.append(f"# Provided from {args[0]} (its reference solution).\n\n"
                             + provided_source(args[0], args[1:]))
            else:
                parts.append("# Provided: the course's sentences (licences in the course repository,\n"
                             "# solutions/data/README.md).\n" + sentences_source(args))
        cell.source = "#@title Provided code: run this cell, no need to read it\n" + "\n\n\n".join(parts)
        cell.metadata["cellView"] = "form"  # Colab folds a #@title cell into a form
        cell.metadata.setdefault("jupyter", {})["source_hidden"] = True  # JupyterLab folds it
        cell.metadata["tags"] = [*cell.metadata["tags"], "hide-input"]  # the book folds it
    return notebook
