"""``python -m autograder grade SUBMISSIONS --out RESULTS`` grades a folder (or zip) of submissions;
``python -m autograder total --out RESULTS`` adds the written answers' points once given.

The course is published by ``python -m publish release|pages`` (``make release``, ``make book``)."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a folder or zip of student notebooks")
    grade.add_argument("submissions", help="a folder (a folder per student, or flat) or an LMS zip")
    grade.add_argument("--out", required=True, help="where grades.csv, feedback/ and work/ go")
    grade.add_argument("--workers", type=int, default=None, help="jobs side by side (default: CPU count)")
    grade.add_argument("--pattern", help="regular expression with a named group 'student' (and 'chapter')")
    grade.add_argument("--cell-timeout", type=int, default=None,
                       help="seconds per cell (default 120; 900 with --whole, whose experiment cells take minutes)")
    grade.add_argument("--notebook-timeout", type=int, default=1800, help="seconds per notebook (default 1800)")
    grade.add_argument("--memory-gb", type=float, default=8.0, help="memory per job in GiB (default 8)")
    grade.add_argument("--whole", action="store_true",
                       help="also run each chapter's experiments (grades are the same; much slower)")

    def run_grade(args):
        from autograder.grader import main as grade_main  # noqa: PLC0415

        grade_main(args)

    grade.set_defaults(run=run_grade)
    total = commands.add_parser("total", help="add the written questions' points (written.csv) to grades.csv")
    total.add_argument("--out", required=True, help="the results folder of a grading run")

    def run_total(args):
        from autograder.written import main as total_main  # noqa: PLC0415

        total_main(args)

    total.set_defaults(run=run_total)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
