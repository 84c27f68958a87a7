"""Student notebooks: committed = released now, and shaped as a student needs them."""

import nbformat
import pytest

from autograder.course import chapters, config, release_path, source_path
from autograder.release import release


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


@pytest.mark.parametrize("chapter", chapters())
def test_every_solution_is_a_stub_and_every_test_cell_is_kept(chapter):
    student = nbformat.read(release_path(chapter), as_version=4)
    source = nbformat.read(source_path(chapter), as_version=4)

    def graded(notebook, key):
        return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells
                if c.metadata.get("nbgrader", {}).get(key)}

    stubs = graded(student, "solution")
    assert set(stubs) == set(graded(source, "solution")) and stubs
    assert all("raise NotImplementedError()" in cell.source for cell in stubs.values())
    tests = graded(student, "grade")
    assert {k: c.metadata["nbgrader"]["points"] for k, c in tests.items()} == {
        k: c.metadata["nbgrader"]["points"] for k, c in graded(source, "grade").items()
    }


@pytest.mark.parametrize("chapter", chapters())
def test_instructor_notebook_is_committed_without_outputs(chapter):
    notebook = nbformat.read(source_path(chapter), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
