"""``python -m publish release|pages [CHAPTER ...]``: the student notebooks into ``notebooks/``
(``make release``), or the book's pages into ``_build/src`` (``make book``, before jupyter-book)."""

import argparse
import sys

from autograder.course import chapters, repository_warning


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m publish", description=__doc__)
    parser.add_argument("step", choices=["release", "pages"], help="release the notebooks or write the book's pages")
    parser.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    args = parser.parse_args(argv)
    selected = args.chapters or chapters()
    warning = repository_warning()
    if warning:
        print(warning, file=sys.stderr)
    if args.step == "release":
        from publish.release import release  # noqa: PLC0415 - each step imports what it needs

        for chapter in selected:
            print(f"released {release(chapter)}")
    else:
        from publish.pages import write_pages  # noqa: PLC0415

        write_pages(selected)


if __name__ == "__main__":
    main()
