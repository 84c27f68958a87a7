"""``python -m bench``: seconds per chapter to execute, release, build the book, autograde,
and the speed of the scale search and of GPTQ at SmolLM2's sizes.

``python -m bench grading [--students 30]``: the instructor's command against plain nbgrader, one
notebook at a time, on the same submissions (``--students`` per chapter, every chapter): the same
machinery (``autograder/grader.py``) in its two configurations.

Prints one table. Each figure is one measured run on this machine (no warm-up): the numbers a
newcomer will see.
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.course import ROOT, chapters
from autograder.coursedir import template
from autograder.grader import autograde, grade
from autograder.reference import load_reference
from autograder.sandbox import Limits
from autograder.submissions import submission
from publish.pages import STAGE, executed, write_pages
from publish.release import release


def seconds(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def book_build():
    command = ["make", "--no-print-directory", "-s", "book"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)


def autograde_one(chapter, trim=False, plain=False):
    """Seconds to grade one reference submission as ``python -m autograder grade`` does, with one
    worker (the chapter's course directory made beforehand, not counted); ``trim`` without the
    chapter's experiments (``graded_only``, the grader's default); ``plain`` as nbgrader comes, with
    the hidden tests in the student's kernel."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        template(chapter, root / "out" / "work", Limits().cell_seconds, plain)  # where grade() looks
        return seconds(lambda: autograde(chapter, {"student": submission(chapter)}, root, 1, plain, whole=not trim))


def scale_search_rows(repeats=3):
    """Seconds of one scale search (20 alphas, 512 tokens, INT3 g64) and of AWQ's step for one
    layer, on random weights of SmolLM2's sizes (576 hidden, 1536 MLP, 9 heads, 3 KV heads)."""
    reference = load_reference("ch03_scales")
    layer, _, kwargs = reference.tiny_decoder_layer(0, heads=9, kv_heads=3, hidden=576,
                                                    intermediate=1536)
    import torch  # noqa: PLC0415 - only this figure needs it

    x = torch.randn(2, 256, 576, generator=torch.Generator().manual_seed(0))
    x[..., :6] *= 15
    attn, mlp = layer.self_attn, layer.mlp
    positions = torch.arange(256).expand(2, -1)
    kwargs = {**kwargs, "position_embeddings": reference.LlamaRotaryEmbedding(attn.config)(x, positions)}
    searches = {"q, k, v (inspecting the attention)": (attn, [attn.q_proj, attn.k_proj, attn.v_proj], kwargs),
                "gate, up (inspecting the MLP)": (mlp, [mlp.gate_proj, mlp.up_proj], None)}
    rows = []
    for label, (module, linears, kw) in searches.items():
        run = lambda m=module, ls=linears, k=kw: reference.search_scale(m, x, ls, 3, 64, module_kwargs=k)  # noqa: E731
        rows.append(("ch03_scales", f"search_scale {label}", min(seconds(run) for _ in range(repeats))))
    run = lambda: reference.awq_block(layer, x, 3, 64, kwargs)  # noqa: E731 - changes layer, timed once
    rows.append(("ch03_scales", "awq_block, one SmolLM2-sized layer (x 30 for the model)", seconds(run)))
    return rows


def pipeline_rows(repeats=3):
    """Seconds for GPTQ at SmolLM2's sizes (random weights, 2 x 256 calibration tokens): ``gptq`` on
    its largest layer with and without act-order, and ``gptq_block`` on one whole layer."""
    import torch  # noqa: PLC0415 - only these figures need it

    reference = load_reference("ch04_gptq")
    layer, _, kwargs = reference.tiny_decoder_layer(0, 9, 3, 576, 1536)
    x = torch.randn(2, 256, 576, generator=torch.Generator().manual_seed(0))
    positions = torch.arange(256).expand(2, -1)
    kwargs = {**kwargs, "position_embeddings": reference.LlamaRotaryEmbedding(layer.self_attn.config)(x, positions)}
    inputs = torch.randn(512, 1536, generator=torch.Generator().manual_seed(1))
    H, _ = reference.add_batch(torch.zeros(1536, 1536), 0, inputs)
    w = layer.mlp.down_proj.weight
    rows = []
    for act_order in (False, True):
        run = lambda a=act_order: reference.gptq(w, H, 3, 64, act_order=a)  # noqa: E731
        label = f"gptq down_proj 576 x 1536, INT3 g64{', act-order' if act_order else ''}"
        rows.append(("ch04_gptq", label, min(seconds(run) for _ in range(repeats))))
    run = lambda: reference.gptq_block(layer, x, 3, 64, kwargs)  # noqa: E731 - changes layer, timed once
    rows.append(("ch04_gptq", "gptq_block, one SmolLM2-sized layer (x 30 for the model)", seconds(run)))
    return rows


def grading_rows(students):
    """Seconds to grade ``students`` submissions of every chapter (autograde + feedback) with the
    grader's machinery in two configurations: plain nbgrader (hidden tests in the student's kernel,
    no jail), one notebook after another, against ``python -m autograder grade`` (the verdict, the
    jail, a worker per CPU); and whether their scores agree."""
    names = [f"student{i:03d}" for i in range(students)]
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "in").mkdir()
        for chapter in chapters():
            text = nbformat.writes(submission(chapter))
            for name in names:
                (folder / "in" / f"{name}_{chapter}.ipynb").write_text(text)
        graded = {}
        before = seconds(lambda: graded.update(plain=grade(folder / "in", folder / "plain", 1, limits=Limits(plain=True))))
        after = seconds(lambda: graded.update(ours=grade(folder / "in", folder / "out")))
    plain, ours = ({(r["student"], r["chapter"]): r["score"] for r in graded[key]} for key in ("plain", "ours"))
    label = f"{students} x {len(chapters())} submissions"
    rows.append(("all", f"grade {label}: plain nbgrader, one at a time", before))
    rows.append(("all", f"grade {label}: python -m autograder grade", after))
    rows.append(("all", "speed-up (ratio of the two)", before / after))
    rows.append(("all", "same scores (1 = yes)", float(ours == plain)))
    return rows


def show(rows):
    print(f"\n{'chapter':<14}{'step':<60}{'value':>8}")
    for chapter, step, value in rows:
        print(f"{chapter:<14}{step:<60}{value:>8.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("what", nargs="?", choices=["all", "grading"], default="all")
    parser.add_argument("--students", type=int, default=30, help="submissions per chapter (grading)")
    args = parser.parse_args(argv)
    if args.what == "grading":
        show(grading_rows(args.students))
        return
    rows = []
    for chapter in chapters():
        with tempfile.TemporaryDirectory() as folder:
            rows.append((chapter, "execute instructor notebook", seconds(lambda c=chapter: executed(c))))
            rows.append((chapter, "release (nbgrader generate_assignment)", seconds(lambda c=chapter: release(c, folder))))
        rows.append((chapter, "grade one submission", autograde_one(chapter)))
        rows.append((chapter, "grade one submission, experiments left out", autograde_one(chapter, trim=True)))
        rows.append((chapter, "  the same, plain nbgrader (tests in the kernel)",
                     autograde_one(chapter, trim=True, plain=True)))
    rows += scale_search_rows()
    rows += pipeline_rows()
    rows.append(("all", "book pages (execute + strip)", seconds(lambda: write_pages(chapters(), STAGE))))
    rows.append(("all", "book: make book (pages + jupyter-book -W)", seconds(book_build)))
    show(rows)


if __name__ == "__main__":
    main()
