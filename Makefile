# viralchain: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv from Python 3.12 when it is missing and install the pinned dependencies.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# (a changed dependency, setup.py, compiled kernel's source or shared header installs again: the kernels rebuild)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py $(wildcard sim/_*.c sim/_*.h) | cksum | cut -d' ' -f1)

# Python 3.12 is required (Mesa 3.5 needs it; 3.11 silently resolves an older Mesa).
# `python3.12` may be a pyenv shim that refuses to run unless selected: try it, then pyenv's own copy.
PYTHON312 := $(shell \
  for c in python3.12 "$$HOME/.pyenv/versions/3.12"*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
    if [ -x "$$(command -v $$c 2>/dev/null)" ] && "$$c" -c 'import sys; assert sys.version_info[:2]==(3,12)' >/dev/null 2>&1; then echo "$$c"; break; fi; \
  done)

.PHONY: demo test test-slow lint bench venv clean browser dashboard

$(STAMP):
	@if [ -z "$(PYTHON312)" ]; then echo "error: Python 3.12 not found (need python3.12 on PATH)" >&2; exit 2; fi
	@if [ ! -x $(PY) ]; then echo "creating $(VENV) from $(PYTHON312)"; $(PYTHON312) -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@# the dashboard's browser files (npm registry), so the page works without the CDN
	$(PY) -m experiments.dashboard.assets --quiet || echo "warning: dashboard browser files not installed (see above)"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/viralchain demo

test: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist loadgroup

test-slow: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist loadgroup -m "slow or not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check sim experiments tests benchmarks hydra_plugins
	$(VENV)/bin/ruff format --check sim experiments tests benchmarks hydra_plugins

bench: $(STAMP)
	$(PY) -m benchmarks

# Chromium + chromedriver for the dashboard's end-to-end test (apt, as root, when missing)
browser:
	@bash scripts/install_browser.sh

dashboard: $(STAMP)
	$(VENV)/bin/viralchain dashboard

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
