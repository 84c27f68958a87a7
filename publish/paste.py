"""Pasting provided code: each cell tagged ``provided`` becomes the literal code it stands for.

In: a notebook whose ``provided`` cells call ``provide(globals(), "ch01_minmax", ...)`` and
``provide_sentences(globals(), ...)`` (``autograder/provided.py``). Out: the same notebook with those
cells replaced by the earlier chapter's reference code and the sentences, folded in Colab,
JupyterLab and the book. The release and the book's pages both paste (``release.with_setup``).
"""

import ast
import json

from autograder.provided import TAG, provided_source, sentences


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
