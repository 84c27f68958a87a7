"""Repairing submissions before grading (autograder/repair.py), on real student notebooks."""

import copy

import nbformat
import pytest

from autograder.repair import grade_id, read_any, repair
from autograder.submissions import submission

CHAPTER = "ch01_minmax"


@pytest.fixture
def answered():
    return submission(CHAPTER)


def graded_ids(notebook):
    return [grade_id(c) for c in notebook.cells if grade_id(c)]


def test_a_complete_submission_needs_no_repair(answered):
    ids = graded_ids(answered)
    repaired, repairs = repair(copy.deepcopy(answered), CHAPTER)
    assert repairs == [] and graded_ids(repaired) == ids


def test_metadata_lost_in_colab_is_restored_by_function_name_and_test_text(answered):
    ids = graded_ids(answered)
    stripped = copy.deepcopy(answered)
    for cell in stripped.cells:
        cell.metadata = {"id": "colab-cell", "colab": {"base_uri": "https://localhost:8080/"}}
    repaired, repairs = repair(stripped, CHAPTER)
    assert graded_ids(repaired) == ids
    assert len(repairs) == len(ids) and all("restored the grading metadata" in r for r in repairs)
    by_id = {grade_id(c): c.source for c in repaired.cells if grade_id(c)}
    assert by_id == {grade_id(c): c.source for c in answered.cells if grade_id(c)}


def test_a_deleted_test_cell_is_put_back_after_its_exercise(answered):
    damaged = copy.deepcopy(answered)
    damaged.cells = [c for c in damaged.cells if grade_id(c) != "test_quantize_symmetric"]
    repaired, repairs = repair(damaged, CHAPTER)
    ids = graded_ids(repaired)
    assert ids.index("test_quantize_symmetric") == ids.index("test_quantize_asymmetric") + 1
    assert repairs == ["re-inserted the deleted test cell 'test_quantize_symmetric'"]


def test_a_deleted_exercise_is_graded_as_not_done(answered):
    damaged = copy.deepcopy(answered)
    damaged.cells = [c for c in damaged.cells if grade_id(c) != "dequantize"]
    repaired, repairs = repair(damaged, CHAPTER)
    cell = next(c for c in repaired.cells if grade_id(c) == "dequantize")
    assert "NotImplementedError" in cell.source
    assert repairs == ["re-inserted the deleted exercise cell 'dequantize' (graded as not done)"]


def test_duplicated_graded_cells_keep_the_last_exercise_and_the_first_test(answered):
    damaged = copy.deepcopy(answered)
    index = next(i for i, c in enumerate(damaged.cells) if grade_id(c) == "quantize")
    first = copy.deepcopy(damaged.cells[index])
    first.source = "def quantize(w, scales, zeros, n_bit=4, zero_point=True):\n    return w  # first try"
    damaged.cells.insert(index, first)
    test_index = next(i for i, c in enumerate(damaged.cells) if grade_id(c) == "test_quantize_symmetric")
    damaged.cells.insert(test_index, copy.deepcopy(damaged.cells[test_index]))
    repaired, repairs = repair(damaged, CHAPTER)
    assert graded_ids(repaired) == graded_ids(answered)
    kept = next(c for c in repaired.cells if grade_id(c) == "quantize")
    assert "first try" not in kept.source
    assert sorted(repairs) == ["dropped a duplicate of graded cell 'quantize'",
                               "dropped a duplicate of graded cell 'test_quantize_symmetric'"]


def test_an_edited_visible_test_is_reported(answered):
    damaged = copy.deepcopy(answered)
    cell = next(c for c in damaged.cells if grade_id(c) == "test_dequantize")
    cell.source = "print('all good')"
    _, repairs = repair(damaged, CHAPTER)
    assert repairs == ["test cell 'test_dequantize' was edited: graded with the original tests"]


def test_old_and_new_notebook_formats_are_read(answered):
    v3 = nbformat.writes(nbformat.convert(copy.deepcopy(answered), 3), version=3)
    assert graded_ids(repair(read_any(v3), CHAPTER)[0]) == graded_ids(answered)
    older = nbformat.writes(answered).replace('"nbformat_minor": 5', '"nbformat_minor": 2')
    assert graded_ids(read_any(older)) == graded_ids(answered)
    for bad in ("", "{not json", '{"cells": 3}', "%PDF-1.7"):
        with pytest.raises(ValueError, match="not a notebook"):
            read_any(bad)


def test_near_copies_of_the_provided_cell_are_matched_in_linear_time():
    """Two edited copies of Chapter 4's 130 KB provided cell, tagged ``provided`` and not, in a
    notebook that lost its metadata: difflib's ratio took 100 s for this; lines take milliseconds."""
    import time

    chapter = "ch04_gptq"
    notebook = submission(chapter)
    index = next(i for i, c in enumerate(notebook.cells) if "provided" in c.metadata.get("tags", []))
    provided = notebook.cells[index]
    for number, tags in ((1, ["provided"]), (2, [])):
        copy_cell = nbformat.v4.new_code_cell(provided.source.replace("\n\n", f"\n# copy {number}\n", 40) + "\nx = 1")
        copy_cell.metadata["tags"] = tags
        notebook.cells.insert(index + number, copy_cell)
    for cell in notebook.cells:
        if grade_id(cell):
            cell.metadata = {"colab": {}}
    start = time.perf_counter()
    repaired, repairs = repair(notebook, chapter)
    assert time.perf_counter() - start < 5
    assert graded_ids(repaired) == graded_ids(submission(chapter))
    assert all("restored the grading metadata" in r for r in repairs)


def test_similarity_is_one_for_the_same_lines_and_falls_with_each_changed_line():
    from autograder.repair import MAX_COMPARED, similarity

    text = "\n".join(f"line {i} = {i}" for i in range(10))
    assert similarity(text, text + "\n") == 1.0
    changed = text.replace("line 3 = 3", "line 3 = 4")
    assert 0.85 < similarity(text, changed) < 0.95
    assert similarity(text, "unrelated = 0") == 0.0
    assert similarity(text, text[: len(text) // 4], floor=0.9) == 0.0
    huge = "x = 1\n" * (MAX_COMPARED // 6 + 1)
    assert similarity(huge, huge + "y = 2\n") == 0.0
