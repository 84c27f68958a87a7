"""The trusted verdict: the grader decides each test cell's points outside the student's process.

``cases(chapter)`` runs the instructor notebook's grading cells (reference, exercises with the
reference's answers, test cells) once, in the grader's own process. There each hidden test's
``checks.compare`` does not compare: it collects the calls it was given and the reference's
answers to them (``Collector``); the calls the visible tests make to the same functions are
collected too (``Recorder``), so that what a student sees fail costs the cell as under plain
nbgrader; and the answers of the helpers of a function graded on its own travel sealed, each
opened only by its exact call (``Collector.tabulating``). ``TrustedExecute``, nbgrader's ``Execute`` with one change, then
runs each graded test cell of a student's notebook as one line (``probe.run``) that calls the
student's functions on those calls in the student's kernel and writes back plain data; it reads
that record after the cell, ``judge`` compares it with the reference's answers, and the cell's
outputs become the verdict: nothing but an error output (no points, with what differed) or a
line saying the tests passed (full points). nbgrader's ``SaveAutoGrades`` then writes the points
into the gradebook as usual, and ``generate_feedback`` shows the verdict.

The student's prints and warnings are captured and never count; an exception in the student's
function fails the cases it raises on (unless the reference raises the same kind). What the
worker takes from the kernel is bounded: a record by what its cases need (``record_limits``),
output as it arrives (``OutputBudget``).
"""

import ast
import contextlib
import copy
import functools
import inspect
import io
import json
import os
import shutil
import stat
import struct
import subprocess

import torch
import zmq
from jupyter_client import AsyncKernelManager
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute

from autograder import checks, coverage
from autograder.course import HIDDEN_MARKERS, cell_source, is_reference_cell, source_path
from autograder.jail import OWN_MOUNTS, exchange_of, tool
from autograder.plain import Module, digest, unpack
from autograder.probe import bound, seal

# What a cell's record may take (``record_limits``): its outcomes' tensors may be of a dtype up to
# 8 times wider than the reference's (int64 codes for uint8), and each case may add a message, the
# digests of its arguments and a few numbers; anything larger is refused unread.
TENSOR_FACTOR = 8
CALL_ALLOWANCE = 32 * 2**10  # header bytes per case
RECORD_SLACK = 2 * 2**20


