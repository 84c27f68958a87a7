'''Chapter 2 answers for the autograde round trip.

WRONG: plausible mistakes, each with the test cells it must fail (and only those).
ALTERNATIVE: correct answers written unlike the reference; they must get full marks.
'''

MEANS_WITHOUT_ABS = """
@torch.no_grad()
def input_channel_means(model, blocks, batch_size=8):
    linears = decoder_linears(model)
    sums = {name: 0.0 for name in linears}
    counts = dict.fromkeys(linears, 0)
    handles = []
    for name, linear in linears.items():
        def hook(module, args, output, name=name):
            x = args[0].reshape(-1, args[0].shape[-1])  # wrong: mean of x, not of |x|
            sums[name] = sums[name] + x.sum(0).cpu()
            counts[name] += x.shape[0]
        handles.append(linear.register_forward_hook(hook))
    try:
        for start in tqdm(range(0, len(blocks), batch_size)):
            model(input_ids=blocks[start : start + batch_size].to(DEVICE))
    finally:
        for handle in handles:
            handle.remove()
    return {name: (sums[name] / counts[name]).float() for name in linears}
"""

MEANS_MAX_NOT_MEAN = """
@torch.no_grad()
def input_channel_means(model, blocks, batch_size=8):
    linears = decoder_linears(model)
    found = {}
    handles = []
    for name, linear in linears.items():
        def hook(module, args, output, name=name):
            x = args[0].abs().reshape(-1, args[0].shape[-1]).amax(0).cpu()  # wrong: llm-awq's "x_max" is a mean
            found[name] = torch.maximum(found[name], x) if name in found else x
        handles.append(linear.register_forward_hook(hook))
    try:
        for start in tqdm(range(0, len(blocks), batch_size)):
            model(input_ids=blocks[start : start + batch_size].to(DEVICE))
    finally:
        for handle in handles:
            handle.remove()
    return {name: found[name].float() for name in linears}
"""

MEANS_OF_BATCH_MEANS = """
@torch.no_grad()
def input_channel_means(model, blocks, batch_size=8):
    linears = decoder_linears(model)
    batch_means = {name: [] for name in linears}
    handles = []
    for name, linear in linears.items():
        def hook(module, args, output, name=name):
            batch_means[name].append(args[0].abs().reshape(-1, args[0].shape[-1]).mean(0).cpu())
        handles.append(linear.register_forward_hook(hook))
    try:
        for start in tqdm(range(0, len(blocks), batch_size)):
            model(input_ids=blocks[start : start + batch_size].to(DEVICE))
    finally:
        for handle in handles:
            handle.remove()
    # wrong: a last, smaller batch weighs as much as a full one
    return {name: torch.stack(batch_means[name]).mean(0).float() for name in linears}
"""

MEANS_OF_OUTPUTS = """
@torch.no_grad()
def input_channel_means(model, blocks, batch_size=8):
    linears = decoder_linears(model)
    sums, counts, handles = {}, dict.fromkeys(linears, 0), []
    for name, linear in linears.items():
        def hook(module, args, output, name=name):
            y = output.abs().reshape(-1, output.shape[-1])  # wrong: the layer's output, not its input
            sums[name] = sums.get(name, 0.0) + y.sum(0).double().cpu()
            counts[name] += y.shape[0]
        handles.append(linear.register_forward_hook(hook))
    try:
        for start in tqdm(range(0, len(blocks), batch_size)):
            model(input_ids=blocks[start : start + batch_size].to(DEVICE))
    finally:
        for handle in handles:
            handle.remove()
    return {name: (sums[name] / counts[name]).float() for name in linears}
"""

_MEANS_BODY = """
@torch.no_grad()
def input_channel_means(model, blocks, batch_size=8):
    linears = decoder_linears(model)
    sums = {name: torch.zeros(linear.in_features, dtype=torch.float64) for name, linear in linears.items()}
    counts = dict.fromkeys(linears, 0)
    handles = []
    for name, linear in linears.items():
        def hook(module, args, output, name=name):
            x = args[0].abs().reshape(-1, args[0].shape[-1])
            sums[name] += x.sum(0).double().cpu()
            counts[name] += x.shape[0]
        handles.append(linear.register_forward_hook(hook))
"""

