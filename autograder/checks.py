"""Helpers for the hidden tests: seeded test inputs, tolerant comparison, and isolation.

Hidden tests compare a student's function with the reference on the same inputs. Three rules
make the grade fair:

* **Tolerance, as tight as the arithmetic allows.** Values must agree to ``rtol``/``atol`` chosen by
  the dtype the function computes in (``TOLERANCE``); in addition a small share of entries (the last
  number of ``TOLERANCE``) may differ, because a round-half-to-even tie can fall the other way when a
  correct formula is written differently (``w * (1 / s)`` instead of ``w / s``). A flipped tie moves
  a value one step of its quantization grid, so a forgiven entry may be off by at most ``STEPS``
  steps of the grid its expected value lies on (``grid_step``: read from the expected values
  around it); anything farther fails, however few entries. A real bug (floor for round, a wrong
  range, zeroed entries) changes far more entries than that, or changes some by far more. A test
  that sets the share itself (``share=`` or ``tolerance=``) declares a sequential algorithm: GPTQ
  carries a flipped tie along its row through ``U[i, j] / U[i, i]``, which can move later weights
  several steps (3 seen between two thread counts), so there a forgiven entry must only stay within
  the span of its expected row (``row_span``): on its grid, never outside it. Integer results (indices, codes, packed bytes) have no
  rounding error of their own: no ``rtol``/``atol``, and no share either when the arguments are
  integers too.
* **Numbers by value.** A number compares by its value whatever its numeric type: a Python
  ``int`` or ``float``, a numpy scalar or 0-d array (``plain`` turns those into Python numbers), or
  a 0-d tensor. A ``bool`` is not a number: ``True`` is not ``1.0`` (a function that should
  return a count or a ratio and returns a truth value is wrong), and a number is not a ``bool``.
  NaN and infinities are values too: NaN only matches NaN, an infinity only the same infinity, and
  neither ever matches a finite expectation (no reference of the course returns either: a
  function that does where the reference's result is finite fails).
* **Isolation.** ``use_reference`` makes the functions a graded function may call the reference's
  for the rest of one test cell (visible tests included), so a bug loses points on the function
  that has it and only there.
* **Clear messages.** A failure names the case and the argument values, never the expected code.
* **Whole behaviour.** Each case checks the result (or that the function raises what the reference
  raises), the arguments the function may change (``mutated``), and that it leaves the others as
  they were; prints and warnings never count.

The same ``Check`` is judged in two places: inside the kernel by ``compare`` under plain
``nbgrader autograde`` (the tests run in the student's process, as nbgrader designs them), and in
the grader's own process by ``verdict.py`` under ``python -m autograder grade``, from plain data.
"""

import contextlib
import copy
import math
import numbers
from dataclasses import dataclass, field

import numpy
import torch

from autograder.plain import Module, Opaque, digest, roundtrip

# Set by ``verdict.cases`` while it runs the instructor notebook in the grader's own process: there
# ``compare`` and ``use_reference`` collect the hidden tests' calls instead of running them.
COLLECTOR = None
FLOAT_RTOL = 1e-5  # Python floats are results of float32 arithmetic: equivalent formulas differ by ~1e-7
FLOAT_ATOL = 1e-12  # what a float expected to be 0 may be off by (a loss of 0, an error of w_q = w)

TOLERANCE = {  # dtype: (rtol, atol as a share of the largest |expected|, share of entries allowed to differ)
    torch.float64: (1e-6, 1e-9, 0.002),
    torch.float32: (1e-5, 1e-6, 0.002),
    # Half precision: a correct answer that computes in float32 may put a zero point or a code one
    # step from the reference's float16 result, on many more entries than in float32 (ties are
    # frequent on an 11-bit mantissa); each such entry is still bounded by ``STEPS`` grid steps.
    torch.float16: (1e-2, 1e-3, 0.1),
    torch.bfloat16: (2e-2, 1e-2, 0.1),
}
EXACT = (0.0, 0.0, 0.0)  # integer results of integer arguments (packed bytes): no rounding anywhere
STEPS = 2  # a forgiven entry may be off by this many steps of its grid (a flipped tie is one)
STEP_CHUNK = 32  # entries of a row read together to find their grid: every group size of the course is a multiple