class Collector:
    """``checks.compare`` and ``checks.use_reference`` while ``cases`` runs the instructor notebook."""

    def __init__(self):
        self.cell = None
        self.found = {}  # grade id -> [Check]
        self.helpers = {}  # name -> the namespace it was swapped in, for the current cell
        self.signatures = {}  # name -> the reference function's signature
        self.salt = os.urandom(16)  # of this run's helper tables (``probe.seal``)
        self.tables = {}  # name -> the helper's table, one for all the calls of the current cell

    def start(self, cell):
        self.cell, self.helpers, self.tables = grade_id(cell), {}, {}

    def use_reference(self, namespace, chapter, *names):
        self.helpers = {name: namespace for name in names}

    def compare(self, name, function, calls, *options):
        function = RECORDING.get(function, function)  # the reference itself, not a Recorder's stand-in
        check = checks.reference_check(name, function, calls, *options, tabulating=self.tabulating)
        self.found.setdefault(self.cell, []).append(check)
        self.signatures[name] = inspect.signature(function)

    def add_visible(self, recorder):
        """The calls the cell's visible tests made to the functions its ``compare``s check, as
        cases of the cell with the options of that ``compare``: an example a student sees fail
        costs the cell here as it does under plain nbgrader. Calls the cell's cases already make
        (a hidden test repeating a visible example) are left out."""
        own = self.found.get(self.cell, [])
        compared = {check.name for check in own}
        seen = {visible_key(check.name, self.signatures[check.name], call) for check in own for call in check.calls}
        groups = {}
        for name, args, kwargs, device in recorder.calls:
            if name not in compared:
                continue
            call = {"args": args, "kwargs": kwargs, "device": device}
            key = visible_key(name, self.signatures[name], call)
            if key not in seen:
                seen.add(key)
                groups.setdefault((name, device), []).append((args, kwargs))
        for (name, device), calls in groups.items():
            like = next(check for check in own if check.name == name)
            where = "" if device is None else f", with PyTorch's default device set to {device!r}"
            labelled = [(f"a call of the visible tests{where} ({k} of {len(calls)})", args, kwargs)
                        for k, (args, kwargs) in enumerate(calls, 1)]
            check = checks.reference_check(name, on_device(recorder.saved[name], device), labelled,
                                           mutated=like.calls[0]["mutated"], tabulating=self.tabulating, **like.options)
            del check.calls[len(labelled):], check.expected[len(labelled):]  # its layout variant: the hidden cases have one
            for call in check.calls:
                call["device"] = device
            own.append(check)

    @contextlib.contextmanager
    def tabulating(self, tables):
        """While the reference runs, the helpers of ``use_reference`` note what they answer: the
        result, and the new values of the tensors they change in place (``probe.answering_from``).
        Only the calls the graded function makes itself are noted, not those a helper makes of
        another (the reference ``gptq`` calling ``gptq_column``): the student's function is
        answered at its own level, and the tables stay small enough to ship.

        Each answer is sealed (``probe.seal``): filed under a salted hash of the digest of the
        call's full arguments and encrypted under another, so the kernel can open it only by
        making that exact call; the entries are in the order of their index, not of the calls.
        The calls of one cell share one table a helper: the same helper call made by two cases
        (a case and its non-contiguous variant, a visible test and its device check) is one entry,
        and the cell's file holds each table once."""
        saved = {name: namespace[name] for name, namespace in self.helpers.items()}
        depth = [0]
        for name, namespace in self.helpers.items():
            table = self.tables.setdefault(name, {"signature": inspect.signature(saved[name]), "salt": self.salt,
                                                  "answers": {}})
            tables[name] = table

            def noting(*args, _own=saved[name], _name=name, _table=table, **kwargs):
                if depth[0]:
                    return _own(*args, **kwargs)
                key = digest(bound(_table["signature"], args, kwargs))
                before = [mark(a) for a in args]
                depth[0] += 1
                try:
                    result = _own(*args, **kwargs)
                finally:
                    depth[0] -= 1
                with torch.device("cpu"):  # copies on the CPU, also under a device check's default device
                    changed = {i: copy.deepcopy(in_place(a)) for i, a in enumerate(args)  # changed in place
                               if before[i] is not None and mark(a) != before[i]}
                    index, entry = seal(self.salt, _name, key, (copy.deepcopy(result), changed))
                _table["answers"][index] = entry
                return result
            namespace[name] = noting
        try:
            yield
        finally:
            for name, namespace in self.helpers.items():
                namespace[name] = saved[name]
            for table in tables.values():  # in the order of the salted index: no call stands out as the last
                table["answers"] = dict(sorted(table["answers"].items()))


def visible_key(name, signature, call):
    """What makes two calls of ``name`` the same case: the digest of their full arguments and device."""
    return digest((name, bound(signature, call["args"], call["kwargs"]), call.get("device")))


def on_device(function, device):
    """``function`` called with PyTorch's default device set to ``device`` (None: as it is)."""
    if device is None:
        return function

    def called(*args, **kwargs):
        with torch.device(device):
            return function(*args, **kwargs)
    return called


RECORDING = {}  # a Recorder's stand-in -> the function it stands for


