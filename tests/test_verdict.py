"""The grader's verdict without nbgrader: the cases, the plain data that crosses from the kernel,
and the judgement (``verdict.py``, ``probe.py``, ``plain.py``, ``checks.judge``)."""

import contextlib
import copy
import io
import json
import os
import struct
import tracemalloc

import nbformat
import pytest
import torch
import zmq
from nbclient.exceptions import CellExecutionComplete

from autograder import checks, plain, verdict
from autograder.course import chapters
from autograder.plain import Module, Opaque, digest, pack, roundtrip, unpack
from autograder.probe import answering_from, call_once, seal, unseal
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


# --- helper tables: usable only by the call with the reference's exact arguments ----------------

def from_the_kernel(check_list):
    """The cases of a cell as the kernel reads them: the file the grader writes, loaded back."""
    return torch.load(io.BytesIO(verdict.shipped(check_list)), weights_only=False)


def kernel_record(function, check_list, namespace, name=None):
    """What ``probe.run`` would write for ``function`` on the shipped cases of a cell, read back."""
    return roundtrip([{"calls": [call_once(function, call, namespace) for call in shipped["calls"]]}
                      if shipped["name"] == (name or shipped["name"]) else {"missing": shipped["name"]}
                      for shipped in from_the_kernel(check_list)])


def tensor_bytes(value):
    return value.contiguous().view(torch.uint8).numpy().tobytes()


def test_the_helper_tables_hold_no_answer_a_function_could_read():
    """Chapter 1's ``pseudo_quantize`` is graded with the reference's helpers, which answer from a
    table in the cases file. A ``pseudo_quantize`` that reads its ``dequantize`` stand-in's last
    entry (what got 4 points when the tables were plain) or tries to decode any entry gets nothing:
    the file holds no expected result, and every entry is sealed by its call's arguments."""
    check_list = verdict.cases("ch01_minmax")["test_pseudo_quantize"]
    data = verdict.shipped(check_list)
    check = check_list[0]
    for expected in check.expected[:12]:
        assert tensor_bytes(expected["result"]) not in data, "an expected result is in the file the kernel reads"
    shipped = from_the_kernel(check_list)

    def candidates(entry, like):
        if isinstance(entry, tuple) and entry and isinstance(entry[0], torch.Tensor):  # a plain table
            yield entry[0]
        for blob in (e for e in (entry if isinstance(entry, tuple) else (entry,)) if isinstance(e, bytes)):
            with contextlib.suppress(Exception):
                yield torch.load(io.BytesIO(blob), weights_only=False)[0]
            size = like.numel() * like.element_size()
            if len(blob) >= size:
                yield torch.frombuffer(bytearray(blob[-size:]), dtype=like.dtype)

    def reader(w, n_bit=4, zero_point=True, group_size=128):
        """Finds its own case in the cases file and returns what its tables hold."""
        own = next(call for call in shipped[0]["calls"]
                   if digest(call["args"]) == digest([w, n_bit, zero_point, group_size]))
        for entry in reversed(own["tables"]["dequantize"]["answers"].values()):
            for found in candidates(entry, w):
                with contextlib.suppress(Exception):
                    return found.reshape(w.shape).to(w.dtype)
        return w

    outcomes = kernel_record(reader, check_list, {})[0]["calls"]
    for call, expected, actual in zip(check.calls, check.expected, outcomes, strict=True):
        if not torch.equal(expected["result"], call["args"][0]):  # returning w itself is not right
            assert checks.case_problem(check, call, expected, actual), call["label"]


def test_a_sealed_answer_opens_only_with_its_exact_arguments_and_tables_keep_no_call_order():
    salt, other_salt = os.urandom(16), os.urandom(16)
    w = torch.randn(4, 8)
    answer = (torch.randn(4, 8), {})
    key = digest((w, 4, True))
    index, entry = seal(salt, "dequantize", key, answer)
    table = {"salt": salt, "answers": {index: entry}}
    assert torch.equal(unseal(table, "dequantize", key)[0], answer[0])
    near = w.clone()
    near[0, 0] = torch.nextafter(near[0, 0], torch.tensor(1.0))
    for other in ((near, 4, True), (w, 3, True), (w.double(), 4, True), (torch.zeros(4, 8), 4, True)):
        assert unseal(table, "dequantize", digest(other)) is None
    assert unseal(table, "quantize", key) is None, "an answer of one helper is not another's"
    assert seal(other_salt, "dequantize", key, answer)[0] != index, "the index depends on the run's salt"
    assert tensor_bytes(answer[0]) not in entry[1]
    for check_list in verdict.cases("ch01_minmax").values():
        for check in check_list:
            for call in check.calls:
                for table in call["tables"].values():
                    assert list(table["answers"]) == sorted(table["answers"]), "entries in the order of their index"


