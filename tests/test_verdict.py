"""The grader's verdict without nbgrader: the cases, the plain data that crosses from the kernel,
and the judgement (``verdict.py``, ``probe.py``, ``plain.py``, ``checks.judge``)."""

import copy

import pytest
import torch

from autograder import checks, verdict
from autograder.course import chapters
from autograder.plain import Module, Opaque, pack, roundtrip, unpack
from autograder.probe import answering_from, call_once
from autograder.reference import load_reference


def record_of(function, check, namespace=None):
    """What ``probe.run`` would write for one check, as the grader reads it back."""
    return roundtrip([{"calls": [call_once(function, call, namespace or {}) for call in check.calls]}])


@pytest.mark.parametrize("chapter", chapters())
def test_every_test_cell_has_cases_and_the_reference_passes_them(chapter):
    reference = load_reference(chapter)
    found = verdict.cases(chapter)
    assert found, chapter
    for gid, check_list in found.items():
        assert check_list and all(check.calls for check in check_list), gid
        namespace = vars(reference)
        for check in check_list:
            passed, lines = checks.judge([check], record_of(getattr(reference, check.name), check, namespace))
            assert passed, (gid, lines)


def test_a_blank_answer_and_a_forged_record_fail():
    check = verdict.cases("ch01_minmax")["test_dequantize"][0]

    def blank(*args):
        raise NotImplementedError

    passed, lines = checks.judge([check], record_of(blank, check))
    assert not passed and "raised NotImplementedError" in lines[1]
    forged = roundtrip([{"calls": [{"result": 0.0, "raised": ["ValueError"], "after": [], "mutated": {}}] * 3}])
    assert not checks.judge([check], forged)[0]
    assert not checks.judge([check], roundtrip([]))[0]
    assert not checks.judge([check], roundtrip([{"missing": "dequantize"}]))[0]


def test_an_answer_that_changes_its_argument_in_place_fails_even_when_its_result_is_right():
    check = verdict.cases("ch01_minmax")["test_dequantize"][0]

    def in_place(codes, scales, zeros):
        codes -= zeros
        return codes * scales

    passed, lines = checks.judge([check], record_of(in_place, check))
    assert not passed and "changed argument(s) [1] in place" in lines[1]


def test_prints_and_warnings_do_not_count():
    check = verdict.cases("ch01_minmax")["test_dequantize"][0]
    reference = load_reference("ch01_minmax").dequantize

    def chatty(codes, scales, zeros):
        import warnings  # noqa: PLC0415

        print("working")
        warnings.warn("a warning", UserWarning, stacklevel=1)
        return reference(codes, scales, zeros)

    assert checks.judge([check], record_of(chatty, check))[0]


def test_plain_data_keeps_exact_values_of_every_dtype_and_nothing_else():
    class Agreeable(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return super().__torch_function__(func, types, args, kwargs or {})

    values = {"float": torch.randn(3, 5).T, "half": torch.randn(4).half(), "bfloat16": torch.randn(4).bfloat16(),
              "bool": torch.tensor([True, False]), "codes": torch.arange(6, dtype=torch.uint8).reshape(2, 3),
              "empty": torch.empty(0, 4), "subclass": torch.ones(3).as_subclass(Agreeable),
              "numbers": [1, 2.5, None, True, "text"], "object": object(), "module": torch.nn.Linear(2, 3)}
    back = roundtrip(values)
    for name in ("float", "half", "bfloat16", "bool", "codes", "empty"):
        assert back[name].dtype == values[name].dtype and torch.equal(back[name], values[name]), name
    assert type(back["subclass"]) is torch.Tensor and torch.equal(back["subclass"], torch.ones(3))
    assert back["numbers"] == [1, 2.5, None, True, "text"]
    assert back["object"] == Opaque("object")
    assert isinstance(back["module"], Module) and set(back["module"].state) == {"weight", "bias"}


@pytest.mark.parametrize("damage", ["truncated", "extended", "bad dtype"])
def test_a_damaged_record_is_refused(damage):
    data = pack([torch.ones(4)])
    if damage == "truncated":
        data = data[:-3]
    elif damage == "extended":
        data += b"\0" * 16
    else:
        data = data.replace(b'"float32"', b'"object_"')
    with pytest.raises((ValueError, KeyError)):
        unpack(data)


def test_a_helper_answers_with_the_reference_for_the_calls_the_reference_makes():
    """``use_reference`` under the grader: the student's helper is not called for a known call."""
    found = verdict.cases("ch01_minmax")["test_pseudo_quantize"][0]
    call = found.calls[0]
    reference = load_reference("ch01_minmax")

    def wrong_quant_params(w, n_bit=4, zero_point=True):
        return torch.ones(w.shape[0], 1), torch.zeros(w.shape[0], 1)

    assert call["tables"]["quant_params"]["answers"], "the reference's calls are in the table"

    namespace = {"torch": torch, "quant_params": wrong_quant_params, "quantize": reference.quantize,
                 "dequantize": reference.dequantize}
    helper = answering_from(call["tables"]["quant_params"], "quant_params", wrong_quant_params)
    groups = call["args"][0].reshape(-1, call["args"][3]) if call["args"][3] > 0 else call["args"][0]
    assert torch.equal(helper(groups, call["args"][1], call["args"][2])[0],
                       reference.quant_params(groups, call["args"][1], call["args"][2])[0])
    assert torch.equal(helper(torch.ones(2, 4), 3)[0], torch.ones(2, 1))  # an unknown call: the student's own
    # the student's pseudo_quantize, written like the reference's, gets full marks despite its helper
    student = load_reference("ch01_minmax").pseudo_quantize
    function = type(student)(student.__code__, namespace, student.__name__, student.__defaults__)
    assert checks.judge([found], record_of(function, found, namespace))[0]


def test_a_helper_that_changes_modules_in_place_answers_with_their_new_state():
    """``awq_block`` is graded with the reference's ``fold_norm`` and ``fold_linear``, which change
    modules in place: their table holds the modules' new states, and a stand-in sets them."""
    found = verdict.cases("ch03_scales")["test_awq_block"][0]
    call = found.calls[0]
    table = call["tables"]["fold_norm"]
    assert table["answers"], "the reference's folds are in the table"
    reference = load_reference("ch03_scales")

    def no_fold(norm, linears, s):
        pass

    block = copy.deepcopy(call["args"][0])
    expected = copy.deepcopy(block)
    student = answering_from(table, "fold_norm", no_fold)
    for previous, names, s in reference.awq_block(expected, *copy.deepcopy(call["args"][1:]))[:1]:
        linears = [block.get_submodule(name) for name in names]
        student(block.get_submodule(previous), linears, s)
    assert torch.equal(block.input_layernorm.weight, expected.input_layernorm.weight)
    # q_proj is folded and never clipped, so it ends as the reference left it
    assert torch.equal(block.self_attn.q_proj.weight, expected.self_attn.q_proj.weight)
