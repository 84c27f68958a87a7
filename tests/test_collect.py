"""Finding who handed in which chapter (autograder/collect.py), on real student notebooks."""

import json
import shutil
import zipfile

from autograder.collect import ArchiveLimits, collect
from autograder.course import release_path
from tests.archives import zipped


def notebook_text(chapter, strip=False):
    notebook = json.loads(release_path(chapter).read_text())
    if strip:  # as after a round trip that loses nbgrader's metadata
        for cell in notebook["cells"]:
            cell["metadata"] = {}
    return json.dumps(notebook)


def placed(found):
    return {f.relative: (f.student, f.chapter) for f in found if not f.problems}


def test_a_folder_per_student_with_any_layout(tmp_path):
    source = tmp_path / "in"
    (source / "alice").mkdir(parents=True)
    (source / "alice" / "minmax.ipynb").write_text(notebook_text("ch01_minmax"))
    (source / "bob" / "ch02_salient").mkdir(parents=True)
    (source / "bob" / "ch02_salient" / "salient.ipynb").write_text(notebook_text("ch02_salient"))
    (source / "Carol Jones_123456_assignsubmission_file_").mkdir()
    (source / "Carol Jones_123456_assignsubmission_file_" / "my work.ipynb").write_text(notebook_text("ch01_minmax"))
    assert placed(collect(source, tmp_path / "work")) == {
        "alice/minmax.ipynb": ("alice", "ch01_minmax"),
        "bob/ch02_salient/salient.ipynb": ("bob", "ch02_salient"),
        "Carol Jones_123456_assignsubmission_file_/my work.ipynb": ("Carol Jones (123456)", "ch01_minmax"),
    }


def test_a_flat_folder_and_metadata_stripped_by_colab(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "alice_ch01.ipynb").write_text(notebook_text("ch01_minmax", strip=True))
    (source / "ch02_salient_bob.ipynb").write_text(notebook_text("ch02_salient"))
    (source / "dave-minmax (1).ipynb").write_text(notebook_text("ch01_minmax"))
    assert placed(collect(source, tmp_path / "work")) == {
        "alice_ch01.ipynb": ("alice", "ch01_minmax"),
        "ch02_salient_bob.ipynb": ("bob", "ch02_salient"),
        "dave-minmax (1).ipynb": ("dave", "ch01_minmax"),
    }


