"""The hidden-test helpers: tolerance that forgives ties but not bugs, numbers compared by value,
and isolation that ends with its cell."""

import inspect

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.checks import (
    assert_matches,
    compare_result,
    grid_step,
    judge,
    layout_variant,
    reference_check,
    row_span,
    weight_cases,
)
from autograder.course import ROOT
from autograder.plain import roundtrip
from autograder.probe import call_once
from autograder.verdict import check_every_argument_varies

NAN, INF = float("nan"), float("inf")


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


def judged(reference, student, *args):
    """Whether ``student`` passes a one-call check of ``reference`` the way the grader judges it:
    the reference's outcome and the student's, each through the record's plain encoding."""
    check = reference_check("f", reference, [("a case", args)])
    outcomes = [roundtrip(call_once(student, call, {})) for call in check.calls]
    return judge([check], [{"calls": outcomes}])[0]


@pytest.mark.parametrize("number", [np.float64(4.25), np.float32(4.25), np.array(4.25), torch.tensor(4.25),
                                    torch.tensor(4.25, dtype=torch.float64), torch.tensor(4.25, dtype=torch.float16)])
def test_a_number_of_any_numeric_type_is_judged_by_its_value(number):
    """``bits_per_weight`` returning a numpy float (or a 0-d tensor) is right."""
    assert judged(lambda n, g: 4.25, lambda n, g: number, 4, 128)
    assert not judged(lambda n, g: 4.5, lambda n, g: number, 4, 128), "... and judged: 4.25 is not 4.5"
    assert judged(lambda: 4.0, lambda: 4), "an int where a float is expected"
    assert judged(lambda: 3, lambda: np.int64(3)) and judged(lambda: 3, lambda: torch.tensor(3))


def test_numpy_scalars_cross_as_python_numbers():
    assert [type(roundtrip(v)) for v in (np.float64(1), np.float32(1), np.int64(1), np.bool_(True), np.array(2.5))] \
        == [float, float, int, bool, float]
    assert roundtrip({np.int64(2): [np.float16(0.5)]}) == {2: [0.5]}


def test_a_bool_is_not_a_number():
    assert not judged(lambda: 1.0, lambda: True), "True where 1.0 is expected"
    assert not judged(lambda: 1, lambda: np.bool_(True)), "a numpy True where 1 is expected"
    assert not judged(lambda: True, lambda: 1), "1 where True is expected"
    assert judged(lambda: True, lambda: np.bool_(True)) and judged(lambda: False, lambda: torch.tensor(False))
    with pytest.raises(AssertionError, match="numbers"):
        assert_matches(torch.ones(3, dtype=torch.bool), torch.ones(3), "x")


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_nan_or_infinity_never_equals_a_finite_expectation(bad):
    assert not judged(lambda: 0.5, lambda: bad), "a float"
    assert not judged(lambda: 0.0, lambda: bad), "a float expected to be 0"
    assert not judged(lambda: (0.5, 2), lambda: (bad, 2)), "in a tuple"
    assert not judged(lambda: {"loss": 1e-4}, lambda: {"loss": bad}), "in a dict"
    values = torch.linspace(-1, 1, 1000)
    broken = values.clone()
    broken[7] = bad
    assert not judged(lambda: values, lambda: broken), "in a tensor, one entry of 1000"
    assert not judged(lambda: [values], lambda: [broken]), "in a tensor in a list"


def test_nan_in_the_expectation_matches_only_nan_at_the_same_place():
    expected = torch.tensor([1.0, NAN, -INF, 3.0])
    assert_matches(expected.clone(), expected, "same places")
    for wrong in ([1.0, 2.0, -INF, 3.0], [NAN, 1.0, -INF, 3.0], [1.0, NAN, INF, 3.0]):
        with pytest.raises(AssertionError):
            assert_matches(torch.tensor(wrong), expected, "other places")
    compare_result(NAN, NAN, "x", None)
    with pytest.raises(AssertionError):
        compare_result(INF, NAN, "x", None)


