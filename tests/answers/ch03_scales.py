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
def scaled_quantize(w, s, n_bit=4, group_size=128):
    return pseudo_quantize(w * s[None, :], n_bit, True, group_size)  # wrong: s is not divided back out
"""

SEARCH_GRID_TO_ONE = """
def search_scale(x, weights, n_bit=4, group_size=128, n_grid=20):
    x_mean = x.abs().reshape(-1, x.shape[-1]).mean(0)
    original = torch.cat([x @ w.T for w in weights], dim=-1)
    best, losses = (None, None, math.inf), []
    for i in range(n_grid):
        alpha = i / (n_grid - 1)  # wrong: 0 .. 1.0 inclusive
        s = awq_scales(x_mean, alpha)
        out = torch.cat([x @ scaled_quantize(w, s, n_bit, group_size).T for w in weights], dim=-1)
        loss = (original - out).pow(2).mean().item()
        losses.append(loss)
        if loss < best[2]:
            best = (alpha, s, loss)
    return best[0], best[1], losses
"""

SEARCH_MEAN_OF_X = SEARCH_GRID_TO_ONE.replace("i / (n_grid - 1)  # wrong: 0 .. 1.0 inclusive", "i / n_grid").replace(
    "x.abs().reshape(-1, x.shape[-1]).mean(0)", "x.reshape(-1, x.shape[-1]).mean(0)  # wrong: mean of x, not of |x|")

SEARCH_TIES_LAST = SEARCH_GRID_TO_ONE.replace("i / (n_grid - 1)  # wrong: 0 .. 1.0 inclusive", "i / n_grid").replace(
    "if loss < best[2]:", "if loss <= best[2]:  # wrong: a tie keeps the last alpha")

SEARCH_FIXED_GRID = SEARCH_TIES_LAST.replace("if loss <= best[2]:  # wrong: a tie keeps the last alpha", "if loss < best[2]:").replace(
    "for i in range(n_grid):\n        alpha = i / n_grid", "for i in range(20):\n        alpha = i / 20  # wrong: n_grid is ignored")

SEARCH_FIXED_GROUP = SEARCH_TIES_LAST.replace("if loss <= best[2]:  # wrong: a tie keeps the last alpha", "if loss < best[2]:").replace(
    "scaled_quantize(w, s, n_bit, group_size).T for w in weights], dim=-1)",
    "scaled_quantize(w, s, n_bit).T for w in weights], dim=-1)  # wrong: group_size is ignored")

FOLD_WRONG_DIMENSION = """
@torch.no_grad()
def fold_linear(previous, linears, s):
    previous.weight[-len(s):].div_(s[:, None])
    previous.bias[-len(s):].div_(s)
    for linear in linears:
        linear.weight.mul_(s[:, None])  # wrong: scales output rows of the next layer, not its input channels
"""

FOLD_LAYERNORM_NO_BIAS = """
@torch.no_grad()
def fold_layernorm(norm, linears, s):
    norm.weight.div_(s)  # wrong: the bias is not divided
    for linear in linears:
        linear.weight.mul_(s[None, :])
"""

CLIP_PER_ROW = """
@torch.no_grad()
def clip_search(w, x, n_bit=4, group_size=128, n_grid=20, max_shrink=0.5, n_tokens=512):
    out_features, in_features = w.shape
    n_groups = in_features // group_size
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
    "fold_into_wrong_dimension": ({"fold_linear": FOLD_WRONG_DIMENSION}, {"test_fold_linear"}),
    "layernorm_bias_not_folded": ({"fold_layernorm": FOLD_LAYERNORM_NO_BIAS}, {"test_fold_layernorm"}),
    "clip_range_per_row": ({"clip_search": CLIP_PER_ROW}, {"test_clip_search"}),
    "clip_only_the_top": ({"apply_clip": APPLY_CLIP_ONE_SIDED}, {"test_apply_clip"}),
}

ALTERNATIVE = {
    "awq_scales": """
def awq_scales(x_mean, alpha):
    s = torch.clamp(x_mean**alpha, min=1e-4)
    return s * (1.0 / math.sqrt(s.max().item() * s.min().item()))
""",
    "scaled_quantize": """
def scaled_quantize(w, s, n_bit=4, group_size=128):
    return pseudo_quantize(w * s, n_bit, True, group_size) * (1.0 / s)
""",
    # a while loop, the loss summed linear by linear as x @ (W - Q).T (other float arithmetic:
    # losses 1e-7 apart from the reference's), and the best kept by index
    "search_scale": """
def search_scale(x, weights, n_bit=4, group_size=128, n_grid=20):
    stat = x.abs().mean(dim=0)
    total = sum(w.shape[0] for w in weights) * x.shape[0]
    losses, candidates, i = [], [], 0
    while i < n_grid:
        s = awq_scales(stat, i / n_grid)
        error = sum(float((x @ (w - scaled_quantize(w, s, n_bit, group_size)).T).pow(2).sum()) for w in weights)
        losses.append(error / total)
        candidates.append(s)
        i += 1
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
    "fold_layernorm": """
def fold_layernorm(norm, linears, s):
    with torch.no_grad():
        norm.weight.data = norm.weight.data / s
        norm.bias.data = norm.bias.data / s
        for linear in linears:
            linear.weight.data = linear.weight.data * s
""",
    # llm-awq's own formulation: partial outputs over tokens, no Gram matrix
    "clip_search": """
def clip_search(w, x, n_bit=4, group_size=128, n_grid=20, max_shrink=0.5, n_tokens=512):
    out_features, in_features = w.shape
    x = x.view(-1, in_features)
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

WRONG |= {  # built from the correct alternative above
    "clip_ignores_n_tokens": ({"clip_search": CLIP_FIXED_TOKENS}, {"test_clip_search"}),
    "clip_ignores_max_shrink": ({"clip_search": CLIP_FIXED_SHRINK}, {"test_clip_search"}),
}
