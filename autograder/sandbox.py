"""Run a grading command with the operating system's limits around it.

What it uses, when the machine allows it (each is checked once, and what is missing is reported):

* **No network**: a new network namespace (``unshare --net``) with only a loopback interface, which
  the kernel needs to talk to nbgrader.
* **A jailed kernel**: the kernel that runs the student's code sees only its own folder and the
  Python it runs on, no other process, and has no capabilities (``jail.py``, through the kernel
  spec the grader writes once per run); the hidden tests bring the reference with them.
* **Resources**: an address-space limit (memory), a file-size limit (output written to disk), no
  core dumps, math threads capped so side-by-side jobs share the cores; a per-cell timeout
  (nbgrader's ``Execute.timeout``) and a whole-job timeout that stops the job's process group.

What it does not cover: code in a notebook shares the kernel with the tests that grade it (see the
instructor guide, ``book/grading.md``, and ``SANDBOX.md``).
"""

import contextlib
import functools
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from autograder import jail
from autograder.course import thread_cap, threads_each, tool_env


@dataclass(frozen=True)
class Limits:
    cell_seconds: int = 120
    notebook_seconds: int = 1800
    memory_gb: float = 8.0
    file_mb: int = 200
    threads: int = 0
    whole: bool = False  # run the chapter's experiments too (slow; grades do not change)
    plain: bool = False  # nbgrader as it comes: hidden tests in the student's kernel, not jailed (coursedir.py)

    @classmethod
    def of_run(cls, whole=False, cell_seconds=None, **limits):
        """The limits of a run: ``cell_seconds`` per cell if given, else 120, or 900 with ``whole``
        (an experiment cell takes minutes on 2 cores)."""
        return cls(cell_seconds=cell_seconds or (900 if whole else cls.cell_seconds), whole=whole, **limits)

    def shared_by(self, workers):
        return replace(self, threads=threads_each(workers))

    def jail_options(self):
        """The per-job limits the jail sets around the kernel (``jail.main``)."""
        return ["--memory-mb", int(self.memory_gb * 1024), "--processes", 256,
                "--cpu-seconds", self.notebook_seconds * (os.cpu_count() or 1), "--scratch-mb", 1024]


@functools.cache
def can_isolate_network():
    if not shutil.which("unshare", path=jail.SYSTEM_PATH) or not shutil.which("ip", path=jail.SYSTEM_PATH):
        return False
    probe = subprocess.run([jail.tool("unshare"), "--net", jail.tool("ip"), "link", "set", "lo", "up"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def limit_resources(limits):
    def apply():
        memory = int(limits.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def worker_environment(home, kernels, limits):
    """The worker's environment: its own home and caches, the kernel spec in ``kernels``
    (``jail.install_kernel``), no hub downloads, math threads capped."""
    env = tool_env() | {
        "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_RUNTIME_DIR": str(home / ".runtime"),
        "MPLCONFIGDIR": str(home / ".matplotlib"), "HF_HOME": str(home / ".cache"), "JUPYTER_PATH": str(kernels),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1",
    }
    return env | thread_cap(limits.threads)


def wrapped(command):
    """``command`` in a network namespace of its own and a mount namespace of its own (its kernels'
    exchange folders are mounted there, seen by nothing else), where this machine allows them."""
    net, mounts = can_isolate_network(), jail.available()
    if not (net or mounts):
        return command
    options = ["--net"] * net + ["--mount", "--propagation", "private"] * mounts
    setup = f'{jail.tool("ip")} link set lo up && ' * net + f"export {jail.OWN_MOUNTS}=1 && " * mounts
    return [jail.tool("unshare"), *options, jail.tool("sh"), "-c", f'{setup}exec "$@"', "sh", *command]


class Worker:
    """A sandboxed grading worker (``worker.py``): started when first needed, replaced after a job
    that timed out or killed it."""

    def __init__(self, home, kernels, limits):
        self.home, self.kernels, self.limits = Path(home), Path(kernels), limits
        self.process = None

    def start(self):
        self.home.mkdir(parents=True, exist_ok=True)
        jobs_read, jobs_write = os.pipe()
        results_read, results_write = os.pipe()
        command = wrapped([sys.executable, "-m", "autograder.worker", str(jobs_read), str(results_write)])
        with (self.home / "worker.log").open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.home, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            env=worker_environment(self.home, self.kernels, self.limits),
                                            pass_fds=(jobs_read, results_write), start_new_session=True,
                                            preexec_fn=limit_resources(self.limits))  # noqa: PLW1509
        os.close(jobs_read)
        os.close(results_write)
        self.jobs = os.fdopen(jobs_write, "w", buffering=1)
        self.results = os.fdopen(results_read)

    def grade(self, job, chapter, student):
        """nbgrader's outcome for one job, ``{"success", "log"}``; raise TimeoutExpired past its time."""
        if self.process is None:
            self.start()
        try:
            self.jobs.write(json.dumps({"job": str(job), "chapter": chapter, "student": student}) + "\n")
        except BrokenPipeError:
            self.stop(job, Path(job) / "autograded" / student / chapter)
            return {"success": False, "log": "the grading process had stopped"}
        ready, _, _ = select.select([self.results], [], [], self.limits.notebook_seconds)
        line = self.results.readline() if ready else None
        if not line:
            self.stop(job, Path(job) / "autograded" / student / chapter)
            if line is None:
                raise subprocess.TimeoutExpired(f"grading {job}", self.limits.notebook_seconds)
            return {"success": False, "log": "the grading process died (memory limit?)"}
        return json.loads(line)

    def stop(self, job=None, cwd=None):
        """Stop the worker, and the kernel of ``job`` (it runs in a session of its own; the jail's
        command line names the job's folder, and the kernel runs as the uid of its folder ``cwd``)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.jobs.close()
            self.results.close()
            self.process = None
        if job is not None:
            subprocess.run([jail.tool("pkill"), "-KILL", "-f", f"{job}/"], check=False)
        if cwd is not None:
            subprocess.run([jail.tool("pkill"), "-KILL", "-U", str(jail.job_uid(Path(cwd)))], check=False)
            jail.release(cwd)


def protections():
    """What this machine's sandbox provides, in words, for the summary and the guide."""
    return {"network namespace": can_isolate_network(), "kernel jailed from the course's files": jail.available(),
            "memory, file-size and time limits": True,
            "memory and process count per job (cgroups)": jail.available() and jail.cgroups_available()}
