"""``python -m autograder.bench``: seconds per chapter to execute, release, build the book, autograde.

Prints one table. Each figure is one measured run on this machine (no warm-up): the numbers a
newcomer will see.
"""

import subprocess
import tempfile
import time
from pathlib import Path

from autograder.course import ROOT, chapters
from autograder.grade import nbgrader, prepare, submit
from autograder.pages import STAGE, executed, write_pages
from autograder.release import release
from autograder.submissions import submission


def seconds(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def book_build():
    command = ["make", "--no-print-directory", "-s", "book"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)


def autograde_one(chapter):
    """Seconds of ``nbgrader autograde`` for one reference submission (set-up not counted)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        prepare(chapter, root)
        submit(chapter, {"student": submission(chapter)}, root)
        return seconds(lambda: nbgrader("autograde", chapter, cwd=root))


def main():
    rows = []
    for chapter in chapters():
        with tempfile.TemporaryDirectory() as folder:
            rows.append((chapter, "execute instructor notebook", seconds(lambda c=chapter: executed(c))))
            rows.append((chapter, "release (nbgrader generate_assignment)", seconds(lambda c=chapter: release(c, folder))))
        rows.append((chapter, "autograde one submission", autograde_one(chapter)))
    rows.append(("all", "book pages (execute + strip)", seconds(lambda: write_pages(chapters(), STAGE))))
    rows.append(("all", "book: make book (pages + jupyter-book -W)", seconds(book_build)))
    print(f"\n{'chapter':<14}{'step':<44}{'seconds':>8}")
    for chapter, step, value in rows:
        print(f"{chapter:<14}{step:<44}{value:>8.1f}")


if __name__ == "__main__":
    main()
