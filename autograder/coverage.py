"""Generic coverage of the hidden tests: what a graded function's docstring promises, some case tries.

``verdict.check_every_argument_varies`` makes sure no argument keeps its default in every case.
This module does the same for what the docstrings say, read generically, so that a wrong answer
that breaks a documented promise cannot pass because no case ever tried it:

* ``raises_problems``: every exception a docstring documents (a ``Raises:`` section, NumPy's
  ``Raises`` heading, or a sentence such as "Raises ValueError when ...") is what the reference
  raises in at least as many cases as the entry names conditions ("..., or ``w`` has NaN");
* ``restored_problems``: a promise that something is undone "also when" or "even if" the call
  raises needs a case where a forward pass raises inside the function (a module argument carrying
  ``checks.fail_forward``), whose arguments are checked after the call;
* ``dtype_problems``: every dtype the docstring names appears among the cases' tensors (arguments
  or the reference's results); "in float32" (a conversion the function promises) needs a float16
  argument; "integer" a tensor argument of an integer dtype; "the dtype of ``w``" gives ``w`` in
  float32, float16 and bfloat16, in a check that compares the result's dtype;
* ``boundary_problems``: a parameter compared with a number in the docstring (``group_size > 0``)
  is given that number and a value on each side of it; ``max(1, EXPR)`` over parameters is tried
  with EXPR below 1 and at least 1, and where EXPR rounds, with a value at which Python's round
  (half to even) gives another result than rounding half up, down, or truncating;
* ``exactness_problems``: a check whose reference results hold integer tensors compares them
  exactly (``tolerance=(0, 0, 0)``): indices and packed codes have no rounding to forgive.

``record_batches`` serves the hidden tests: a model that counts its forward passes by batch size,
so that an argument such as ``batch_size``, which changes no result, changes what is compared.

What a docstring says that these cannot read stays for the notebooks' authors (``by_hand`` lists
the phrases): ties in "first on a tie" searches, "round half to even" inside a tensor formula,
partial last batches or blocks, sizes relative to a tensor's shape (fewer tokens than
``n_tokens``), exactness promised in prose, module variants the docstring names.
"""

import ast
import inspect
import math
import re

import torch

from autograder import plain
from autograder.checks import fail_forward
from autograder.probe import bound


def problems(chapter, found, signatures, functions):
    """What the hidden tests of ``chapter`` leave untried, one line each (empty when covered).

    ``found`` is ``{grade id: [checks.Check]}`` and ``signatures`` ``{name: inspect.Signature}``, as
    ``verdict.cases`` builds them; ``functions`` is ``{name: the reference function}``."""
    lines = []
    for name, function in functions.items():
        doc = inspect.getdoc(function) or ""
        signature = signatures.get(name) or inspect.signature(function)
        cases = cases_of(found, name, signature)
        lines += [f"{chapter}: {line}" for line in raises_problems(name, doc, cases)]
        flat = " ".join(doc.split())  # the prose checks read sentences, wherever the lines break
        for check in (restored_problems, dtype_problems, boundary_problems):
            lines += [f"{chapter}: {line}" for line in check(name, flat, cases)]
    lines += [f"{chapter}: {line}" for line in exactness_problems(found)]
    return lines


class Case:
    """One call of a hidden test, as coverage reads it: the arguments by parameter name."""

    def __init__(self, check, call, expected, signature):
        self.check, self.call, self.expected = check, call, expected
        values = bound(signature, call["args"], call["kwargs"])
        names = list(signature.parameters)
        self.arguments = dict(zip(names, values, strict=True)) if len(values) == len(names) else {}

    @property
    def raised(self):
        return self.expected.get("raised")


def cases_of(found, name, signature):
    return [Case(check, call, expected, signature) for check_list in found.values() for check in check_list
            if check.name == name for call, expected in zip(check.calls, check.expected, strict=True)]


# --- documented exceptions ----------------------------------------------------------------------

EXCEPTION = r"[A-Z][A-Za-z0-9]*(?:Error|Exception)"
SECTION_END = re.compile(r"^\S.*:\s*$|^\S+\n-+$", re.MULTILINE)