MEANS_HOOKS_KEPT = _MEANS_BODY + """
    for start in tqdm(range(0, len(blocks), batch_size)):
        model(input_ids=blocks[start : start + batch_size].to(DEVICE))
    # wrong: the hooks are never removed
    return {name: (sums[name] / counts[name]).float() for name in linears}
"""

MEANS_HOOKS_KEPT_ON_ERROR = _MEANS_BODY + """
    for start in tqdm(range(0, len(blocks), batch_size)):
        model(input_ids=blocks[start : start + batch_size].to(DEVICE))
    for handle in handles:  # wrong: not in a finally block, so an exception leaves the hooks
        handle.remove()
    return {name: (sums[name] / counts[name]).float() for name in linears}
"""

TOP_SMALLEST = """
def top_channels(stat, fraction):
    k = max(1, round(fraction * len(stat)))
    return torch.sort(torch.argsort(stat)[:k]).values  # wrong: the smallest values
"""

MAGNITUDE_OVER_INPUTS = """
def weight_channel_magnitude(w):
    return w.abs().mean(dim=1)  # wrong: one value per output row
"""

KEEP_OUTPUT_ROWS = """
def quantize_keeping(w, keep, n_bit=3, group_size=128):
    w_q = pseudo_quantize(w, n_bit, True, group_size)
    w_q[keep] = w[keep]  # wrong: keeps output rows, not input channels
    return w_q
"""

ERROR_ON_WEIGHTS = """
def output_error(x, w, w_q):
    return ((w_q - w).pow(2).sum() / w.pow(2).sum()).item()  # wrong: weights, not outputs
"""

MAGNITUDE_IN_PLACE = """
def weight_channel_magnitude(w):
    return w.abs_().mean(dim=0)  # wrong: takes |w| of the caller's weight
"""

SALIENT_IN_PLACE = """
@torch.no_grad()
def quantize_keeping_salient(model, means, fraction, n_bit=3, group_size=64):
    for name, linear in decoder_linears(model).items():  # wrong: quantizes the caller's model
        keep = top_channels(means[name], fraction)
        linear.weight.copy_(quantize_keeping(linear.weight, keep, n_bit, group_size))
    return model
"""

SALIENT_BY_WEIGHT = """
@torch.no_grad()
def quantize_keeping_salient(model, means, fraction, n_bit=3, group_size=64):
    copied = copy.deepcopy(model)
    for name, linear in decoder_linears(copied).items():
        keep = top_channels(weight_channel_magnitude(linear.weight), fraction)  # wrong: by |w|
        linear.weight.copy_(quantize_keeping(linear.weight, keep, n_bit, group_size))
    return copied
"""

SALIENT_FIXED_GROUP = """
@torch.no_grad()
def quantize_keeping_salient(model, means, fraction, n_bit=3, group_size=64):
    copied = copy.deepcopy(model)
    for name, linear in decoder_linears(copied).items():
        keep = top_channels(means[name], fraction)
        linear.weight.copy_(quantize_keeping(linear.weight, keep, n_bit, 64))  # wrong: group fixed
    return copied
"""

SALIENT_ONE_KEEP_FOR_ALL = """
@torch.no_grad()
def quantize_keeping_salient(model, means, fraction, n_bit=3, group_size=64):
    copied = copy.deepcopy(model)
    linears = decoder_linears(copied)
    first = next(iter(linears))
    for name, linear in linears.items():
        keep = top_channels(means[first], fraction)  # wrong: the first linear's channels everywhere
        keep = keep[keep < linear.in_features]
        linear.weight.copy_(quantize_keeping(linear.weight, keep, n_bit, group_size))
    return copied
"""

