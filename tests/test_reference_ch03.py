"""The Chapter 3 reference (loaded from the instructor notebook): hand-computed values and
properties, on tiny random LLaMA models; one test folds scales into the real SmolLM2."""

import copy
import math

import pytest
import torch

from autograder.checks import fail_forward
from autograder.reference import load_reference
from tests.tiny_models import tiny_llama

ref = load_reference("ch03_scales")


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_scales_by_hand_and_their_properties():
    s = ref.awq_scales(torch.tensor([0.5, 1.0, 2.0, 8.0]), 0.5)
    assert torch.allclose(s, torch.tensor([0.5, 2**-0.5, 1.0, 2.0]))
    x_mean = torch.rand(300, generator=torch.Generator().manual_seed(0)) * 5
    for alpha in (0.05, 0.5, 0.95):
        s = ref.awq_scales(x_mean, alpha)
        assert math.isclose((s.max() * s.min()).item(), 1.0, rel_tol=1e-5)
    assert torch.allclose(ref.awq_scales(x_mean, 0.0), torch.ones(300))
    assert torch.isfinite(ref.awq_scales(torch.tensor([0.0, 1.0]), 0.5)).all()  # clamp at 1e-4


def test_scaled_quantize_with_unit_scales_is_rtn():
    w = torch.randn(16, 256, generator=torch.Generator().manual_seed(1))
    expected = ref.pseudo_quantize(w, 3, True, 64)
    assert torch.equal(ref.scaled_quantize(w, torch.ones(256), 3, 64), expected)


def test_the_grid_has_twenty_alphas_never_one_and_zeros_tie():
    layer, x, kwargs = ref.tiny_decoder_layer()
    mlp = layer.mlp
    alpha, s, losses = ref.search_scale(mlp, x, [mlp.gate_proj, mlp.up_proj], 4, 64)
    assert len(losses) == 20 and 0 <= alpha <= 0.95
    zeros = ref.search_scale(mlp, torch.zeros(1, 4, 128), [mlp.gate_proj, mlp.up_proj], 4, 64)
    assert zeros[0] == 0.0 and set(zeros[2]) == {0.0}  # every loss ties: the first alpha wins


def test_a_linear_inspecting_itself_is_the_papers_per_linear_objective():
    g = torch.Generator().manual_seed(2)
    linear = torch.nn.Linear(256, 32, bias=False)
    x = torch.randn(300, 256, generator=g)
    x[:, :4] *= 20
    alpha, s, losses = ref.search_scale(linear, x, [linear], 3, 64)
    w = linear.weight.detach()
    by_hand = (x @ w.T - x @ ref.scaled_quantize(w, s, 3, 64).T).pow(2).mean().item()
    assert math.isclose(losses[round(alpha * 20)], by_hand, rel_tol=1e-5)
    assert alpha > 0 and min(losses) < losses[0]


def test_the_weights_come_back_even_when_a_forward_pass_raises():
    layer, x, kwargs = ref.tiny_decoder_layer()
    mlp = layer.mlp
    before = copy.deepcopy(mlp.state_dict())
    calls = {"n": 0}

    def fail_second(module, args, output):
        calls["n"] += 1
        if calls["n"] == 2:  # the first pass is the reference output, the second a quantized one
            fail_forward(module, args, output)

    handle = mlp.register_forward_hook(fail_second)
    with pytest.raises(RuntimeError):
        ref.search_scale(mlp, x, [mlp.gate_proj, mlp.up_proj], 3, 64)
    handle.remove()
    assert all(torch.equal(v, mlp.state_dict()[k]) for k, v in before.items())


