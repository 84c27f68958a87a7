"""Find solution code and hidden tests in files students or readers can see."""

import html
import re

import nbformat

from autograder.course import HIDDEN_MARKERS, SOLUTION_MARKERS

MARKERS = (SOLUTION_MARKERS, HIDDEN_MARKERS)


def split_regions(source):
    """(secret lines, public lines) of one cell's source."""
    secret, public, inside = [], [], None
    for line in source.splitlines():
        stripped = line.strip()
        begin = next((pair for pair in MARKERS if stripped == pair[0]), None)
        if begin:
            inside = begin
        elif inside and stripped == inside[1]:
            inside = None
        (secret if inside else public).append(stripped)
    return secret, public


def secret_lines(instructor_notebook_path):
    """Lines of solution and hidden-test code that appear nowhere else in the instructor notebook.

    Lines shorter than 8 characters (``return q``, ``else:``) say nothing about a solution.
    """
    notebook = nbformat.read(instructor_notebook_path, as_version=4)
    secret, public = set(), set()
    for cell in notebook.cells:
        s, p = split_regions(cell.source)
        secret.update(s)
        public.update(p)
    return {line for line in secret - public if len(line) >= 8 and not line.startswith("#")}


def visible_lines(text):
    """Stripped text lines of a file, with HTML tags removed and entities decoded."""
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return {line.strip() for line in text.splitlines()}


def leaks_in(text, secrets):
    found = set(secrets) & visible_lines(text)
    for marker in (m for pair in MARKERS for m in pair):
        if marker in text:
            found.add(marker)
    return found
