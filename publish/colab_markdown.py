"""The book's MyST roles, written out as plain Markdown for the student notebooks.

A chapter's prose is written once, in MyST, for the book: ``{cite:p}`lin2024awq``` cites a paper of
``book/references.bib``, an equation labelled ``$$ ... $$ (eq-name)`` is numbered and referred to
as ``{eq}`eq-name```. Colab and Jupyter render Markdown and MathJax but not these roles, so the
release writes them out: a citation becomes the authors and year, linked to the paper; a labelled
equation gets its number as a ``\\tag`` and each reference to it the same number.
"""

import functools
import re

from pybtex.database import parse_file

from autograder.course import ROOT

BIBLIOGRAPHY = ROOT / "book" / "references.bib"
CITE = re.compile(r"\{cite(?::(p|t|ps|ts))?\}`([^`]+)`")
EQ_REF = re.compile(r"\{eq\}`([^`]+)`")
LABELLED = re.compile(r"\$\$((?:(?!\$\$).)+?)\$\$[ \t]*\(([\w-]+)\)", re.DOTALL)


@functools.cache
def references():
    """``{key: (authors, year, url or None)}`` from ``book/references.bib``."""
    found = {}
    for key, entry in parse_file(str(BIBLIOGRAPHY)).entries.items():
        people = entry.persons.get("author", [])
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        authors = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
        found[key] = (authors, entry.fields.get("year", "n.d."), entry.fields.get("url"))
    return found


def citation(style, keys):
    """A citation as Markdown: ``(Lin et al., 2024)``, or ``Lin et al. (2024)`` for ``style`` t."""
    textual, parts = bool(style) and style.startswith("t"), []
    for key in (k.strip() for k in keys.split(",")):
        if key not in references():
            raise KeyError(f"{{cite}}`{key}`: no such key in {BIBLIOGRAPHY.relative_to(ROOT)}")
        authors, year, url = references()[key]
        text = f"{authors} ({year})" if textual else f"{authors}, {year}"
        parts.append(f"[{text}]({url})" if url else text)
    return "; ".join(parts) if textual else "(" + "; ".join(parts) + ")"


def equation_numbers(notebook):
    """``{label: number}`` of the labelled equations, numbered in order through the chapter."""
    labels = [m.group(2) for cell in notebook.cells if cell.cell_type == "markdown"
              for m in LABELLED.finditer(cell.source)]
    return {label: index for index, label in enumerate(labels, start=1)}


def plain(source, numbers):
    """One Markdown cell's source with its roles written out."""
    def number(match):
        if match.group(1) not in numbers:
            raise KeyError(f"{{eq}}`{match.group(1)}`: no equation has this label")
        return f"({numbers[match.group(1)]})"

    source = LABELLED.sub(lambda m: f"$${m.group(1).rstrip()} \\tag{{{numbers[m.group(2)]}}}\n$$", source)
    source = EQ_REF.sub(number, source)
    return CITE.sub(lambda m: citation(m.group(1), m.group(2)), source)


def for_colab(notebook):
    """``notebook`` with every Markdown cell's MyST roles written out (in place; returned)."""
    numbers = equation_numbers(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = plain(cell.source, numbers)
    return notebook