def test_a_function_graded_on_its_own_passes_with_the_sealed_helpers_alone():
    """The honest path: the reference ``pseudo_quantize`` with no ``quant_params``, ``quantize``
    or ``dequantize`` of its own passes every case (visible ones included) from the shipped file."""
    reference = load_reference("ch01_minmax")
    namespace = {k: v for k, v in vars(reference).items() if k not in ("quant_params", "quantize", "dequantize")}
    student = reference.pseudo_quantize
    function = type(student)(student.__code__, namespace, student.__name__, student.__defaults__)
    for gid in ("test_pseudo_quantize", "test_pseudo_quantize_errors"):
        check_list = verdict.cases("ch01_minmax")[gid]
        passed, lines = checks.judge(check_list, kernel_record(function, check_list, namespace))
        assert passed, lines


# --- the visible tests are graded cases ----------------------------------------------------------

def test_a_wrong_answer_on_a_visible_example_only_loses_the_cell():
    """``quant_params`` right on every hidden case but wrong on the symmetric example worked by
    hand in the visible tests: the student sees that assert fail, and the cell gives no points."""
    check_list = verdict.cases("ch01_minmax")["test_quant_params_symmetric"]
    reference = load_reference("ch01_minmax").quant_params
    example = torch.tensor([[-2.0, -0.75, 0.25, 1.0]])

    def special_cased(w, n_bit=4, zero_point=True):
        scales, zeros = reference(w, n_bit, zero_point)
        if w.shape == example.shape and torch.equal(w, example):
            return scales * 2, zeros
        return scales, zeros

    visible = [check for check in check_list if check.calls[0]["label"].startswith("a call of the visible tests")]
    hidden = [check for check in check_list if check not in visible]
    assert visible and hidden
    assert checks.judge(hidden, kernel_record(special_cased, hidden, {}))[0], "right on every hidden case"
    passed, lines = checks.judge(check_list, kernel_record(special_cased, check_list, {}))
    assert not passed and "visible tests" in lines[1], lines


def test_a_visible_device_check_is_a_graded_case_that_survives_the_trip_to_the_kernel():
    """``check_devices`` in Chapter 2's ``quantize_keeping`` test calls the function with PyTorch's
    default device set to ``meta``: that call is a case run under the same default device in the
    kernel, so an answer that makes a tensor without ``device=`` loses the cell."""
    check_list = verdict.cases("ch02_salient")["test_quantize_keeping"]
    meta = [call for check in check_list for call in check.calls if call.get("device") == "meta"]
    assert meta and all(call["label"].startswith("a call of the visible tests") for call in meta)
    reference = load_reference("ch02_salient")
    namespace = vars(reference)

    def without_device(w, keep, n_bit=4, group_size=128):
        out = reference.quantize_keeping(w, keep, n_bit, group_size)
        return out + torch.zeros(w.shape[1], dtype=w.dtype)  # lands on the default device

    assert checks.judge(check_list, kernel_record(reference.quantize_keeping, check_list, namespace))[0]
    passed, lines = checks.judge(check_list, kernel_record(without_device, check_list, namespace))
    assert not passed and lines[0].startswith(f"Hidden tests failed: {len(meta)} of"), lines
    assert all("'meta'" in line for line in lines[1:]), lines


def test_the_visible_calls_are_taken_from_visible_lines_once_each():
    source = "x = f(1)\n### BEGIN HIDDEN TESTS\ny = f(2)\ncompare('c', 'f', f, [])\n### END HIDDEN TESTS\nz = f(1)\n"
    assert verdict.visible_lines(source) == {1, 6}
    assert verdict.compared_names(source) == ["f"]
    namespace = {"f": lambda v: v * 2, "compare": lambda *a: None}
    recorder = verdict.Recorder(namespace, ["f"], "cell", verdict.visible_lines(source))
    with recorder:
        exec(compile(source, "cell", "exec"), namespace)  # noqa: S102
    assert [(name, args) for name, args, _, _ in recorder.calls] == [("f", [1]), ("f", [1])]
    assert namespace["z"] == 2 and not verdict.RECORDING.get(namespace["f"])


# --- records and outputs within bounds -----------------------------------------------------------

