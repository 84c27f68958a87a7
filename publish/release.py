"""Release: instructor notebook -> student notebook, with the real ``nbgrader generate_assignment``.

nbgrader turns solutions into stubs and drops hidden tests; this module then adds what a student
needs to open and run the notebook in Colab: a badge at the top and a set-up cell.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.course import BUILD, FIGURE_STYLE, NOTEBOOKS, ROOT, colab_url, source_path, tool_env
from autograder.submissions import EXPERIMENT, is_experiment
from publish.colab_markdown import for_colab
from publish.paste import expand

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def nbgrader_options(release_directory=NOTEBOOKS, db=BUILD / "gradebook.db"):
    """Command-line settings that make nbgrader read ``solutions/`` and write ``release_directory``."""
    return [
        f"--CourseDirectory.root={ROOT}",
        "--CourseDirectory.source_directory=solutions",
        f"--CourseDirectory.release_directory={Path(release_directory).resolve()}",
        f"--CourseDirectory.db_url=sqlite:///{Path(db).resolve()}",
    ]


def setup_source(packages, files_only=None):
    """The set-up cell: installs what Colab lacks (``packages``: import name -> pip
    requirement; ``files_only``: the same, installed without their declared dependencies)."""
    files_only = files_only or {}
    lines = ["# Set-up: run this cell first. It works in a fresh Colab runtime and picks the GPU",
             "# when there is one."]
    if packages or files_only:
        lines += [
            "import importlib.util",
            "import subprocess",
            "import sys",
            "",
            f"PACKAGES = {json.dumps(packages)}  # import name -> pip requirement",
        ]
        groups = "((PACKAGES, []),)"
        if files_only:
            lines.append(f"FILES_ONLY = {json.dumps(files_only)}  # installed for their files alone")
            groups = '((PACKAGES, []), (FILES_ONLY, ["--no-deps"]))'
        lines += [
            f"for group, flags in {groups}:",
            "    missing = [req for name, req in group.items()",
            "               if importlib.util.find_spec(name) is None]",
            "    if missing:",
            '        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",',
            "                               *flags, *missing])",
        ]
    else:
        lines += ["# This chapter needs nothing beyond what Colab already has (torch, numpy, matplotlib).", "import sys"]
    lines += [
        "",
        "import torch",
        "",
        'device = (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()',
        '          else "the CPU (no GPU found)")',
        'print(f"Python {sys.version.split()[0]}, torch {torch.__version__}, "',
        '      f"running on {device}")',
        *figure_style_lines(),
    ]
    return "\n".join(lines)


def figure_style_lines():
    """The set-up cell's lines that draw every figure for the book's column (``FIGURE_STYLE``)."""
    return ["",
            "import matplotlib.pyplot as plt",
            "from matplotlib_inline.backend_inline import set_matplotlib_formats",
            "",
            "# Figures drawn for the book's column, as sharp 2x PNGs, with legible text.",
            'set_matplotlib_formats("retina")',
            "plt.rcParams.update({",
            *(f"    {json.dumps(key)}: {value!r}," for key, value in FIGURE_STYLE.items()),
            "})"]


def setup_cell(notebook):
    course = notebook.metadata.get("course", {})
    cell = nbformat.v4.new_code_cell(setup_source(course.get("packages", {}), course.get("files_only")))
    cell.id = "course-setup"
    cell.metadata["tags"] = ["setup"]
    return cell


def student_colab_url(chapter):
    """The Colab link of the chapter's student notebook, as committed in the repository."""
    repo_path = source_path(chapter).relative_to(ROOT).as_posix().replace("solutions/", "notebooks/", 1)
    return colab_url(repo_path)


def badge_cell(chapter):
    cell = nbformat.v4.new_markdown_cell(f"[![Open In Colab]({BADGE})]({student_colab_url(chapter)})")
    cell.id = "course-badge"
    cell.metadata["tags"] = ["colab-badge"]
    return cell


def with_setup(notebook):
    """``notebook`` with the set-up cell after its title cell and its provided code pasted in."""
    notebook.cells.insert(1, setup_cell(notebook))
    return expand(notebook)


def tag_experiments(notebook):
    """Tag the demonstrations and experiments (the code cells that are neither graded nor set-up,
    reference or provided code) ``experiment``: grading leaves them out even when a student edited
    one (``submissions.graded_only``), and runs every other cell."""
    for cell in notebook.cells:
        if is_experiment(cell):
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), EXPERIMENT]
    return notebook


def decorate(notebook, chapter):
    """Student notebook: a Colab badge above the title, the set-up cell after it, the book's
    citations and equation numbers written out in plain Markdown (``colab_markdown``), and its
    experiments tagged (``tag_experiments``)."""
    with_setup(for_colab(notebook))
    tag_experiments(notebook)
    notebook.cells.insert(0, badge_cell(chapter))
    return notebook


def release(chapter, release_directory=NOTEBOOKS):
    """Run ``nbgrader generate_assignment`` for ``chapter`` into ``release_directory``, then decorate."""
    release_directory = Path(release_directory)
    BUILD.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", chapter, "--force", "--log-level=WARN"]
    subprocess.run(command + nbgrader_options(release_directory), check=True, cwd=ROOT, env=tool_env())
    path = release_directory / chapter / source_path(chapter).name
    notebook = decorate(nbformat.read(path, as_version=4), chapter)
    nbformat.write(notebook, path)
    return path
