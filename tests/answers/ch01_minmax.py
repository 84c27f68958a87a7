'''Chapter 1 answers for the autograde round trip.

WRONG: plausible mistakes, each with the test cells it must fail (and only those).
ALTERNATIVE: correct answers written unlike the reference; they must get full marks.
'''

QUANT_PARAMS_LEVELS = """
def quant_params(w, n_bit=4, zero_point=True):
    if zero_point:
        max_int = 2**n_bit  # wrong: 2**n_bit codes are 2**n_bit - 1 steps
        max_val, min_val = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
        scales = (max_val - min_val).clamp(min=1e-5) / max_int
        zeros = (-torch.round(min_val / scales)).clamp(0, max_int)
        return scales, zeros
    scales = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-5) / (2 ** (n_bit - 1) - 1)
    return scales, torch.zeros_like(scales)
"""

QUANT_PARAMS_NO_ZERO_CLAMP = """
def quant_params(w, n_bit=4, zero_point=True):
    if zero_point:
        max_val, min_val = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
        scales = (max_val - min_val).clamp(min=1e-5) / (2**n_bit - 1)
        return scales, -torch.round(min_val / scales)  # wrong: zero point not clamped
    scales = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-5) / (2 ** (n_bit - 1) - 1)
    return scales, torch.zeros_like(scales)
"""

QUANT_PARAMS_ROUND_HALF_AWAY = """
def quant_params(w, n_bit=4, zero_point=True):
    if zero_point:
        max_val, min_val = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
        scales = (max_val - min_val).clamp(min=1e-5) / (2**n_bit - 1)
        x = min_val / scales
        half_away = torch.sign(x) * torch.floor(x.abs() + 0.5)  # wrong: school rounding
        return scales, (-half_away).clamp(0, 2**n_bit - 1)
    scales = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-5) / (2 ** (n_bit - 1) - 1)
    return scales, torch.zeros_like(scales)
"""

QUANT_PARAMS_WRONG_AXIS = """
def quant_params(w, n_bit=4, zero_point=True):
    if zero_point:  # wrong: range over dim 0 (across groups) instead of along each row
        max_val, min_val = w.amax(dim=0, keepdim=True), w.amin(dim=0, keepdim=True)
        scales = (max_val - min_val).clamp(min=1e-5) / (2**n_bit - 1)
        return scales, (-torch.round(min_val / scales)).clamp(0, 2**n_bit - 1)
    scales = w.abs().amax(dim=0, keepdim=True).clamp(min=1e-5) / (2 ** (n_bit - 1) - 1)
    return scales, torch.zeros_like(scales)
"""

QUANT_PARAMS_NO_FLOOR = """
def quant_params(w, n_bit=4, zero_point=True):
    if zero_point:
        max_val, min_val = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
        scales = (max_val - min_val) / (2**n_bit - 1)  # wrong: no clamp at 1e-5
        return scales, (-torch.round(min_val / scales)).clamp(0, 2**n_bit - 1)
    scales = w.abs().amax(dim=1, keepdim=True) / (2 ** (n_bit - 1) - 1)
    return scales, torch.zeros_like(scales)
"""

QUANTIZE_FLOOR = """
def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    low, high = (0, 2**n_bit - 1) if zero_point else (-(2 ** (n_bit - 1)), 2 ** (n_bit - 1) - 1)
    return torch.clamp(torch.floor(w / scales) + zeros, low, high)  # wrong: floor, not round
"""

QUANTIZE_SYMMETRIC_7 = """
def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    if zero_point:
        return torch.clamp(torch.round(w / scales) + zeros, 0, 2**n_bit - 1)
    top = 2 ** (n_bit - 1) - 1
    return torch.clamp(torch.round(w / scales), -top, top)  # wrong: INT4 as -7..7
"""