def test_an_lms_zip_with_a_zip_inside_and_files_that_cannot_be_placed(tmp_path):
    staging = tmp_path / "staging" / "export"
    (staging / "alice").mkdir(parents=True)
    (staging / "alice" / "minmax.ipynb").write_text(notebook_text("ch01_minmax"))
    (staging / "bob").mkdir()
    with zipfile.ZipFile(staging / "bob" / "upload.zip", "w") as inner:
        inner.writestr("salient.ipynb", notebook_text("ch02_salient"))
    (staging / "erin").mkdir()
    (staging / "erin" / "essay.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
    (staging / "erin" / "notes.txt").write_text("not a notebook")
    archive = shutil.make_archive(str(tmp_path / "export"), "zip", tmp_path / "staging")
    found = collect(archive, tmp_path / "work")
    assert placed(found) == {"export/export/alice/minmax.ipynb": ("alice", "ch01_minmax"),
                             "export/export/bob/upload/salient.ipynb": ("bob", "ch02_salient")}
    problems = {f.relative: f.problems for f in found if f.problems}
    assert problems == {"export/export/erin/essay.ipynb": ["no chapter recognised from its content or its name"],
                        "export/export/erin/notes.txt": ["not an .ipynb file"]}


def test_unreadable_files_are_reported_with_their_student_and_chapter(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "alice_ch01.ipynb").write_bytes(b"%PDF-1.7\n\x00\x01binary")
    (source / "bob_ch01.ipynb").write_text('{"cells": [')
    found = {f.relative: f for f in collect(source, tmp_path / "work")}
    for name, student in (("alice_ch01.ipynb", "alice"), ("bob_ch01.ipynb", "bob")):
        assert (found[name].student, found[name].chapter) == (student, "ch01_minmax")
        assert found[name].problems == ["not a readable notebook (not JSON text)"]


def test_the_input_is_not_modified(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    with zipfile.ZipFile(source / "all.zip", "w") as archive:
        archive.writestr("alice/minmax.ipynb", notebook_text("ch01_minmax"))
    before = sorted((p.relative_to(source), p.stat().st_mtime, p.read_bytes()) for p in source.rglob("*"))
    collect(source, tmp_path / "work")
    assert sorted((p.relative_to(source), p.stat().st_mtime, p.read_bytes()) for p in source.rglob("*")) == before


def test_a_pattern_names_the_student(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "2026_x77_attempt_5_minmax.ipynb").write_text(notebook_text("ch01_minmax"))
    found = collect(source, tmp_path / "work", pattern=r"_(?P<student>x\d+)_attempt")
    assert placed(found) == {"2026_x77_attempt_5_minmax.ipynb": ("x77", "ch01_minmax")}


def test_archives_that_break_a_limit_are_reported_and_the_rest_is_placed(tmp_path):
    """Each archive in its own error boundary: none stops the others from being found."""
    source = tmp_path / "in"
    source.mkdir()
    text = notebook_text("ch01_minmax")
    nested = zipped({"deep_ch01.ipynb": text})
    for level in range(24):
        nested = zipped({f"level{level}.zip": nested})
    (source / "nested.zip").write_bytes(nested)
    (source / "long.zip").write_bytes(zipped({"x" * 300 + ".ipynb": text}))
    (source / "bomb.zip").write_bytes(zipped({f"{n}.ipynb": bytes(3 * 2**20) for n in "ab"}))  # 6 MB: 6 KB
    (source / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    (source / "wide.zip").write_bytes(zipped({"zeros.ipynb": bytes(5 * 2**20)}))  # one entry of 5 MB
    (source / "huge_ch01.ipynb").write_text(text + " " * 5 * 2**20)
    (source / "folder.zip").mkdir()  # a folder whose name ends in .zip
    (source / "folder.zip" / "carol_ch01.ipynb").write_text(text)
    (source / "dave").write_text("a file with an archive's name")
    (source / "dave.zip").write_bytes(zipped({"minmax.ipynb": text}))
    found = collect(source, tmp_path / "work", limits=ArchiveLimits(total_bytes=2**20, file_bytes=4 * 2**20))
    unreadable = {f.relative: f.unreadable for f in found if f.unreadable}
    assert any("archive: nested more than 8 deep" in why for why in unreadable.values()), unreadable
    assert unreadable["long.zip"] == "archive: an entry's name is longer than 240 bytes"
    assert unreadable["bomb.zip"].startswith("archive: inflates to 6 MB")
    assert unreadable["broken.zip"] == "archive: a .zip file that is not a readable zip archive"
    assert unreadable["wide.zip"] == "archive: an entry inflates to 5 MB, more than 4 MB"
    assert unreadable["huge_ch01.ipynb"] == "5 MB, more than a notebook may be (4 MB)"
    assert placed(found) == {"folder.zip/carol_ch01.ipynb": ("folder.zip", "ch01_minmax"),
                             "dave (2)/minmax.ipynb": ("dave (2)", "ch01_minmax")}


def test_students_of_the_same_name_are_told_apart_by_their_lms_id(tmp_path):
    source = tmp_path / "in"
    for lms_id in ("111", "222"):
        folder = source / f"Anna Smith_{lms_id}_assignsubmission_file_"
        folder.mkdir(parents=True)
        (folder / "minmax.ipynb").write_text(notebook_text("ch01_minmax"))
    assert sorted(s for s, _ in placed(collect(source, tmp_path / "work")).values()) == [
        "Anna Smith (111)", "Anna Smith (222)"]
