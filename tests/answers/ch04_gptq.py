'''Chapter 4 answers for the autograde round trip (see tests/answers/ch01_minmax.py).

ALTERNATIVES: more correct submissions, each ALTERNATIVE with other arithmetic in one exercise;
they must get full marks too.
'''

ADD_BATCH_TOKENS = """
def add_batch(H, n, x):
    x = x.reshape(-1, x.shape[-1]).float()
    tokens = x.shape[0]  # wrong: n counts tokens, not samples
    H = H * (n / (n + tokens))
    n = n + tokens
    x = math.sqrt(2 / n) * x
    return H + x.T @ x, n
"""

HESSIAN_DIAGONAL = """
def inverse_cholesky(H, percdamp=0.01):
    d = H.diagonal().float() + percdamp * H.diagonal().float().mean()
    if (d <= 0).any():
        raise ValueError("not positive definite: increase percdamp")
    return torch.diag(1 / d.sqrt())  # wrong: the diagonal of H in place of its inverse's Cholesky factor
"""

NO_DAMPING = """
def inverse_cholesky(H, percdamp=0.01):
    lower, info = torch.linalg.cholesky_ex(H.float())  # wrong: percdamp is never added
    if info.item() != 0:
        raise ValueError("not positive definite: increase percdamp")
    return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)
"""

ERROR_NOT_DIVIDED = """
def gptq_column(W, U, i, scales, zeros, n_bit=4):
    w = W[:, i].clone()
    q = dequantize(quantize(w[:, None], scales, zeros, n_bit), scales, zeros)[:, 0]
    err = w - q  # wrong: not divided by U[i, i]
    W[:, i + 1 :] -= err[:, None] * U[i, i + 1 :][None, :]
    W[:, i] = q
    return err
"""

UPDATES_DONE_COLUMNS = """
def gptq_column(W, U, i, scales, zeros, n_bit=4):
    w = W[:, i].clone()
    q = dequantize(quantize(w[:, None], scales, zeros, n_bit), scales, zeros)[:, 0]
    err = (w - q) / U[i, i]
    W -= err[:, None] * U[:, i][None, :]  # wrong: column i of U, which reaches the columns already quantized
    W[:, i] = q
    return err
"""

GROUPS_FITTED_ONCE = """
@torch.no_grad()
def gptq_unblocked(W, H, n_bit=4, group_size=128, percdamp=0.01):
    W = W.detach().float().clone()
    H = H.float().clone()
    dead = H.diagonal() == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    U = inverse_cholesky(H, percdamp)
    scales, zeros = quant_params(W, n_bit)  # wrong: one range for the whole row, whatever group_size says
    for i in range(W.shape[1]):
        gptq_column(W, U, i, scales, zeros, n_bit)
    return W
"""

NO_DEAD_INPUTS = """
@torch.no_grad()
def gptq_unblocked(W, H, n_bit=4, group_size=128, percdamp=0.01):
    W = W.detach().float().clone()
    U = inverse_cholesky(H.float(), percdamp)  # wrong: dead inputs are neither given H[i, i] = 1 nor zeroed
    for i in range(W.shape[1]):
        if group_size <= 0 and i == 0:
            scales, zeros = quant_params(W, n_bit)
        elif group_size > 0 and i % group_size == 0:
            scales, zeros = quant_params(W[:, i : i + group_size], n_bit)
        gptq_column(W, U, i, scales, zeros, n_bit)
    return W
"""

_GPTQ = """
@torch.no_grad()
def gptq(W, H, n_bit=4, group_size=128, blocksize=128, percdamp=0.01, act_order=False):
    W = W.detach().float().clone()
    H = H.float().clone()
    rows, columns = W.shape
    size = group_size if group_size > 0 else columns
    scales = torch.zeros(rows, columns // size, device=W.device)
    zeros = torch.zeros(rows, columns // size, device=W.device)
    if group_size <= 0:
        scales[:], zeros[:] = quant_params(W, n_bit)
    dead = H.diagonal() == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if act_order and group_size > 0:
        for g in range(columns // size):
            scales[:, g : g + 1], zeros[:, g : g + 1] = quant_params(W[:, g * size : (g + 1) * size], n_bit)
    perm = torch.argsort(H.diagonal(), descending=True) if act_order else torch.arange(columns, device=W.device)
    order = perm.tolist()
    W, H = W[:, perm], H[perm][:, perm]
    U = inverse_cholesky(H, percdamp)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        W1 = W[:, i1:i2].clone()
        E = torch.zeros_like(W1)
        for i in range(i2 - i1):
            g = order[i1 + i] // size
            if group_size > 0 and not act_order and (i1 + i) % group_size == 0:
                scales[:, g : g + 1], zeros[:, g : g + 1] = quant_params(W[:, i1 + i : i1 + i + group_size], n_bit)
            E[:, i] = gptq_column(W1, U[i1:i2, i1:i2], i, scales[:, g : g + 1], zeros[:, g : g + 1], n_bit)
        W[:, i1:i2] = W1
        W[:, i2:] -= E @ U[i1:i2, i2:]
    return W[:, torch.argsort(perm)], scales, zeros
"""

