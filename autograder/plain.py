"""Plain data: how values cross between a student's kernel and the grader.

``pack`` turns a value into bytes holding only numbers, strings, lists, tuples, dicts, tensors (as
dtype, shape and raw bytes) and modules (as their class name and state); a numpy scalar or 0-d
array becomes the Python number (or bool, string) it holds, so that a number compares by value
whatever its numeric type; anything else becomes its type's name. ``unpack`` rebuilds such bytes as exact built-in types and plain tensors of known
dtypes, and nothing else: a value that comes from a student's code is never run, imported or
unpickled by the grader. ``digest`` fingerprints a value's plain form.
"""

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy
import torch

DTYPES = {name: getattr(torch, name) for name in (
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "complex64", "complex128")}

STRING_LIMIT = 2000  # characters of a string (or a repr) kept in a record
DEPTH_LIMIT = 12


def tensor_bytes(tensor):
    """The raw bytes of ``tensor`` (any dtype, any layout, any device) and its plain description."""
    plain = torch.Tensor.as_subclass(tensor, torch.Tensor).detach()
    plain = plain.to("cpu").contiguous().reshape(-1)
    data = plain.view(torch.uint8).numpy().tobytes() if plain.numel() else b""
    return data, {"dtype": str(plain.dtype).removeprefix("torch."), "shape": list(tensor.shape)}


def encode(value, blobs, depth=0):  # noqa: PLR0911 - one return a kind of value
    """``value`` as JSON-ready plain data; tensor bytes are appended to ``blobs``."""
    kind = type(value)
    if depth > DEPTH_LIMIT:
        return {"object": "nested too deeply"}
    if value is None or kind in (bool, int, float):
        return {"value": value}
    if isinstance(value, (numpy.generic, numpy.ndarray)) and value.shape == ():
        return python_scalar(value, blobs, depth)
    if kind is str:
        return {"value": value[:STRING_LIMIT]}
    if kind in (list, tuple):
        return {kind.__name__: [encode(v, blobs, depth + 1) for v in value]}
    if kind is dict or isinstance(value, dict) and kind.__module__ == "collections":
        return {"dict": [[encode(k, blobs, depth + 1), encode(v, blobs, depth + 1)] for k, v in value.items()]}
    if isinstance(value, torch.Tensor):
        if value.is_meta:  # no values to carry: what a device check gets from a tensor made without device=
            return {"object": "tensor on the meta device"}
        data, description = tensor_bytes(value)
        blobs.append(data)
        return {"tensor": len(blobs) - 1, **description}
    if isinstance(value, torch.nn.Module):
        return {"module": kind.__name__, "state": encode(dict(value.state_dict()), blobs, depth + 1),
                "hooks": hooks(value)}
    return {"object": kind.__name__}


def python_scalar(value, blobs, depth):
    """A numpy scalar or 0-d array encoded as the Python value it holds (``np.float64(0.5)`` as
    ``0.5``, ``np.bool_(True)`` as ``True``): a number crosses as a number whatever its numeric
    type. A value with no such form (a ``longdouble``, a complex, an object) stays its type's name."""
    item = value.item()
    if type(item) in (bool, int, float, str):
        return encode(item, blobs, depth + 1)
    return {"object": type(value).__name__}


def hooks(module):
    """How many forward hooks (pre and post) are registered on ``module`` and its submodules."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def pack(value):
    """``value`` as bytes: a length, a JSON header, then the tensors' bytes."""
    blobs = []
    header = encode(value, blobs)
    sizes = [len(b) for b in blobs]
    text = json.dumps({"value": header, "sizes": sizes}).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def digest(value):
    """A fingerprint of ``value``'s plain data: equal for equal values, whatever their layout.
    It reads tensors' bytes in place (no copy): the grader and the kernel take thousands of them
    for the tables of ``use_reference``."""
    state = hashlib.sha256()
    feed(value, state, 0)
    return state.hexdigest()


def feed(value, state, depth):
    kind = type(value)
    if depth > DEPTH_LIMIT:
        state.update(b"<deep>")
    elif value is None or kind in (bool, int, float, str):
        state.update(repr((kind.__name__, value)).encode())
    elif kind in (list, tuple):
        state.update(f"<{kind.__name__} {len(value)}>".encode())
        for item in value:
            feed(item, state, depth + 1)
    elif kind is dict or isinstance(value, dict) and kind.__module__ == "collections":
        state.update(f"<dict {len(value)}>".encode())
        for key, item in value.items():
            feed(key, state, depth + 1)
            feed(item, state, depth + 1)
    elif isinstance(value, torch.Tensor) and value.is_meta:
        state.update(f"<meta tensor {value.dtype} {tuple(value.shape)}>".encode())
    elif isinstance(value, torch.Tensor):
        plain = torch.Tensor.as_subclass(value, torch.Tensor).detach().to("cpu").contiguous().reshape(-1)
        state.update(f"<tensor {plain.dtype} {tuple(value.shape)}>".encode())
        if plain.numel():
            state.update(plain.view(torch.uint8).numpy().data)
    elif isinstance(value, torch.nn.Module):
        state.update(f"<module {kind.__name__} {hooks(value)}>".encode())
        feed(dict(value.state_dict()), state, depth + 1)
    else:
        state.update(f"<object {kind.__name__}>".encode())