def fail_forward(module, args, output):
    """A forward hook that fails: for testing what a function leaves behind when a pass raises."""
    raise RuntimeError("a forward pass that fails halfway")


def student_t(rows, cols, df, generator):
    """Seeded Student-t samples (heavy tails like LLM weights): normal / sqrt(chi-square / df)."""
    normal = torch.randn(rows, cols, generator=generator)
    chi2 = torch.randn(df, rows, cols, generator=generator).pow(2).mean(0)
    return normal / chi2.sqrt()


def weight_cases(rows=32, cols=256, seed=0):
    """Named, seeded weight matrices for hidden tests, edge cases included.

    Each edge case covers several groups of 128, so that a bug which shows only on such groups
    changes more entries than the tie allowance of ``assert_matches`` forgives.
    """
    g = torch.Generator().manual_seed(seed)
    gauss = torch.randn(rows, cols, generator=g)
    heavy = student_t(rows, cols, df=3, generator=g) * 0.02
    outlier = gauss.clone()
    outlier[1, 7] = 40.0
    outlier[5, 200] = -25.0
    outlier[20, 130] = 60.0
    constant = gauss.clone()
    constant[2:6, :128] = 0.37
    negative = gauss.clone()
    negative[8:12, 128:] = -negative[8:12, 128:].abs() - 0.5
    positive = gauss.clone()
    positive[12:16, :128] = positive[12:16, :128].abs() + 0.25
    return {
        "gaussian": gauss,
        "heavy-tailed": heavy,
        "outlier": outlier,
        "constant group": constant,
        "all-negative group": negative,
        "all-positive group": positive,
        "all zeros": torch.zeros(rows, cols),
        "float16": (heavy * 10).half(),
    }


def _as_tensor(value, label):
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except Exception as error:  # noqa: BLE001 - any failure is the student's to read
            raise AssertionError(f"{label}: expected a tensor, got {type(value).__name__}") from error
    return value


def tolerance_of(dtype, expected):
    """``(rtol, atol, share)`` for a result ``expected`` of a function computing in ``dtype`` (the
    dtype of its first tensor argument, or None). Integer results have no rounding error: they
    are exact, and a share of them may differ only if they come from float arithmetic (codes
    whose ties flip); with integer arguments too (``pack_int4``) nothing may differ."""
    key = dtype or expected.dtype
    rtol, atol, share = TOLERANCE.get(key, TOLERANCE[torch.float32])
    if expected.dtype.is_floating_point or expected.is_complex():
        return rtol, atol, share
    return (0.0, 0.0, share) if key.is_floating_point else EXACT


def as_reals(tensor):
    """``tensor`` as float64 on the CPU; a complex one as its real and imaginary parts."""
    tensor = tensor.detach().cpu()
    return torch.view_as_real(tensor.to(torch.complex128)) if tensor.is_complex() else tensor.double()


def rows_of(expected):
    """``expected`` as a matrix of its rows (its last dimension; a column vector is one row)."""
    width = expected.shape[-1] if expected.dim() and expected.shape[-1] > 1 else expected.numel()
    return expected.reshape(-1, width)


def grid_step(expected):
    """Per entry of ``expected`` (float64): the spacing of the grid its value lies on, read from the
    ``STEP_CHUNK`` entries of its row around it as the median gap between their distinct finite
    values; 0 where there is one value or none.

    Quantized values of one group lie on a grid of step ``scale``, so the gaps between distinct
    values of a chunk inside one group are whole steps and their median is at least one step: a
    flipped tie (one step) is always within ``STEPS`` of them. Outliers do not widen it (a median,
    not the largest gap), and a zeroed or invented entry is many steps away."""
    if expected.numel() < 2:
        return torch.zeros_like(expected)
    rows = rows_of(expected)
    width = rows.shape[1]
    padded = torch.nn.functional.pad(rows, (0, -width % STEP_CHUNK), value=math.nan)
    chunks = padded.reshape(rows.shape[0], -1, STEP_CHUNK)
    chunks = chunks.where(torch.isfinite(chunks), math.nan).sort(dim=-1).values  # NaN last
    gaps = chunks.diff(dim=-1)
    gaps = gaps.where(gaps > 0, math.nan)
    step = gaps.nanmedian(dim=-1).values.nan_to_num(0.0)
    per_entry = step.unsqueeze(-1).expand(chunks.shape).reshape(rows.shape[0], -1)[:, :width]
    return per_entry.reshape(expected.shape)


