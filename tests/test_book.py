"""The built book (make book, with jupyter-book build -W) shows each chapter as students get it."""

import re

import pytest

from autograder.course import BUILD, chapters, colab_url, source_path
from tests.leaks import visible_lines

HTML = BUILD / "html"


def page(chapter):
    path = HTML / "notebooks" / chapter / source_path(chapter).with_suffix(".html").name
    assert path.exists(), f"{path} is missing: run `make book`"
    return path.read_text()


def test_intro_page_is_the_index():
    index = (HTML / "index.html").read_text()
    assert "book/intro.html" in index
    intro = (HTML / "book" / "intro.html").read_text()
    assert "Taking the course in Colab" in intro and "Grading the course" in intro


@pytest.mark.parametrize("chapter", chapters())
def test_colab_button_opens_the_student_notebook(chapter):
    repo_path = f"notebooks/{chapter}/{source_path(chapter).name}"
    assert colab_url(repo_path) in page(chapter)


@pytest.mark.parametrize("chapter", chapters())
def test_page_has_math_figures_and_the_references_outputs(chapter):
    html = page(chapter)
    assert html.count('class="math notranslate nohighlight"') >= 5
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 2
    for src in images:
        assert (HTML / "notebooks" / chapter / src).resolve().exists(), src
    text = visible_lines(html)
    assert any(line.endswith("visible tests passed") for line in text), "the reference's test outputs are shown"
    assert "raise NotImplementedError()" in text, "exercises are shown as students get them"
