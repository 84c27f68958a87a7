"""No line of solution code or hidden tests reaches notebooks/ or the built book.

A later chapter's student notebook deliberately carries the reference code of earlier chapters as
provided code (its students need it, and the earlier chapter is done by then), so a student notebook
of chapter N is scanned for the secrets of chapters N and later; the book, which everyone can read
at any time, shows none (its pages replace the provided code by a note), so every file of the built
book is scanned for the secrets of every chapter.
"""

import html
import json
import re

import pytest

from autograder.course import BUILD, NOTEBOOKS, SOLUTIONS, chapters, source_path
from tests.leaks import leaks_in, secret_lines

HTML = BUILD / "html"
TEXT = {".html", ".js", ".ipynb", ".txt", ".json", ".md", ".py"}


@pytest.fixture(scope="module")
def by_chapter():
    return {chapter: secret_lines(source_path(chapter)) for chapter in chapters()}


@pytest.fixture(scope="module")
def secrets(by_chapter):
    found = set().union(*by_chapter.values())
    assert len(found) > 20, "the instructor notebooks should have solution and hidden-test lines to look for"
    return found


def chapter_of(path):
    found = re.search(r"ch\d\d_\w+", str(path))
    return found.group(0) if found else None


def readable_text(path):
    """What a reader sees of a file: for a notebook, its cells' sources and text outputs, line by line."""
    text = path.read_text(errors="replace")
    if path.suffix != ".ipynb":
        return text
    parts = []
    for cell in json.loads(text)["cells"]:
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts += ["".join(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def artifacts():
    assert HTML.exists(), "the book is not built: run `make book` (make test does it first)"
    paths = [p for p in NOTEBOOKS.rglob("*") if p.is_file()]
    paths += [p for p in HTML.rglob("*") if p.suffix in TEXT]
    paths += [p for p in (BUILD / "src").rglob("*.ipynb")]
    return paths


def test_no_artifact_holds_solution_or_hidden_test_lines(by_chapter):
    leaks = {}
    for path in artifacts():
        own = chapter_of(path)
        if own is not None and HTML in path.parents:  # the book shows no chapter's answers
            own_text = source_path(own).read_text()  # less the lines its own page shows anyway
            secrets = {line for chapter, lines in by_chapter.items() for line in lines
                       if chapter >= own or json.dumps(line)[1:-1] not in own_text}
        else:
            secrets = set().union(*(lines for chapter, lines in by_chapter.items() if own is None or chapter >= own))
        found = leaks_in(readable_text(path), secrets)
        if found:
            leaks[str(path)] = sorted(found)[:5]
    assert not leaks, json.dumps(leaks, indent=1)


def test_the_scan_finds_a_leaked_line(secrets):
    for line in sorted(secrets)[:10]:
        highlighted = "".join(f'<span class="n">{html.escape(word)}</span> ' for word in line.split(" "))
        assert leaks_in(f"<pre>{highlighted.rstrip()}</pre>", secrets) == {line}
        assert leaks_in(f"x = 1\n    {line}\n", secrets) == {line}


def test_the_secrets_include_solution_and_hidden_test_code(secrets):
    text = source_path(chapters()[0]).read_text()
    assert any(line in text for line in secrets)
    assert any("compare(" in line for line in secrets), "hidden-test lines are scanned too"
    assert SOLUTIONS.exists()


def test_notebooks_are_scanned_cell_by_cell(secrets, tmp_path):
    line = sorted(secrets)[0]
    notebook = {"cells": [{"cell_type": "code", "source": ["x = 1\n", f"    {line}\n"], "outputs": []}]}
    path = tmp_path / "leak.ipynb"
    path.write_text(json.dumps(notebook))
    assert leaks_in(readable_text(path), secrets) == {line}
