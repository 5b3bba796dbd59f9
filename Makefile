# Two commands do everything on a fresh machine (Python 3.11 + pip):
#   make demo   create .venv, install, run the main job (the embedded default study)
#   make test   create .venv, install, run the default test suite (minutes on 2 cores)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-installed

.PHONY: demo test test-slow bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU wheel of torch first: a looser requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/latticediff demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(STAMP)
	$(BIN)/python analysis/benchmarks/bench_ising.py

lint: $(STAMP)
	$(BIN)/ruff check latticediff tests analysis

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
