'''Chapter 3 answers for the autograde round trip (see tests/answers/ch01_minmax.py).'''

AWQ_SCALES_MEAN = """
def awq_scales(x_mean, alpha):
    s = x_mean.pow(alpha).clamp(min=1e-4)
    return s / s.mean()  # wrong: normalised by the mean, not sqrt(max * min)
"""

AWQ_SCALES_NO_CLAMP = """
def awq_scales(x_mean, alpha):
    s = x_mean.pow(alpha)  # wrong: no clamp at 1e-4, a dead channel gives 0 and then inf
    return s / (s.max() * s.min()).sqrt()
"""

SCALED_NOT_DIVIDED = """
def scaled_quantize(w, s, n_bit=3, group_size=64):
    return pseudo_quantize(w * s[None, :], n_bit, True, group_size)  # wrong: s is not divided back out
"""

SEARCH_GRID_TO_ONE = """
@torch.no_grad()
def search_scale(module, x, linears, n_bit=3, group_size=64, n_grid=20, module_kwargs=None):
    x_mean = x.abs().reshape(-1, x.shape[-1]).mean(0)
    saved = [linear.weight.detach().clone() for linear in linears]
    reference = module_output(module, x, module_kwargs)
    best, losses = (None, None, math.inf), []
    for i in range(n_grid):
        alpha = i / (n_grid - 1)  # wrong: 0 .. 1.0 inclusive
        s = awq_scales(x_mean, alpha)
        for linear, w in zip(linears, saved):
            linear.weight.copy_(scaled_quantize(w, s, n_bit, group_size))
        loss = (reference - module_output(module, x, module_kwargs)).pow(2).mean().item()
        losses.append(loss)
        if loss < best[2]:
            best = (alpha, s, loss)
    for linear, w in zip(linears, saved):
        linear.weight.copy_(w)
    return best[0], best[1], losses
"""

SEARCH_RIGHT_GRID = SEARCH_GRID_TO_ONE.replace("i / (n_grid - 1)  # wrong: 0 .. 1.0 inclusive", "i / n_grid")

SEARCH_MEAN_OF_X = SEARCH_RIGHT_GRID.replace(
    "x.abs().reshape(-1, x.shape[-1]).mean(0)", "x.reshape(-1, x.shape[-1]).mean(0)  # wrong: mean of x, not of |x|")

SEARCH_TIES_LAST = SEARCH_RIGHT_GRID.replace("if loss < best[2]:", "if loss <= best[2]:  # wrong: a tie keeps the last alpha")

SEARCH_FIXED_GRID = SEARCH_RIGHT_GRID.replace(
    "for i in range(n_grid):\n        alpha = i / n_grid", "for i in range(20):\n        alpha = i / 20  # wrong: n_grid is ignored")

SEARCH_FIXED_GROUP = SEARCH_RIGHT_GRID.replace(
    "scaled_quantize(w, s, n_bit, group_size))", "scaled_quantize(w, s, n_bit))  # wrong: group_size is ignored")

SEARCH_NOT_RESTORED = SEARCH_RIGHT_GRID.replace(
    "    for linear, w in zip(linears, saved):\n        linear.weight.copy_(w)\n    return",
    "    return")  # wrong: the last alpha's quantized weights are left in the module

SEARCH_LINEAR_OUTPUTS = """
@torch.no_grad()
def search_scale(module, x, linears, n_bit=3, group_size=64, n_grid=20, module_kwargs=None):
    x_mean = x.abs().reshape(-1, x.shape[-1]).mean(0)
    # wrong: the loss on the concatenated outputs of the linears, not on the module's output
    original = torch.cat([x @ linear.weight.T for linear in linears], dim=-1)
    best, losses = (None, None, math.inf), []
    for i in range(n_grid):
        alpha = i / n_grid
        s = awq_scales(x_mean, alpha)
        out = torch.cat([x @ scaled_quantize(linear.weight, s, n_bit, group_size).T for linear in linears], dim=-1)
        loss = (original - out).pow(2).mean().item()
        losses.append(loss)
        if loss < best[2]:
            best = (alpha, s, loss)
    return best[0], best[1], losses
"""

FOLD_WRONG_DIMENSION = """
@torch.no_grad()
def fold_linear(previous, linears, s):
    previous.weight[-len(s):].div_(s[:, None])
    previous.bias[-len(s):].div_(s)
    for linear in linears:
        linear.weight.mul_(s[:, None])  # wrong: scales output rows of the next layer, not its input channels
"""

