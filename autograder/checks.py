"""Helpers for the hidden tests: seeded test inputs, tolerant comparison, and isolation.

Hidden tests compare a student's function with the reference on the same inputs. Three rules
make the grade fair:

* **Tolerance.** Values must agree to ``rtol``/``atol`` chosen by dtype; in addition a small share
  of entries (the last number of ``TOLERANCE``) may differ, because a round-half-to-even tie can fall the other way when
  a correct formula is written differently (``w * (1 / s)`` instead of ``w / s``). A real bug
  (floor for round, a wrong range) changes far more entries than that.
* **Isolation.** ``use_reference`` makes the functions a graded function may call the reference's
  for the rest of one test cell (visible tests included), so a bug loses points on the function
  that has it and only there.
* **Clear messages.** A failure names the case and the argument values, never the expected code.
"""

import contextlib

import torch

TOLERANCE = {  # dtype: (rtol, atol as a share of the largest |expected|, share of entries allowed to differ)
    torch.float64: (1e-6, 1e-9, 0.002),
    torch.float32: (1e-5, 1e-6, 0.002),
    # Half precision: a correct answer that computes in float32 may put a zero point or a code one
    # step from the reference's float16 result; the float32 cases are the strict ones.
    torch.float16: (1e-2, 1e-3, 0.1),
    torch.bfloat16: (2e-2, 1e-2, 0.1),
}


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


def assert_matches(actual, expected, label, dtype=None, share=None, tolerance=None):
    """Assert ``actual`` equals ``expected`` within the tolerance of ``dtype`` (see module doc).

    ``share`` overrides the share of entries allowed to differ (sequential algorithms such as GPTQ
    carry one flipped tie into the rest of its row); ``tolerance`` = ``(rtol, atol, share)``
    overrides all three."""
    actual = _as_tensor(actual, label)
    expected = _as_tensor(expected, label)
    if actual.shape != expected.shape:
        raise AssertionError(f"{label}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    rtol, atol, ties = tolerance or TOLERANCE.get(dtype or expected.dtype, TOLERANCE[torch.float32])
    ties = ties if share is None else share
    a = actual.detach().double().cpu()
    e = expected.detach().double().cpu()
    if not torch.isfinite(a).all():
        raise AssertionError(f"{label}: the result has NaN or infinite values")
    scale = e.abs().max().item() if e.numel() else 0.0
    wrong = (a - e).abs() > atol * max(scale, 1e-30) + rtol * e.abs()
    share = wrong.double().mean().item() if wrong.numel() else 0.0
    if share > ties:
        raise AssertionError(
            f"{label}: {wrong.sum().item()} of {wrong.numel()} values differ from the expected result "
            f"(largest difference {(a - e).abs().max().item():.3g})"
        )


def use_reference(namespace, chapter, *names):
    """Until the current notebook cell ends, ``namespace[name]`` is the reference's function.

    Called at the top of a test cell, in a hidden region: the visible tests after it and the
    hidden ones see the reference's helpers, and the student's own come back when the cell ends,
    whether its tests pass or fail (an IPython ``post_run_cell`` callback restores them).
    """
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


def _clone(value):
    return value.clone() if isinstance(value, torch.Tensor) else value


def _compare_result(actual, expected, label, dtype, share=None, tolerance=None):
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            raise AssertionError(f"{label}: expected {len(expected)} results, got {actual!r:.80}")
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _compare_result(a, e, f"{label}, result {i + 1} of {len(expected)}", dtype, share, tolerance)
    elif isinstance(expected, torch.Tensor):
        assert_matches(actual, expected, label, dtype, share, tolerance)
    elif isinstance(expected, float):
        if not isinstance(actual, (int, float)) or abs(actual - expected) > 1e-9 * max(1.0, abs(expected)):
            raise AssertionError(f"{label}: got {actual!r:.80}, expected a different value")
    elif actual != expected:
        raise AssertionError(f"{label}: got {actual!r:.80}, expected a different value")


def compare(chapter, name, student_function, calls, check_dtype=False, mutated=(), share=None, tolerance=None):
    """Call ``student_function`` and the reference ``name`` of ``chapter`` on each call and compare.

    ``calls`` is a list of ``(label, args)`` or ``(label, args, kwargs)``; every tensor argument is
    cloned for each side, so an in-place change cannot leak from one call to the other. With
    ``check_dtype``, a tensor result must keep the dtype the reference gives. ``mutated`` lists the
    positions of arguments the function changes in place: they are compared after the call too.
    ``share`` and ``tolerance`` are passed to ``assert_matches``.
    """
    from autograder.reference import load_reference  # noqa: PLC0415 - keeps this module light

    expected_function = getattr(load_reference(chapter), name)
    for call in calls:
        label, args, kwargs = (*call, {})[:3]
        dtype = next((a.dtype for a in args if isinstance(a, torch.Tensor)), None)
        expected_args = [_clone(a) for a in args]
        actual_args = [_clone(a) for a in args]
        expected = expected_function(*expected_args, **kwargs)
        shown = f"{name}({label})"
        try:
            actual = student_function(*actual_args, **kwargs)
        except Exception as error:  # noqa: BLE001 - reported as a failed check
            raise AssertionError(f"{shown} raised {type(error).__name__}: {error}") from error
        if check_dtype and isinstance(expected, torch.Tensor) and getattr(actual, "dtype", None) != expected.dtype:
            raise AssertionError(f"{shown}: dtype {getattr(actual, 'dtype', None)}, expected {expected.dtype}")
        _compare_result(actual, expected, shown, dtype, share, tolerance)
        for position in mutated:
            _compare_result(actual_args[position], expected_args[position],
                            f"{shown}, argument {position + 1} after the call", dtype, share, tolerance)