RECORD_NODES = 1_000_000  # values in one record at most (a list of numbers counts each)
DIMENSIONS = 16  # of a tensor in a record


def unpack(data, header_limit=None):
    """The value ``pack`` wrote, rebuilt from plain data (tensors of known dtypes only), with
    limits checked before anything is allocated: the JSON header at most ``header_limit`` bytes,
    at most ``RECORD_NODES`` values, strings of ``STRING_LIMIT`` characters, each tensor's bytes
    used once (so tensors take at most the record's own size) and of exactly its shape's size."""
    (length,) = struct.unpack_from("<Q", data)
    if length > len(data) - 8 or header_limit is not None and length > header_limit:
        raise ValueError("the record's header is larger than its cases need")
    header = json.loads(data[8 : 8 + length])
    sizes = header["sizes"]
    if not isinstance(sizes, list) or len(sizes) > RECORD_NODES:
        raise ValueError("malformed record")
    offsets, position = [], 8 + length
    for size in sizes:
        if type(size) is not int or size < 0:
            raise ValueError("malformed record")
        offsets.append((position, size))
        position += size
    if position != len(data):
        raise ValueError("the record's size does not match its header")
    return Decoder(data, offsets).decode(header["value"], 0)


class Decoder:
    """``unpack``'s walk over a header: counts values and tensors as it goes."""

    def __init__(self, data, offsets):
        self.data, self.offsets, self.nodes, self.used = data, offsets, 0, set()

    def decode(self, node, depth):  # noqa: PLR0911 - one return a kind of value
        self.nodes += 1
        if self.nodes > RECORD_NODES or depth > DEPTH_LIMIT + 1:
            raise ValueError("the record holds more values than its cases need")
        if not isinstance(node, dict) or len(node) == 0:
            raise ValueError("malformed record")
        if "value" in node:
            return plain_value(node["value"])
        if "list" in node or "tuple" in node:
            items = node.get("list", node.get("tuple"))
            if not isinstance(items, list):
                raise ValueError("malformed record")
            items = [self.decode(v, depth + 1) for v in items]
            return items if "list" in node else tuple(items)
        if "dict" in node:
            return {freeze(self.decode(k, depth + 1)): self.decode(v, depth + 1) for k, v in node["dict"]}
        if "tensor" in node:
            return self.tensor(node)
        if "module" in node:
            return Module(str(node["module"])[:100], self.decode(node["state"], depth + 1), int(node["hooks"]))
        if "object" in node:
            return Opaque(str(node["object"])[:100])
        raise ValueError("malformed record")

    def tensor(self, node):
        dtype = DTYPES[node["dtype"]]
        shape = node["shape"]
        index = node["tensor"]
        if (not isinstance(shape, list) or len(shape) > DIMENSIONS or any(type(n) is not int or n < 0 for n in shape)
                or type(index) is not int or not 0 <= index < len(self.offsets) or index in self.used):
            raise ValueError("malformed record")
        self.used.add(index)
        start, size = self.offsets[index]
        numel = 1
        for n in shape:
            numel *= n
        if size != numel * torch.empty((), dtype=dtype).element_size():
            raise ValueError("a tensor's bytes do not match its shape")
        raw = torch.frombuffer(bytearray(self.data[start : start + size]), dtype=torch.uint8) if size else \
            torch.empty(0, dtype=torch.uint8)
        return raw.view(dtype).reshape(shape) if dtype is not torch.bool else raw.bool().reshape(shape)


def plain_value(value):
    if value is not None and type(value) not in (bool, int, float, str) or type(value) is str and len(value) > STRING_LIMIT:
        raise ValueError("malformed record")
    return value


def freeze(key):
    return tuple(key) if isinstance(key, list) else key


@dataclass(frozen=True)
class Opaque:
    """A value of a type a record does not carry: only its type's name."""
    type_name: str


@dataclass
class Module:
    """A module as a record carries it: its class name and its parameters and buffers."""
    type_name: str
    state: dict
    hooks: int = 0


def roundtrip(value):
    """``value`` as the grader would read it from a record: the reference's answers go through the
    same encoding as the student's, so both are compared in one form."""
    return unpack(pack(value))