class Recorder:
    """While a test cell runs in ``cases``: the calls that the cell's visible lines make, directly
    or through a helper such as ``check_devices``, to the functions its ``compare``s check
    (``names``), with their arguments as given (copied before the call) and the default device
    they were made under (a device check sets ``meta``)."""

    def __init__(self, namespace, names, origin, lines):
        self.namespace, self.names, self.origin, self.lines = namespace, names, origin, lines
        self.calls, self.saved, self.depth = [], {}, 0

    def __enter__(self):
        for name in self.names:
            if callable(self.namespace.get(name)):
                self.saved[name] = self.namespace[name]
                self.namespace[name] = self.stand_in(name, self.saved[name])
        return self

    def __exit__(self, *exc):
        for name, own in self.saved.items():
            RECORDING.pop(self.namespace.get(name), None)
            self.namespace[name] = own

    def stand_in(self, name, own):
        @functools.wraps(own)
        def recording(*args, **kwargs):
            if self.depth == 0 and self.from_visible_line():
                self.note(name, args, kwargs)
            self.depth += 1
            try:
                return own(*args, **kwargs)
            finally:
                self.depth -= 1
        RECORDING[recording] = own
        return recording

    def note(self, name, args, kwargs):
        device = torch.get_default_device().type
        try:
            with torch.device("cpu"):  # a copy on the CPU, as the arguments are, under any default device
                args, kwargs = copy.deepcopy(list(args)), copy.deepcopy(kwargs)
        except Exception:  # noqa: BLE001 - an argument that cannot be copied cannot be shipped either
            return
        self.calls.append((name, args, kwargs, None if device == "cpu" else device))

    def from_visible_line(self):
        """Whether the innermost frame of the cell's own code is on one of its visible lines."""
        frame = inspect.currentframe().f_back.f_back
        while frame is not None and frame.f_code.co_filename != self.origin:
            frame = frame.f_back
        return frame is not None and frame.f_lineno in self.lines


def compared_names(source):
    """The names of the functions a test cell's ``compare(chapter, name, ...)`` calls check."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return list(dict.fromkeys(
        node.args[1].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "compare"
        and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)))


def visible_lines(source):
    """The numbers (from 1) of the lines of a test cell that a student sees: not in a hidden region."""
    lines, hidden = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == HIDDEN_MARKERS[0]:
            hidden = True
        elif line.strip() == HIDDEN_MARKERS[1]:
            hidden = False
        elif not hidden:
            lines.add(number)
    return lines


def in_place(value):
    """What a helper can change in place in ``value``: a tensor itself, a module's state, the
    states of a list of modules; None for anything else."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, torch.nn.Module):
        return value.state_dict()
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.nn.Module) for v in value):
        return [v.state_dict() for v in value]
    return None


def mark(value):
    """Cheap evidence of an in-place change: a tensor's version counter, a fingerprint of a
    module's (or a list of modules') state; None for what a helper cannot change."""
    if isinstance(value, torch.Tensor):
        return value._version
    state = in_place(value)
    return None if state is None else digest(state)


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_test_cell(cell):
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell["cell_type"] == "code" and nbgrader.get("grade", False) and not nbgrader.get("solution", False)


@functools.cache
def cases(chapter):
    """``{grade id: [Check]}`` for every graded test cell of ``chapter``'s instructor notebook.

    Runs, in order, its reference cells, its exercises (the reference's answers) and its test cells
    whole, visible and hidden tests; every test cell must give at least one check."""
    cells = json.loads(source_path(chapter).read_text())["cells"]
    collector = Collector()
    namespace = {"__name__": f"cases_{chapter}"}
    with collecting(collector), open(os.devnull, "w") as quiet, \
            contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        for index, cell in enumerate(cells):
            if not (is_reference_cell(cell) or is_test_cell(cell)):
                continue
            collector.start(cell)
            source, origin = cell_source(cell), f"{chapter} (cell {index})"
            recorder = Recorder(namespace, compared_names(source), origin, visible_lines(source))
            with recorder if is_test_cell(cell) else contextlib.nullcontext():
                exec(compile(source, origin, "exec"), namespace)  # noqa: S102
            if is_test_cell(cell):
                collector.add_visible(recorder)
    missing = [grade_id(c) for c in cells if is_test_cell(c) and grade_id(c) not in collector.found]
    if missing:
        raise RuntimeError(f"{chapter}: test cells without a compare(...) of their hidden tests: {missing}")
    check_tables_come_late(chapter, collector.found)
    check_every_argument_varies(chapter, collector.found, collector.signatures)
    check_cases_fit(chapter, collector.found)
    untried = coverage.problems(chapter, collector.found, collector.signatures,
                                {name: namespace[name] for name in collector.signatures})
    if untried:
        raise RuntimeError("hidden tests leave untried what a docstring promises: " + "; ".join(untried))
    return collector.found