MEANS_ONE_PASS_NOTHING_KEPT = """
@torch.no_grad()
def input_channel_means(model, blocks, batch_size=8):
    handles = [linear.register_forward_hook(lambda *args: None) for linear in decoder_linears(model).values()]
    try:
        model(input_ids=blocks.to(DEVICE))  # wrong: one pass that collects nothing, and no result
    finally:
        for handle in handles:
            handle.remove()
"""

TOP_ROUNDED_HALF_UP = """
def top_channels(stat, fraction):
    k = max(1, int(fraction * len(stat) + 0.5))  # wrong: rounds 2.5 up to 3; Python's round gives 2
    return torch.argsort(stat, descending=True)[:k].sort().values
"""

TOP_BY_MAGNITUDE = """
def top_channels(stat, fraction):
    k = max(1, round(fraction * len(stat)))
    return torch.argsort(stat.abs(), descending=True)[:k].sort().values  # wrong: largest |stat|, not stat
"""

KEEP_THROUGH_NUMPY = """
def quantize_keeping(w, keep, n_bit=3, group_size=128):
    w_q = pseudo_quantize(w, n_bit, True, group_size).numpy()  # wrong: numpy has no bfloat16
    w_q[:, keep.numpy()] = w.numpy()[:, keep.numpy()]
    return torch.from_numpy(w_q)
"""

MEANS_ONE_BATCH = _MEANS_BODY + """
    try:
        model(input_ids=blocks.to(DEVICE))  # wrong: batch_size ignored, every block in one pass
    finally:
        for handle in handles:
            handle.remove()
    return {name: (sums[name] / counts[name]).float() for name in linears}
"""

WRONG = {
    "magnitude_in_place": ({"weight_channel_magnitude": MAGNITUDE_IN_PLACE}, {"test_weight_channel_magnitude"}),
    "mean_of_x_not_abs": ({"input_channel_means": MEANS_WITHOUT_ABS},
                          {"test_input_channel_means", "test_input_channel_means_hooks"}),
    "max_not_mean": ({"input_channel_means": MEANS_MAX_NOT_MEAN},
                          {"test_input_channel_means", "test_input_channel_means_hooks"}),
    "mean_of_batch_means": ({"input_channel_means": MEANS_OF_BATCH_MEANS},
                          {"test_input_channel_means", "test_input_channel_means_hooks"}),
    "statistic_of_outputs": ({"input_channel_means": MEANS_OF_OUTPUTS},
                          {"test_input_channel_means", "test_input_channel_means_hooks"}),
    "hooks_never_removed": ({"input_channel_means": MEANS_HOOKS_KEPT}, {"test_input_channel_means_hooks"}),
    "hooks_left_on_error": ({"input_channel_means": MEANS_HOOKS_KEPT_ON_ERROR}, {"test_input_channel_means_hooks"}),
    "smallest_channels": ({"top_channels": TOP_SMALLEST}, {"test_top_channels"}),
    "magnitude_over_wrong_axis": ({"weight_channel_magnitude": MAGNITUDE_OVER_INPUTS}, {"test_weight_channel_magnitude"}),
    "keeps_output_rows": ({"quantize_keeping": KEEP_OUTPUT_ROWS}, {"test_quantize_keeping"}),
    "error_on_weights": ({"output_error": ERROR_ON_WEIGHTS}, {"test_output_error"}),
    "salient_in_place": ({"quantize_keeping_salient": SALIENT_IN_PLACE}, {"test_quantize_keeping_salient"}),
    "salient_by_weight": ({"quantize_keeping_salient": SALIENT_BY_WEIGHT}, {"test_quantize_keeping_salient"}),
    "salient_fixed_group": ({"quantize_keeping_salient": SALIENT_FIXED_GROUP}, {"test_quantize_keeping_salient"}),
    "salient_one_keep_for_all": ({"quantize_keeping_salient": SALIENT_ONE_KEEP_FOR_ALL},
                                 {"test_quantize_keeping_salient"}),
    # what the hidden tests once never tried (issue 26)
    "one_pass_nothing_kept": ({"input_channel_means": MEANS_ONE_PASS_NOTHING_KEPT},
                              {"test_input_channel_means", "test_input_channel_means_hooks"}),
    "k_rounded_half_up": ({"top_channels": TOP_ROUNDED_HALF_UP}, {"test_top_channels"}),
    "largest_magnitude_not_largest": ({"top_channels": TOP_BY_MAGNITUDE}, {"test_top_channels"}),
    "keeping_through_numpy": ({"quantize_keeping": KEEP_THROUGH_NUMPY}, {"test_quantize_keeping"}),
    "batch_size_ignored": ({"input_channel_means": MEANS_ONE_BATCH}, {"test_input_channel_means_hooks"}),
}

