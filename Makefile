# `make` sets everything up and builds; `make test` runs the whole test suite.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
BOOK   := $(VENV)/bin/jupyter-book build _build/src --config $(CURDIR)/_config.yml --toc $(CURDIR)/_toc.yml --path-output $(CURDIR)

.PHONY: all venv release book browser test lint bench bench-grading clean

all: release book

venv: $(STAMP)

# A local virtual environment with the pinned requirements, every other package at the version of
# requirements.lock; a .pth file makes this repository's
# `autograder` and `publish` packages importable from it (also by Jupyter kernels and nbgrader).
$(STAMP): requirements.txt requirements.lock autograder/requirements-no-deps.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r autograder/requirements-no-deps.txt
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'awq_course.pth').write_text('$(CURDIR)\n')"
	touch $@

# Student notebooks: nbgrader generate_assignment solutions/ -> notebooks/, plus badge and set-up cell.
release: $(STAMP)
	$(PY) -m publish release

# The book: execute each instructor notebook, strip solutions and hidden tests, build with -W.
book: $(STAMP)
	$(PY) -m publish pages
	$(BOOK) -W -n --keep-going

# Debian's Chromium and ChromeDriver for the browser tests (tests/test_browser.py), installed as root
# where they are missing; elsewhere those tests are skipped and say why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "Chromium could not be installed: the browser tests will be skipped"

test: book browser
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m bench

bench-grading: $(STAMP)
	$(PY) -m bench grading --students 30

clean:
	rm -rf _build