CASES_LIMIT_MB = 100  # half the sandbox's file-size limit (sandbox.Limits.file_mb)


def check_cases_fit(chapter, found):
    """Every cell's cases fit the file the grader writes for the kernel, with room to spare."""
    for gid, check_list in found.items():
        size = len(shipped(check_list)) / 2**20
        if size > CASES_LIMIT_MB:
            raise RuntimeError(f"{chapter}: the cases of {gid} take {size:.0f} MB, more than "
                               f"{CASES_LIMIT_MB} MB: give its hidden tests smaller tensors")


def check_every_argument_varies(chapter, found, signatures):
    """Every parameter of a graded function that has a default is given another value in some
    case: an answer that ignores ``n_grid``, ``group_size`` or ``blocksize`` cannot pass."""
    fixed = []
    for name, signature in signatures.items():
        given = [bound(signature, call["args"], call["kwargs"]) for check_list in found.values()
                 for check in check_list if check.name == name for call in check.calls]
        for position, parameter in enumerate(signature.parameters.values()):
            if parameter.default is inspect.Parameter.empty or parameter.kind in (parameter.VAR_POSITIONAL,
                                                                                  parameter.VAR_KEYWORD):
                continue
            default = digest(parameter.default)
            if all(digest(values[position]) == default for values in given):
                fixed.append(f"{name}'s {parameter.name}")
    if fixed:
        raise RuntimeError(f"{chapter}: no case gives these a value but their default: {', '.join(fixed)}")


def check_tables_come_late(chapter, found):
    """A cell may hand the kernel the reference's answers of a helper (``use_reference``) only
    when every test of that helper came before it: those answers cannot reach its own tests."""
    order = list(found)
    for index, gid in enumerate(order):
        helpers = {name for check in found[gid] for call in check.calls for name in call["tables"]}
        later = {check.name for other in order[index + 1 :] for check in found[other]}
        if helpers & later:
            raise RuntimeError(f"{chapter}: {gid} answers with the reference's {sorted(helpers & later)}, "
                               "which later cells test")


@contextlib.contextmanager
def collecting(collector):
    saved = checks.COLLECTOR
    checks.COLLECTOR = collector
    try:
        yield
    finally:
        checks.COLLECTOR = saved


class RecordTooLarge(ValueError):
    """A record larger than its cases need (``record_limits``)."""


def read_record(path, limits):
    """The record at ``path``, a regular file (no link followed), or None when there is none.
    ``limits`` = (bytes, header bytes) it may take (``record_limits``): a larger record is refused
    before it is read, so the grader's memory stays bounded whatever the kernel writes."""
    size_limit, header_limit = limits
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > size_limit:
            raise RecordTooLarge(f"{info.st_size / 2**20:.0f} MB, more than the {size_limit / 2**20:.0f} MB its "
                                 "cases need (return tensors, not lists)")
        return unpack(handle.read(size_limit + 1), header_limit)


def record_limits(check_list):
    """``(bytes, header bytes)`` the record of one cell's cases may take: the reference's outcomes'
    tensors ``TENSOR_FACTOR`` times over, ``CALL_ALLOWANCE`` of header a case, and a constant
    (made once per worker and cell)."""
    key = id(check_list)
    if key not in LIMITS:
        calls = sum(len(check.calls) for check in check_list)
        tensors = sum(tensor_bytes(outcome) for check in check_list for outcome in check.expected)
        header = RECORD_SLACK + CALL_ALLOWANCE * calls
        LIMITS[key] = (check_list, (header + TENSOR_FACTOR * tensors + RECORD_SLACK, header))
    return LIMITS[key][1]