LAZY_UPDATE_ON_BLOCK = _GPTQ.replace(
    "W[:, i2:] -= E @ U[i1:i2, i2:]",
    "W[:, i1:] -= E @ U[i1:i2, i1:]  # wrong: the block's own, already quantized columns are updated again")

ACT_ORDER_NOT_UNDONE = _GPTQ.replace(
    "return W[:, torch.argsort(perm)], scales, zeros",
    "return W, scales, zeros  # wrong: the columns stay in act-order")

GPTQ_DEFAULT_DAMPING = _GPTQ.replace(
    "U = inverse_cholesky(H, percdamp)", "U = inverse_cholesky(H)  # wrong: percdamp is not passed on")

GPTQ_INPUT_DTYPE = _GPTQ.replace(
    "    W = W.detach().float().clone()", "    dtype = W.dtype\n    W = W.detach().float().clone()").replace(
    "return W[:, torch.argsort(perm)], scales, zeros",
    "return W[:, torch.argsort(perm)].to(dtype), scales, zeros  # wrong: Q is float32 whatever W is")

PACK_HIGH_FIRST = """
def pack_int4(codes):
    if codes.shape[-1] % 2:
        raise ValueError("odd number of columns")
    if codes.numel() and (codes.min() < 0 or codes.max() > 15):
        raise ValueError("codes must lie in 0..15")
    codes = codes.to(torch.uint8)
    return (codes[:, 0::2] << 4) | codes[:, 1::2]  # wrong: the even column in the high four bits
"""

UNPACK_SIGNED = """
def unpack_int4(packed):
    signed = packed.to(torch.int8)  # wrong: bytes above 127 become negative
    return torch.stack([signed & 0x0F, signed >> 4], dim=-1).reshape(packed.shape[0], -1).to(torch.uint8)
"""

ADD_BATCH_SCALES_X = """
def add_batch(H, n, x):
    if x.dim() == 2:
        x = x.unsqueeze(0)
    batch = x.shape[0]
    H = H * (n / (n + batch))
    n = n + batch
    x = x.reshape(-1, x.shape[-1]).float()  # no copy when x is float32 already
    x.mul_(math.sqrt(2 / n))  # wrong: scales the caller's inputs in place
    return H + x.T @ x, n
"""

_GPTQ_BLOCK = """
@torch.no_grad()
def gptq_block(block, x, n_bit=3, group_size=64, module_kwargs=None, act_order=False):
    out, inputs = block_inputs(block, x, module_kwargs)
    params = {}
    for name, linear in block.named_modules():
        if isinstance(linear, torch.nn.Linear):
            x_in = inputs[name]
            H, _ = add_batch(torch.zeros(x_in.shape[-1], x_in.shape[-1]), 0, x_in)
            q, scales, zeros = gptq(linear.weight, H, n_bit, group_size, act_order=act_order)
            linear.weight.copy_(q)
            params[name] = (scales, zeros)
    return module_output(block, x, module_kwargs), params
"""

# the next block's input is this block's full-precision output, as in run_awq
BLOCK_FULL_PRECISION_OUTPUT = _GPTQ_BLOCK.replace(
    "    return module_output(block, x, module_kwargs), params", "    return out, params")

# act-order is never passed on to gptq
BLOCK_NO_ACT_ORDER = _GPTQ_BLOCK.replace(", act_order=act_order)", ")")

# every linear reading 576 features gets the Hessian of the layer's input, before the RMSNorm
BLOCK_HESSIAN_BEFORE_NORM = _GPTQ_BLOCK.replace(
    "            x_in = inputs[name]",
    "            x_in = x if inputs[name].shape[-1] == x.shape[-1] else inputs[name]")

