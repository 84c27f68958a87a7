"""The grading kernel's jail: the student's code runs as a uid of its own, in a root made of an allow-list.

nbgrader starts each kernel through the kernel spec that ``install_kernel`` writes for a grading run;
its command is ``python -m autograder.jail CONNECTION_FILE --home DIR --memory-mb N ...``. As root,
this module puts itself into the job's cgroups (memory of all its processes, a process count;
``confine``), sets per-process limits, and then runs the kernel

* in a **mount namespace** whose root is a new, empty in-memory folder (``pivot_root``) into which
  only what the kernel needs is mounted, read-only (``kept_folders``, ``DEVICES``): the system's programs and
  libraries (``/usr`` and its links, ``/etc``), the Python installation it runs on (the virtual
  environment and its base), the ``autograder`` package, ``/sys/devices/system/cpu`` (the CPU count
  torch and OpenMP read), and five devices (``/dev/null``, ``zero``, ``full``, ``random``,
  ``urandom``). Nothing else of the machine is there: no course repository or other checkout, no
  results, submissions or grader's home, no ``/var``, ``/run``, ``/root``, ``/home``, no other
  device, no other part of ``/sys``. It can write in exactly four places: its working folder (a new
  in-memory folder, the job's scratch space), the exchange folder beside it where the grader's
  cases come in and the record goes out (``verdict.py``; an in-memory folder of the worker's), its
  own in-memory ``/tmp`` (its home, which starts as a copy of ``--home``: matplotlib's font list,
  built once per run) and ``/dev/shm``;
* in a **PID namespace** with its own ``/proc``: it sees no other process;
* as **a uid of its own** (``job_uid``: one per job, no user of the machine), without capabilities
  (``setpriv``), with a short list of environment variables and ``/dev/null`` as its standard
  descriptors. The grader and this module run their helpers by absolute path (``tool``).

The network namespace and the worker's limits come from ``sandbox.py``, around the whole job.
"""

import argparse
import functools
import hashlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HOME = "/tmp"  # the kernel's home inside the jail: its own in-memory folder, a copy of ``--home``
CONNECTION = f"{HOME}/.kernel/connection.json"  # the kernel's connection file
NEW_ROOT = "/mnt"  # where the kernel's root is put together (in the jail's own mount namespace)
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
SYSFS = ("/sys/devices/system/cpu",)  # the CPU count and caches: nothing else of /sys
DEVICES = ("null", "zero", "full", "random", "urandom")
SIZES_MB = {"/": 16, HOME: 512, "/dev/shm": 256}  # the in-memory folders (all the job's memory too)
FIRST_UID, UIDS = 2_000_000, 1_000_000  # the kernels' uids: no user of the machine has one of these
KERNEL_ENV = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONDONTWRITEBYTECODE")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # where the jail's helpers are looked up, nowhere else
OWN_MOUNTS = "AUTOGRADER_OWN_MOUNTS"  # set in a worker that has a mount namespace of its own (sandbox.py)


def tool(name):
    """The absolute path of the system command ``name``: a program a kernel planted in another
    folder of PATH is never run with the jail's capabilities."""
    return shutil.which(name, path=SYSTEM_PATH) or f"/usr/bin/{name}"


NAMESPACES = [tool("unshare"), "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private"]
DROP = [tool("setpriv"), "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


@functools.cache
def available():
    """Root, ``unshare``, ``setpriv`` and ``pivot_root``, and namespaces that let the jail's root be
    built (not in every container): probed by building one and running ``true`` in it."""
    if os.geteuid() != 0 or not all(os.path.exists(tool(t)) for t in ("unshare", "setpriv", "pivot_root")):
        return False
    lines = [*root_lines(kept_folders([])), *enter_root_lines(), *read_only_but([]), "exec " + shlex.join(DROP) + " true"]
    probe = [*NAMESPACES, tool("sh"), "-c", "\n".join(["set -e", f"export PATH={SYSTEM_PATH}", *lines])]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def install_kernel(folder, keep=(), limits=()):
    """Write the jailed ``python3`` kernel spec into ``folder/jupyter`` (put on ``JUPYTER_PATH``), and
    the home every jailed kernel starts with a copy of (``warm_home``). ``keep``: more folders the
    kernel sees, read-only; ``limits`` are options of ``main`` (``--memory-mb 8192`` ...)."""
    home = folder / "jupyter" / "home"
    warm_home(home)
    argv = [sys.executable, "-m", "autograder.jail", "{connection_file}", "--home", str(home), *map(str, limits)]
    argv += [arg for path in keep for arg in ("--keep", str(path))]
    spec = folder / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (grading jail)", "language": "python"}, indent=1))


def warm_home(home):
    """matplotlib's font list, built once into ``home``: a kernel whose empty home lacks it spends
    0.1-0.3 s of CPU building it again, in every graded notebook that imports matplotlib."""
    env = os.environ | {"MPLCONFIGDIR": str(home / ".matplotlib")}
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True, check=False)


