"""The README's table of folders is a newcomer's map: it names every package, and only what exists."""

import re

from autograder.course import ROOT


def folders_table():
    """The folders the README's ``| folder | holds |`` table names, as ``name/`` paths."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| folder | holds |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1])
    return {name for row in rows for name in re.findall(r"`([^`]+/)`", row)}


def packages():
    """Every Python package of the repository (a folder with ``__init__.py``), outside ``tests/``,
    hidden folders and ``_build/``, as ``name/`` paths."""
    found = set()
    for init in ROOT.rglob("__init__.py"):
        parts = init.relative_to(ROOT).parent.parts
        if parts and parts[0] not in ("tests", "_build") and not any(p.startswith(".") for p in parts):
            found.add("/".join(parts) + "/")
    return found


def test_every_folder_the_readme_names_exists():
    named = folders_table()
    assert {"autograder/", "publish/", "solutions/", "notebooks/", "book/", "tests/"} <= named
    assert [name for name in sorted(named) if not (ROOT / name).is_dir()] == []


def test_every_package_is_named_in_the_readme():
    assert sorted(packages() - folders_table()) == []
