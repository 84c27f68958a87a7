"""Generic coverage of the hidden tests (``autograder/coverage.py``), and the answers of
``tests/answers`` judged in-process against the chapters' cases.

Each check of ``coverage`` is tried on a small function whose docstring makes one promise: the
cases that leave the promise untried give a problem, the cases that try it give none. Then every
chapter whose hidden tests were made to pass the checks is held to them, and its wrong answers
lose exactly their cells' points when judged here, in the grader's process, as ``verdict`` would
judge their records (seconds instead of the minutes of ``tests/test_autograde.py``'s round trip).
"""

import contextlib
import importlib
import inspect
import io
import json

import pytest
import torch

from autograder import checks, coverage, verdict
from autograder.course import cell_source, is_reference_cell, is_solution_cell, source_path
from autograder.plain import roundtrip
from autograder.probe import call_once

HELD = ("ch01_minmax", "ch02_salient", "ch03_scales", "ch04_gptq")
# judged here in process, in about a minute (tests/test_autograde.py grades every chapter's answers
# with the real nbgrader; Chapters 3 and 4 would take minutes more in process)
IN_PROCESS = ("ch01_minmax", "ch02_salient")  # chapters whose hidden tests pass every generic check


def found_for(function, *calls_lists, **options):
    """``{grade id: [Check]}`` with one check of ``function`` per list of calls."""
    return {f"test_{index}": [checks.reference_check(function.__name__, function, calls, **options)]
            for index, calls in enumerate(calls_lists)}


def problems_of(function, *calls_lists, **options):
    found = found_for(function, *calls_lists, **options)
    name = function.__name__
    return coverage.problems("chXX", found, {name: inspect.signature(function)}, {name: function})


# --- documented exceptions ------------------------------------------------------------------------

def halve(w, group_size=2):
    """Half of ``w``.

    Raises:
        ValueError: if ``group_size`` does not divide ``len(w)``, or ``w`` has NaN values.
        KeyError: never, but documented.
    """
    if len(w) % group_size or torch.isnan(w).any():
        raise ValueError("bad")
    return w / 2


def test_every_documented_exception_and_condition_needs_raising_cases():
    assert coverage.documented_raises(inspect.getdoc(halve)) == {"ValueError": 2, "KeyError": 1}
    ok = ("ok", (torch.ones(4),))
    odd = ("odd", (torch.ones(3),))
    nan = ("nan", (torch.tensor([float("nan"), 1.0]),))
    lines = problems_of(halve, [ok])
    assert any("ValueError (2 condition(s))" in line and "in 0 case" in line for line in lines)
    assert any("KeyError" in line for line in lines)
    assert any("ValueError" in line and "in 1 case" in line for line in problems_of(halve, [ok, odd]))
    assert not any("ValueError" in line for line in problems_of(halve, [ok, odd, nan]))


def test_numpy_sections_and_sentences_are_read_and_or_between_words_is_one_condition():
    numpy_style = "Do it.\n\nRaises\n------\nKeyError\n    when the key is missing, or the table is empty.\n"
    assert coverage.documented_raises(numpy_style) == {"KeyError": 2}
    assert coverage.documented_raises("Returns x. Raises ValueError when no loss is finite.") == {"ValueError": 1}
    assert coverage.documented_raises("Raises:\n    ValueError: if ``w`` has NaN or infinite values.") == \
        {"ValueError": 1}
    assert coverage.documented_raises("Every hook is removed, also when the forward pass raises.") == {}


# --- restored even when it raises -------------------------------------------------------------------

def run_twice(model, ids):
    """Run ``model``; its hooks are all removed, also when the forward pass raises."""
    handle = model.register_forward_hook(lambda *args: None)
    try:
        return model(ids)
    finally:
        handle.remove()


def test_a_promise_to_restore_on_an_error_needs_a_forward_pass_that_raises_inside():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    failing = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    failing[1].register_forward_hook(checks.fail_forward)
    x = torch.randn(2, 3)
    assert coverage.restore_promises(inspect.getdoc(run_twice))
    plain_case = ("runs", (model, x))
    bad_input = ("a bad input", (model, torch.randn(2, 4)))  # raises before any hook could matter
    assert problems_of(run_twice, [plain_case, bad_input])
    assert problems_of(run_twice, [plain_case], [("raises inside", (failing, x))], check_arguments=False)
    assert not problems_of(run_twice, [plain_case, ("raises inside", (failing, x))])


# --- dtypes -----------------------------------------------------------------------------------------

def keep_dtype(w, codes):
    """``w`` plus the integer ``codes``, in float32, as a tensor of the dtype of ``w``; a LongTensor
    is never returned."""
    return (w.float() + codes).to(w.dtype)


def test_named_dtypes_conversions_integers_and_the_dtype_of_an_argument_need_cases():
    w, codes = torch.randn(2, 4), torch.ones(2, 4)
    lines = problems_of(keep_dtype, [("float32", (w, codes))], check_dtype=True)
    assert any("names torch.int64" in line for line in lines)
    assert any("compute in float32" in line for line in lines)
    assert any("integer dtype" in line for line in lines)
    assert any("torch.bfloat16, torch.float16" in line for line in lines)
    every = [(str(d), (w.to(d), codes.long())) for d in (torch.float32, torch.float16, torch.bfloat16)]
    assert not problems_of(keep_dtype, every, check_dtype=True)
    assert any("check_dtype=True" in line for line in problems_of(keep_dtype, every))


# --- boundaries -------------------------------------------------------------------------------------