def row_span(expected):
    """Per entry of ``expected`` (float64): the span (largest minus smallest finite value) of its
    row. A quantization group lies along a row, so a value moved anywhere on its group's grid
    stays within it."""
    if expected.numel() == 0:
        return expected.clone()
    rows = rows_of(expected)
    finite = torch.isfinite(rows)
    span = rows.where(finite, -math.inf).amax(dim=1) - rows.where(finite, math.inf).amin(dim=1)
    span = span.where(finite.any(dim=1), 0.0)
    return span.unsqueeze(1).expand(rows.shape).reshape(expected.shape)


def assert_matches(actual, expected, label, dtype=None, share=None, tolerance=None):
    """Assert ``actual`` equals ``expected`` within the tolerance of ``dtype`` (see module doc).

    ``share`` overrides the share of entries allowed to differ (sequential algorithms such as GPTQ
    carry one flipped tie into the rest of its row); ``tolerance`` = ``(rtol, atol, share)``
    overrides all three. Every entry must lie within ``STEPS`` grid steps of its expected value,
    or, with either override, within the span of its expected row; non-finite values must be where
    the expected result has the same."""
    actual = _as_tensor(actual, label)
    expected = _as_tensor(expected, label)
    if actual.shape != expected.shape:
        raise AssertionError(f"{label}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    if (actual.dtype == torch.bool) != (expected.dtype == torch.bool):
        wanted = "truth values" if expected.dtype == torch.bool else "numbers"
        raise AssertionError(f"{label}: a tensor of {actual.dtype}, expected {wanted}")
    rtol, atol, ties = tolerance or tolerance_of(dtype, expected)
    sequential = share is not None or tolerance is not None
    ties = ties if share is None else share
    if actual.is_complex() or expected.is_complex():
        actual, expected = actual.to(torch.complex128), expected.to(torch.complex128)
    a, e = as_reals(actual), as_reals(expected)
    finite = torch.isfinite(e)
    if not torch.isfinite(a[finite]).all():
        raise AssertionError(f"{label}: the result has NaN or infinite values")
    same = (a == e) | (a.isnan() & e.isnan())
    if not same[~finite].all():
        raise AssertionError(f"{label}: NaN or infinite values differ from the expected result's")
    scale = e[finite].abs().max().item() if finite.any() else 0.0
    allowed = atol * max(scale, 1e-30) + rtol * e.abs()
    difference = torch.where(finite, a - e, 0.0).abs()
    wrong = difference > allowed
    if wrong.any():
        far = difference > allowed + (row_span(e) if sequential else STEPS * grid_step(e))
    else:
        far = wrong
    if far.any():
        raise AssertionError(
            f"{label}: {far.sum().item()} of {far.numel()} values differ from the expected result by more "
            f"than rounding can explain (largest difference {difference.max().item():.3g})"
        )
    share = wrong.double().mean().item() if wrong.numel() else 0.0
    if share > ties:
        raise AssertionError(
            f"{label}: {wrong.sum().item()} of {wrong.numel()} values differ from the expected result "
            f"(largest difference {difference.max().item():.3g})"
        )


def use_reference(namespace, chapter, *names):
    """Until the current notebook cell ends, ``namespace[name]`` is the reference's function.

    Called at the top of a test cell, in a hidden region: the visible tests after it and the
    hidden ones see the reference's helpers, and the student's own come back when the cell ends,
    whether its tests pass or fail (an IPython ``post_run_cell`` callback restores them).
    """
    if COLLECTOR is not None:
        return COLLECTOR.use_reference(namespace, chapter, *names)
    from IPython import get_ipython  # noqa: PLC0415 - only hidden tests, which run in a kernel, need it

    from autograder.reference import load_reference  # noqa: PLC0415

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("use_reference works inside a notebook kernel")
    context = using_reference(namespace, load_reference(chapter), *names)
    context.__enter__()

    def restore(*_):
        shell.events.unregister("post_run_cell", restore)
        context.__exit__(None, None, None)

    shell.events.register("post_run_cell", restore)


@contextlib.contextmanager
def using_reference(namespace, reference, *names):
    """Within the block, ``namespace[name]`` is the reference's function, then restored."""
    saved = {name: namespace[name] for name in names if name in namespace}
    try:
        for name in names:
            namespace[name] = getattr(reference, name)
        yield
    finally:
        for name in names:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)


