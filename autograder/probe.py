"""The grading kernel's side of a test cell: call the student's functions and hand back plain data.

When the course's grader (``python -m autograder grade``) grades a test cell, the cell's code does
not run. The grader (``verdict.TrustedExecute``, outside the student's process) writes the cell's
cases to ``EXCHANGE/<grade id>.cases`` and runs one line instead, ``run(grade_id, exchange)``, which

1. reads the cases: for each check, the name of the student's function and its calls (arguments as
   the hidden tests made them, and, where a function is graded on its own, a sealed table of what
   the functions it builds on answer to the calls the reference makes: ``seal``);
2. calls the student's function on a copy of each call's arguments, with its prints and warnings
   captured;
3. writes ``EXCHANGE/<grade id>.record``: for each call, the result or the exception's class names,
   and each argument after the call, as plain data (``encode``: numbers, strings, lists, dicts and
   tensors as dtype, shape and bytes; never an object the student's code made).

Nothing here knows the expected values or compares anything: the grader reads the record after
the cell and decides (``verdict.py``). Code in the notebook can change what this module writes, so
it can make its own results wrong, but it cannot make them right without computing them.
"""

import contextlib
import copy
import hashlib
import io
import os
import warnings

import torch

from autograder.plain import STRING_LIMIT, digest, pack


def bound(signature, args, kwargs):
    """``args`` and ``kwargs`` as the full tuple of the parameters of ``signature`` (a function's
    ``inspect.Signature``), defaults filled in."""
    try:
        binding = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return (args, kwargs)
    binding.apply_defaults()
    return tuple(binding.arguments.values())


def entry_index(salt, name, key):
    """Where a helper's answer for the call whose arguments have the digest ``key`` is filed: a
    one-way function of the arguments, salted per run, so that the index says nothing of which
    call it is, and the entry can be found only by computing that call's exact arguments."""
    return hashlib.sha256(b"index\0" + salt + name.encode() + b"\0" + key.encode()).hexdigest()


def keystream(salt, nonce, name, key, size):
    """``size`` bytes that only the digest ``key`` of the call's arguments gives (SHAKE-256 under
    another prefix than ``entry_index``): knowing where an entry is filed does not open it."""
    return hashlib.shake_256(b"key\0" + salt + nonce + name.encode() + b"\0" + key.encode()).digest(size)


def xor(data, stream):
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(len(data), "little")


def seal(salt, name, key, answer):
    """``(index, entry)``: the helper ``name``'s ``answer`` (its result and what it changed in
    place) for the call with the argument digest ``key``, saved and encrypted under that key."""
    buffer = io.BytesIO()
    with torch.device("cpu"):  # a device check's call runs under another default device
        torch.save(answer, buffer)
    nonce = os.urandom(16)
    data = buffer.getvalue()
    return entry_index(salt, name, key), (nonce, xor(data, keystream(salt, nonce, name, key, len(data))))


def unseal(table, name, key):
    """The answer ``seal`` filed for the argument digest ``key``, or None when there is none."""
    entry = table["answers"].get(entry_index(table["salt"], name, key))
    if entry is None:
        return None
    nonce, data = entry
    plain = xor(data, keystream(table["salt"], nonce, name, key, len(data)))
    with torch.device("cpu"):
        return torch.load(io.BytesIO(plain), weights_only=False)


def answering_from(table, name, own):
    """A stand-in for the helper ``name``: where ``table`` has the call, the reference's answer
    (its result, and the tensors it changes in place set to their new values), else the student's
    own function ``own``. ``table["signature"]`` is the reference helper's signature; calls are
    looked up by the digest of the full tuple of its parameters (values, dtypes and shapes),
    however they were passed, and an answer opens only with that digest (``seal``)."""

    def helper(*args, **kwargs):
        answer = unseal(table, name, digest(bound(table["signature"], args, kwargs)))
        if answer is not None:
            result, changed = answer
            for position, value in changed.items():
                restore(args[position], value)
            return result
        if callable(own):
            return own(*args, **kwargs)
        raise NameError(f"name {name!r} is not defined")
    return helper


@torch.no_grad()
def restore(target, value):
    """Set what a helper changed in place (``verdict.in_place``) to the reference's new value."""
    if isinstance(target, torch.Tensor):
        target.copy_(value)
    elif isinstance(target, torch.nn.Module):
        target.load_state_dict(value)
    else:
        for module, state in zip(target, value, strict=True):
            module.load_state_dict(state)


def default_device(device):
    """The default device a call runs under: a visible device check calls the function with
    PyTorch's default device set to ``meta`` (``verdict.Recorder``), its inputs on the CPU."""
    return torch.device(device) if device else contextlib.nullcontext()


def call_once(function, call, namespace):
    """One call of the student's ``function``: its outcome and its arguments afterwards."""
    args, kwargs = copy.deepcopy(call["args"]), copy.deepcopy(call["kwargs"])
    saved = {name: namespace.get(name) for name in call["tables"]}
    for name, table in call["tables"].items():
        namespace[name] = answering_from(table, name, saved[name])
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(), \
                default_device(call.get("device")):
            warnings.simplefilter("ignore")
            outcome = {"result": function(*args, **kwargs)}
    except Exception as error:  # noqa: BLE001 - the student's exception is part of the record
        outcome = {"raised": [c.__name__ for c in type(error).__mro__], "message": str(error)[:STRING_LIMIT]}
    finally:
        for name, value in saved.items():
            if value is None:
                namespace.pop(name, None)
            else:
                namespace[name] = value
    outcome["after"] = [digest(a) for a in args]
    outcome["mutated"] = {str(i): args[i] for i in call["mutated"] if i < len(args)}
    return outcome


def run(grade_id, exchange):
    """Call the student's functions on the cases of ``grade_id`` and write the record."""
    from IPython import get_ipython  # noqa: PLC0415 - only the grading kernel runs this

    namespace = get_ipython().user_ns
    checks = torch.load(os.path.join(exchange, f"{grade_id}.cases"), weights_only=False)
    record = []
    for check in checks:
        function = namespace.get(check["name"])
        if not callable(function):
            record.append({"missing": check["name"]})
            continue
        record.append({"calls": [call_once(function, call, namespace) for call in check["calls"]]})
    with open(os.path.join(exchange, f"{grade_id}.record"), "wb") as handle:
        handle.write(pack(record))
    print(f"{sum(len(c['calls']) for c in checks)} hidden test cases run; the grader decides the points")
