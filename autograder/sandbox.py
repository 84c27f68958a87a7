"""Run a grading command with the operating system's limits around it.

What it uses, when the machine allows it (each is checked once, and what is missing is reported):

* **No network**: a new network namespace (``unshare --net``) with only a loopback interface, which
  the kernel needs to talk to nbgrader.
* **A user of its own**: as root, each job runs as a numeric user id of its own (``setpriv``), and
  its folder is readable by that user only, so a submission cannot read other students' files or
  results.
* **Resources**: an address-space limit (memory), a file-size limit (output written to disk), no
  core dumps, math threads capped so side-by-side jobs share the cores; a per-cell timeout
  (nbgrader's ``Execute.timeout``) and a whole-job timeout that stops the job's process group.

What it does not cover: the hidden tests load the reference from the instructor notebooks, so those
are readable from inside a job; and code in a notebook shares the kernel with the tests that grade
it. See the instructor guide.
"""

import functools
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from autograder.course import tool_env


@dataclass(frozen=True)
class Limits:
    cell_seconds: int = 120
    notebook_seconds: int = 1800
    memory_gb: float = 8.0
    file_mb: int = 200
    threads: int = 0
    whole: bool = False  # run the chapter's experiments too (slow; grades do not change)

    def shared_by(self, workers):
        return replace(self, threads=max(1, (os.cpu_count() or 1) // workers))


@functools.cache
def can_isolate_network():
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, check=False)
    return probe.returncode == 0


@functools.cache
def can_switch_user():
    """Root, setpriv, and a Python that another user can start a kernel with (not one that lives
    in root's home, as on the course's build machine)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    launch = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import nbgrader, torch'], check=True)"
    probe = ["setpriv", "--reuid=200000", "--regid=200000", "--clear-groups", "--", sys.executable, "-c", launch]
    return subprocess.run(probe, capture_output=True, check=False, cwd="/", env=tool_env()).returncode == 0


def job_uid(job):
    """A numeric user id of the job's own, from its folder's name (no account is created)."""
    return 200000 + int(hashlib.sha256(str(job).encode()).hexdigest()[:6], 16) % 100000


def limit_resources(limits):
    def apply():
        memory = int(limits.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def job_environment(job, limits):
    env = tool_env() | {
        "HOME": str(job), "IPYTHONDIR": str(job / ".ipython"), "JUPYTER_RUNTIME_DIR": str(job / ".runtime"),
        "MPLCONFIGDIR": str(job / ".matplotlib"), "HF_HOME": str(job / ".cache"),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1",
    }
    if limits.threads:
        env |= {"OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads)}
    return env


def wrapped(command, job):
    """``command`` behind the network namespace and user switch that this machine allows."""
    if can_switch_user():
        uid = job_uid(job)
        for path in [job, *job.rglob("*")]:
            os.chown(path, uid, uid)
        Path(job).chmod(0o700)
        command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *command]
    if can_isolate_network():
        command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    return command


def sandboxed(command, job, limits):
    """Run ``command`` in folder ``job`` under ``limits``; raise TimeoutExpired past the job's time."""
    job = Path(job)
    process = subprocess.Popen(wrapped(command, job), cwd=job, env=job_environment(job, limits),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=limit_resources(limits), start_new_session=True)  # noqa: PLW1509
    try:
        stdout, stderr = process.communicate(timeout=limits.notebook_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        # the kernel runs in a session of its own; its connection file lies in the job's folder
        subprocess.run(["pkill", "-KILL", "-f", str(job / ".runtime")], check=False)
        process.communicate()
        raise
    finally:
        if os.geteuid() == 0:
            for path in [job, *job.rglob("*")]:
                os.chown(path, 0, 0)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def protections():
    """What this machine's sandbox provides, in words, for the summary and the guide."""
    return {"network namespace": can_isolate_network(), "user of its own": can_switch_user(),
            "memory, file-size and time limits": True}
