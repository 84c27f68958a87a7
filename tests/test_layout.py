"""The README's table of folders is a newcomer's map: it names every package, and only what exists."""

import ast
import json
import re

from autograder.course import ROOT, cell_source, chapters, is_reference_cell, source_path


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


def imported(source):
    """The modules of this repository that ``source`` imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n.split(".")[0] in ("autograder", "publish", "bench")}
    return found


def imports(package):
    """``{module: {modules of this repository it imports}}`` for the modules of ``package``. The
    reference loader imports what the instructor notebooks' reference cells import: it runs them."""
    graph = {f"{package}.{path.stem}": imported(path.read_text()) for path in sorted((ROOT / package).glob("*.py"))}
    if package == "autograder":
        for chapter in chapters():
            cells = json.loads(source_path(chapter).read_text())["cells"]
            for cell in filter(is_reference_cell, cells):
                graph["autograder.reference"] |= imported(cell_source(cell))
    return graph


def test_imports_go_one_way_and_in_no_circle():
    """``publish`` uses ``autograder``, never the reverse; no module imports itself through others."""
    graph = imports("autograder") | imports("publish")
    assert {m: sorted(i) for m, i in graph.items() if m.startswith("autograder.")
            and any(n.startswith(("publish", "bench")) for n in i)} == {}
    edges = {m: {n for n in graph if n in found} for m, found in graph.items()}

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in edges[start])

    assert [m for m in sorted(edges) if reaches(m, m)] == []