FOLD_NORM_NO_BIAS = """
@torch.no_grad()
def fold_norm(norm, linears, s):
    norm.weight.div_(s)  # wrong: the bias is not divided
    for linear in linears:
        linear.weight.mul_(s[None, :])
"""

CLIP_PER_ROW = """
@torch.no_grad()
def clip_search(w, x, n_bit=3, group_size=64, n_grid=20, max_shrink=0.5, n_tokens=512):
    out_features, in_features = w.shape
    n_groups = in_features // group_size
    x = x.reshape(-1, in_features)
    x = x[:: max(1, x.shape[0] // n_tokens)]
    org_max = w.abs().amax(dim=1, keepdim=True).expand(out_features, n_groups)  # wrong: one range per row
    best_err = torch.full_like(org_max, math.inf)
    best_max = org_max.clone()
    xg = x.reshape(-1, n_groups, group_size)
    for i in range(int(max_shrink * n_grid)):
        max_val = org_max * (1 - i / n_grid)
        limit = max_val.repeat_interleave(group_size, dim=1)
        q = pseudo_quantize(torch.maximum(torch.minimum(w, limit), -limit), n_bit, True, group_size)
        d = (q - w).reshape(out_features, n_groups, group_size)
        err = torch.einsum("tgc,ogc->otg", xg, d).pow(2).mean(dim=1)
        better = err < best_err
        best_err[better], best_max[better] = err[better], max_val[better]
    return best_max
"""

APPLY_CLIP_ONE_SIDED = """
def apply_clip(w, max_val):
    groups = w.reshape(w.shape[0], max_val.shape[1], -1)
    return torch.minimum(groups, max_val[..., None]).reshape(w.shape)  # wrong: only the top is clipped
"""

CLIP_IN_PLACE = """
def apply_clip(w, max_val):
    groups = w.view(w.shape[0], max_val.shape[1], -1)  # a view: writing to it writes to w
    limit = max_val[..., None]
    groups.copy_(torch.maximum(torch.minimum(groups, limit), -limit))  # wrong: clamps the caller's w
    return w
"""

AWQ_BLOCK = """
@torch.no_grad()
def awq_block(block, x, n_bit=3, group_size=64, module_kwargs=None, clip=True):
    _, inputs = block_inputs(block, x, module_kwargs)
    attn, mlp = block.self_attn, block.mlp
    groups = [("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), attn, module_kwargs)]
    if attn.v_proj.weight.shape == attn.o_proj.weight.shape:
        groups.append(("self_attn.v_proj", ("self_attn.o_proj",), attn.o_proj, None))
    groups.append(("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"), mlp, None))
    groups.append(("mlp.up_proj", ("mlp.down_proj",), mlp.down_proj, None))
    scales_list = []
    for previous, names, inspected, kwargs in groups:
        group = [block.get_submodule(name) for name in names]
        _, s, _ = search_scale(inspected, inputs[names[0]], group, n_bit, group_size, module_kwargs=kwargs)
        scales_list.append((previous, names, s))
    apply_scale(block, scales_list, inputs)
    if clip:
        for name, linear in block.named_modules():
            if isinstance(linear, torch.nn.Linear) and not any(p in name for p in CLIP_SKIP):
                linear.weight.copy_(apply_clip(linear.weight, clip_search(linear.weight, inputs[name], n_bit, group_size)))
    return scales_list
"""

AWQ_WRONG_NORM = AWQ_BLOCK.replace(
    'groups.append(("post_attention_layernorm", ("mlp.gate_proj"',
    'groups.append(("input_layernorm", ("mlp.gate_proj"')  # wrong: the MLP's scales into the attention's norm

AWQ_V_TO_O_ALWAYS = AWQ_BLOCK.replace(
    "    if attn.v_proj.weight.shape == attn.o_proj.weight.shape:\n        groups.append",
    "    if True:  # wrong: v -> o even under grouped-query attention (the last 64 rows of v)\n        groups.append")

AWQ_NO_V_TO_O = AWQ_BLOCK.replace(
    "    if attn.v_proj.weight.shape == attn.o_proj.weight.shape:\n        groups.append",
    "    if False:  # wrong: v -> o never, even when the shapes match\n        groups.append")

AWQ_CLIPS_Q_AND_K = AWQ_BLOCK.replace(
    "and not any(p in name for p in CLIP_SKIP)", "")  # wrong: the query and key projections are clipped too