def test_a_record_larger_than_its_cases_need_is_refused_unread(tmp_path):
    check_list = verdict.cases("ch01_minmax")["test_dequantize"]
    size_limit, header_limit = verdict.record_limits(check_list)
    assert size_limit < 64 * 2**20
    path = tmp_path / "test_dequantize.record"
    with path.open("wb") as handle:
        handle.truncate(300 * 2**20)  # 300 MiB (sparse on disk)
    tracemalloc.start()
    try:
        with pytest.raises(verdict.RecordTooLarge):
            verdict.read_record(path, (size_limit, header_limit))
        assert tracemalloc.get_traced_memory()[1] < 2**20
    finally:
        tracemalloc.stop()

    def writes_a_huge_record(cell):
        path.write_bytes(b"")
        with path.open("wb") as handle:
            handle.truncate(300 * 2**20)
        return cell

    cell = nbformat.v4.new_code_cell("pass")
    decided = verdict.decide(cell, "test_dequantize", check_list, str(tmp_path), writes_a_huge_record)
    assert decided.outputs[0]["output_type"] == "error" and "more than" in decided.outputs[0]["evalue"]


def header_only(value, sizes=(), blobs=b""):
    text = json.dumps({"value": value, "sizes": list(sizes)}).encode()
    return struct.pack("<Q", len(text)) + text + blobs


@pytest.mark.parametrize("damage", ["header over its limit", "a tensor's bytes used twice", "too many values",
                                    "a long string", "a negative size"])
def test_a_record_is_parsed_within_limits(damage, monkeypatch):
    data, limit = pack([torch.ones(4), "text"]), None
    assert unpack(data, 1000)[1] == "text"
    if damage == "header over its limit":
        limit = 10
    elif damage == "a tensor's bytes used twice":  # each use would be a copy: a small record, a large parse
        one = {"tensor": 0, "dtype": "float32", "shape": [4]}
        data = header_only({"list": [one, one]}, [16], bytes(16))
    elif damage == "too many values":
        monkeypatch.setattr(plain, "RECORD_NODES", 10)
        data = pack([0] * 10)
    elif damage == "a long string":
        data = header_only({"value": "x" * (plain.STRING_LIMIT + 1)})
    else:
        data = header_only({"tensor": 0, "dtype": "float32", "shape": [-1, 0]}, [0])
    with pytest.raises(ValueError):
        unpack(data, limit)


def test_the_worker_keeps_a_bounded_share_of_what_a_notebook_prints():
    """nbclient collects every output message in memory as it arrives; the grader's executor
    keeps 4 MB a cell and 32 MB a notebook, and its kernel clients refuse any message over 64 MB."""
    executor = verdict.TrustedExecute()
    executor.reset_execution_trackers()  # as nbclient does before a notebook runs, and before a cell:
    executor.clear_before_next_output = False
    assert executor.kernel_manager_class is verdict.LimitedKernelManager
    client = verdict.LimitedKernelManager().client()
    socket = client.context.socket(zmq.SUB)
    try:
        assert socket.getsockopt(zmq.MAXMSGSIZE) == verdict.MESSAGE_LIMIT
    finally:
        socket.close()
        del client  # its context goes with it, now rather than at exit
    line = "y" * 2**20

    def printed(cell, index, times):
        for _ in range(times):
            executor.process_message({"msg_type": "stream", "parent_header": {"msg_id": "m"},
                                      "header": {"msg_type": "stream"},
                                      "content": {"name": "stdout", "text": line}}, cell, index)

    cells = [nbformat.v4.new_code_cell("print") for _ in range(40)]
    printed(cells[0], 0, 100)  # 100 MB in one cell
    kept = sum(len(o.get("text", "")) for o in cells[0].outputs)
    assert verdict.OUTPUT_CELL_LIMIT - len(line) <= kept <= verdict.OUTPUT_CELL_LIMIT + 1000
    assert "output cut by the grader" in cells[0].outputs[-1]["text"]
    for index, cell in enumerate(cells[1:], 1):
        printed(cell, index, 3)
    total = sum(len(o.get("text", "")) for cell in cells for o in cell.outputs)
    assert total <= verdict.OUTPUT_NOTEBOOK_LIMIT + 40 * 1000
    cells[-1].metadata["execution"] = {}
    with pytest.raises(CellExecutionComplete):  # the end of a cell is seen whatever was spent
        executor.process_message({"msg_type": "status", "parent_header": {"msg_id": "m"}, "header": {"msg_type": "status"},
                                  "content": {"execution_state": "idle"}}, cells[-1], 39)