# each linear's input is recorded again after the linears before it were quantized
# (--true-sequential, one linear at a time), not on the block as it was given
BLOCK_SEQUENTIAL = _GPTQ_BLOCK.replace(
    "            x_in = inputs[name]",
    "            x_in = block_inputs(block, x, module_kwargs)[1][name]")

ADD_BATCH_FLOAT16_ONLY = """
def add_batch(H, n, x):
    if x.dim() == 2:
        x = x.unsqueeze(0)
    batch = x.shape[0]
    if x.dtype == torch.float16:  # wrong: only float16 is converted, bfloat16 stays bfloat16
        x = x.float()
    x = x.reshape(-1, x.shape[-1])
    H = H * (n / (n + batch))
    n = n + batch
    x = math.sqrt(2 / n) * x
    return H + x.T @ x, n
"""

CHOLESKY_CHECKS_THE_DIAGONAL = """
def inverse_cholesky(H, percdamp=0.01):
    H = H.float().clone()
    H.diagonal().add_(percdamp * H.diagonal().mean())
    if (H.diagonal() <= 0).any():  # wrong: a positive diagonal does not make H positive definite
        raise ValueError("the Hessian is not positive definite: increase percdamp")
    lower = torch.linalg.cholesky(H)
    return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)
"""

COLUMN_NOT_SET_TO_Q = """
def gptq_column(W, U, i, scales, zeros, n_bit=4):
    w = W[:, i].clone()
    q = dequantize(quantize(w[:, None], scales, zeros, n_bit), scales, zeros)[:, 0]
    err = (w - q) / U[i, i]
    W[:, i:] -= err[:, None] * U[i, i:][None, :]  # wrong: W[:, i] is left q only up to rounding
    return err
"""

_UNBLOCKED = """
@torch.no_grad()
def gptq_unblocked(W, H, n_bit=4, group_size=128, percdamp=0.01):
    W = W.detach().float().clone()
    H = H.float().clone()
    if group_size <= 0:
        scales, zeros = quant_params(W, n_bit)
    dead = H.diagonal() == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    U = inverse_cholesky(H, percdamp)
    for i in range(W.shape[1]):
        if group_size > 0 and i % group_size == 0:
            scales, zeros = quant_params(W[:, i : i + group_size], n_bit)
        gptq_column(W, U, i, scales, zeros, n_bit)
    return W
"""


def replaced(text, old, new):
    """``text`` with ``old`` (which must be there) replaced by ``new``."""
    if old not in text:
        raise ValueError(f"not found: {old!r}")
    return text.replace(old, new)


FIT_ROWS = "    if group_size <= 0:\n        scales, zeros = quant_params(W, n_bit)\n"
ZERO_DEAD = "    W[:, dead] = 0\n"
UNBLOCKED_FIT_AFTER_DEAD = replaced(replaced(_UNBLOCKED, FIT_ROWS, ""), ZERO_DEAD, ZERO_DEAD + FIT_ROWS.replace(
    ":\n", ":  # wrong: whole rows fitted after the dead inputs are zeroed\n", 1))

UNBLOCKED_GROUP_SIZE_ZERO = replaced(replaced(
    _UNBLOCKED, "    if group_size <= 0:\n", "    if group_size == -1:  # wrong: group_size = 0 means no groups too\n"),
    "if group_size > 0 and i % group_size == 0:", "if group_size != -1 and i % group_size == 0:")

BLOCK_LOOP = "    for i1 in range(0, columns, blocksize):\n        i2 = min(i1 + blocksize, columns)"
GPTQ_FIXED_BLOCKSIZE = replaced(_GPTQ, BLOCK_LOOP, BLOCK_LOOP.replace("blocksize", "128").replace(
    ":\n", ":  # wrong: blocksize is ignored\n", 1))

GPTQ_DROPS_PARTIAL_BLOCK = replaced(_GPTQ, BLOCK_LOOP, (
    "    for b in range(columns // blocksize):  # wrong: a partial last block is never quantized\n"
    "        i1, i2 = b * blocksize, (b + 1) * blocksize"))

GPTQ_DEAD_WEIGHTS_KEPT = replaced(_GPTQ, ZERO_DEAD, "    # wrong: the weights of dead inputs are not zeroed\n")

GPTQ_FIT_ROWS = "    if group_size <= 0:\n        scales[:], zeros[:] = quant_params(W, n_bit)\n"
GPTQ_FIT_AFTER_DEAD = replaced(replaced(_GPTQ, GPTQ_FIT_ROWS, ""), ZERO_DEAD, ZERO_DEAD + GPTQ_FIT_ROWS.replace(
    ":\n", ":  # wrong: whole rows fitted after the dead inputs are zeroed\n", 1))

