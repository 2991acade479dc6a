#!/usr/bin/env bash
# The record of experiments/own_data/README.md, seeds 1-3 on the default data (data seed 12345):
# (a) the round trip: the default data written out as PNG files (rvsm.data.export out=<folder>)
#     and trained through data=folder, against the same data synthesized (data=mixed);
# (b) model/net=resnet against the default network (the mixed runs of (a)), all under RVSM;
# then every run exported and the tables written (experiments/own_data/summarize.py).
#   bash experiments/own_data/record.sh [train] [export] [summarize]   (default: all)
# A step cut short runs again with the same command: finished jobs are kept (skip_finished).
set -uo pipefail
cd "$(dirname "$0")/../.."
RUNS=experiments/own_data/runs
PNG=${PNG:-/tmp/rvsm_default_png}
PY=.venv/bin/python
COMMON="seed=1,2,3 data.seed=12345 trainer.max_epochs=7 data.batch_size=64 trainer.precision=32-true task_name=own_data trainer.enable_progress_bar=false"
COMMON="$COMMON skip_finished=true"
LAUNCH="hydra/launcher=joblib hydra.launcher.n_jobs=${N_JOBS:-2} threads=1"

train() {
  [ -d "$PNG" ] || $PY -m rvsm.data.export seed=12345 n_pairs=12500 out="$PNG"
  $PY -m rvsm.train -m $COMMON $LAUNCH hydra.sweep.dir=$RUNS/mixed
  $PY -m rvsm.train -m $COMMON $LAUNCH data=folder data.root="$PNG" hydra.sweep.dir=$RUNS/folder
  # one job at a time with one thread: the residual network's step is the long one
  $PY -m rvsm.train -m $COMMON threads=1 model/net=resnet hydra.sweep.dir=$RUNS/resnet
}

export_models() {
  local run
  for run in $RUNS/*/[0-9]*/; do
    [ -f "$run/model.pt" ] || $PY -m rvsm.export ckpt_path="$run" out="$run/model.pt"
  done
}

summarize() { $PY experiments/own_data/summarize.py; }

for step in "${@:-train export summarize}"; do
  for s in $step; do
    case $s in
      train) train ;;
      export) export_models ;;
      summarize) summarize ;;
      *) echo "record.sh: unknown step $s (train, export, summarize)" >&2; exit 2 ;;
    esac
  done
done