def compare_result(actual, expected, label, dtype, share=None, tolerance=None):  # noqa: PLR0912 - one branch a kind
    """Raise AssertionError naming ``label`` when ``actual`` is not ``expected``: both are plain
    data (``plain.roundtrip``) so that they compare the same in the kernel and in the grader.
    Numbers compare by value whatever their numeric type, NaN never equals a finite number, and a
    bool is not a number (module doc)."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            raise AssertionError(f"{label}: expected {len(expected)} results, got {shown(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            compare_result(a, e, f"{label}, result {i + 1} of {len(expected)}", dtype, share, tolerance)
    elif isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            raise AssertionError(f"{label}: expected a dict with the keys {sorted(map(str, expected))[:6]}")
        for key in expected:
            compare_result(actual[key], expected[key], f"{label}[{key!r}]", dtype, share, tolerance)
    elif isinstance(expected, Module):
        if not isinstance(actual, Module):
            raise AssertionError(f"{label}: expected a module, got {shown(actual)}")
        if actual.hooks != expected.hooks:
            raise AssertionError(f"{label}: the module has {actual.hooks} forward hooks after the call, "
                                 f"expected {expected.hooks} (remove every hook you register)")
        compare_result(actual.state, expected.state, label, dtype, share, tolerance)
    elif isinstance(expected, torch.Tensor):
        if not isinstance(actual, (torch.Tensor, int, float, list, tuple)):
            raise AssertionError(f"{label}: expected a tensor, got {shown(actual)}")
        assert_matches(actual, expected, label, dtype, share, tolerance)
    elif isinstance(expected, bool):
        if truth(actual) is not expected:
            raise AssertionError(f"{label}: got {shown(actual)}, expected a different value")
    elif isinstance(expected, (int, float)):
        number = as_number(actual)
        if number is None:
            raise AssertionError(f"{label}: got {shown(actual)}, expected a number")
        if numbers_differ(number, expected, tolerance[0] if tolerance else FLOAT_RTOL):
            raise AssertionError(f"{label}: got {shown(actual)}, expected a different value")
    elif type(actual) is not type(expected) or actual != expected:
        raise AssertionError(f"{label}: got {shown(actual)}, expected a different value")


def as_number(value):
    """``value`` as a Python int or float if it is a real number of any numeric type (int, float,
    a numpy scalar or 0-d array, a 0-d tensor), else None. A bool (Python, numpy or a 0-d bool
    tensor) is not a number."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.dtype == torch.bool or value.is_complex():
            return None
        value = value.item()
    elif getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy scalar or 0-d array
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return value


def truth(value):
    """``value`` as a bool if it is a truth value (a bool, a numpy bool, a 0-d bool tensor), else None."""
    if isinstance(value, torch.Tensor):
        return bool(value.item()) if value.dim() == 0 and value.dtype == torch.bool else None
    if isinstance(value, (numpy.bool_, numpy.ndarray)) and value.shape == () and value.dtype == bool:
        return bool(value)
    return value if isinstance(value, bool) else None


def numbers_differ(actual, expected, rtol):
    """Whether the number ``actual`` is not ``expected``: an int exactly, a float to ``rtol`` (and
    ``FLOAT_ATOL`` around 0); NaN only equals NaN, an infinity only itself."""
    try:
        actual = float(actual) if isinstance(expected, float) else actual
    except OverflowError:  # an int beyond any float
        return True
    if isinstance(expected, int):
        return actual != expected
    if math.isnan(expected):
        return not math.isnan(actual)
    if not math.isfinite(expected) or not math.isfinite(actual):
        return actual != expected
    return abs(actual - expected) > rtol * abs(expected) + FLOAT_ATOL


def shown(value):
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}" if value.dim() else f"tensor({value.item()!r:.60})"
    if isinstance(value, (Module, Opaque)):
        return f"a {value.type_name}"
    return f"{value!r:.80}"


