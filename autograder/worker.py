"""A grading worker: one Python process that grades job after job with nbgrader's own API.

Starting nbgrader costs about 2.5 s of CPU (its imports), more than grading a notebook without its
experiments; a job that ran ``nbgrader autograde`` and ``nbgrader generate_feedback`` as commands
paid that twice. A worker pays it once: it reads a job (its course directory, chapter and student)
per line from one pipe, runs nbgrader's ``autograde`` and ``generate_feedback`` on that job's own
course directory and gradebook, and answers on another pipe. The pipes are file descriptors the
kernels it starts do not inherit, so a notebook cannot forge an answer by printing.

The worker itself runs inside the sandbox (``sandbox.Worker``): network namespace, resource
limits, and a whole-job timeout enforced by the grader, which kills and replaces the worker.
"""

import argparse
import json
import os
import shutil
from pathlib import Path

from autograder import jail

LOG_LIMIT = 10 * 2**20  # bytes of the worker's log (its and its kernels' stdout and stderr) kept


def grade_one(job, chapter, student):
    """Autograde and write the feedback of one job; nbgrader's outcome and log."""
    from nbgrader.apps.api import NbGraderAPI  # noqa: PLC0415 - the slow import, once per worker
    from nbgrader.coursedir import CourseDirectory  # noqa: PLC0415
    from traitlets.config.loader import PyFileConfigLoader  # noqa: PLC0415

    config = PyFileConfigLoader("nbgrader_config.py", path=job).load_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    result = api.autograde(chapter, student, force=True)
    jail.release(Path(job) / "autograded" / student / chapter)
    keep_only_notebooks(Path(job) / "autograded" / student / chapter)
    if result["success"]:
        feedback = api.generate_feedback(chapter, student, force=True)
        result = feedback if not feedback["success"] else result
    return {"success": bool(result["success"]), "log": (result.get("error") or "") + (result.get("log") or "")}


def keep_only_notebooks(folder):
    """Empty the kernel's working folder but for the graded notebooks (regular files): nbgrader's
    feedback step copies every file of it, following links, and the kernel could write there."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and entry.name.endswith(".ipynb"):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def serve(jobs_fd, results_fd):
    with os.fdopen(jobs_fd) as jobs, os.fdopen(results_fd, "w", buffering=1) as results:
        for line in jobs:
            if os.fstat(1).st_size > LOG_LIMIT:  # a notebook may print to the kernel's own stdout: this log
                os.ftruncate(1, 0)
            request = json.loads(line)
            os.chdir(request["job"])
            try:
                reply = grade_one(**request)
            except Exception as error:  # noqa: BLE001 - reported to the grader as this job's failure
                reply = {"success": False, "log": f"{type(error).__name__}: {error}"}
            os.chdir(Path(request["job"]).parent)
            results.write(json.dumps(reply) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.worker", description=__doc__)
    parser.add_argument("jobs_fd", type=int)
    parser.add_argument("results_fd", type=int)
    args = parser.parse_args(argv)
    serve(args.jobs_fd, args.results_fd)


if __name__ == "__main__":
    main()
