#!/usr/bin/env bash
# The channel export's record (experiments/channels/README.md, "The export of filter pruning"):
# experiment=channels_gmp on seeds 1-3 and the latency baseline (the default network, seed 1),
# trained as record.sh trains them; each run exported as `python -m rvsm.export` writes it
# (width_multiple 4 and the inference levers of rvsm/inference.py) and timed against the exported
# default network at batch 1 and 256 (latency.py) into export_latency.md. The `before` step
# exports the same checkpoints with commit BEFORE (default c212f1c, the export before the levers;
# a git worktree in /tmp) and times them the same way into BEFORE_PAGE (default
# export_latency_before.md); BEFORE=7b20e7d BEFORE_PAGE=export_latency_7b20e7d.md gives the first
# three levers' page.
# The `side` step times every set of exports found (now, before_<commit>) in the same interleaved
# repeats against today's default export into export_latency_side_by_side.md; `levers` exports
# the checkpoints without each lever in turn and times them into levers.md (levers.py).
#   bash experiments/channels/export_record.sh [train] [export] [latency] [before] [side] [levers]
#   (default: train export latency before)
# Training takes about 10 min on 2 cores (two one-thread jobs), each latency step under a minute.
set -uo pipefail
cd "$(dirname "$0")/../.."
DIR=${DIR:-logs/channels_export}
BEFORE=${BEFORE:-c212f1c}
BEFORE_PAGE=${BEFORE_PAGE:-export_latency_before.md}
ROOT=$PWD
PY=$ROOT/.venv/bin/python
HERE=experiments/channels

train() {
  $PY -m rvsm.train -m experiment=channels_gmp seed=1,2,3 data.seed=12345 hydra/launcher=joblib \
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
  (cd $tree && export PYTHONPATH=$tree && export_all "$ROOT/$DIR/before_$BEFORE") &&
    latency before_$BEFORE $BEFORE_PAGE
}

status=0
for step in ${@:-train export latency before}; do
  case $step in
    train) train || status=1 ;;
    export) export_all "$ROOT/$DIR/now" || status=1 ;;
    latency) latency now export_latency.md || status=1 ;;
    before) before || status=1 ;;
    side) $PY $HERE/latency.py $DIR --baseline $DIR/now/baseline/model.pt \
      --out $HERE/export_latency_side_by_side.md || status=1 ;;
    levers) $PY $HERE/levers.py $DIR || status=1 ;;
    *) echo "unknown step $step" >&2; status=2 ;;
  esac
done
exit $status