@dataclass
class Check:
    """One ``compare`` of a hidden test: the function, its calls and the reference's outcomes."""
    name: str
    calls: list = field(default_factory=list)  # {"label", "args", "kwargs", "mutated", "tables"}
    expected: list = field(default_factory=list)  # per call, plain: {"result"|"raised", "after", "mutated"}
    options: dict = field(default_factory=dict)  # check_dtype, share, tolerance


def reference_check(name, function, calls, check_dtype=False, mutated=(), share=None, tolerance=None,
                    check_result=True, check_arguments=True, tabulating=contextlib.nullcontext):
    """The ``Check`` of ``calls`` with the reference ``function``'s outcomes. ``tabulating(tables)``
    is entered around each reference call (the grader notes there what helpers answer)."""
    check = Check(name, options={"check_dtype": check_dtype, "share": share, "tolerance": tolerance,
                                 "check_result": check_result, "check_arguments": check_arguments})
    for call in [*calls, *layout_variant(calls)]:
        label, args, kwargs = (*call, {})[:3]
        shipped = {"label": label, "args": copy.deepcopy(list(args)), "kwargs": copy.deepcopy(kwargs),
                   "mutated": list(mutated), "tables": {}}
        theirs = copy.deepcopy(list(args))
        with tabulating(shipped["tables"]):
            try:
                outcome = {"result": function(*theirs, **copy.deepcopy(kwargs))}
            except Exception as error:  # noqa: BLE001 - the reference raising is what is expected
                outcome = {"raised": type(error).__name__}
        outcome["after"] = [digest(a) for a in theirs]
        changed = [i for i, (a, b) in enumerate(zip(outcome["after"], shipped["args"], strict=True))
                   if a != digest(b) and i not in mutated]
        if changed:
            raise RuntimeError(f"the reference {name} changes argument(s) {changed} that mutated= does not name")
        outcome["mutated"] = {str(i): theirs[i] for i in mutated}
        check.calls.append(shipped)
        check.expected.append(roundtrip(outcome))
    return check


def layout_variant(calls):
    """The first call that has a matrix among its arguments again, with every matrix argument
    transposed in memory (same values, other strides): every graded function meets a
    non-contiguous input, as a slice or a ``.T`` of a model's weight is, at least once."""
    for call in calls:
        label, args, kwargs = (*call, {})[:3]
        moved = [non_contiguous(a) for a in args]
        if any(a is not b for a, b in zip(moved, args, strict=True)):
            return [(f"{label}; its matrices non-contiguous", tuple(moved), {k: non_contiguous(v) for k, v in kwargs.items()})]
    return []


def non_contiguous(value):
    """``value`` with the same values in transposed memory, if it is a contiguous matrix (or
    batch of them), else ``value`` itself."""
    if not isinstance(value, torch.Tensor) or value.dim() < 2 or value.numel() < 2 or not value.is_contiguous():
        return value
    moved = value.transpose(-2, -1).contiguous().transpose(-2, -1)
    return moved if not moved.is_contiguous() else value


def case_problem(check, call, expected, actual):
    """What is wrong with one case (``actual``: the student's outcome, plain data), or None."""
    label = f"{check.name}({call['label']})"
    if not isinstance(actual, dict):
        return f"{label}: no outcome recorded"
    raised = actual.get("raised")
    if "raised" in expected:
        if not (isinstance(raised, list) and expected["raised"] in raised):
            return f"{label}: expected it to raise {expected['raised']}"
    elif raised is not None:
        name = raised[0] if isinstance(raised, list) and raised else "an exception"
        return f"{label} raised {name}: {str(actual.get('message', ''))[:200]}"
    elif check.options["check_result"]:
        problem = result_problem(check, call, expected, actual, label)
        if problem:
            return problem
    return arguments_problem(call, expected, actual, label) if check.options["check_arguments"] else None


def arguments_problem(call, expected, actual, label):
    """Whether the arguments the function may not change are as they were (compared by digest)."""
    unchanged = set(range(len(call["args"]))) - {int(i) for i in expected["mutated"]}
    after = actual.get("after")
    if not isinstance(after, list) or len(after) != len(expected["after"]):
        return f"{label}: no record of its arguments after the call"
    changed = [i + 1 for i in sorted(unchanged) if after[i] != expected["after"][i]]
    if changed:
        return (f"{label}: changed argument(s) {changed} in place (or left hooks on a model); "
                "the caller's values must stay as they were")
    return None


