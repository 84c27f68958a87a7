"""The hidden-test helpers: tolerance that forgives ties but not bugs, and isolation that ends with its cell."""

import inspect

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.checks import assert_matches, layout_variant, reference_check, weight_cases
from autograder.course import ROOT
from autograder.verdict import check_every_argument_varies


def test_a_few_rounding_ties_are_forgiven_but_floor_for_round_is_not():
    w = torch.randn(64, 128, generator=torch.Generator().manual_seed(0)) * 4
    exact = torch.round(w)
    tie = exact.clone()
    tie[0, 0] += 1
    assert_matches(tie, exact, "one tie in 8192 entries")
    with pytest.raises(AssertionError, match="differ"):
        assert_matches(torch.floor(w), exact, "floor")


def test_shape_nan_and_type_are_reported():
    with pytest.raises(AssertionError, match="shape"):
        assert_matches(torch.zeros(2, 3), torch.zeros(3, 2), "x")
    with pytest.raises(AssertionError, match="NaN"):
        assert_matches(torch.tensor([float("nan")]), torch.tensor([0.0]), "x")
    with pytest.raises(AssertionError, match="expected a tensor"):
        assert_matches(object(), torch.zeros(1), "x")


def test_weight_cases_are_seeded_and_cover_the_edge_cases():
    first, second = weight_cases(), weight_cases()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert first["float16"].dtype == torch.float16
    assert (first["all zeros"] == 0).all()
    assert (first["all-negative group"][8:12, 128:] < 0).all()


def test_use_reference_lasts_until_the_cell_ends_even_when_it_fails():
    cells = [
        "def quant_params(*args):\n    return 'student'",
        "from autograder.checks import use_reference\n"
        "use_reference(globals(), 'ch01_minmax', 'quant_params')\n"
        "assert quant_params.__globals__['__name__'] == 'reference_ch01_minmax'\n"
        "raise AssertionError('a failing visible test')",
        "assert quant_params() == 'student', 'the student function is back in the next cell'",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(notebook, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()
    except CellExecutionError as error:  # pragma: no cover - allow_errors keeps going
        pytest.fail(str(error))
    errors = [[o.evalue for o in c.outputs if o.output_type == "error"] for c in notebook.cells]
    assert errors == [[], ["a failing visible test"], []]


def test_every_graded_function_meets_a_non_contiguous_matrix():
    """The first matrix case comes again with its matrices transposed in memory: same values."""
    w = torch.randn(4, 8)
    calls = [("a number", (3,)), ("a matrix", (w, 2), {"scale": torch.ones(2, 4)})]
    [(label, args, kwargs)] = layout_variant(calls)
    assert label == "a matrix; its matrices non-contiguous" and args[1] == 2
    assert not args[0].is_contiguous() and torch.equal(args[0], w)
    assert not kwargs["scale"].is_contiguous() and torch.equal(kwargs["scale"], torch.ones(2, 4))
    assert layout_variant([("a vector", (torch.ones(5),)), ("a column", (torch.ones(5, 1),))]) == []


def test_a_parameter_that_no_case_varies_is_refused():
    def quantize(w, n_bit=4, group_size=128):
        return w

    check = reference_check("quantize", quantize, [("w", (torch.ones(2, 2), 3))])
    with pytest.raises(RuntimeError, match="quantize's group_size$"):
        check_every_argument_varies("chX", {"test_quantize": [check]}, {"quantize": inspect.signature(quantize)})
    check = reference_check("quantize", quantize, [("w", (torch.ones(2, 2), 3), {"group_size": 64})])
    check_every_argument_varies("chX", {"test_quantize": [check]}, {"quantize": inspect.signature(quantize)})