PSEUDO_QUANTIZE_OUTPUT_GROUPS = """
def pseudo_quantize(w, n_bit=4, zero_point=True, group_size=128):
    if torch.isnan(w).any():
        raise ValueError("NaN")
    if group_size > 0 and w.shape[-1] % group_size:
        raise ValueError("group_size does not divide in_features")
    size = group_size if group_size > 0 else w.shape[0]
    groups = w.t().reshape(-1, size)  # wrong: groups run along the output dimension
    scales, zeros = quant_params(groups, n_bit, zero_point)
    out = dequantize(quantize(groups, scales, zeros, n_bit, zero_point), scales, zeros)
    return out.reshape(w.t().shape).t().to(w.dtype)
"""

PSEUDO_QUANTIZE_NO_CHECK = """
def pseudo_quantize(w, n_bit=4, zero_point=True, group_size=128):
    groups = w.reshape(-1, group_size if group_size > 0 else w.shape[-1])  # wrong: no ValueError
    scales, zeros = quant_params(groups, n_bit, zero_point)
    out = dequantize(quantize(groups, scales, zeros, n_bit, zero_point), scales, zeros)
    return out.reshape(w.shape).to(w.dtype)
"""

QUANT_PARAMS_FLOAT32 = """
def quant_params(w, n_bit=4, zero_point=True):
    w = w.float()  # wrong: float16 weights get float32 parameters, not the dtype of w
    if zero_point:
        max_val, min_val = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
        scales = (max_val - min_val).clamp(min=1e-5) / (2**n_bit - 1)
        return scales, (-torch.round(min_val / scales)).clamp(0, 2**n_bit - 1)
    scales = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-5) / (2 ** (n_bit - 1) - 1)
    return scales, torch.zeros_like(scales)
"""

PSEUDO_QUANTIZE_VIEW = """
def pseudo_quantize(w, n_bit=4, zero_point=True, group_size=128):
    if not torch.isfinite(w).all():
        raise ValueError("the weight has NaN or infinite values")
    if group_size > 0 and w.shape[-1] % group_size:
        raise ValueError("group_size does not divide in_features")
    groups = w.view(-1, group_size if group_size > 0 else w.shape[-1])  # wrong: fails on a transposed w
    scales, zeros = quant_params(groups, n_bit, zero_point)
    return dequantize(quantize(groups, scales, zeros, n_bit, zero_point), scales, zeros).view(w.shape).to(w.dtype)
"""

PSEUDO_QUANTIZE_NAN_ONLY = """
def pseudo_quantize(w, n_bit=4, zero_point=True, group_size=128):
    if torch.isnan(w).any():  # wrong: an infinite weight must raise ValueError too
        raise ValueError("the weight has NaN values")
    if group_size > 0 and w.shape[-1] % group_size:
        raise ValueError("group_size does not divide in_features")
    groups = w.reshape(-1, group_size if group_size > 0 else w.shape[-1])
    scales, zeros = quant_params(groups, n_bit, zero_point)
    return dequantize(quantize(groups, scales, zeros, n_bit, zero_point), scales, zeros).reshape(w.shape).to(w.dtype)
"""

QUANTIZE_IN_PLACE = """
def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    low, high = (0, 2**n_bit - 1) if zero_point else (-(2 ** (n_bit - 1)), 2 ** (n_bit - 1) - 1)
    return w.div_(scales).round_().add_(zeros).clamp_(low, high)  # wrong: overwrites the caller's w
"""

DEQUANTIZE_IN_PLACE = """
def dequantize(codes, scales, zeros):
    codes -= zeros  # wrong: changes the caller's codes
    return codes * scales
"""

BITS_NO_ZERO = """
def bits_per_weight(n_bit, group_size, scale_bits=16, zero_bits=16):
    return n_bit + scale_bits / group_size  # wrong: forgets the zero point
"""