def dtypes(value):
    """The dtypes of the tensors in ``value``, in order."""
    if isinstance(value, torch.Tensor):
        return [value.dtype]
    if isinstance(value, (list, tuple)):
        return [d for v in value for d in dtypes(v)]
    if isinstance(value, dict):
        return [d for k in sorted(value, key=str) for d in dtypes(value[k])]
    return []


def result_problem(check, call, expected, actual, label):
    options = check.options
    dtype = next((a.dtype for a in call["args"] if isinstance(a, torch.Tensor)), None)
    try:
        result = actual.get("result")
        if options["check_dtype"] and dtypes(result) != dtypes(expected["result"]):
            found, wanted = dtypes(result), dtypes(expected["result"])
            return f"{label}: dtype {found[0] if found else None}, expected {wanted[0] if wanted else None}"
        compare_result(result, expected["result"], label, dtype, options["share"], options["tolerance"])
        mutated = actual.get("mutated") if isinstance(actual.get("mutated"), dict) else {}
        for position, value in expected["mutated"].items():
            compare_result(mutated.get(position), value, f"{label}, argument {int(position) + 1} after the call",
                           dtype, options["share"], options["tolerance"])
    except AssertionError as error:
        return str(error)
    return None


def judge(checks, record):
    """``(passed, lines)``: whether every case of a cell's ``checks`` passed in ``record`` (one
    entry per check: ``{"calls": [outcome, ...]}`` or ``{"missing": name}``), and what failed."""
    if not isinstance(record, list) or len(record) != len(checks):
        return False, ["Hidden tests failed: their record is not what the tests wrote."]
    failures, total = [], 0
    for check, entry in zip(checks, record, strict=True):
        total += len(check.calls)
        outcomes = entry.get("calls") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and "missing" in entry:
            failures.append(f"{check.name} is not defined (or is not a function)")
        elif not isinstance(outcomes, list) or len(outcomes) != len(check.calls):
            failures.append(f"{check.name}: the record does not hold every case")
        else:
            failures += [problem for call, expected, actual in zip(check.calls, check.expected, outcomes, strict=True)
                         if (problem := case_problem(check, call, expected, actual))]
    if not failures:
        names = ", ".join(dict.fromkeys(c.name for c in checks))
        return True, [f"Hidden tests passed: {total} cases of {names}."]
    more = [f"... and {len(failures) - 5} more"] if len(failures) > 5 else []
    return False, [f"Hidden tests failed: {len(failures)} of {total} cases.", *failures[:5], *more]


def compare(chapter, name, student_function, calls, check_dtype=False, mutated=(), share=None, tolerance=None,
            check_result=True, check_arguments=True):
    """Check ``student_function`` against the reference ``name`` of ``chapter`` on each call.

    ``calls`` is a list of ``(label, args)`` or ``(label, args, kwargs)``; each side gets its own copy
    of the arguments. With ``check_dtype``, a tensor result must keep the reference's dtype.
    ``mutated`` lists the positions of arguments the function changes in place (compared after the
    call); every other argument must be left as it was (a module with the hooks it had), unless
    ``check_arguments`` is False; ``check_result=False`` checks only that, and what is raised.
    ``share`` and ``tolerance`` are passed to ``assert_matches``. Under the course's grader this
    only collects the calls (``verdict.py``).
    """
    options = (check_dtype, mutated, share, tolerance, check_result, check_arguments)
    if COLLECTOR is not None:
        return COLLECTOR.compare(name, student_function, calls, *options)
    from autograder.probe import call_once  # noqa: PLC0415
    from autograder.reference import load_reference  # noqa: PLC0415 - keeps this module light

    check = reference_check(name, getattr(load_reference(chapter), name), calls, *options)
    outcomes = [roundtrip(call_once(student_function, call, {})) for call in check.calls]
    passed, lines = judge([check], [{"calls": outcomes}])
    if not passed:
        raise AssertionError("\n".join(lines[1:]))
