"""Provided code: later chapters get earlier chapters' reference code pasted in, complete."""

import nbformat
import pytest

from autograder.course import chapters, release_path
from autograder.provided import TAG, definitions, provided_source


def test_decorators_and_constants_come_with_their_definitions():
    found = definitions("ch02_salient")
    assert found["quantized_copy"].startswith("@torch.no_grad()\ndef quantized_copy(")
    assert found["MODEL_FILE"].startswith("MODEL_FILE = ")


def test_solution_markers_are_removed_and_unknown_names_are_an_error():
    source = provided_source("ch01_minmax", ["pseudo_quantize"])
    assert "BEGIN SOLUTION" not in source and "def pseudo_quantize(" in source
    with pytest.raises(KeyError, match="no_such_function"):
        provided_source("ch01_minmax", ["no_such_function"])


@pytest.mark.parametrize("chapter", chapters())
def test_student_notebooks_need_nothing_from_this_repository(chapter):
    notebook = nbformat.read(release_path(chapter), as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "autograder" not in code and "solutions/" not in code.replace("solutions/data/README.md", "")
    for cell in notebook.cells:
        if TAG in cell.metadata.get("tags", []):
            assert cell.source.startswith("#@title") and "hide-input" in cell.metadata["tags"]