AWQ_CLIP_UNSCALED_INPUTS = AWQ_BLOCK.replace(
    "apply_scale(block, scales_list, inputs)", "apply_scale(block, scales_list)")  # wrong: clips on x, not x / s

AWQ_CLIP_BEFORE_SCALING = AWQ_BLOCK.replace(
    "    apply_scale(block, scales_list, inputs)\n    if clip:", "    if clip:").replace(
    "    return scales_list", "    apply_scale(block, scales_list, inputs)  # wrong: clipped before the scales are folded\n    return scales_list")


SEARCH_NO_ERROR = """
@torch.no_grad()
def search_scale(module, x, linears, n_bit=3, group_size=64, n_grid=20, module_kwargs=None):
    x_mean = x.abs().reshape(-1, x.shape[-1]).mean(0)
    saved = [linear.weight.detach().clone() for linear in linears]
    reference = module_output(module, x, module_kwargs)
    losses, scales = [], []
    try:
        for i in range(n_grid):
            s = awq_scales(x_mean, i / n_grid)
            for linear, w in zip(linears, saved):
                linear.weight.copy_(scaled_quantize(w, s, n_bit, group_size))
            out = module_output(module, x, module_kwargs)
            losses.append((reference - out).float().pow(2).mean().item())
            scales.append(s)
    finally:
        for linear, w in zip(linears, saved):
            linear.weight.copy_(w)
    best = min(range(n_grid), key=losses.__getitem__)  # wrong: when no loss is finite, alpha 0 and no error
    return best / n_grid, scales[best], losses
"""

SEARCH_RESTORED_ON_RETURN = SEARCH_RIGHT_GRID.replace(
    "    return best[0], best[1], losses",
    "    if best[1] is None:\n        raise ValueError('no alpha gave a finite loss')\n"
    "    return best[0], best[1], losses  # wrong: the weights are restored only when the loop ends")

FOLD_NORM_LAYERNORM_BIAS = """
@torch.no_grad()
def fold_norm(norm, linears, s):
    norm.weight.div_(s)
    if isinstance(norm, torch.nn.LayerNorm):  # wrong: a LayerNorm made with bias=False has bias None
        norm.bias.div_(s)
    for linear in linears:
        linear.weight.mul_(s[None, :])
"""


WRONG = {
    "clip_in_place": ({"apply_clip": CLIP_IN_PLACE}, {"test_apply_clip"}),
    "normalised_by_mean": ({"awq_scales": AWQ_SCALES_MEAN}, {"test_awq_scales"}),
    "scales_not_clamped": ({"awq_scales": AWQ_SCALES_NO_CLAMP}, {"test_awq_scales"}),
    "weight_scaled_not_divided_back": ({"scaled_quantize": SCALED_NOT_DIVIDED}, {"test_scaled_quantize"}),
    "alpha_grid_includes_1": ({"search_scale": SEARCH_GRID_TO_ONE}, {"test_search_scale"}),
    "mean_of_x_not_abs": ({"search_scale": SEARCH_MEAN_OF_X}, {"test_search_scale"}),
    "tie_keeps_last": ({"search_scale": SEARCH_TIES_LAST}, {"test_search_scale"}),
    "search_ignores_n_grid": ({"search_scale": SEARCH_FIXED_GRID}, {"test_search_scale"}),
    "search_ignores_group_size": ({"search_scale": SEARCH_FIXED_GROUP}, {"test_search_scale"}),
    "search_weights_not_restored": ({"search_scale": SEARCH_NOT_RESTORED}, {"test_search_scale"}),
    "search_loss_on_linear_outputs": ({"search_scale": SEARCH_LINEAR_OUTPUTS}, {"test_search_scale"}),
    "fold_into_wrong_dimension": ({"fold_linear": FOLD_WRONG_DIMENSION}, {"test_fold_linear"}),
    "norm_bias_not_folded": ({"fold_norm": FOLD_NORM_NO_BIAS}, {"test_fold_norm"}),
    "clip_range_per_row": ({"clip_search": CLIP_PER_ROW}, {"test_clip_search"}),
    "clip_only_the_top": ({"apply_clip": APPLY_CLIP_ONE_SIDED}, {"test_apply_clip"}),
    "mlp_scales_into_the_wrong_norm": ({"awq_block": AWQ_WRONG_NORM}, {"test_awq_block"}),
    "v_to_o_despite_gqa": ({"awq_block": AWQ_V_TO_O_ALWAYS}, {"test_awq_block"}),
    "no_v_to_o_when_shapes_match": ({"awq_block": AWQ_NO_V_TO_O}, {"test_awq_block"}),
    "clips_query_and_key": ({"awq_block": AWQ_CLIPS_Q_AND_K}, {"test_awq_block"}),
    "clip_on_unscaled_inputs": ({"awq_block": AWQ_CLIP_UNSCALED_INPUTS}, {"test_awq_block"}),
    "clip_before_scaling": ({"awq_block": AWQ_CLIP_BEFORE_SCALING}, {"test_awq_block"}),
    "search_no_error_without_a_finite_loss": ({"search_scale": SEARCH_NO_ERROR}, {"test_search_scale"}),
    "search_restores_only_on_return": ({"search_scale": SEARCH_RESTORED_ON_RETURN}, {"test_search_scale"}),
    "layernorm_bias_always_folded": ({"fold_norm": FOLD_NORM_LAYERNORM_BIAS}, {"test_fold_norm"}),
}

