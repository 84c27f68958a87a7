"""The Chapter 1 reference (loaded from the instructor notebook) against hand-computed values."""

import math

import pytest
import torch

from autograder.reference import load_reference

ref = load_reference("ch01_minmax")


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_asymmetric_parameters_by_hand():
    scales, zeros = ref.quant_params(t([[-1.0, 0.0, 0.5, 2.0]]), n_bit=2)
    assert scales.tolist() == [[1.0]]  # range 3 over 2**2 - 1 = 3 steps
    assert zeros.tolist() == [[1.0]]  # -round(-1 / 1)


def test_zero_point_is_clamped_into_the_code_range():
    _, zeros = ref.quant_params(t([[1.0, 2.5], [-3.0, -2.0]]), n_bit=2)
    # all positive: -round(1 / 0.5) = -2 -> 0; all negative: -round(-3 / (1/3)) = 9 -> 3
    assert zeros.tolist() == [[0.0], [3.0]]


def test_range_is_floored_at_1e_5():
    scales, zeros = ref.quant_params(torch.zeros(2, 8), n_bit=4)
    assert torch.allclose(scales, torch.full((2, 1), 1e-5 / 15))
    assert zeros.tolist() == [[0.0], [0.0]]
    scales, _ = ref.quant_params(torch.full((1, 4), 0.3), n_bit=4, zero_point=False)
    assert torch.allclose(scales, torch.tensor([[0.3 / 7]]))


def test_symmetric_parameters_by_hand():
    scales, zeros = ref.quant_params(t([[-2.0, -0.75, 0.25, 1.0]]), n_bit=3, zero_point=False)
    assert torch.allclose(scales, t([[2.0 / 3]]))
    assert zeros.tolist() == [[0.0]]


def test_rounding_is_half_to_even():
    codes = ref.quantize(t([[0.5, 1.5, 2.5, 3.5]]), t([[1.0]]), t([[0.0]]), n_bit=4)
    assert codes.tolist() == [[0.0, 2.0, 2.0, 4.0]]


@pytest.mark.parametrize(("zero_point", "low", "high"), [(True, 0, 15), (False, -8, 7)])
def test_codes_saturate_at_the_ends_of_the_range(zero_point, low, high):
    codes = ref.quantize(t([[-100.0, 100.0]]), t([[1.0]]), t([[0.0]]), n_bit=4, zero_point=zero_point)
    assert codes.tolist() == [[low, high]]


def test_dequantize_by_hand():
    assert ref.dequantize(t([[0.0, 1.0, 3.0]]), t([[0.5]]), t([[1.0]])).tolist() == [[-0.5, 0.0, 1.0]]


def test_error_is_at_most_half_a_step_when_the_range_holds_zero():
    w = torch.randn(16, 256, generator=torch.Generator().manual_seed(0))
    groups = w.reshape(-1, 128)
    scales, _ = ref.quant_params(groups, 4)
    error = (ref.pseudo_quantize(w, 4, True, 128) - w).abs().reshape(-1, 128)
    assert (error <= scales / 2 + 1e-6).all()


def test_each_group_is_quantized_alone_along_the_input_dimension():
    w = torch.randn(4, 256, generator=torch.Generator().manual_seed(1))
    spiked = w.clone()
    spiked[1, 5] = 100.0  # row 1, group 0
    before, after = ref.pseudo_quantize(w, 4), ref.pseudo_quantize(spiked, 4)
    changed = (before != after).reshape(4, 2, 128).any(-1)
    assert changed.tolist() == [[False, False], [True, False], [False, False], [False, False]]


def test_per_channel_is_one_group_per_row():
    w = torch.randn(8, 256, generator=torch.Generator().manual_seed(2))
    assert torch.equal(ref.pseudo_quantize(w, 3, True, -1), ref.pseudo_quantize(w, 3, True, 256))


@pytest.mark.parametrize("n_bit", [3, 4, 8])
def test_a_group_has_at_most_2_to_the_n_values(n_bit):
    w = torch.randn(8, 256, generator=torch.Generator().manual_seed(3))
    out = ref.pseudo_quantize(w, n_bit).reshape(-1, 128)
    assert max(len(torch.unique(row)) for row in out) <= 2**n_bit


def test_shape_and_dtype_are_kept():
    w = torch.randn(2, 3, 256).half()
    out = ref.pseudo_quantize(w, 4)
    assert out.shape == w.shape and out.dtype == torch.float16


def test_bad_group_size_nan_and_inf_are_value_errors():
    with pytest.raises(ValueError, match="does not divide"):
        ref.pseudo_quantize(torch.randn(4, 300), 4, True, 128)
    w = torch.randn(4, 256)
    w[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ref.pseudo_quantize(w)
    w[0, 0] = float("inf")
    with pytest.raises(ValueError, match="infinite"):
        ref.pseudo_quantize(w)


def test_bits_per_weight_by_hand():
    assert math.isclose(ref.bits_per_weight(4, 128), 4.25)
    assert math.isclose(ref.bits_per_weight(4, 128, zero_bits=4), 4.15625)
    assert math.isclose(ref.bits_per_weight(3, 128, zero_bits=0), 3.125)
    assert math.isclose(ref.bits_per_weight(8, 4096), 8 + 32 / 4096)
