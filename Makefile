# Two commands set everything up: `make train` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test lint bench clean

# (Re)install when the venv is missing or pyproject.toml changed. torch==2.13.0 takes the local
# CPU wheel; pyproject keeps a range so a CUDA build already installed elsewhere is kept.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(PY) -m rvsm.train $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check rvsm tests experiments
	$(VENV)/bin/ruff format --check rvsm tests experiments

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache

bench: $(STAMP)
	$(PY) experiments/bench.py
	$(PY) experiments/bench_data.py
