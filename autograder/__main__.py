"""``python -m autograder release|pages [CHAPTER ...]``: the course's build steps."""

import argparse

from autograder.course import chapters
from autograder.pages import write_pages
from autograder.release import release


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument("step", choices=["release", "pages"])
    parser.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    args = parser.parse_args(argv)
    selected = args.chapters or chapters()
    if args.step == "release":
        for chapter in selected:
            print(f"released {release(chapter)}")
    else:
        write_pages(selected)


if __name__ == "__main__":
    main()