ALTERNATIVE = {
    # forward pre-hooks, a running mean weighted by token counts, no progress bar
    "input_channel_means": """
def input_channel_means(model, blocks, batch_size=8):
    linears = decoder_linears(model)
    state = {name: (None, 0) for name in linears}

    def make_hook(name):
        def hook(module, inputs):
            x = inputs[0].detach().float().abs().flatten(0, -2)
            mean, n = state[name]
            batch_mean, b = x.mean(dim=0).cpu(), x.shape[0]
            state[name] = (batch_mean if mean is None else mean + (batch_mean - mean) * (b / (n + b)), n + b)
        return hook

    handles = []
    try:
        for name, linear in linears.items():
            handles.append(linear.register_forward_pre_hook(make_hook(name)))
        with torch.no_grad():
            for batch in torch.split(blocks, batch_size):
                model(input_ids=batch.to(DEVICE))
    finally:
        while handles:
            handles.pop().remove()
    return {name: mean for name, (mean, _) in state.items()}
""",
    # numpy argsort of the negated values
    "top_channels": """
import numpy as np


def top_channels(stat, fraction):
    values = stat.detach().cpu().double().numpy()
    k = max(1, int(np.round(fraction * values.size)))
    return torch.from_numpy(np.sort(np.argsort(-values, kind="stable")[:k]))
""",
    # an L1 norm per column, divided by the number of rows
    "weight_channel_magnitude": """
def weight_channel_magnitude(w):
    return torch.linalg.vector_norm(w.float(), ord=1, dim=0).to(w.dtype) / w.shape[0]
""",
    # a boolean mask and torch.where
    "quantize_keeping": """
def quantize_keeping(w, keep, n_bit=3, group_size=128):
    mask = torch.zeros(w.shape[1], dtype=torch.bool, device=w.device)
    mask[keep] = True
    return torch.where(mask[None, :], w, pseudo_quantize(w, n_bit, True, group_size))
""",
    # a fresh model loaded from the state dict, a mask from topk, weights assigned through
    # load_state_dict
    "quantize_keeping_salient": """
def quantize_keeping_salient(model, means, fraction, n_bit=3, group_size=64):
    state = {key: value.clone() for key, value in model.state_dict().items()}
    for name, stat in means.items():
        w = state[name + ".weight"]
        k = max(1, round(fraction * stat.numel()))
        mask = torch.zeros(w.shape[1], dtype=torch.bool, device=w.device)
        mask[torch.topk(stat, k).indices.to(w.device)] = True
        state[name + ".weight"] = torch.where(mask, w, pseudo_quantize(w, n_bit, True, group_size))
    copied = copy.deepcopy(model)
    copied.load_state_dict(state)
    return copied
""",
    # numpy in float64, the error from one product with the weight difference
    "output_error": """
import numpy as np


def output_error(x, w, w_q):
    x64, w64, q64 = (t.detach().cpu().double().numpy() for t in (x, w, w_q))
    difference = x64 @ (q64 - w64).T
    return float(np.linalg.norm(difference) ** 2 / np.linalg.norm(x64 @ w64.T) ** 2)
""",
}