def test_clip_search_equals_the_partial_output_definition():
    g = torch.Generator().manual_seed(4)
    w, x = torch.randn(12, 256, generator=g), torch.randn(700, 256, generator=g)
    got = ref.clip_search(w, x, 3, 128)
    xs = x[:: 700 // 512].reshape(-1, 2, 128)
    wg = w.reshape(12, 2, 128)
    best = []
    for i in range(10):
        limit = wg.abs().amax(-1, keepdim=True) * (1 - i / 20)
        clamped = torch.clamp(wg, -limit, limit).reshape(12, 256)
        q = ref.pseudo_quantize(clamped, 3, True, 128).reshape(12, 2, 128)
        err = torch.einsum("tgc,ogc->otg", xs, q - wg).pow(2).mean(1)
        best.append((err, limit.squeeze(-1)))
    errors = torch.stack([e for e, _ in best])
    limits = torch.stack([m for _, m in best])
    assert torch.allclose(got, limits.gather(0, errors.argmin(0, keepdim=True)).squeeze(0))


def test_apply_clip_by_hand():
    out = ref.apply_clip(torch.tensor([[3.0, -1.0, 0.5, -4.0]]), torch.tensor([[2.0, 1.0]]))
    assert out.tolist() == [[2.0, -1.0, 0.5, -1.0]]


def random_scales_list(block, g):
    def s(n):
        return torch.rand(n, generator=g) * 1.5 + 0.5
    hidden, inner = block.mlp.up_proj.in_features, block.mlp.up_proj.out_features
    return [("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
             s(hidden)),
            ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"), s(hidden)),
            ("mlp.up_proj", ("mlp.down_proj",), s(inner))]


def test_the_three_llama_folds_keep_the_models_logits():
    model, ids = tiny_llama()
    before = logits(model, ids)
    g = torch.Generator().manual_seed(5)
    for block in model.model.layers:
        ref.apply_scale(block, random_scales_list(block, g))
    assert torch.allclose(logits(model, ids), before, atol=1e-4)


def test_folding_the_mlps_scales_into_the_wrong_norm_changes_the_model():
    model, ids = tiny_llama()
    before = logits(model, ids)
    block = model.model.layers[0]
    ref.fold_norm(block.input_layernorm, [block.mlp.gate_proj, block.mlp.up_proj],
                  torch.rand(128, generator=torch.Generator().manual_seed(6)) + 0.5)
    assert (logits(model, ids) - before).abs().max() > 1e-2


@pytest.mark.parametrize(("kv_heads", "groups"), [(2, 3), (4, 4)])
def test_awq_block_scales_three_groups_under_gqa_and_four_without(kv_heads, groups):
    layer, x, kwargs = ref.tiny_decoder_layer(kv_heads=kv_heads)
    with torch.no_grad():
        before = ref.module_output(layer, x, kwargs)
    original = copy.deepcopy(layer)
    found = ref.awq_block(layer, x, 3, 64, kwargs, clip=False)
    assert len(found) == groups
    assert ("self_attn.v_proj" in [p for p, _, _ in found]) == (kv_heads == 4)
    with torch.no_grad():
        assert torch.allclose(ref.module_output(layer, x, kwargs), before, atol=1e-4)
    clipped = copy.deepcopy(original)
    ref.awq_block(clipped, x, 3, 64, kwargs)
    for name in ("q_proj", "k_proj"):
        assert torch.equal(getattr(clipped.self_attn, name).weight,
                           getattr(layer.self_attn, name).weight)
    assert not torch.equal(clipped.mlp.down_proj.weight, layer.mlp.down_proj.weight)


def test_run_awq_feeds_each_block_the_full_precision_output_of_the_one_before():
    model, ids = tiny_llama(layers=2)
    scaled, found = ref.run_awq(model, ids, 3, 64)
    assert len(found) == 2 and all(len(scales) == 3 for scales in found)
    x, kwargs = ref.first_block_input(model, ids)
    fp_out = ref.module_output(model.model.layers[0], x, kwargs)
    again = ref.awq_block(copy.deepcopy(model.model.layers[1]), fp_out, 3, 64, kwargs)
    for (_, _, s), (_, _, t) in zip(found[1], again, strict=True):
        assert torch.equal(s, t)
    folded = ref.scaled_model(model, found)  # the scales alone, folded: the same function
    assert torch.allclose(logits(folded, ids), logits(model, ids), atol=1e-4)
    assert not torch.allclose(logits(scaled, ids), logits(model, ids), atol=1e-4)  # clipped


def test_round_to_nearest_quantizes_every_decoder_linear():
    model, _ = tiny_llama(layers=1)
    quantized = ref.round_to_nearest(model, 3, 64)
    for name, linear in ref.decoder_linears(quantized).items():
        w = model.get_submodule(name).weight
        assert torch.equal(linear.weight, ref.pseudo_quantize(w, 3, True, 64))


def test_folds_keep_the_logits_of_the_real_model():
    model, tokenizer = ref.load_model()
    ids = ref.token_ids(tokenizer, ["Folding is exact: the layer computes the same function."])
    ids = ids[None, :].to(ref.DEVICE)
    before = logits(model, ids)
    g = torch.Generator().manual_seed(7)
    for block in model.model.layers:
        ref.apply_scale(block, [(p, n, s.to(ref.DEVICE))
                                for p, n, s in random_scales_list(block, g)])
    change = (logits(model, ids) - before).abs().max().item()
    assert change < 1e-3 * before.abs().max().item()
