# Two commands set everything up: `make train` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-slurm lint bench bench-full sweep compare clean fonts

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
	$(PY) -m pytest -q -n auto -m "not slurm" $(ARGS)

# Sweeps through a real one-node SLURM cluster (Debian, as root): the tests start it with
# `python -m tests.slurm_cluster start` (installing the packages if missing) and stop it.
test-slurm: $(STAMP)
	$(PY) -m pytest -q -m slurm tests/test_slurm.py $(ARGS)

# The Debian packages of the handwriting fonts of conf/data/handwriting_fonts.yaml (used by
# data=handwriting_fonts and experiments/generalization, not by the tests); installs only the
# missing ones, so it is a no-op once they are there. Needs apt (root, or sudo).
FONT_PACKAGES := fonts-dkg-handwriting fonts-femkeklaver fonts-sjfonts fonts-dancingscript \
  fonts-humor-sans fonts-breip fonts-rufscript fonts-kaushanscript fonts-kristi
fonts:
	@missing=$$(for p in $(FONT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "fonts: all installed"; exit 0; fi; \
	sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$sudo apt-get update -q && $$sudo apt-get install -y --no-install-recommends $$missing

lint: $(STAMP)
	$(VENV)/bin/ruff check rvsm tests experiments
	$(VENV)/bin/ruff format --check rvsm tests experiments

# Every sweep grid (conf/grid/sweep/*.yaml: the default on seeds 1-5, the extreme presets and the
# dense baseline on seeds 1-3, l0, Tl1 and l1 over their lambda grids x 3 seeds), all on one fixed
# data set (conf/grid/base.yaml), then the report. SWEEP_PARTS picks grids by their name in
# conf/grid/sweep/ (each job is its own folder; the report reads whatever exists). ARGS go to
# every job, e.g. ARGS="hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1"; a failed part
# does not stop the rest. A new conf/grid/sweep/<name>.yaml is a new part.
SWEEP_DIR ?= logs/sweep/$(shell date +%Y-%m-%d_%H-%M-%S)
SWEEP_PARTS ?= $(patsubst conf/grid/sweep/%.yaml,%,$(wildcard conf/grid/sweep/*.yaml))
sweep: $(STAMP)
	status=0; for part in $(SWEEP_PARTS); do \
	  $(PY) -m rvsm.train -m grid=sweep/$$part hydra.sweep.dir=$(SWEEP_DIR)/$$part $(ARGS) \
	    || status=1; \
	done; \
	$(PY) -m rvsm.report $(SWEEP_DIR) --out $(SWEEP_DIR)/report || status=1; \
	echo "sweep: $(SWEEP_DIR)"; exit $$status

# Every method over its knob (conf/grid/compare/*.yaml, each a part) x 3 seeds on two data settings,
# the default and a harder one (tremor severity COMPARE_SEVERITY: the dense network reached 0.951
# test accuracy at 0.3 and 0.978 at 0.45, seed 1), with the dense reference, then one report.
# Each job is its own folder, so parts can run at different times into one COMPARE_DIR
# (COMPARE_DATA and COMPARE_PARTS pick them) and the report reads whatever exists. ARGS go to
# every job, e.g. ARGS="hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1".
COMPARE_DIR ?= logs/compare/$(shell date +%Y-%m-%d_%H-%M-%S)
COMPARE_SEVERITY ?= 0.35
COMPARE_DATA ?= default hard
COMPARE_PARTS ?= $(patsubst conf/grid/compare/%.yaml,%,$(wildcard conf/grid/compare/*.yaml))
compare: $(STAMP)
	status=0; for data in $(COMPARE_DATA); do \
	  case $$data in \
	    default) extra=""; dir=default ;; \
	    hard) extra="data.synth.tremor.severity=$(COMPARE_SEVERITY)"; dir=severity_$(COMPARE_SEVERITY) ;; \
	    *) echo "compare: COMPARE_DATA takes default and/or hard, got $$data"; exit 2 ;; \
	  esac; \
	  for part in $(COMPARE_PARTS); do \
	    $(PY) -m rvsm.train -m grid=compare/$$part $$extra \
	      hydra.sweep.dir=$(COMPARE_DIR)/$$dir/$$part $(ARGS) || status=1; \
	  done; \
	done; \
	$(PY) -m rvsm.report $(COMPARE_DIR) --out $(COMPARE_DIR)/report || status=1; \
	echo "compare: $(COMPARE_DIR)"; exit $$status

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache

# the quick bench (step, where its time goes, splitting overhead, sweep, latency): a few minutes;
# bench-full adds compilation, the prox, the time to the headline, the GPU and the data renderer
bench: $(STAMP)
	$(PY) experiments/bench.py
bench-full: $(STAMP)
	$(PY) experiments/bench.py --full
	$(PY) experiments/bench_data.py
