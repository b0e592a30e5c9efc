# stepsize-book: `make book` builds the HTML, `make test` runs every test.
# Both create the virtual environment first if it is missing or out of date.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JB := $(VENV)/bin/jupyter-book
# The public repository for launch buttons (make book REPO_URL=https://github.com/ORG/REPO).
REPO_URL ?= $(STEPSIZE_REPO_URL)

.PHONY: env browser book test test-avx2 outputs scorecard bench bench-paper pdf lint clean

VENDOR := _vendor/mathjax/es5/tex-mml-chtml.js

KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py

env: $(STAMP) $(VENDOR) $(KERNEL_CONFIG)

# The project's IPython kernel settings (quiet kernel starts), where every kernel of the venv
# reads them: myst-nb's, nbval's, papermill's and `python -m stepsize`'s.
$(KERNEL_CONFIG): lib/stepsize/book/kernel_config/ipython_kernel_config.py $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e .
	@touch $(STAMP)

# MathJax 3 for offline math, copied from the pinned django-static-mathjax wheel.
$(VENDOR): $(STAMP)
	$(PY) -m stepsize.book.vendor
	@touch $@  # the copy keeps the wheel's old time stamp: without this, every make would copy again

# Execute the chapters (jupyter-cache keyed on each notebook's code) and build the HTML.
# REPO_URL=https://github.com/ORG/REPO adds Binder launch buttons (none without it).
# The cache does not see changes in lib/, so it is dropped whenever lib/ changes.
book: env
	@mkdir -p _build
	@h=$$(cat $$(find lib -name '*.py' | sort) | sha256sum | cut -c1-16); \
	 if [ "$$(cat _build/.lib-hash 2>/dev/null)" != "$$h" ]; then rm -rf _build/.jupyter_cache; echo "$$h" > _build/.lib-hash; fi
	STEPSIZE_REPO_URL="$(REPO_URL)" $(JB) build . --builder html -W -n --keep-going
	@test -f _build/html/index.html
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# nbval over every chapter: each stored output must equal a fresh execution.
NBVAL = $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg book

# The lint (`make lint`, below) first; then unit tests, registry/CLI checks, papermill re-runs with
# other parameters, sweeps (local and Dask), the scorecard, the book build with warnings as errors;
# then nbval: every stored output must equal a fresh execution.
test: env browser
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q -p no:cacheprovider
	$(NBVAL)

# nbval as on a CPU without AVX-512 (numpy's vectorised exp differs there in the last bit; see
# lib/stepsize/blas.py): the stored outputs must not depend on it. On such a CPU it is plain nbval.
AVX512_OFF := X86_V4 AVX512_ICL AVX512_SPR
test-avx2: env
	NPY_DISABLE_CPU_FEATURES="$(if $(shell grep -m1 -o avx512f /proc/cpuinfo 2>/dev/null),$(AVX512_OFF))" \
	  $(NBVAL)

# Headless Chromium and chromedriver (Selenium drives it) for the offline-reading test: installed
# from Debian's packages where we are root; otherwise that test is skipped with a message.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium and its WebDriver (Debian packages) for the browser test..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "Chromium or chromedriver is not installed and we are not root: the browser test will be skipped."; fi

# Re-execute every chapter in place and store its outputs (what nbval compares against).
outputs: env
	$(PY) -m stepsize execute

scorecard: env
	$(PY) -m stepsize scorecard

bench: env
	$(PY) benchmarks/run.py

# The chapters' paper presets (the papers' sizes; tens of minutes): time and claim verdicts.
# ONLY=slug,slug re-runs just those chapters and keeps the other rows of the table.
bench-paper: env
	$(PY) benchmarks/run.py --paper-presets $(if $(ONLY),--only $(ONLY))

# The PDF edition: the whole book on one page (Sphinx singlehtml, from the stored outputs), printed
# by headless Chromium once MathJax has typeset everything (lib/stepsize/book/pdf.py). Prints its path;
# a later `make book` links it from the front page.
pdf: env browser
	STEPSIZE_REPO_URL="$(REPO_URL)" $(PY) -m stepsize.book.pdf

# The checks of .pre-commit-config.yaml with the pinned tools of the venv (no hook downloads):
# ruff lint and format on the code, ruff on the notebooks' code (nbqa), and clean notebook
# metadata (nbstripout, outputs kept). Every check runs; the target fails if any found something.
NOTEBOOKS = $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
lint: env
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/nbqa ruff $(NOTEBOOKS) || status=1; \
	$(VENV)/bin/nbstripout --keep-output --keep-count --keep-id --verify $(NOTEBOOKS) || status=1; \
	exit $$status

clean:
	rm -rf _build runs sweeps