def dequantized_float16(seed=0, rows=32, n_bit=4):
    """A float16 result like ``dequantize``'s: rows of groups of 128 codes, each group its own scale."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 2**n_bit, (rows, 256), generator=g).float()
    zeros = torch.randint(0, 2**n_bit, (rows, 2, 1), generator=g).float()
    scales = torch.rand(rows, 2, 1, generator=g) * 0.1 + 1e-3
    scales[3, 1] *= 40  # an outlier group: its large step must not excuse its row's other group
    values = (codes.reshape(rows, 2, 128) - zeros) * scales
    return values.reshape(rows, 256).half(), scales.expand(rows, 2, 128).reshape(rows, 256)


def test_a_float16_result_with_9_percent_of_its_entries_zeroed_fails():
    expected, _ = dequantized_float16()
    zeroed = expected.clone()
    chosen = torch.randperm(expected.numel(), generator=torch.Generator().manual_seed(1))[: int(0.09 * expected.numel())]
    zeroed.view(-1)[chosen] = 0
    with pytest.raises(AssertionError, match="differ"):
        assert_matches(zeroed, expected, "zeroed", dtype=torch.float16)


def test_flipped_ties_one_step_away_pass_but_three_steps_do_not():
    expected, step = dequantized_float16()
    chosen = torch.randperm(expected.numel(), generator=torch.Generator().manual_seed(2))[:40]  # 0.5 %
    flipped = expected.clone()
    flipped.view(-1)[chosen] += step.view(-1)[chosen].half()
    assert_matches(flipped, expected, "a tie flipped one step", dtype=torch.float16)
    assert_matches(flipped.float(), expected.float(), "... in float32, within its share", share=0.03)
    far = expected.clone()
    far.view(-1)[chosen] += 3 * step.view(-1)[chosen].half()
    with pytest.raises(AssertionError, match="more than rounding can explain"):
        assert_matches(far, expected, "three steps", dtype=torch.float16)
    outlier_row = expected.clone()
    outlier_row[3, 5] += 10 * step[3, 5].half()  # 10 steps of its own group, less than one of the outlier group's
    with pytest.raises(AssertionError, match="more than rounding can explain"):
        assert_matches(outlier_row, expected, "beside an outlier group", dtype=torch.float16)


def test_the_grid_step_is_at_least_a_step_of_each_group_and_not_widened_by_an_outlier():
    expected, step = dequantized_float16(n_bit=3)
    found = grid_step(expected.double())
    assert (found >= step.double() * (1 - 1e-2)).all(), "a flipped tie is within one estimated step"
    assert (found[3, :128] < 2 * step[3, :128]).all(), "the outlier group (columns 128-255) widens only itself"
    assert torch.equal(grid_step(torch.zeros(4, 64, dtype=torch.float64)), torch.zeros(4, 64, dtype=torch.float64))
    column = torch.arange(64.0).reshape(64, 1)  # zero points: a column is one row of values
    assert (grid_step(column) == 1).all() and (row_span(column) == 63).all()


def test_a_sequential_algorithm_may_carry_a_flip_several_steps_but_not_off_its_grid():
    """With ``share=`` (GPTQ: a flipped tie moves later weights through ``U``), a forgiven entry may be
    several steps away but within its row's span; beyond it, or on more entries than the share, fails."""
    expected, step = dequantized_float16()
    expected, step = expected.float(), step.float()
    chosen = torch.randperm(expected.numel(), generator=torch.Generator().manual_seed(4))[:80]  # 1 %
    carried = expected.clone()
    carried.view(-1)[chosen] -= 3 * step.view(-1)[chosen] * torch.sign(expected.view(-1)[chosen])
    assert_matches(carried, expected, "three steps, toward 0", share=0.03)
    with pytest.raises(AssertionError, match="more than rounding can explain"):
        assert_matches(carried, expected, "the same without share=")
    outside = expected.clone()
    lowest = expected[0].argmin()
    outside[0, lowest] = expected[0].max() + 2 * step[0].max()  # the row's smallest value moved above its largest
    with pytest.raises(AssertionError, match="more than rounding can explain"):
        assert_matches(outside, expected, "off the row's span", share=0.03)
    zeroed = expected.clone()
    zeroed.view(-1)[torch.randperm(expected.numel(), generator=torch.Generator().manual_seed(5))[:400]] = 0
    with pytest.raises(AssertionError, match="differ"):
        assert_matches(zeroed, expected, "5 % zeroed", tolerance=(1e-5, 2e-5, 0.03))


def test_integer_results_are_exact():
    codes = torch.randint(0, 256, (32, 128), generator=torch.Generator().manual_seed(3)).to(torch.uint8)
    off = codes.clone()
    off[0, 0] ^= 1
    with pytest.raises(AssertionError, match="differ"):
        assert_matches(off, codes, "packed bytes of integer codes", dtype=torch.int64)
    indices = torch.arange(1000, 1046)
    shifted = indices.clone()
    shifted[0] += 5
    with pytest.raises(AssertionError, match="differ"):
        assert_matches(shifted, indices, "indices of a float16 statistic", dtype=torch.float16)
