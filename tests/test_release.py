"""Student notebooks: committed = released now, and shaped as a student needs them."""

import re

import nbformat
import pytest

from autograder.course import ROOT, chapters, config, release_path, source_path
from publish.colab_markdown import for_colab
from publish.release import release


def plain(notebook):
    return nbformat.writes(notebook)


@pytest.mark.parametrize("chapter", chapters())
def test_committed_student_notebook_equals_a_fresh_release(chapter, tmp_path):
    fresh = release(chapter, tmp_path)
    committed = release_path(chapter)
    assert committed.exists(), f"{committed} is missing: run `make release` and commit notebooks/"
    assert fresh.read_text() == committed.read_text(), (
        f"{committed} differs from what the release produces now: run `make release` and commit notebooks/"
    )


@pytest.mark.parametrize("chapter", chapters())
def test_student_notebook_opens_in_colab_and_starts_with_set_up(chapter):
    notebook = nbformat.read(release_path(chapter), as_version=4)
    badge, title, setup = notebook.cells[:3]
    github = config()["repository"]["url"].removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{chapter}/{release_path(chapter).name}"
    assert f"]({expected})" in badge.source
    assert title.source.startswith("# Chapter")
    assert setup.cell_type == "code" and "torch.cuda.is_available()" in setup.source


def pins(path):
    lines = (line.split("#")[0].strip() for line in (ROOT / path).read_text().splitlines())
    return {line for line in lines if line}


@pytest.mark.parametrize("chapter", chapters())
def test_set_up_cell_installs_the_versions_the_course_is_built_with(chapter):
    """What a chapter's set-up cell installs in Colab is pinned as the local environment is:
    with its dependencies from requirements.txt, for its files alone (--no-deps) from
    autograder/requirements-no-deps.txt."""
    course = nbformat.read(source_path(chapter), as_version=4).metadata.get("course", {})
    assert set(course.get("packages", {}).values()) <= pins("requirements.txt")
    assert set(course.get("files_only", {}).values()) <= pins("autograder/requirements-no-deps.txt")


@pytest.mark.parametrize("chapter", chapters())
def test_every_solution_is_a_stub_and_every_test_cell_is_kept(chapter):
    student = nbformat.read(release_path(chapter), as_version=4)
    source = nbformat.read(source_path(chapter), as_version=4)

    def graded(notebook, key):
        return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells
                if c.metadata.get("nbgrader", {}).get(key)}

    stubs = graded(student, "solution")
    assert set(stubs) == set(graded(source, "solution")) and stubs
    assert all("raise NotImplementedError()" in cell.source for cell in stubs.values() if cell.cell_type == "code")
    assert all(cell.source.strip() == "YOUR ANSWER HERE" for cell in stubs.values() if cell.cell_type == "markdown")
    tests = graded(student, "grade")
    assert {k: c.metadata["nbgrader"]["points"] for k, c in tests.items()} == {
        k: c.metadata["nbgrader"]["points"] for k, c in graded(source, "grade").items()
    }


@pytest.mark.parametrize("chapter", chapters())
def test_instructor_notebook_is_committed_without_outputs(chapter):
    notebook = nbformat.read(source_path(chapter), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("chapter", chapters())
def test_student_notebook_has_the_books_roles_written_out(chapter):
    """Colab renders Markdown and MathJax, not MyST: citations and equation references are plain."""
    markdown = "\n".join(c.source for c in nbformat.read(release_path(chapter), as_version=4).cells
                         if c.cell_type == "markdown")
    assert not re.search(r"\{(cite|eq|numref|doc)(:\w+)?\}`", markdown)
    assert not re.search(r"\$\$[ \t]*\([\w-]+\)", markdown), "equation labels are \\tag numbers"


def test_roles_written_out_as_colab_shows_them():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Inline $a$ and\n$$\nx = 1\n$$\nthen\n$$\ns = \\frac{a}{b}\n$$ (eq-s)\n"),
        nbformat.v4.new_markdown_cell("By {eq}`eq-s`, as {cite:t}`lin2024awq` and {cite:p}`hassibi1993obs,frantar2022obc`."),
    ])
    first, second = (c.source for c in for_colab(notebook).cells)
    assert first == "Inline $a$ and\n$$\nx = 1\n$$\nthen\n$$\ns = \\frac{a}{b} \\tag{1}\n$$\n"
    assert second == ("By (1), as [Lin et al. (2024)](https://arxiv.org/abs/2306.00978) and "
                      "(Hassibi and Stork, 1993; [Frantar et al., 2022](https://arxiv.org/abs/2208.11580)).")
    with pytest.raises(KeyError, match="lin2099"):
        for_colab(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("{cite}`lin2099`")]))


def test_the_course_default_repository_is_warned_about():
    """While _config.yml names the course's own repository, `make release` and `make book` say so."""
    from autograder.course import DEFAULT_REPOSITORY, repository_warning  # noqa: PLC0415

    assert "repository.url" in repository_warning({"url": DEFAULT_REPOSITORY + "/", "branch": "main"})
    assert repository_warning({"url": "https://github.com/a-university/awq-course", "branch": "main"}) is None