ALTERNATIVE = {
    "awq_scales": """
def awq_scales(x_mean, alpha):
    s = torch.clamp(x_mean**alpha, min=1e-4)
    return s * (1.0 / math.sqrt(s.max().item() * s.min().item()))
""",
    "scaled_quantize": """
def scaled_quantize(w, s, n_bit=3, group_size=64):
    return pseudo_quantize(w * s, n_bit, True, group_size) * (1.0 / s)
""",
    # the weights swapped in and out as new tensors, the loss in float64 as a sum over
    # entries (other float arithmetic than the reference's), the best kept by index
    "search_scale": """
def search_scale(module, x, linears, n_bit=3, group_size=64, n_grid=20, module_kwargs=None):
    stat = x.abs().flatten(0, -2).mean(dim=0)
    kwargs = dict(module_kwargs or {})

    def run():
        with torch.no_grad():
            out = module(x, **kwargs)
        return (out[0] if isinstance(out, tuple) else out).double()

    saved = [linear.weight.data for linear in linears]
    target = run()
    losses, candidates = [], []
    try:
        for i in range(n_grid):
            s = awq_scales(stat, i / n_grid)
            for linear, w in zip(linears, saved):
                linear.weight.data = pseudo_quantize(w * s, n_bit, True, group_size) / s
            losses.append(float(((run() - target) ** 2).sum()) / target.numel())
            candidates.append(s)
    finally:
        for linear, w in zip(linears, saved):
            linear.weight.data = w
    if not any(math.isfinite(v) for v in losses):
        raise ValueError("no finite loss")
    best = min(range(n_grid), key=lambda k: (losses[k], k))
    return best / n_grid, candidates[best], losses
""",
    "fold_linear": """
def fold_linear(previous, linears, s):
    n = s.numel()
    with torch.no_grad():
        previous.weight.data[-n:] = previous.weight.data[-n:] / s.unsqueeze(1)
        if previous.bias is not None:
            previous.bias.data[-n:] = previous.bias.data[-n:] / s
        for linear in linears:
            linear.weight.data = linear.weight.data * s.unsqueeze(0)
""",
    "fold_norm": """
def fold_norm(norm, linears, s):
    with torch.no_grad():
        norm.weight.data = norm.weight.data / s
        if getattr(norm, "bias", None) is not None:
            norm.bias.data = norm.bias.data / s
        for linear in linears:
            linear.weight.data = linear.weight.data * s
""",
    # llm-awq's own formulation: partial outputs over tokens, no Gram matrix
    "clip_search": """
def clip_search(w, x, n_bit=3, group_size=64, n_grid=20, max_shrink=0.5, n_tokens=512):
    out_features, in_features = w.shape
    x = x.reshape(-1, in_features)
    x = x[0 :: max(1, x.shape[0] // n_tokens)]
    x = x.reshape(1, x.shape[0], -1, group_size)
    w4 = w.reshape(out_features, 1, -1, group_size)
    org_out = (x * w4).sum(dim=-1)
    org_max = w4.abs().amax(dim=-1, keepdim=True)
    best_max, min_errs = org_max.clone(), torch.ones_like(org_max) * 1e9
    for i in range(int(max_shrink * n_grid)):
        max_val = org_max * (1 - i / n_grid)
        cur_w = torch.clamp(w4, -max_val, max_val)
        q_w = pseudo_quantize(cur_w.reshape(out_features, in_features), n_bit, True, group_size)
        cur_out = (x * q_w.reshape(w4.shape)).sum(dim=-1)
        err = (cur_out - org_out).pow(2).mean(dim=1).view(min_errs.shape)
        better = err < min_errs
        min_errs[better] = err[better]
        best_max[better] = max_val[better]
    return best_max.reshape(out_features, -1)
""",
    # each group searched and folded before the next is searched (the same scales: no later
    # search quantizes a weight an earlier fold changed), the inputs caught by its own hooks
    "awq_block": """
def awq_block(block, x, n_bit=3, group_size=64, module_kwargs=None, clip=True):
    seen = {}
    handles = [m.register_forward_hook(lambda m, a, o, n=n: seen.__setitem__(n, a[0].float()))
               for n, m in block.named_modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.no_grad():
            block(x, **(module_kwargs or {}))
    finally:
        for h in handles:
            h.remove()
    attn, mlp = block.self_attn, block.mlp
    plan = [("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), attn, module_kwargs)]
    if tuple(attn.v_proj.weight.shape) == tuple(attn.o_proj.weight.shape):
        plan.append(("self_attn.v_proj", ("self_attn.o_proj",), attn.o_proj, None))
    plan += [("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"), mlp, None),
             ("mlp.up_proj", ("mlp.down_proj",), mlp.down_proj, None)]
    found = []
    for prev, names, module, kw in plan:
        lins = [block.get_submodule(n) for n in names]
        s = search_scale(module, seen[names[0]], lins, n_bit, group_size, module_kwargs=kw)[1]
        target = block.get_submodule(prev)
        with torch.no_grad():
            if isinstance(target, torch.nn.Linear):
                target.weight[-s.numel():] /= s.unsqueeze(1)
            else:
                target.weight /= s
            for lin in lins:
                lin.weight *= s
        for n in names:
            seen[n] = seen[n] * (1 / s)
        found.append((prev, tuple(names), s))
    if clip:
        for n, m in block.named_modules():
            if isinstance(m, torch.nn.Linear) and "q_" not in n and "k_" not in n:
                with torch.no_grad():
                    m.weight.data = apply_clip(m.weight.data, clip_search(m.weight.data, seen[n], n_bit, group_size))
    return found
""",
    "apply_clip": """
def apply_clip(w, max_val):
    size = w.shape[1] // max_val.shape[1]
    limit = max_val.repeat_interleave(size, dim=1)
    return torch.clamp(w, min=-limit, max=limit)
""",
}

