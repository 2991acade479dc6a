#!/usr/bin/env bash
# Choosing make train's epochs, batch size and learning rate on validation (issue 30): the
# make train job as typed, seeds 1-3, over max_epochs x batch_size x lr, and bf16-mixed precision
# at the chosen point, two one-thread jobs at a time; summarize.py reads the run folders into
# results.md (val for the choice, test beside).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-logs/speed_select}
.venv/bin/python -m rvsm.train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1 \
  seed=1,2,3 trainer.max_epochs=7,4 data.batch_size=64 model.optimizer.lr=1e-3 \
  hydra.sweep.dir="$OUT/b64" skip_finished=true
.venv/bin/python -m rvsm.train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1 \
  seed=1,2,3 trainer.max_epochs=4 data.batch_size=128 model.optimizer.lr=1e-3,2e-3 \
  hydra.sweep.dir="$OUT/b128" skip_finished=true
.venv/bin/python -m rvsm.train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1 \
  seed=1,2,3 trainer.max_epochs=4 data.batch_size=64 model.optimizer.lr=1e-3 \
  trainer.precision=bf16-mixed hydra.sweep.dir="$OUT/bf16" skip_finished=true
