"""The grading kernel's jail: the student's code sees its own folder and the Python it runs on.

nbgrader starts each kernel through the kernel spec that ``install_kernel`` writes for a grading run;
its command is ``python -m autograder.jail CONNECTION_FILE --home DIR --hide PATH ... --keep PATH ...``.
As root, this module then runs the kernel

* in a **mount namespace** where each ``--hide`` folder (the course repository, the results folder
  with the gradebooks and other students' files, the submissions, the grader's home, ``/tmp``) is an
  empty in-memory folder, into which only the ``--keep`` folders are put back: the Python
  installation and the ``autograder`` package read-only, and the kernel's working folder (the
  student's autograded notebook folder; the notebook file itself reads as empty, since it holds
  the hidden tests while they run); its home, ``/tmp``, starts as a copy of ``--home`` (matplotlib's
  font list, built once per run);
* in a **PID namespace** with its own ``/proc``: it sees no other process, so it cannot reach
  the grader's files through ``/proc/<pid>/cwd`` or read another process's environment;
* **without capabilities** (``setpriv``: still uid 0, so it can start the Python in root's home,
  but it can neither unmount what hides the files nor mount anything), and with a short list of
  environment variables (no tokens from the instructor's shell).

The network namespace and the resource limits come from ``sandbox.py``, around the whole job.
"""

import argparse
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HOME = "/tmp"  # the kernel's home inside the jail: an empty in-memory folder but for ``--home``'s copy
CONNECTION = f"{HOME}/.kernel/connection.json"  # the kernel's connection file
STASH = "/mnt"  # where kept folders wait while the others are hidden (private to the namespace)
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


def install_kernel(folder, hide, keep):
    """Write the jailed ``python3`` kernel spec into ``folder/jupyter`` (put on ``JUPYTER_PATH``), and
    the home every jailed kernel starts with a copy of (``warm_home``)."""
    home = folder / "jupyter" / "home"
    warm_home(home)
    argv = [sys.executable, "-m", "autograder.jail", "{connection_file}", "--home", str(home)]
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


def script(connection, hide, keep, cwd, kernel_options=(), home=None):
    """The shell commands that build the jail and start the kernel, without capabilities; the
    kernel's home (``HOME``: ``/tmp``, hidden like the others) starts as a copy of the folder ``home``."""
    hide = sorted({Path(p) for p in hide}, key=lambda p: len(p.parts))
    keep = [k for k in kept_folders(keep) if any(under(k, h) for h in hide)]
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
        if k != cwd:
            lines.append(f"mount -o remount,bind,ro {q(str(k))}")
    lines += [f'for f in {q(str(cwd))}/*.ipynb; do if [ -f "$f" ]; then mount --bind /dev/null "$f"; fi; done',
              f"mkdir -p {Path(CONNECTION).parent}; cp {STASH}/connection.json {CONNECTION}",
              f"cp -a {STASH}/home/. {HOME}",
              f"umount -l {STASH}", *read_only_but(cwd, hide), f"cd {q(str(cwd))}", 'export PATH="$KERNEL_PATH"']
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", CONNECTION, *kernel_options]
    # no descriptor of the worker's: its log holds other students' output (/proc/self/fd would reopen it)
    lines.append("exec " + shlex.join(DROP + kernel) + " </dev/null >/dev/null 2>&1")
    return "\n".join(lines)


def read_only_but(cwd, hide):
    """Shell lines that make every mount the kernel sees read-only, but its working folder, the
    in-memory folders that hide the course (its ``/tmp`` among them) and ``/proc``: without
    capabilities uid 0 can still write files root owns, such as a program in ``/usr/local/bin``
    that the grader might run."""
    writable = " | ".join(shlex.quote(str(p)) for p in [cwd, *hide, "/proc"]) + " | /proc/*"
    return ["mount -o remount,bind,ro /",
            "awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do",
            f'  case "$point" in {writable}) continue ;; esac',
            '  mount -o remount,bind,ro "$point" 2>/dev/null || true',
            "done"]


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
    args, kernel_options = parser.parse_known_args(argv)  # nbclient adds options for the kernel
    cwd = Path.cwd().resolve()
    command = [*NAMESPACES, tool("sh"), "-c", script(args.connection_file, args.hide, [*args.keep, cwd], cwd, kernel_options,
                                                  args.home)]
    os.execve(command[0], command, kernel_environment())


if __name__ == "__main__":
    main()