def documented_raises(doc):
    """``{exception name: number of conditions}`` of what ``doc`` says the function raises."""
    entries = {}
    for name, text in raises_entries(doc):
        entries[name] = entries.get(name, 0) + len(conditions(text))
    return entries


def raises_entries(doc):
    """``(exception name, its description)`` from a Google or NumPy ``Raises`` section and from
    sentences such as "Raises ValueError when ..."."""
    found = []
    section = re.search(r"^Raises:?\s*\n(?:-+\s*\n)?((?:[ \t]*\S.*\n?|[ \t]*\n(?=[ \t]+\S))+)", doc, re.MULTILINE)
    if section:
        body = section.group(1)
        for match in re.finditer(rf"^[ \t]*(?:``)?({EXCEPTION})(?:``)?:?(.*(?:\n(?![ \t]*(?:``)?{EXCEPTION}(?:``)?:)[ \t]{{2,}}.*)*)",
                                 body, re.MULTILINE):
            found.append((match.group(1), " ".join(match.group(2).split())))
    flat = " ".join(doc.split())
    for match in re.finditer(rf"\b[Rr]aises?\s+(?:an?\s+)?(?:``)?({EXCEPTION})(?:``)?\s+((?:when|if)\b[^.;]*)", flat):
        found.append((match.group(1), match.group(2)))
    return found


def conditions(text):
    """The conditions of one ``Raises`` entry: "if ``a`` is odd or a code is outside 0..15" has two
    ("NaN or infinite values" is one: the ``or`` joins words, not clauses)."""
    parts = re.split(r",?\s+or\s+(?=``|an?\s|the\s|its?\s|no\s|any\s)", text)
    return [p for p in parts if p.strip()] or [text]


def raises_problems(name, doc, cases):
    lines = []
    for exception, needed in documented_raises(doc).items():
        raising = [c for c in cases if c.raised == exception]
        if len(raising) < needed:
            lines.append(f"{name} documents {exception} ({needed} condition(s)), but the reference raises it "
                         f"in {len(raising)} case(s): add a case for each condition")
    return lines


# --- restored even when it raises -----------------------------------------------------------------

def restore_promises(doc):
    """The sentences of ``doc`` that promise something "also when" (or "even if") a call raises."""
    sentences = re.split(r"(?<=[.;])\s+", " ".join(doc.split()))
    return [s for s in sentences
            if re.search(r"\b(?:also|even)\s+(?:when|if)\b", s) and re.search(r"\b(?:rais|fail|error|exception)", s)]


def has_failing_hook(value):
    """Whether ``value`` (a module, or a list, tuple or dict holding one) has a forward hook that
    raises (``checks.fail_forward``) on itself or a submodule."""
    if isinstance(value, torch.nn.Module):
        return any(hook is fail_forward or getattr(hook, "__name__", "") == "fail_forward"
                   for module in value.modules()
                   for hook in [*module._forward_hooks.values(), *module._forward_pre_hooks.values()])
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(has_failing_hook(v) for v in value)


def restored_problems(name, doc, cases):
    promises = restore_promises(doc)
    if not promises:
        return []
    tried = [c for c in cases if c.raised and c.check.options.get("check_arguments", True)
             and any(has_failing_hook(a) for a in c.arguments.values())]
    if tried:
        return []
    return [f"{name} promises \"{promises[0]}\", but no case makes a forward pass raise inside it (a module "
            "argument with checks.fail_forward) and checks its arguments after the call"]


# --- dtypes ---------------------------------------------------------------------------------------

DTYPE_WORDS = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
               "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
               "int8": torch.int8, "uint8": torch.uint8, "LongTensor": torch.int64}
HALVES = (torch.float16, torch.bfloat16)


def tensor_dtypes(value):
    """The dtypes of the tensors in ``value``: tensors, modules' parameters and buffers (real or as a
    record carries them), in lists, tuples and dicts."""
    if isinstance(value, torch.Tensor):
        return {value.dtype}
    if isinstance(value, torch.nn.Module):
        return {t.dtype for t in value.state_dict().values()}
    if isinstance(value, plain.Module):
        return tensor_dtypes(value.state)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(*(tensor_dtypes(v) for v in value)) if value else set()
    return set()