GPTQ_FLOAT16_ONLY = replaced(
    _GPTQ, "    W = W.detach().float().clone()\n    H = H.float().clone()\n",
    "    W, H = W.detach().clone(), H.clone()\n"
    "    if W.dtype == torch.float16:  # wrong: bfloat16 is computed (and returned) in bfloat16\n"
    "        W, H = W.float(), H.float()\n")

PACK_WITHOUT_CHECKS = """
def pack_int4(codes):
    codes = codes.to(torch.uint8)  # wrong: no ValueError; an odd column or a code of 16 or -1 goes through
    return codes[:, 0::2] | (codes[:, 1::2] << 4)
"""

PACK_BITS_OF_THE_INPUT = """
def pack_int4(codes):
    if codes.shape[1] % 2 or bool(((codes < 0) | (codes > 15)).any()):
        raise ValueError("pack_int4 needs an even number of columns and codes in 0..15")
    return (codes[:, 0::2] | (codes[:, 1::2] << 4)).to(torch.uint8)  # wrong: float codes have no bits to shift
"""

WRONG = {
    "add_batch_scales_x_in_place": ({"add_batch": ADD_BATCH_SCALES_X}, {"test_add_batch"}),
    "hessian_counts_tokens": ({"add_batch": ADD_BATCH_TOKENS}, {"test_add_batch"}),
    "hessian_diagonal": ({"inverse_cholesky": HESSIAN_DIAGONAL}, {"test_inverse_cholesky"}),
    "no_damping": ({"inverse_cholesky": NO_DAMPING}, {"test_inverse_cholesky"}),
    "error_not_divided_by_diagonal": ({"gptq_column": ERROR_NOT_DIVIDED}, {"test_gptq_column"}),
    "update_reaches_quantized_columns": ({"gptq_column": UPDATES_DONE_COLUMNS}, {"test_gptq_column"}),
    "group_parameters_fitted_once": ({"gptq_unblocked": GROUPS_FITTED_ONCE}, {"test_gptq_unblocked"}),
    "dead_inputs_ignored": ({"gptq_unblocked": NO_DEAD_INPUTS}, {"test_gptq_unblocked"}),
    "lazy_update_on_quantized_block": ({"gptq": LAZY_UPDATE_ON_BLOCK}, {"test_gptq"}),
    "act_order_not_undone": ({"gptq": ACT_ORDER_NOT_UNDONE}, {"test_gptq"}),
    "gptq_in_the_input_dtype": ({"gptq": GPTQ_INPUT_DTYPE}, {"test_gptq"}),
    "gptq_ignores_percdamp": ({"gptq": GPTQ_DEFAULT_DAMPING}, {"test_gptq"}),
    "block_next_input_in_full_precision": ({"gptq_block": BLOCK_FULL_PRECISION_OUTPUT},
                                           {"test_gptq_block"}),
    "block_ignores_act_order": ({"gptq_block": BLOCK_NO_ACT_ORDER}, {"test_gptq_block"}),
    "block_hessian_before_the_norm": ({"gptq_block": BLOCK_HESSIAN_BEFORE_NORM},
                                      {"test_gptq_block"}),
    "block_true_sequential": ({"gptq_block": BLOCK_SEQUENTIAL}, {"test_gptq_block"}),
    "pack_high_nibble_first": ({"pack_int4": PACK_HIGH_FIRST}, {"test_pack_int4"}),
    "unpack_as_signed_bytes": ({"unpack_int4": UNPACK_SIGNED}, {"test_unpack_int4"}),
    "add_batch_converts_float16_only": ({"add_batch": ADD_BATCH_FLOAT16_ONLY}, {"test_add_batch"}),
    "cholesky_checks_only_the_diagonal": ({"inverse_cholesky": CHOLESKY_CHECKS_THE_DIAGONAL},
                                          {"test_inverse_cholesky"}),
    "column_not_set_to_q": ({"gptq_column": COLUMN_NOT_SET_TO_Q}, {"test_gptq_column"}),
    "unblocked_fits_rows_after_zeroing_dead_inputs": ({"gptq_unblocked": UNBLOCKED_FIT_AFTER_DEAD},
                                                      {"test_gptq_unblocked"}),
    "unblocked_group_size_zero_as_groups": ({"gptq_unblocked": UNBLOCKED_GROUP_SIZE_ZERO}, {"test_gptq_unblocked"}),
    "gptq_ignores_blocksize": ({"gptq": GPTQ_FIXED_BLOCKSIZE}, {"test_gptq"}),
    "gptq_drops_a_partial_last_block": ({"gptq": GPTQ_DROPS_PARTIAL_BLOCK}, {"test_gptq"}),
    "gptq_keeps_dead_weights": ({"gptq": GPTQ_DEAD_WEIGHTS_KEPT}, {"test_gptq"}),
    "gptq_fits_rows_after_zeroing_dead_inputs": ({"gptq": GPTQ_FIT_AFTER_DEAD}, {"test_gptq"}),
    "gptq_converts_float16_only": ({"gptq": GPTQ_FLOAT16_ONLY}, {"test_gptq"}),
    "pack_without_checks": ({"pack_int4": PACK_WITHOUT_CHECKS}, {"test_pack_int4"}),
    "pack_shifts_the_input_dtype": ({"pack_int4": PACK_BITS_OF_THE_INPUT}, {"test_pack_int4"}),
}