def top(stat, fraction, group_size=1):
    """The ``k = max(1, round(fraction * len(stat)))`` largest; with ``group_size <= 0`` nothing else."""
    return torch.argsort(stat, descending=True)[: max(1, round(fraction * len(stat)))]


def test_a_compared_parameter_needs_cases_at_and_on_each_side_of_its_number():
    stat = torch.arange(10.0)
    lines = problems_of(top, [("", (stat, 0.3, 1))])
    assert any("group_size a value equal to 0" in line for line in lines)
    assert any("group_size a value below 0" in line for line in lines)
    sides = [(f"group {g}", (stat, 0.3, g)) for g in (-1, 0, 2)]
    assert not any("group_size" in line for line in problems_of(top, sides))


def test_max_one_of_a_rounded_expression_needs_the_clamp_and_every_rounding_told_apart():
    def rounding_lines(fractions_and_sizes):
        calls = [(f"{n} {f}", (torch.arange(float(n)), f, 0)) for f, n in fractions_and_sizes]
        calls += [("", (torch.arange(4.0), 0.5, g)) for g in (-1, 1)]
        return problems_of(top, calls, tolerance=(0, 0, 0))

    lines = rounding_lines([(0.3, 10)])
    assert any("below 1 and one at least 1" in line for line in lines)
    assert any("rounding half up" in line for line in lines)
    covered = [(0.01, 10), (0.25, 10), (0.25, 14), (0.26, 10), (0.33, 10), (0.04, 100)]
    assert not rounding_lines(covered)
    assert any("rounding half down" in line for line in rounding_lines([p for p in covered if p != (0.25, 14)]))


def test_integer_results_must_be_compared_exactly():
    def indices(stat):
        return torch.argsort(stat)

    calls = [("", (torch.randn(8),))]
    assert any("tolerance=(0, 0, 0)" in line for line in problems_of(indices, calls))
    assert not problems_of(indices, calls, tolerance=(0, 0, 0))


def test_a_recording_model_counts_its_forward_passes_by_batch_size_and_is_compared_after_the_call():
    def in_batches(model, x, batch_size=2):
        return torch.cat([model(part) for part in torch.split(x, batch_size)])

    torch.manual_seed(0)
    model = coverage.record_batches(torch.nn.Linear(3, 2), most=4)
    x = torch.randn(5, 3)
    with torch.no_grad():
        in_batches(model, x, 2)
        model(input=x[:1])  # passed by keyword: counted too
    assert model.batch_sizes.tolist() == [0, 2, 2, 0, 0]  # 2, 2, 1 rows, then 1 by keyword
    check = checks.reference_check("in_batches", in_batches, [("", (model, x, 2))], mutated=(0,))

    def one_pass(model, x, batch_size=2):
        return model(x)

    records = {f.__name__: roundtrip([{"calls": [call_once(f, call, {}) for call in check.calls]}])
               for f in (in_batches, one_pass)}
    assert checks.judge([check], records["in_batches"])[0]
    assert not checks.judge([check], records["one_pass"])[0]


def test_by_hand_lists_what_the_generic_checks_cannot_read():
    def search(losses):
        """The first index of the smallest loss (the first on a tie)."""
        return min(range(len(losses)), key=losses.__getitem__)

    assert coverage.by_hand({"search": search}) == {"search": ["a case with an exact tie"]}


# --- the chapters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("chapter", HELD)
def test_the_chapters_hidden_tests_pass_every_generic_check(chapter):
    """``verdict.cases`` raises, naming what is untried, when ``coverage.problems`` finds anything."""
    assert verdict.cases(chapter)


def namespace_with(chapter, answers):
    """The names a student notebook defines before its tests run: the instructor notebook's
    reference cells, with ``answers`` (``{grade id: code}``) in place of their exercises."""
    namespace = {"__name__": f"answers_{chapter}"}
    cells = json.loads(source_path(chapter).read_text())["cells"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for cell in cells:
            if is_reference_cell(cell):
                gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
                source = answers.get(gid, cell_source(cell)) if is_solution_cell(cell) else cell_source(cell)
                exec(compile(source, f"{chapter} {gid}", "exec"), namespace)  # noqa: S102
    return namespace


def lost_cells(chapter, answers, every_cell=False):
    """The test cells whose hidden cases ``answers`` fail, judged as the grader judges a record:
    the cells that test a function ``answers`` defines, or with ``every_cell`` all of them (the
    others run the reference's functions; ``tests/test_autograde.py`` grades every cell)."""
    namespace = namespace_with(chapter, answers)
    lost = set()
    for gid, check_list in verdict.cases(chapter).items():
        if not every_cell and not {check.name for check in check_list} & set(answers):
            continue
        record = roundtrip([{"calls": [call_once(namespace[check.name], call, namespace) for call in check.calls]}
                            for check in check_list])
        if not checks.judge(check_list, record)[0]:
            lost.add(gid)
    return lost


def answer_sets(chapter):
    module = importlib.import_module(f"tests.answers.{chapter}")
    return [(chapter, key, code, failing) for key, (code, failing) in module.WRONG.items()] + \
        [(chapter, "alternative", module.ALTERNATIVE, set())] + \
        [(chapter, f"alternative {key}", code, set()) for key, code in getattr(module, "ALTERNATIVES", {}).items()]


@pytest.mark.parametrize(("chapter", "key", "code", "failing"),
                         [entry for chapter in IN_PROCESS for entry in answer_sets(chapter)],
                         ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "")
def test_each_answer_loses_exactly_the_points_of_what_it_breaks_in_process(chapter, key, code, failing):
    assert lost_cells(chapter, code) == failing, key
