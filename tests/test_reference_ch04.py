"""The Chapter 4 reference (loaded from the instructor notebook): GPTQ by hand and by its
properties, int4 packing, and GPTQ's block-by-block pipeline, storage and loading on tiny random
LLaMA models built from configs (no download)."""

import copy

import pytest
import torch

from autograder.reference import load_reference
from tests.tiny_models import tiny_llama

ref = load_reference("ch04_gptq")


def layer(rows=32, columns=256, tokens=600, seed=0):
    """A weight and the Hessian of correlated inputs with a few large channels."""
    w = torch.randn(rows, columns, generator=torch.Generator().manual_seed(seed))
    H, _ = ref.add_batch(torch.zeros(columns, columns), 0, ref.correlated_inputs(tokens, columns, seed))
    return w, H


def test_hessian_by_hand_and_as_a_running_mean():
    H, n = ref.add_batch(torch.zeros(2, 2), 0, torch.tensor([[[1.0, 2.0], [0.0, 1.0]]]))
    assert n == 1 and torch.allclose(H, torch.tensor([[2.0, 4.0], [4.0, 10.0]]))
    x = torch.randn(10, 7, 5, generator=torch.Generator().manual_seed(1))
    H, n = torch.zeros(5, 5), 0
    for part in x.split(3):
        H, n = ref.add_batch(H, n, part)
    flat = x.reshape(-1, 5)
    assert n == 10 and torch.allclose(H, 2 / 10 * flat.T @ flat, atol=1e-5)


def test_inverse_cholesky_is_the_upper_factor_of_the_damped_inverse():
    _, H = layer()
    U = ref.inverse_cholesky(H)
    damped = H + 0.01 * H.diagonal().mean() * torch.eye(len(H))
    assert torch.equal(U, torch.triu(U))
    assert torch.allclose((U.T @ U).double(), torch.linalg.inv(damped.double()), rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="percdamp"):
        ref.inverse_cholesky(-torch.eye(4))


@pytest.mark.parametrize("group_size", [128, -1])
def test_identity_or_diagonal_hessian_gives_round_to_nearest(group_size):
    w, H = layer()
    rtn = ref.pseudo_quantize(w, 3, True, group_size)
    for hessian in (torch.eye(256), torch.diag(H.diagonal())):
        assert torch.allclose(ref.gptq(w, hessian, 3, group_size)[0], rtn, atol=1e-6)
        assert torch.allclose(ref.gptq_unblocked(w, hessian, 3, group_size), rtn, atol=1e-6)


@pytest.mark.parametrize(("group_size", "blocksize"), [(128, 128), (128, 32), (128, 64), (-1, 128), (-1, 48)])
def test_blocked_equals_unblocked(group_size, blocksize):
    w, H = layer(seed=2)
    blocked = ref.gptq(w, H, 4, group_size, blocksize)[0]
    assert torch.allclose(blocked, ref.gptq_unblocked(w, H, 4, group_size), atol=1e-5)


@pytest.mark.parametrize("n_bit", [3, 4])
def test_gptq_beats_rtn_on_its_objective(n_bit):
    w, H = layer(seed=3)
    rtn = ref.hessian_loss(w, ref.pseudo_quantize(w, n_bit, True, 128), H)
    assert ref.hessian_loss(w, ref.gptq(w, H, n_bit, 128)[0], H) < 0.8 * rtn
    assert ref.hessian_loss(w, ref.gptq(w, H, n_bit, 128, act_order=True)[0], H) < 0.8 * rtn


def test_results_lie_on_the_grid_of_the_returned_parameters():
    w, H = layer(seed=4)
    for act_order in (False, True):
        q, scales, zeros = ref.gptq(w, H, 4, 128, act_order=act_order)
        codes = q.reshape(32, 2, 128) / scales[..., None] + zeros[..., None]
        assert torch.allclose(codes, codes.round(), atol=1e-3)
        assert codes.round().min() >= 0 and codes.round().max() <= 15
    _, static, _ = ref.gptq(w, H, 4, 128, act_order=True)
    assert torch.equal(static, ref.quant_params(w.reshape(-1, 128), 4)[0].reshape(32, 2))


def test_dead_inputs_get_zero_weight():
    w, H = layer(seed=5)
    H[9, :] = H[:, 9] = 0
    for act_order in (False, True):
        assert (ref.gptq(w, H, 4, 128, act_order=act_order)[0][:, 9] == 0).all()