CLIP_FIXED_TOKENS = ALTERNATIVE["clip_search"].replace(
    "x = x[0 :: max(1, x.shape[0] // n_tokens)]", "x = x[0 :: max(1, x.shape[0] // 512)]  # wrong: n_tokens is ignored")

CLIP_FIXED_SHRINK = ALTERNATIVE["clip_search"].replace(
    "for i in range(int(max_shrink * n_grid)):", "for i in range(n_grid // 2):  # wrong: max_shrink is ignored")

CLIP_TIES_LAST = ALTERNATIVE["clip_search"].replace(
    "better = err < min_errs", "better = err <= min_errs  # wrong: a tie keeps the later, smaller threshold")

# llm-awq's own line, input_feat[:, 0::input_feat.shape[1] // n_sample_token]
CLIP_STEP_ZERO = ALTERNATIVE["clip_search"].replace(
    "x = x[0 :: max(1, x.shape[0] // n_tokens)]",
    "x = x[0 :: x.shape[0] // n_tokens]  # wrong: a step of 0 when there are fewer tokens than n_tokens")

CLIP_SIGNED_MAX = ALTERNATIVE["clip_search"].replace(
    "org_max = w4.abs().amax(dim=-1, keepdim=True)",
    "org_max = w4.amax(dim=-1, keepdim=True)  # wrong: the largest w, not the largest |w|")

WRONG |= {  # built from the correct alternative above
    "clip_ignores_n_tokens": ({"clip_search": CLIP_FIXED_TOKENS}, {"test_clip_search"}),
    "clip_ignores_max_shrink": ({"clip_search": CLIP_FIXED_SHRINK}, {"test_clip_search"}),
    "clip_tie_keeps_last": ({"clip_search": CLIP_TIES_LAST}, {"test_clip_search"}),
    "clip_step_zero_with_few_tokens": ({"clip_search": CLIP_STEP_ZERO}, {"test_clip_search"}),
    "clip_largest_signed_weight": ({"clip_search": CLIP_SIGNED_MAX}, {"test_clip_search"}),
}
