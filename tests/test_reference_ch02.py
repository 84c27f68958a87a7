"""The Chapter 2 reference (loaded from the instructor notebook) against hand-computed values."""

import math
import sys

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from autograder.reference import load_reference

ref = load_reference("ch02_salient")


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def tiny_llama(seed=0, layers=2):
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(config).eval()


def hooks_left(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# input_channel_means

def test_channel_means_are_the_mean_abs_input_of_every_linear_over_all_tokens():
    model = tiny_llama()
    blocks = torch.randint(0, 100, (7, 10), generator=torch.Generator().manual_seed(1))
    means = ref.input_channel_means(model, blocks, batch_size=3)
    inputs = ref.capture_inputs(model, blocks, max_tokens=10**6)  # every token's input, another way
    assert set(means) == set(inputs) == set(ref.decoder_linears(model))
    assert len(means) == 14
    for name, x in inputs.items():
        assert x.shape[0] == 70
        assert means[name].dtype == torch.float32 and means[name].device.type == "cpu"
        assert torch.allclose(means[name], x.abs().mean(dim=0), rtol=1e-5, atol=1e-6), name


def test_first_layer_sees_the_embeddings():
    model = tiny_llama(2)
    blocks = torch.randint(0, 100, (3, 5), generator=torch.Generator().manual_seed(3))
    means = ref.input_channel_means(model, blocks)
    with torch.no_grad():
        x = model.model.layers[0].input_layernorm(model.model.embed_tokens(blocks))
    assert torch.allclose(means["model.layers.0.self_attn.q_proj"], x.abs().reshape(-1, 32).mean(0), atol=1e-6)


def test_channel_means_do_not_depend_on_the_batch_split():
    model = tiny_llama()
    blocks = torch.randint(0, 100, (9, 6), generator=torch.Generator().manual_seed(4))
    whole = ref.input_channel_means(model, blocks, batch_size=9)
    for batch_size in (1, 2, 4, 5, 100):  # 9 = 4 + 4 + 1 = 5 + 4: unequal last batches
        split = ref.input_channel_means(model, blocks, batch_size=batch_size)
        assert all(torch.allclose(split[n], whole[n], rtol=1e-5, atol=1e-7) for n in whole)


def test_no_hook_is_left_even_when_the_forward_raises():
    model = tiny_llama()
    ref.input_channel_means(model, torch.randint(0, 100, (2, 4)))
    assert hooks_left(model) == 0

    def boom(module, args, output):
        raise RuntimeError("boom")

    handle = model.model.layers[1].register_forward_hook(boom)
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


# the library cell: SmolLM2, its linears, perplexity (shared with chapters 3 and 4)

def test_decoder_linears_are_the_seven_of_each_layer():
    model = tiny_llama(layers=3)
    linears = ref.decoder_linears(model)
    assert len(linears) == 21 and "lm_head" not in linears
    kinds = {name.split(".")[-1] for name in linears}
    assert kinds == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_segments_cut_consecutive_tokens_and_drop_the_rest():
    ids = torch.arange(10)
    assert ref.segments(ids, 3).tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert ref.segments(ids, 4, count=2).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="do not make 3 segments"):
        ref.segments(ids, 4, count=3)


def test_segment_nll_is_the_models_own_loss_per_segment():
    model = tiny_llama(1)
    segments = torch.randint(0, 100, (5, 12), generator=torch.Generator().manual_seed(2))
    nll = ref.segment_nll(model, segments, batch_size=2)
    assert nll.dtype == torch.float64 and nll.shape == (5,)
    with torch.no_grad():
        expected = [model(input_ids=s[None], labels=s[None]).loss.item() for s in segments]  # first token unscored
    assert torch.allclose(nll, torch.tensor(expected, dtype=torch.float64), rtol=1e-5)
    assert ref.perplexity(nll) == pytest.approx(math.exp(sum(expected) / 5), rel=1e-5)


def test_spread_is_zero_for_equal_segments_and_for_a_method_against_itself():
    nll = torch.tensor([2.0, 2.5, 3.0, 2.2], dtype=torch.float64)
    assert ref.spread(torch.full((4,), 2.0, dtype=torch.float64)) == pytest.approx(0.0, abs=1e-12)
    assert ref.spread(nll, nll) == 0.0
    assert 0.5 < ref.spread(nll) < 5.0  # perplexities between e^2 and e^3, resampled
    assert ref.spread(nll + 0.1, nll) < ref.spread(nll + 0.1)  # paired: the shared variation cancels