def test_pack_by_hand_and_round_trip():
    assert ref.pack_int4(torch.tensor([[1, 2, 15, 0]])).tolist() == [[0x21, 0x0F]]
    codes = torch.randint(0, 16, (8, 64), generator=torch.Generator().manual_seed(6), dtype=torch.uint8)
    assert torch.equal(ref.unpack_int4(ref.pack_int4(codes)), codes)
    for bad in (torch.tensor([[1, 2, 3]]), torch.tensor([[16, 0]])):
        with pytest.raises(ValueError):
            ref.pack_int4(bad)


@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_block_quantizes_every_linear_with_the_hessian_of_its_input(act_order):
    layer, x, kwargs = ref.tiny_decoder_layer(kv_heads=2)
    original = copy.deepcopy(layer)
    out, params = ref.gptq_block(layer, x, 3, 64, kwargs, act_order)
    _, seen = ref.block_inputs(original, x, kwargs)
    linears = {n: m for n, m in original.named_modules() if isinstance(m, torch.nn.Linear)}
    assert sorted(params) == sorted(linears) and len(linears) == 7
    for name, linear in linears.items():
        H, _ = ref.add_batch(torch.zeros(linear.in_features, linear.in_features), 0, seen[name])
        q, scales, zeros = ref.gptq(linear.weight, H, 3, 64, act_order=act_order)
        # one gptq call on the stacked weights of the linears sharing an input: the same up to
        # float rounding, which can flip a tie
        close = torch.isclose(layer.get_submodule(name).weight, q, atol=1e-5).float().mean()
        assert close > 0.99
        assert params[name][0].shape == scales.shape and params[name][1].shape == zeros.shape
    with torch.no_grad():
        assert torch.equal(out, ref.module_output(layer, x, kwargs))


def test_run_gptq_feeds_each_block_the_quantized_output_of_the_one_before():
    model, ids = tiny_llama(layers=2)
    quantized, params = ref.run_gptq(model, ids, 3, 64)
    assert len(params) == 14 and all(n.startswith("model.layers.") for n in params)
    x, kwargs = ref.first_block_input(model, ids)
    first = copy.deepcopy(model.model.layers[0])
    x_quantized, _ = ref.gptq_block(first, x, 3, 64, kwargs)
    second = copy.deepcopy(model.model.layers[1])
    ref.gptq_block(second, x_quantized, 3, 64, kwargs)
    expected = dict(quantized.model.layers[1].named_parameters())
    for name, p in second.named_parameters():
        assert torch.equal(p, expected[name])
    for name, linear in ref.decoder_linears(model).items():  # a copy is quantized
        assert not torch.equal(linear.weight, quantized.get_submodule(name).weight)


def test_gptq_beats_round_to_nearest_on_the_calibration_loss_of_a_tiny_llama():
    model, ids = tiny_llama(layers=2, kv_heads=4)
    def loss(m):
        with torch.no_grad():
            return m(input_ids=ids, labels=ids).loss.item()
    fp, rtn = loss(model), loss(ref.round_to_nearest(model, 3, 64))
    gptq = loss(ref.run_gptq(model, ids, 3, 64)[0])
    assert abs(gptq - fp) < abs(rtn - fp)


def test_save_and_load_give_the_stored_weights_norms_and_settings(tmp_path):
    model, ids = tiny_llama(layers=1)
    scaled, _ = ref.run_awq(model, ids, 4, 64)
    states = {n: ref.linear_state(m.weight, 4, 64) for n, m in ref.decoder_linears(scaled).items()}
    settings = {"method": "awq", "n_bit": 4, "group_size": 64}
    ref.save_quantized(tmp_path, states, ref.norm_weights(scaled), settings)
    loaded, loaded_settings = ref.load_quantized(tmp_path, model)
    assert loaded_settings == settings
    for name, state in states.items():
        weight = loaded.get_submodule(name).weight
        assert torch.equal(weight, ref.state_weight(state))
        rtn = ref.pseudo_quantize(scaled.get_submodule(name).weight, 4, True, 64)
        assert torch.allclose(weight, rtn, rtol=2e-3, atol=1e-4)  # FP16 scales
    for name, weight in ref.norm_weights(scaled).items():
        assert torch.equal(loaded.get_submodule(name).weight, weight.half().float())
    with pytest.raises(ValueError, match="4 bits"):
        ref.save_quantized(tmp_path, states, {}, {"n_bit": 8})
