#!/usr/bin/env bash
# The record of experiments/channels/README.md: channel RVSM (group lasso, group l0) and filter
# pruning at two strengths each, the dense reference, seeds 1-3, on the default data and at
# tremor severity 0.35; then every run exported and timed against the exported default network.
#   bash experiments/channels/record.sh [train] [export] [latency] [collect]   (default: all)
#   N_JOBS=1 bash ...   (one job at a time; default two, one thread each)
# A step cut short runs again with the same command: finished jobs are kept (skip_finished).
set -uo pipefail
cd "$(dirname "$0")/../.."
DIR=${DIR:-logs/channels}
PY=.venv/bin/python
LAUNCH="hydra/launcher=joblib hydra.launcher.n_jobs=${N_JOBS:-2} threads=1 skip_finished=true"

train() {
  local data extra
  for data in default hard; do
    extra=$([ $data = hard ] && echo data.synth.tremor.severity=0.35)
    for part in "presets grid=channels" \
      "l1_lam0.006 grid=channels experiment=channels_l1 penalty.lam=0.006" \
      "gmp_0.6 grid=channels experiment=channels_gmp method.sparsity=0.6" \
      "dense grid=compare/dense"; do
      set -- $part
      $PY -m rvsm.train -m "${@:2}" $extra $LAUNCH hydra.sweep.dir=$DIR/$data/$1
    done
  done
  # the latency baseline: the default network (make train's setting), seed 1, default data
  $PY -m rvsm.train seed=1 data.seed=12345 trainer.max_epochs=7 data.batch_size=64 trainer.precision=32-true threads=1 skip_finished=true \
    trainer.enable_progress_bar=false hydra.run.dir=$DIR/baseline
}

export_runs() {  # each finished run without its model.pt: prints channels, bytes, FLOPs
  local m
  for m in $(find "$DIR" -name metrics.json | sort); do
    grep -q '"status": "ok"' "$m" && [ ! -f "$(dirname "$m")/model.pt" ] &&
      $PY -m rvsm.export ckpt_path="$(dirname "$m")" out="$(dirname "$m")/model.pt" width_multiple=1
  done
  return 0
}

collect() {  # each run's metrics.json and resolved config in the repository, and the report
  mkdir -p experiments/channels/runs
  (cd "$DIR" && find . \( -name metrics.json -o -path '*/.hydra/config.yaml' \
    -o -path '*/.hydra/overrides.yaml' \) -exec cp --parents {} "$OLDPWD/experiments/channels/runs/" \;)
  $PY -m rvsm.report experiments/channels/runs --out experiments/channels/results
}

status=0
for step in ${@:-train export latency collect}; do
  case $step in
    train) train || status=1 ;;
    export) export_runs || status=1 ;;
    latency) $PY experiments/channels/latency.py "$DIR" --baseline "$DIR/baseline/model.pt" ||
      status=1 ;;
    collect) collect || status=1 ;;
    *) echo "unknown step $step" >&2; status=2 ;;
  esac
done
exit $status