def test_quantized_copy_and_capture_inputs_on_a_decoder():
    model = tiny_llama(3)
    blocks = torch.randint(0, 100, (3, 8), generator=torch.Generator().manual_seed(4))
    zeroed = ref.quantized_copy(model, lambda name, w: torch.zeros_like(w))
    assert all((linear.weight == 0).all() for linear in ref.decoder_linears(zeroed).values())
    assert all((linear.weight != 0).any() for linear in ref.decoder_linears(model).values())
    inputs = ref.capture_inputs(model, blocks, max_tokens=10)
    assert set(inputs) == set(ref.decoder_linears(model))
    assert all(x.shape == (10, ref.decoder_linears(model)[n].in_features) for n, x in inputs.items())


def test_a_missing_model_package_says_to_run_the_set_up_cell(monkeypatch):
    monkeypatch.setitem(sys.modules, ref.MODEL_PACKAGE, None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match="run the set-up cell"):
        ref.model_folder()


def test_the_model_is_smollm2_135m_as_the_chapters_describe_it():
    model, tokenizer = ref.load_model()
    config = model.config
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (30, 576, 1536)
    assert (config.num_attention_heads, config.num_key_value_heads) == (9, 3)
    linears = ref.decoder_linears(model)
    assert len(linears) == 210
    assert linears["model.layers.0.self_attn.v_proj"].weight.shape == (192, 576)  # grouped-query attention
    assert all(linear.in_features % ref.GROUP_SIZE == 0 for linear in linears.values())
    assert next(model.parameters()).dtype == torch.float32
    ids = ref.token_ids(tokenizer, ["The function returns a list.", "It raises ValueError."])
    assert ids.dim() == 1 and len(ids) > 8


# load_model's cache of the dequantized model

def tiny_tokenizer():
    from tokenizers import Tokenizer, models  # noqa: PLC0415 - only these tests need it
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    vocabulary = {"[UNK]": 0, "weights": 1, "scales": 2}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocabulary, "[UNK]")))


def test_the_cache_keeps_the_model_and_its_tokenizer_whole(tmp_path):
    model, tokenizer = tiny_llama(), tiny_tokenizer()
    cached = tmp_path / "cache" / "tiny"
    ref.keep_dequantized(model, tokenizer, cached)
    assert [p.name for p in cached.parent.iterdir()] == ["tiny"], "no staging folder is left behind"
    again = LlamaForCausalLM.from_pretrained(cached, dtype=torch.float32)
    assert again.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(again.state_dict()[k], w) for k, w in model.state_dict().items())
    ids = torch.randint(0, 100, (1, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(again(ids).logits, model(ids).logits)


def test_a_cache_that_exists_or_cannot_be_written_is_left_as_it_is(tmp_path):
    model, tokenizer = tiny_llama(), tiny_tokenizer()
    cached = tmp_path / "tiny"
    cached.mkdir()
    (cached / "model.safetensors").write_text("another notebook's copy")
    ref.keep_dequantized(model, tokenizer, cached)  # that notebook renamed its copy first
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]
    assert (cached / "model.safetensors").read_text() == "another notebook's copy"
    (tmp_path / "a file").write_text("")
    ref.keep_dequantized(model, tokenizer, tmp_path / "a file" / "tiny")  # no folder can be made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a file", "tiny"]


def test_the_cached_model_is_the_gguf_files_model_bit_for_bit():
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    folder = ref.model_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=ref.MODEL_FILE)
    direct = AutoModelForCausalLM.from_pretrained(folder, gguf_file=ref.MODEL_FILE, dtype=torch.float32)
    model, cached_tokenizer = ref.load_model()  # from the cache, made now or before
    assert (ref.cache_folder(folder) / "model.safetensors").is_file()
    state = model.state_dict()
    assert state.keys() == direct.state_dict().keys()
    assert all(torch.equal(state[k].cpu(), w) for k, w in direct.state_dict().items())
    assert model.lm_head.weight is model.model.embed_tokens.weight, "the output head stays tied"
    sentences = ["Quantize the weights to INT3, in groups of 64.", "It rained all day; we stayed in."]
    assert torch.equal(ref.token_ids(cached_tokenizer, sentences), ref.token_ids(tokenizer, sentences))


def test_a_demonstration_stops_in_one_line_at_an_unwritten_exercise(tmp_path, monkeypatch):
    (tmp_path / "student_code.py").write_text(
        "def written(x):\n    return x\n\n\ndef stub(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import student_code

    ref.needs(student_code.written, len)  # written, and a function without Python source: no stop
    with pytest.raises(ref.ExerciseMissing, match="this cell uses stub: write it first") as stopped:
        ref.needs(student_code.written, student_code.stub)
    assert stopped.value._render_traceback_() == [f"Stopped: {stopped.value}"]  # IPython shows one line