def kept_folders(extra):
    """What the kernel sees of the machine: the system's folders, its Python (the virtual
    environment and the base installation), the ``autograder`` package, and ``extra``; the
    outermost of each nest, in a stable order."""
    package = Path(__file__).resolve().parent
    pythons = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    system = {Path(p) for p in (*SYSTEM, *SYSFS) if os.path.lexists(p)}
    folders = sorted({*system, *pythons, package, *(Path(p).resolve() for p in extra)},
                     key=lambda p: (len(p.parts), str(p)))
    return [f for i, f in enumerate(folders) if not any(under(f, g) and not g.is_symlink() for g in folders[:i])]


def under(path, folder):
    return path == folder or folder in path.parents


EXCHANGE_SUFFIX = ".grading"  # the folder beside the kernel's where cases and records pass (verdict.py)


def exchange_of(cwd):
    return Path(f"{cwd}{EXCHANGE_SUFFIX}")


def job_uid(cwd):
    """The uid a job's kernel runs as: its own, derived from the job's folder."""
    return FIRST_UID + int(hashlib.sha256(str(cwd).encode()).hexdigest()[:8], 16) % UIDS


def root_lines(kept, home=None, connection=None):
    """Shell lines that build the kernel's root in ``NEW_ROOT``: an in-memory folder holding its own
    ``/tmp`` (``HOME``, a copy of ``home`` and the connection file), the ``kept`` folders (links
    such as ``/bin -> usr/bin`` as links), five devices, ``/dev/shm`` and this PID namespace's
    ``/proc``."""
    q, r = shlex.quote, NEW_ROOT
    lines = [f"mkdir -p {r}", f"mount -t tmpfs -o mode=755,size={SIZES_MB['/']}m tmpfs {r}",
             f"mkdir -p {r}{HOME} {r}/dev/shm {r}/proc",
             f"mount -t tmpfs -o mode=1777,size={SIZES_MB[HOME]}m tmpfs {r}{HOME}"]
    if home is not None:
        lines.append(f"if [ -d {q(str(home))} ]; then cp -a {q(str(home))}/. {r}{HOME}; fi")
    if connection is not None:
        lines += [f"mkdir -p {r}{Path(CONNECTION).parent}", f"cp {q(str(connection))} {r}{CONNECTION}"]
    for folder in kept:  # a checkout under /tmp puts its kept folders inside the kernel's /tmp
        if folder.is_symlink():
            lines.append(f"ln -s {q(os.readlink(folder))} {r}{q(str(folder))}")
        else:
            lines += [f"mkdir -p {r}{q(str(folder))}", f"mount --rbind {q(str(folder))} {r}{q(str(folder))}",
                      f"mount -o remount,bind,ro {r}{q(str(folder))}"]
    for device in DEVICES:
        lines += [f"touch {r}/dev/{device}", f"mount --bind /dev/{device} {r}/dev/{device}"]
    lines += [f"ln -s /proc/self/fd {r}/dev/fd",
              f"mount -t tmpfs -o mode=1777,size={SIZES_MB['/dev/shm']}m tmpfs {r}/dev/shm",
              f"mount -t proc proc {r}/proc"]
    return lines


def enter_root_lines():
    """Shell lines that make ``NEW_ROOT`` the root and let go of the machine's, then make the new
    root itself read-only."""
    return [f"cd {NEW_ROOT}", "mkdir .machine", "pivot_root . .machine", "cd /", "umount -l /.machine",
            "rmdir /.machine", "mount -o remount,ro /"]


def script(connection, keep, cwd, kernel_options=(), home=None, uid=None, scratch_mb=1024):
    """The shell commands that build the jail and start the kernel as ``uid`` (default: root
    without capabilities). Its working folder ``cwd`` is a new in-memory folder of ``scratch_mb``;
    the exchange folder beside it (``exchange_of``) is mounted in as the only folder of the
    worker's it can write."""
    exchange = exchange_of(cwd)
    writable = [exchange] if exchange.is_dir() and not exchange.is_symlink() else []
    q, r = shlex.quote, NEW_ROOT
    lines = ["set -e", 'KERNEL_PATH="$PATH"', f"export PATH={SYSTEM_PATH}",
             *root_lines(kept_folders(keep), home, connection),
             f"mkdir -p {r}{q(str(cwd))}", f"mount -t tmpfs -o mode=700,size={scratch_mb}m tmpfs {r}{q(str(cwd))}"]
    for folder in writable:
        lines += [f"mkdir -p {r}{q(str(folder))}", f"mount --bind {q(str(folder))} {r}{q(str(folder))}"]
    if uid is not None:
        # -xdev: a checkout under /tmp has its kept (read-only) folders inside the kernel's /tmp
        lines.append(f"find {r}{HOME} -xdev -exec chown {uid}:{uid} {{}} + 2>/dev/null || true")
        lines.append(f"chown -R {uid}:{uid} {r}{q(str(cwd))}" + "".join(f" {r}{q(str(w))}" for w in writable))
    lines += [*enter_root_lines(), *read_only_but([cwd, *writable]), f"cd {q(str(cwd))}", 'export PATH="$KERNEL_PATH"']
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", CONNECTION, *kernel_options]
    drop = DROP if uid is None else [DROP[0], f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *DROP[1:]]
    # no descriptor of the worker's: its log holds other students' output (/proc/self/fd would reopen it)
    lines.append("exec " + shlex.join(drop + kernel) + " </dev/null >/dev/null 2>&1")
    return "\n".join(lines)


