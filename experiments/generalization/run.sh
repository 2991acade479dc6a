#!/bin/bash
# Cross-kind generalisation and severity curves (experiments/generalization/README.md).
# Usage, from the repository root: bash experiments/generalization/run.sh [logs folder]
# 1. train the default run (make train's settings, data.seed 12345) on fonts, handwriting and
#    mixed data, seeds 1-3 (skipped for folders that already hold a finished run);
# 2. test every model on the fonts and the handwriting test split (python -m rvsm.eval);
# 3. severity curves of the mixed-trained models on mixed data (python -m rvsm.severity);
# 4. tables and the plot (experiments/generalization/summarize.py).
set -euo pipefail
LOGS=${1:-logs/generalization}
PY=${PY:-.venv/bin/python}
J="hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1"
if ! ls "$LOGS"/train/*/metrics.json >/dev/null 2>&1; then
  $PY -m rvsm.train -m data=fonts,handwriting,mixed seed=1,2,3 data.seed=12345 trainer.max_epochs=7 data.batch_size=64 trainer.precision=32-true \
    task_name=generalization trainer.enable_progress_bar=false hydra.sweep.dir="$LOGS/train" $J
fi
for run in "$LOGS"/train/*/; do
  name=$(basename "$run")
  for kind in fonts handwriting; do
    out="$LOGS/eval/$name-on-$kind"
    [ -f "$out/eval.json" ] || $PY -m rvsm.eval ckpt_path="$run" data=$kind hydra.run.dir="$out"
  done
  if grep -q '"data": "mixed"' "$run/metrics.json"; then
    out="$LOGS/severity/$name"
    [ -f "$out/severity.csv" ] || $PY -m rvsm.severity ckpt_path="$run" hydra.run.dir="$out"
  fi
done
$PY experiments/generalization/summarize.py "$LOGS" experiments/generalization
