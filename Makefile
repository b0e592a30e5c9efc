# stepsize-book: `make book` builds the HTML, `make test` runs every test.
# Both create the virtual environment first if it is missing or out of date.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JB := $(VENV)/bin/jupyter-book

.PHONY: env book test test-unit test-notebooks outputs bench clean

env: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e .
	@touch $(STAMP)

# Execute the chapters (jupyter-cache keyed on each notebook's code) and build the HTML.
# The cache does not see changes in lib/, so it is dropped whenever lib/ changes.
book: env
	@mkdir -p _build
	@h=$$(cat $$(find lib -name '*.py' | sort) | sha256sum | cut -c1-16); \
	 if [ "$$(cat _build/.lib-hash 2>/dev/null)" != "$$h" ]; then rm -rf _build/.jupyter_cache; echo "$$h" > _build/.lib-hash; fi
	$(JB) build . --builder html -W -n --keep-going
	@test -f _build/html/index.html
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: env
	$(PY) -m pytest -q

# Re-execute every chapter in place and store its outputs (what nbval compares against).
outputs: env
	$(PY) -m stepsize execute

bench: env
	$(PY) benchmarks/run.py

clean:
	rm -rf _build runs sweeps