def read_only_but(writable):
    """Shell lines, run in the new root, that make every mount read-only but ``writable``, the
    kernel's ``/tmp``, ``/dev/shm``, the devices and ``/proc``: a bind mount keeps the flags of
    what it binds, so a folder mounted under a kept one would otherwise stay writable."""
    keep = [*writable, HOME, "/dev/shm", "/proc", *(f"/dev/{d}" for d in DEVICES)]
    patterns = " | ".join(shlex.quote(str(p)) for p in keep) + " | /proc/*"
    return ["awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do",
            f'  case "$point" in {patterns}) continue ;; esac',
            '  mount -o remount,bind,ro "$point" 2>/dev/null || true',
            "done"]


# --- Per-job limits: a cgroup for all of the kernel's processes, else limits per process ---------

def cgroup_folders(uid):
    """``{controller: folder}`` of the job's memory and pids cgroups (cgroup v1, beside this
    process's own), or {} where this machine does not have them."""
    folders = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return folders
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in ("memory", "pids"):
            if controller in controllers.split(","):
                base = Path("/sys/fs/cgroup") / controllers
                if base.is_dir():
                    folders[controller] = base / path.lstrip("/") / f"grading-{uid}"
    return folders if len(folders) == 2 else {}


def confine(uid, memory_bytes, processes):
    """Put this process (and so the kernel it becomes) into the job's cgroups: memory for all its
    processes and its in-memory folders together, a process count. True when both took effect."""
    folders = cgroup_folders(uid)
    settings = {"memory": {"memory.limit_in_bytes": memory_bytes}, "pids": {"pids.max": processes}}
    try:
        for controller, folder in folders.items():
            folder.mkdir(exist_ok=True)
            for name, value in settings[controller].items():
                (folder / name).write_text(str(value))
            (folder / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return False
    return bool(folders)


def release(cwd):
    """Remove the job's cgroups once its kernel is gone (a few tries: the last process may still
    be exiting)."""
    for folder in cgroup_folders(job_uid(Path(cwd))).values():
        for _ in range(20):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


@functools.cache
def cgroups_available():
    """Whether this machine lets the grader make per-job cgroups (probed once)."""
    folders = cgroup_folders("probe")
    try:
        for folder in folders.values():
            folder.mkdir(exist_ok=True)
            folder.rmdir()
    except OSError:
        return False
    return bool(folders) and os.geteuid() == 0


def kernel_environment():
    env = {name: os.environ[name] for name in KERNEL_ENV if name in os.environ}
    return env | {"HOME": HOME, "IPYTHONDIR": f"{HOME}/.ipython", "MPLCONFIGDIR": f"{HOME}/.matplotlib",
                  "HF_HOME": f"{HOME}/.cache", "JUPYTER_RUNTIME_DIR": f"{HOME}/.runtime", "AUTOGRADER_JAIL": "1"}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.jail", description=__doc__)
    parser.add_argument("connection_file")
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("--home", help="a folder whose copy the kernel's home starts as")
    parser.add_argument("--memory-mb", type=int, default=8192, help="memory of all the job's processes")
    parser.add_argument("--processes", type=int, default=256, help="processes and threads of the job")
    parser.add_argument("--cpu-seconds", type=int, default=3600, help="CPU time of each of its processes")
    parser.add_argument("--scratch-mb", type=int, default=1024, help="size of the kernel's working folder")
    args, kernel_options = parser.parse_known_args(argv)  # nbclient adds options for the kernel
    cwd = Path.cwd().resolve()
    uid = job_uid(cwd)
    confine(uid, args.memory_mb * 2**20, args.processes)
    resource.setrlimit(resource.RLIMIT_NPROC, (args.processes, args.processes))  # counted for the job's uid
    resource.setrlimit(resource.RLIMIT_CPU, (args.cpu_seconds, args.cpu_seconds))
    command = [*NAMESPACES, tool("sh"), "-c", script(args.connection_file, args.keep, cwd, kernel_options,
                                                  args.home, uid, args.scratch_mb)]
    os.execve(command[0], command, kernel_environment())


if __name__ == "__main__":
    main()