QUANT_PARAMS_NUMPY = """
import numpy as np


def quant_params(w, n_bit=4, zero_point=True):
    a = w.detach().cpu().numpy()  # wrong: numpy has no bfloat16 (TypeError)
    if zero_point:
        top = 2**n_bit - 1
        lo, hi = a.min(axis=1, keepdims=True), a.max(axis=1, keepdims=True)
        step = np.maximum(hi - lo, 1e-5).astype(a.dtype) / a.dtype.type(top)
        zero = np.clip(-np.round(lo / step), 0, top).astype(a.dtype)
    else:
        step = np.maximum(np.abs(a).max(axis=1, keepdims=True), 1e-5).astype(a.dtype)
        step = step / a.dtype.type(2 ** (n_bit - 1) - 1)
        zero = np.zeros_like(step)
    return torch.from_numpy(step).to(w.device), torch.from_numpy(zero).to(w.device)
"""

QUANTIZE_SYMMETRIC_WHEN_ZEROS_ARE_ZERO = """
def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    if zero_point and bool((zeros != 0).any()):
        low, high = 0, 2**n_bit - 1
    else:  # wrong: zero points that are all 0 read as symmetric codes
        low, high = -(2 ** (n_bit - 1)), 2 ** (n_bit - 1) - 1
    return torch.clamp(torch.round(w / scales) + zeros, low, high)
"""

DEQUANTIZE_KEEPS_CODES_DTYPE = """
def dequantize(codes, scales, zeros):
    return ((codes - zeros) * scales).to(codes.dtype)  # wrong: integer codes give integer values
"""

PSEUDO_QUANTIZE_NUMPY_CHECK = """
import numpy as np


def pseudo_quantize(w, n_bit=4, zero_point=True, group_size=128):
    if not np.isfinite(w.detach().cpu().numpy()).all():  # wrong: numpy has no bfloat16
        raise ValueError("the weight has NaN or infinite values")
    if group_size > 0 and w.shape[-1] % group_size:
        raise ValueError("group_size does not divide in_features")
    groups = w.reshape(-1, group_size if group_size > 0 else w.shape[-1])
    scales, zeros = quant_params(groups, n_bit, zero_point)
    return dequantize(quantize(groups, scales, zeros, n_bit, zero_point), scales, zeros).reshape(w.shape).to(w.dtype)
"""

WRONG = {
    "levels_2_pow_n": ({"quant_params": QUANT_PARAMS_LEVELS}, {"test_quant_params_asymmetric"}),
    "zero_point_not_clamped": ({"quant_params": QUANT_PARAMS_NO_ZERO_CLAMP}, {"test_quant_params_asymmetric"}),
    "zero_point_rounded_half_away": ({"quant_params": QUANT_PARAMS_ROUND_HALF_AWAY}, {"test_quant_params_asymmetric"}),
    "range_over_wrong_axis": (
        {"quant_params": QUANT_PARAMS_WRONG_AXIS}, {"test_quant_params_asymmetric", "test_quant_params_symmetric"}),
    "range_not_floored": (
        {"quant_params": QUANT_PARAMS_NO_FLOOR}, {"test_quant_params_asymmetric", "test_quant_params_symmetric"}),
    "floor_not_round": ({"quantize": QUANTIZE_FLOOR}, {"test_quantize_asymmetric", "test_quantize_symmetric"}),
    "symmetric_range_7": ({"quantize": QUANTIZE_SYMMETRIC_7}, {"test_quantize_symmetric"}),
    "groups_along_output": (
        {"pseudo_quantize": PSEUDO_QUANTIZE_OUTPUT_GROUPS}, {"test_pseudo_quantize", "test_pseudo_quantize_errors"}),
    "nan_but_not_infinity": ({"pseudo_quantize": PSEUDO_QUANTIZE_NAN_ONLY}, {"test_pseudo_quantize_errors"}),
    "parameters_in_float32": (
        {"quant_params": QUANT_PARAMS_FLOAT32}, {"test_quant_params_asymmetric", "test_quant_params_symmetric"}),
    "view_needs_contiguous": ({"pseudo_quantize": PSEUDO_QUANTIZE_VIEW}, {"test_pseudo_quantize"}),
    "quantize_in_place": ({"quantize": QUANTIZE_IN_PLACE}, {"test_quantize_asymmetric", "test_quantize_symmetric"}),
    "dequantize_in_place": ({"dequantize": DEQUANTIZE_IN_PLACE}, {"test_dequantize"}),
    "no_value_error": ({"pseudo_quantize": PSEUDO_QUANTIZE_NO_CHECK}, {"test_pseudo_quantize_errors"}),
    "bits_forget_zero_point": ({"bits_per_weight": BITS_NO_ZERO}, {"test_bits_per_weight"}),
    # inputs the docstrings allow that the hidden tests once never built (issue 26)
    "parameters_through_numpy": (
        {"quant_params": QUANT_PARAMS_NUMPY}, {"test_quant_params_asymmetric", "test_quant_params_symmetric"}),
    "symmetric_when_zeros_are_zero": (
        {"quantize": QUANTIZE_SYMMETRIC_WHEN_ZEROS_ARE_ZERO}, {"test_quantize_asymmetric"}),
    "dequantize_keeps_codes_dtype": ({"dequantize": DEQUANTIZE_KEEPS_CODES_DTYPE}, {"test_dequantize"}),
    "finite_check_through_numpy": ({"pseudo_quantize": PSEUDO_QUANTIZE_NUMPY_CHECK}, {"test_pseudo_quantize"}),
}