def named_dtypes(doc):
    return {DTYPE_WORDS[word] for word in re.findall(r"\b(" + "|".join(DTYPE_WORDS) + r")\b", doc)}


def dtype_problems(name, doc, cases):
    lines = []
    arguments = set().union(*(tensor_dtypes(list(c.arguments.values())) for c in cases)) if cases else set()
    results = set().union(*(tensor_dtypes(c.expected.get("result")) for c in cases)) if cases else set()
    for dtype in sorted(named_dtypes(doc) - arguments - results, key=str):
        lines.append(f"{name}'s docstring names {dtype}, but no case has a tensor of that dtype")
    if re.search(r"\bin (?:float32|float64)\b", doc) and torch.float16 not in arguments:
        lines.append(f"{name} promises to compute in float32: give it a float16 argument")
    if re.search(r"\bintegers?\b", doc) and not any(not d.is_floating_point and d is not torch.bool
                                                     for d in arguments):
        lines.append(f"{name}'s docstring speaks of integers: give it a tensor argument of an integer dtype")
    for parameter in re.findall(r"\bdtype of ``(\w+)``", doc):
        given = {dtype for c in cases if c.check.options.get("check_dtype")
                 for dtype in tensor_dtypes(c.arguments.get(parameter))}
        missing = sorted({torch.float32, *HALVES} - given, key=str)
        if missing:
            lines.append(f"{name} keeps the dtype of {parameter}: give {parameter} as {', '.join(map(str, missing))} "
                         "in a check with check_dtype=True")
    return lines


# --- boundaries -------------------------------------------------------------------------------------

def compared_parameters(doc, parameters):
    """``{(parameter, number)}`` for each ````parameter <op> number```` in ``doc``."""
    found = set()
    for match in re.finditer(r"``\s*(\w+)\s*(?:<=|>=|<|>|==|!=)\s*(-?\d+(?:\.\d+)?)\s*``", doc):
        if match.group(1) in parameters:
            found.add((match.group(1), float(match.group(2))))
    return found


def floor_expressions(doc):
    """The ``EXPR`` of each ``max(1, EXPR)`` in ``doc`` (a clamp at one: k, a stride)."""
    expressions = []
    for match in re.finditer(r"max\(\s*1\s*,", doc):
        depth, start = 1, match.end()
        for index in range(start, len(doc)):
            depth += {"(": 1, ")": -1}.get(doc[index], 0)
            if depth == 0:
                expressions.append(" ".join(doc[start:index].split()))
                break
    return expressions


ROUNDINGS = {
    "rounding half up": lambda x: math.floor(x + 0.5),
    "rounding half down": lambda x: math.ceil(x - 0.5),
    "rounding half away from zero": lambda x: math.copysign(math.floor(abs(x) + 0.5), x),
    "truncating (int)": math.trunc,
    "flooring": math.floor,
    "ceiling": math.ceil,
}
SAFE_CALLS = {"len": len, "int": int, "float": float, "abs": abs, "min": min, "max": max}