ALTERNATIVE = {
    # the outer products summed batch by batch, written with einsum
    "add_batch": """
def add_batch(H, n, x):
    x = x.float()
    if x.ndim == 2:
        x = x[None]
    total = n + x.shape[0]
    return H * n / total + 2 / total * torch.einsum("bti,btj->ij", x, x), total
""",
    # an explicit inverse, then its upper Cholesky factor via the lower factor of the flipped matrix
    "inverse_cholesky": """
def inverse_cholesky(H, percdamp=0.01):
    damped = H.float() + percdamp * torch.diagonal(H).float().mean() * torch.eye(H.shape[0], device=H.device)
    if not bool(torch.all(torch.linalg.eigvalsh(damped.double()) > 0)):
        raise ValueError(f"Hessian not positive definite with percdamp={percdamp}; increase percdamp")
    inverse = torch.linalg.inv(damped.double())
    return torch.linalg.cholesky(inverse, upper=True).float()
""",
    "gptq_column": """
def gptq_column(W, U, i, scales, zeros, n_bit=4):
    column = W[:, i : i + 1]
    q = (torch.clamp(torch.round(column / scales) + zeros, 0, 2**n_bit - 1) - zeros) * scales
    err = ((column - q) / U[i, i]).flatten()
    W[:, i + 1 :] -= torch.outer(err, U[i, i + 1 :])
    W[:, i] = q.flatten()
    return err
""",
    "gptq_unblocked": """
@torch.no_grad()
def gptq_unblocked(W, H, n_bit=4, group_size=128, percdamp=0.01):
    H = H.clone().float()
    whole_rows = quant_params(W.float(), n_bit)  # used without groups, fitted before dead inputs are zeroed
    alive = torch.diagonal(H) != 0
    H += torch.diag((~alive).float())
    W = W.float() * alive.float()
    U = inverse_cholesky(H, percdamp)
    width = group_size if group_size > 0 else W.shape[1]
    for start in range(0, W.shape[1], width):
        scales, zeros = quant_params(W[:, start : start + width], n_bit) if group_size > 0 else whole_rows
        for i in range(start, start + width):
            gptq_column(W, U, i, scales, zeros, n_bit)
    return W
""",
    # groups handled per block by a helper, the error matrix collected in a list
    "gptq": """
@torch.no_grad()
def gptq(W, H, n_bit=4, group_size=128, blocksize=128, percdamp=0.01, act_order=False):
    H = H.clone().float()
    out, cols = W.shape
    width = group_size if group_size > 0 else cols
    whole_rows = [quant_params(W.float(), n_bit)]  # without groups: fitted before dead inputs are zeroed
    alive = torch.diagonal(H) != 0
    H += torch.diag((~alive).float())
    W = W.float() * alive.float()
    params = [quant_params(W[:, g : g + width], n_bit) for g in range(0, cols, width)] if group_size > 0 else whole_rows
    order = torch.argsort(torch.diagonal(H), descending=True) if act_order else torch.arange(cols, device=W.device)
    W = W[:, order].contiguous()
    U = inverse_cholesky(H[order][:, order], percdamp)
    for i1 in range(0, cols, blocksize):
        i2 = min(cols, i1 + blocksize)
        block = W[:, i1:i2].clone()
        errors = []
        for j in range(i2 - i1):
            col = i1 + j
            if not act_order and group_size > 0 and col % width == 0:
                params[col // width] = quant_params(W[:, col : col + width], n_bit)
            s, z = params[int(order[col]) // width]
            errors.append(gptq_column(block, U[i1:i2, i1:i2], j, s, z, n_bit))
        W[:, i1:i2] = block
        W[:, i2:] = W[:, i2:] - torch.stack(errors, dim=1) @ U[i1:i2, i2:]
    restored = torch.empty_like(W)
    restored[:, order] = W
    return restored, torch.cat([p[0] for p in params], 1), torch.cat([p[1] for p in params], 1)
""",
    # each linear's Hessian from its input flattened to one sample of every token: n = 1, not the
    # number of segments, scales H by a constant, which GPTQ's result does not depend on (in exact
    # arithmetic; a rounding tie may fall the other way)
    "gptq_block": """
@torch.no_grad()
def gptq_block(block, x, n_bit=3, group_size=64, module_kwargs=None, act_order=False):
    _, cached = block_inputs(block, x, module_kwargs)
    params = {}
    for name, linear in block.named_modules():
        if isinstance(linear, torch.nn.Linear):
            tokens = cached[name].reshape(-1, cached[name].shape[-1])
            H, _ = add_batch(torch.zeros(tokens.shape[1], tokens.shape[1], device=x.device), 0, tokens)
            q, scales, zeros = gptq(linear.weight, H, n_bit, group_size, act_order=act_order)
            linear.weight.copy_(q)
            params[name] = (scales, zeros)
    return module_output(block, x, module_kwargs), params
""",
    "pack_int4": """
def pack_int4(codes):
    if codes.shape[1] % 2 != 0 or bool(((codes < 0) | (codes > 15)).any()):
        raise ValueError("pack_int4 needs an even number of columns and codes in 0..15")
    pairs = codes.long().reshape(codes.shape[0], -1, 2)
    return (pairs[..., 0] + 16 * pairs[..., 1]).to(torch.uint8)
""",
    "unpack_int4": """
def unpack_int4(packed):
    values = packed.long()
    return torch.stack([values % 16, values // 16], dim=2).flatten(1).to(torch.uint8)
""",
}