ALTERNATIVE = {
    # numpy inside torch, computing in float64 whatever the input dtype
    "quant_params": """
import numpy as np


def quant_params(w, n_bit=4, zero_point=True):
    a = w.detach().cpu().double().numpy()
    if zero_point:
        top = 2.0**n_bit - 1
        lo, hi = a.min(axis=1, keepdims=True), a.max(axis=1, keepdims=True)
        step = np.maximum(hi - lo, 1e-5) / top
        zero = np.clip(-np.round(lo / step), 0, top)
    else:
        step = np.maximum(np.abs(a).max(axis=1, keepdims=True), 1e-5) / (2.0 ** (n_bit - 1) - 1)
        zero = np.zeros_like(step)
    as_torch = lambda x: torch.from_numpy(x).to(device=w.device, dtype=w.dtype)  # noqa: E731
    return as_torch(step), as_torch(zero)
""",
    # torch.where instead of clamp, multiplication by the reciprocal
    "quantize": """
def quantize(w, scales, zeros, n_bit=4, zero_point=True):
    low = 0 if zero_point else -(2 ** (n_bit - 1))
    high = low + 2**n_bit - 1
    q = torch.round(w * (1.0 / scales)) + zeros
    q = torch.where(q < low, torch.full_like(q, low), q)
    return torch.where(q > high, torch.full_like(q, high), q).to(torch.int32)
""",
    "dequantize": """
def dequantize(codes, scales, zeros):
    return codes * scales - zeros * scales
""",
    # a loop over rows and groups
    "pseudo_quantize": """
def pseudo_quantize(w, n_bit=4, zero_point=True, group_size=128):
    if w.isnan().any() or w.isinf().any():
        raise ValueError("cannot quantize NaN or infinity")
    width = w.shape[-1]
    size = width if group_size <= 0 else group_size
    if width % size:
        raise ValueError(f"{width} input channels do not split into groups of {size}")
    rows = w.reshape(-1, width)
    out = torch.empty_like(rows)
    for r in range(rows.shape[0]):
        for start in range(0, width, size):
            group = rows[r : r + 1, start : start + size]
            s, z = quant_params(group, n_bit, zero_point)
            out[r : r + 1, start : start + size] = dequantize(quantize(group, s, z, n_bit, zero_point), s, z)
    return out.reshape(w.shape)
""",
    "bits_per_weight": """
def bits_per_weight(n_bit, group_size, scale_bits=16, zero_bits=16):
    metadata_bits_per_group = scale_bits + zero_bits
    return float(n_bit) + metadata_bits_per_group / group_size
""",
}
