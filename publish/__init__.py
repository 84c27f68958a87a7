"""Publishing the course: the instructor notebooks in ``solutions/`` in, the student notebooks
(``notebooks/``) and the book's pages (``_build/src``, for ``jupyter-book build``) out.

- ``release.py``: ``nbgrader generate_assignment`` makes the student notebook (solutions become
  stubs, hidden tests go); then a Colab badge, the set-up cell and the provided code.
- ``paste.py``: each ``provided`` cell becomes the literal code of the earlier chapter's reference.
- ``colab_markdown.py``: the book's citations and equation numbers in plain Markdown, for Colab.
- ``pages.py``: each instructor notebook executed (cached in ``_build/cache``), solutions stripped,
  outputs kept, staged with ``book/`` in ``_build/src``.
- ``book_theme.py`` and ``static/course.css``: a Sphinx extension of the book's (``_config.yml``).
- ``__main__.py``: ``python -m publish release|pages [CHAPTER ...]`` (``make release``, ``make book``).

It uses ``autograder`` for where the course's files are (``course.py``) and for the provided code
(``provided.py``); nothing in ``autograder`` imports it.
"""
