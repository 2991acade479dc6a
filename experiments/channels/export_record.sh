#!/usr/bin/env bash
# The channel export's record (experiments/channels/README.md, "The export of filter pruning"):
# experiment=channels_gmp on seeds 1-3 and the latency baseline (the default network, seed 1),
# trained as record.sh trains them; each run exported as `python -m rvsm.export` writes it
# (width_multiple 4 and the inference levers of rvsm.export.standalone) and timed against the exported default network at batch 1
# and 256 (latency.py) into export_latency.md. The `before` step exports the same checkpoints with
# commit BEFORE (the export before the levers, default c212f1c; a git worktree in /tmp) and
# times them the same way into export_latency_before.md.
#   bash experiments/channels/export_record.sh [train] [export] [latency] [before]  (default: all)
# Training takes about 13 min on 2 cores (two one-thread jobs), each latency step 2 min.
set -uo pipefail
cd "$(dirname "$0")/../.."
DIR=${DIR:-logs/channels_export}
BEFORE=${BEFORE:-c212f1c}
ROOT=$PWD
PY=$ROOT/.venv/bin/python
HERE=experiments/channels

train() {
  $PY -m rvsm.train -m experiment=channels_gmp seed=1,2,3 hydra/launcher=joblib \
    hydra.launcher.n_jobs=2 threads=1 skip_finished=true hydra.sweep.dir=$DIR/gmp &&
    $PY -m rvsm.train seed=1 data.seed=12345 trainer.max_epochs=7 data.batch_size=64 \
      trainer.precision=32-true threads=1 skip_finished=true trainer.enable_progress_bar=false \
      hydra.run.dir=$DIR/baseline
}

export_all() {  # $1: the folder (absolute) for the files, each beside a copy of its metrics.json
  local run rel
  for run in $ROOT/$DIR/gmp/[0-9]* $ROOT/$DIR/baseline; do
    rel=${run#$ROOT/$DIR/}
    mkdir -p "$1/$rel" && cp "$run/metrics.json" "$1/$rel/" &&
      $PY -m rvsm.export ckpt_path="$run" out="$1/$rel/model.pt" || return 1
  done
}

latency() {  # $1: the exports' folder under DIR, $2: the page
  $PY $HERE/latency.py $DIR/$1 --baseline $DIR/$1/baseline/model.pt --out $HERE/$2
}

before() {  # the same checkpoints through commit BEFORE's export, run from its own worktree
  local tree=/tmp/rvsm_$BEFORE
  [ -d $tree ] || git worktree add --detach $tree $BEFORE || return 1
  (cd $tree && export PYTHONPATH=$tree && export_all "$ROOT/$DIR/before") &&
    latency before export_latency_before.md
}

status=0
for step in ${@:-train export latency before}; do
  case $step in
    train) train || status=1 ;;
    export) export_all "$ROOT/$DIR/now" || status=1 ;;
    latency) latency now export_latency.md || status=1 ;;
    before) before || status=1 ;;
    *) echo "unknown step $step" >&2; status=2 ;;
  esac
done
exit $status