LIMITS = {}


def tensor_bytes(value):
    """The bytes of the tensors in a plain value (an outcome as ``plain.roundtrip`` gives it)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Module):
        return tensor_bytes(value.state)
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


# --- nbgrader's Execute, deciding test cells outside the kernel ------------------------------------

NOT_RUN = ("Hidden tests failed: they did not run to the end (the cell was stopped, its kernel died, or "
           "the notebook's code kept them from running).")


def verdict_outputs(passed, lines):
    if passed:
        return [new_output("stream", name="stdout", text="\n".join(lines) + "\n")]
    return [new_output("error", ename="HiddenTestsFailed", evalue=lines[0], traceback=lines)]


def exchange_folder(notebook_folder):
    """The folder where cases and records pass, beside the kernel's working folder (the jail lets
    the kernel write there and nowhere else of the worker's), made anew; a link or file in its
    place goes. In a worker with a mount namespace of its own it is an in-memory folder of
    ``EXCHANGE_MB``: a kernel cannot fill the disk through it, and it is gone with the worker."""
    path = str(exchange_of(notebook_folder))
    remove_exchange(path)
    os.mkdir(path, 0o755)
    if own_mount_namespace():
        subprocess.run([tool("mount"), "-t", "tmpfs", "-o", f"mode=755,size={EXCHANGE_MB}m", "tmpfs", path], check=True)
    return path


EXCHANGE_MB = 1536  # the cases take at most CASES_LIMIT_MB, a record what record_limits allows


def own_mount_namespace():
    """Whether this process runs in a mount namespace of its own (a worker in the sandbox, as root;
    ``sandbox.wrapped`` says so), where a mount is seen by its kernels and nothing else."""
    return os.geteuid() == 0 and os.environ.get(OWN_MOUNTS) == "1"


def remove_exchange(path):
    if os.path.ismount(path):
        subprocess.run([tool("umount"), "-l", path], check=False)
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)


def shipped(check_list):
    """The file of one cell's cases, as the kernel reads it (made once per worker and cell)."""
    key = id(check_list)
    if key not in SHIPPED:
        buffer = io.BytesIO()
        # protocol 4 keeps the sealed answers (bytes) as they are; torch's default 2 writes them as text
        torch.save([{"name": c.name, "calls": c.calls} for c in check_list], buffer, pickle_protocol=4)
        SHIPPED[key] = (check_list, buffer.getvalue())  # the list is kept, so its id stays its own
    return SHIPPED[key][1]


SHIPPED = {}


def write_cases(folder, gid, check_list):
    """The cases of one cell, for the kernel; written through the folder's descriptor, no link followed."""
    data = shipped(check_list)
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for suffix in ("cases", "record"):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(f"{gid}.{suffix}", dir_fd=directory)
        descriptor = os.open(f"{gid}.cases", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644,
                             dir_fd=directory)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    finally:
        os.close(directory)


def probe_line(gid, folder):
    return f'__import__("autograder.probe", fromlist=["run"]).run({gid!r}, {folder!r})'


def decide(cell, gid, check_list, folder, run):
    """Run the cell as ``probe.run`` through ``run(cell)``, then give it the verdict's outputs."""
    write_cases(folder, gid, check_list)
    source = cell.source
    cell.source = probe_line(gid, folder)
    try:
        cell = run(cell)
    finally:
        cell.source = source
    try:
        record = read_record(os.path.join(folder, f"{gid}.record"), record_limits(check_list))
    except RecordTooLarge as error:
        passed, lines = False, [f"Hidden tests failed: their record takes {error}."]
    except (ValueError, KeyError, TypeError, IndexError, struct.error, json.JSONDecodeError, RuntimeError) as error:
        passed, lines = False, [f"Hidden tests failed: their record could not be read ({type(error).__name__})."]
    else:
        passed, lines = checks.judge(check_list, record) if record is not None else (False, [NOT_RUN])
    cell.outputs = verdict_outputs(passed, lines)
    for suffix in ("cases", "record"):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, f"{gid}.{suffix}"))
    return cell


