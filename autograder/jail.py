"""The grading kernel's jail: the student's code runs as a uid of its own, in a root it cannot change.

nbgrader starts each kernel through the kernel spec that ``install_kernel`` writes for a grading run;
its command is ``python -m autograder.jail CONNECTION_FILE --home DIR --hide PATH ... --memory-mb N``.
As root, this module puts itself into the job's cgroups (memory of all its processes, a process
count; ``confine``), sets per-process limits, and then runs the kernel

* in a **mount namespace** where each ``--hide`` folder (the course repository, the results folder
  with the gradebooks and other students' files, the submissions, the grader's home, ``/tmp``) is an
  empty in-memory folder, into which only the Python installation and the ``autograder`` package
  are put back, read-only; its working folder is a new in-memory folder (the job's scratch space,
  gone with the kernel), and the one real folder it can write is the exchange folder beside it,
  where the grader's cases come in and the record goes out (``verdict.py``); every other mount is
  read-only (``read_only_but``); its home, ``/tmp``, starts as a copy of ``--home`` (matplotlib's
  font list, built once per run);
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

HOME = "/tmp"  # the kernel's home inside the jail: an empty in-memory folder but for ``--home``'s copy
CONNECTION = f"{HOME}/.kernel/connection.json"  # the kernel's connection file
STASH = "/mnt"  # where kept folders wait while the others are hidden (private to the namespace)
FIRST_UID, UIDS = 2_000_000, 1_000_000  # the kernels' uids: no user of the machine has one of these
KERNEL_ENV = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONDONTWRITEBYTECODE")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # where the jail's helpers are looked up, nowhere else


def tool(name):
    """The absolute path of the system command ``name``: a program a kernel planted in another
    folder of PATH is never run with the jail's capabilities."""
    return shutil.which(name, path=SYSTEM_PATH) or f"/usr/bin/{name}"


