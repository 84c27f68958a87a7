"""No line of solution code or hidden tests reaches notebooks/ or the built book."""

import html
import json

import pytest

from autograder.course import BUILD, NOTEBOOKS, SOLUTIONS, chapters, source_path
from tests.leaks import leaks_in, secret_lines

HTML = BUILD / "html"
TEXT = {".html", ".js", ".ipynb", ".txt", ".json", ".md", ".py"}


@pytest.fixture(scope="module")
def secrets():
    found = set().union(*(secret_lines(source_path(c)) for c in chapters()))
    assert len(found) > 20, "the instructor notebooks should have solution and hidden-test lines to look for"
    return found


def artifacts():
    assert HTML.exists(), "the book is not built: run `make book` (make test does it first)"
    paths = [p for p in NOTEBOOKS.rglob("*") if p.is_file()]
    paths += [p for p in HTML.rglob("*") if p.suffix in TEXT]
    paths += [p for p in (BUILD / "src").rglob("*.ipynb")]
    return paths


def test_no_artifact_holds_solution_or_hidden_test_lines(secrets):
    leaks = {}
    for path in artifacts():
        found = leaks_in(path.read_text(errors="replace"), secrets)
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