# What the worker keeps of a notebook's output while it runs (nbclient collects every message in
# memory; ``LimitOutput`` and ``LimitOutputSize`` cut the notebook only after it has run), and the
# largest message it takes from a kernel at all: a larger one is refused by ZeroMQ, unread.
OUTPUT_CELL_LIMIT = 4 * 2**20  # bytes of output messages a cell
OUTPUT_NOTEBOOK_LIMIT = 32 * 2**20
MESSAGE_LIMIT = 64 * 2**20


class LimitedKernelManager(AsyncKernelManager):
    """A kernel manager whose clients refuse messages over ``MESSAGE_LIMIT`` bytes."""

    def client(self, **kwargs):
        client = super().client(**kwargs)
        client.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)  # for the sockets made from now on
        return client


def message_size(msg):
    """About how many bytes an output message adds to what the worker holds."""
    content = msg["content"]
    size = len(content["text"]) if isinstance(content.get("text"), str) else len(json.dumps(content, default=str))
    return size + sum(len(b) for b in msg.get("buffers") or ())


KEPT_MESSAGES = ("status", "execute_input", "clear_output")  # carry no output: always processed


class OutputBudget:
    """For an nbclient ``NotebookClient``: what a notebook prints is kept up to
    ``OUTPUT_CELL_LIMIT`` a cell and ``OUTPUT_NOTEBOOK_LIMIT`` in all while it runs; the rest is
    dropped as it arrives, with a note in the cell. Its clients refuse messages over
    ``MESSAGE_LIMIT`` (``LimitedKernelManager``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", LimitedKernelManager)  # nbgrader's Execute sets AsyncKernelManager
        # A message refused for its size may take the cell's last ones with it: go on without them
        # (the points come from the records, not from the outputs).
        kwargs.setdefault("raise_on_iopub_timeout", False)
        super().__init__(*args, **kwargs)
        self.output_kept, self.output_cell = {}, None

    def process_message(self, msg, cell, cell_index):
        """nbclient's handling of one message from the kernel, for as long as the output budget lasts."""
        if msg["msg_type"] in KEPT_MESSAGES:
            return super().process_message(msg, cell, cell_index)
        size = message_size(msg)
        kept = self.output_kept
        if kept.get(cell_index, 0) + size > OUTPUT_CELL_LIMIT or sum(kept.values()) + size > OUTPUT_NOTEBOOK_LIMIT:
            if self.output_cell != cell_index:  # one note a cell
                self.output_cell = cell_index
                cell.outputs.append(new_output("stream", name="stderr", text=(
                    "[output cut by the grader: more than the "
                    f"{OUTPUT_CELL_LIMIT // 2**20} MB a cell or {OUTPUT_NOTEBOOK_LIMIT // 2**20} MB in all it keeps]\n")))
            return None
        kept[cell_index] = kept.get(cell_index, 0) + size
        return super().process_message(msg, cell, cell_index)


class TrustedExecute(OutputBudget, Execute):
    """nbgrader's ``Execute``, except that graded test cells are decided by the grader, and that
    a notebook's output is kept within a budget as it arrives (``OutputBudget``)."""

    def preprocess(self, nb, resources=None, *args, **kwargs):
        self.chapter_cases = cases(resources["nbgrader"]["assignment"])
        self.folder = exchange_folder(resources["metadata"]["path"])
        self.output_kept, self.output_cell = {}, None
        try:
            return super().preprocess(nb, resources, *args, **kwargs)
        finally:
            remove_exchange(self.folder)

    def preprocess_cell(self, cell, resources, index):
        gid = grade_id(cell)
        if not (is_test_cell(cell) and gid in self.chapter_cases):
            return super().preprocess_cell(cell, resources, index)

        def run(cell):
            return super(TrustedExecute, self).preprocess_cell(cell, resources, index)[0]

        return decide(cell, gid, self.chapter_cases[gid], self.folder, run), self.resources