# More correct answers that differ from the reference only in arithmetic, each graded as a
# submission of its own (ALTERNATIVE's code for every other exercise): GPTQ is sequential, so a
# rounding tie that falls the other way moves later weights of its row, and the block's output.
ALTERNATIVES = {
    # the Hessians in float64 (from the float32 inputs), cast to float32 by gptq
    "hessians_in_float64": ALTERNATIVE | {"gptq_block": """
@torch.no_grad()
def gptq_block(block, x, n_bit=3, group_size=64, module_kwargs=None, act_order=False):
    _, cached = block_inputs(block, x, module_kwargs)
    params = {}
    for name, linear in block.named_modules():
        if isinstance(linear, torch.nn.Linear):
            samples = cached[name].shape[0]
            tokens = cached[name].double().reshape(-1, cached[name].shape[-1])
            H = 2 / samples * tokens.T @ tokens
            q, scales, zeros = gptq(linear.weight, H, n_bit, group_size, act_order=act_order)
            linear.weight.copy_(q)
            params[name] = (scales, zeros)
    return module_output(block, x, module_kwargs), params
"""},
    # one Hessian per distinct input, accumulated one segment at a time as llama.py's hooks do;
    # the linears that share it quantized one after another from a list of names
    "hessians_one_segment_at_a_time": ALTERNATIVE | {"gptq_block": """
@torch.no_grad()
def gptq_block(block, x, n_bit=3, group_size=64, module_kwargs=None, act_order=False):
    _, seen = block_inputs(block, x, module_kwargs)
    groups = [["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"], ["self_attn.o_proj"],
              ["mlp.gate_proj", "mlp.up_proj"], ["mlp.down_proj"]]
    found = {}
    for names in groups:
        features = seen[names[0]].shape[-1]
        H, n = torch.zeros(features, features, device=x.device), 0
        for sample in seen[names[0]]:
            H, n = add_batch(H, n, sample)
        for name in names:
            linear = block.get_submodule(name)
            result = gptq(linear.weight.data, H, n_bit, group_size, act_order=act_order)
            linear.weight.data = result[0].to(linear.weight.dtype)
            found[name] = (result[1], result[2])
    out = block(x, **(module_kwargs or {}))
    return (out[0] if isinstance(out, tuple) else out), found
"""},
}