def evaluable(expression, parameters):
    """The parsed ``expression`` if it reads only ``parameters`` and plain arithmetic, else None."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant, ast.operator,
               ast.unaryop)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            return None
        if isinstance(node, ast.Name) and node.id not in parameters and node.id not in {*SAFE_CALLS, "round"}:
            return None
    return compile(tree, "<docstring>", "eval")


def evaluate(code, arguments, rounding=round):
    try:
        value = eval(code, {"__builtins__": {}}, {**SAFE_CALLS, "round": rounding, **arguments})  # noqa: S307
    except Exception:  # noqa: BLE001 - a case whose arguments the expression does not fit
        return None
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def boundary_problems(name, doc, cases):
    lines = []
    parameters = set(cases[0].arguments) if cases else set()
    for parameter, number in sorted(compared_parameters(doc, parameters)):
        values = [v for c in cases if isinstance(v := c.arguments.get(parameter), (int, float))]
        for side, test in (("equal to", lambda v, n=number: v == n), ("below", lambda v, n=number: v < n),
                           ("above", lambda v, n=number: v > n)):
            if not any(test(v) for v in values):
                lines.append(f"{name}: no case gives {parameter} a value {side} {number:g}, "
                             "a boundary its docstring draws")
    for expression in floor_expressions(doc):
        code = evaluable(expression, parameters)
        if code is None:
            continue
        inner = [evaluate(code, c.arguments) for c in cases]
        inner = [v for v in inner if isinstance(v, (int, float))]
        if not any(v < 1 for v in inner) or not any(v >= 1 for v in inner):
            lines.append(f"{name}: max(1, {expression}) needs a case with {expression} below 1 and one at least 1")
        if "round(" in expression:
            for label, rounding in ROUNDINGS.items():
                if not any(clamped(code, c.arguments, round) != clamped(code, c.arguments, rounding) for c in cases):
                    lines.append(f"{name}: no case tells Python's round in max(1, {expression}) from {label} "
                                 "(a value at .5 after an even number, or a fraction above or below .5)")
    return lines


def clamped(code, arguments, rounding):
    value = evaluate(code, arguments, rounding)
    return None if value is None else max(1, value)


# --- exactness --------------------------------------------------------------------------------------

def exactness_problems(found):
    """Checks whose reference results hold integer tensors but forgive a tolerance."""
    lines = []
    for gid, check_list in found.items():
        for check in check_list:
            integers = {d for e in check.expected for d in tensor_dtypes(e.get("result"))
                        if not d.is_floating_point and not d.is_complex}
            tolerance = check.options.get("tolerance")
            if integers and tuple(tolerance or ()) != (0, 0, 0):
                lines.append(f"{gid}: {check.name} returns {sorted(map(str, integers))} tensors, compared with a "
                             "tolerance: pass tolerance=(0, 0, 0)")
    return lines


# --- side effects a result cannot show ----------------------------------------------------------------

def record_batches(model, most):
    """``model`` counting its forward passes by batch size in a buffer, ``batch_sizes[b]`` the number
    of passes on ``b`` sequences (up to ``most``): a function that runs ``model`` in batches of
    ``batch_size`` gets the same result whatever batches it uses, but not the same buffer. A hidden
    test passes such a model with ``mutated=`` naming it, so the buffer is compared after the call."""
    model.register_buffer("batch_sizes", torch.zeros(most + 1))
    model.register_forward_pre_hook(count_batch, with_kwargs=True)
    return model


def count_batch(module, args, kwargs):
    """The forward pre-hook of ``record_batches`` (a module-level function: the cases that hold the
    model are pickled for the grading kernel)."""
    given = [kwargs["input_ids"]] if "input_ids" in kwargs else [*args, *kwargs.values()]
    ids = next((value for value in given if isinstance(value, torch.Tensor)), None)
    if ids is not None and ids.dim() > 1:
        module.batch_sizes[min(len(ids), len(module.batch_sizes) - 1)] += 1


# --- what stays for the authors ---------------------------------------------------------------------

BY_HAND = {
    r"\bties?\b": "a case with an exact tie",
    r"round half to even|half to even": "values exactly at .5 steps (round half to even)",
    r"\b(?:last|partial)\b[^.]*\b(?:batch|block|group)\b": "a partial last batch, block or group",
    r"\bexact(?:ly)?\b|bit for bit": "a check with tolerance=(0, 0, 0) on what is exact",
    r"\bn_tokens\b|\bmax_tokens\b": "fewer tokens than asked for",
    r"\bLayerNorm\b|\bRMSNorm\b|\bbias\b": "each module variant named (with and without a bias)",
    r"\bempty\b|\bnothing\b": "an empty tensor",
}


def by_hand(functions):
    """``{name: [reminder, ...]}``: what the docstrings of ``functions`` promise that the generic
    checks cannot verify, for the notebook's author to cover with cases written by hand."""
    reminders = {}
    for name, function in functions.items():
        doc = " ".join((inspect.getdoc(function) or "").split())
        found = [reminder for pattern, reminder in BY_HAND.items() if re.search(pattern, doc)]
        if found:
            reminders[name] = found
    return reminders