NAMESPACES = [tool("unshare"), "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private"]
DROP = [tool("setpriv"), "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


@functools.cache
def available():
    """Root, ``unshare`` and ``setpriv``, and a namespace that mounts (not in every container)."""
    if os.geteuid() != 0 or not os.path.exists(tool("unshare")) or not os.path.exists(tool("setpriv")):
        return False
    probe = [*NAMESPACES, tool("sh"), "-c", f"export PATH={SYSTEM_PATH}; mkdir -p {STASH} && mount -t tmpfs tmpfs "
             f"{STASH} && mount -o remount,bind,ro / && " + shlex.join(DROP) + " true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def install_kernel(folder, hide, keep, limits=()):
    """Write the jailed ``python3`` kernel spec into ``folder/jupyter`` (put on ``JUPYTER_PATH``), and
    the home every jailed kernel starts with a copy of (``warm_home``). ``limits`` are options of
    ``main`` (``--memory-mb 8192`` ...)."""
    home = folder / "jupyter" / "home"
    warm_home(home)
    argv = [sys.executable, "-m", "autograder.jail", "{connection_file}", "--home", str(home), *map(str, limits)]
    argv += [arg for path in hide for arg in ("--hide", str(path))]
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
    """What the kernel needs to see: its Python (the virtual environment and the base installation),
    the ``autograder`` package, and ``extra``."""
    package = Path(__file__).resolve().parent
    pythons = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    folders = sorted({*pythons, package}, key=lambda p: len(p.parts))
    outermost = [f for i, f in enumerate(folders) if not any(under(f, g) for g in folders[:i])]
    return outermost + [Path(p) for p in extra]


def under(path, folder):
    return path == folder or folder in path.parents


EXCHANGE_SUFFIX = ".grading"  # the folder beside the kernel's where cases and records pass (verdict.py)


def exchange_of(cwd):
    return Path(f"{cwd}{EXCHANGE_SUFFIX}")


def job_uid(cwd):
    """The uid a job's kernel runs as: its own, derived from the job's folder."""
    return FIRST_UID + int(hashlib.sha256(str(cwd).encode()).hexdigest()[:8], 16) % UIDS


def script(connection, hide, keep, cwd, kernel_options=(), home=None, uid=None, scratch_mb=1024):
    """The shell commands that build the jail and start the kernel as ``uid`` (default: root
    without capabilities). Its working folder ``cwd`` is a new in-memory folder of ``scratch_mb``;
    the exchange folder beside it (``exchange_of``) is the one real folder it can write; its home
    (``HOME``: ``/tmp``, hidden like the others) starts as a copy of the folder ``home``."""
    hide = sorted({Path(p) for p in hide}, key=lambda p: len(p.parts))
    exchange = exchange_of(cwd)
    writable = [exchange] if exchange.is_dir() and not exchange.is_symlink() else []
    keep = [k for k in kept_folders([*keep, *writable]) if any(under(k, h) for h in hide)]
    q = shlex.quote
    lines = ["set -e", 'KERNEL_PATH="$PATH"', f"export PATH={SYSTEM_PATH}",
             f"mkdir -p {STASH}", f"mount -t tmpfs -o mode=700 tmpfs {STASH}",
             f"cp {q(connection)} {STASH}/connection.json", f"mkdir {STASH}/home"]
    if home is not None:
        lines.append(f"if [ -d {q(str(home))} ]; then cp -a {q(str(home))}/. {STASH}/home; fi")
    lines += [f"mkdir {STASH}/{i}; mount --rbind {q(str(k))} {STASH}/{i}" for i, k in enumerate(keep)]
    lines += [f"if [ -d {q(str(h))} ]; then mount -t tmpfs -o mode=1777,size=512m tmpfs {q(str(h))}; fi"
              for h in hide]
    for i, k in enumerate(keep):
        lines.append(f"mkdir -p {q(str(k))}; mount --rbind {STASH}/{i} {q(str(k))}")
        if k not in writable:
            lines.append(f"mount -o remount,bind,ro {q(str(k))}")
    lines += [f"mkdir -p {q(str(cwd))}", f"mount -t tmpfs -o mode=700,size={scratch_mb}m tmpfs {q(str(cwd))}",
              f"mkdir -p {Path(CONNECTION).parent}; cp {STASH}/connection.json {CONNECTION}",
              f"cp -a {STASH}/home/. {HOME}", f"umount -l {STASH}"]
    if uid is not None:
        # -xdev: the home is /tmp, which may hold the kept (read-only) folders of a checkout under /tmp
        lines.append(f"find {HOME} -xdev -exec chown {uid}:{uid} {{}} + 2>/dev/null || true")
        lines.append(f"chown -R {uid}:{uid} {q(str(cwd))}" + "".join(f" {q(str(w))}" for w in writable))
    lines += [*read_only_but([cwd, *writable], hide), f"cd {q(str(cwd))}", 'export PATH="$KERNEL_PATH"']
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", CONNECTION, *kernel_options]
    drop = DROP if uid is None else [DROP[0], f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *DROP[1:]]
    # no descriptor of the worker's: its log holds other students' output (/proc/self/fd would reopen it)
    lines.append("exec " + shlex.join(drop + kernel) + " </dev/null >/dev/null 2>&1")
    return "\n".join(lines)


def read_only_but(writable, hide):
    """Shell lines that make every mount the kernel sees read-only, but ``writable``, the
    in-memory folders that hide the course (its ``/tmp`` among them) and ``/proc``: no program can
    be left in ``/usr/local/bin`` for the grader to run, no file in ``/var/tmp`` for another job."""
    patterns = " | ".join(shlex.quote(str(p)) for p in [*writable, *hide, "/proc"]) + " | /proc/*"
    return ["mount -o remount,bind,ro /",
            "awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do",
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
    parser.add_argument("--hide", action="append", default=[])
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
    command = [*NAMESPACES, tool("sh"), "-c", script(args.connection_file, args.hide, args.keep, cwd, kernel_options,
                                                  args.home, uid, args.scratch_mb)]
    os.execve(command[0], command, kernel_environment())


if __name__ == "__main__":
    main()
