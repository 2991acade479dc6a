#!/bin/bash
# Unseen handwriting fonts (experiments/generalization/README.md, "Fonts never seen in training").
# Usage, from the repository root: bash experiments/generalization/run_fonts.sh [logs folder]
# Needs the Debian font packages of `make fonts`. One job at a time, one thread each:
# 1. train the default run (make train's settings, data.seed 12345), seeds 1-3, and the same with
#    half of the 10 handwriting fonts of data=handwriting_fonts (ADDED) beside the named fonts,
#    seeds ADDED_SEEDS (default 1 2 3);
# 2. test every model on the other half (UNSEEN), each font alone and all together
#    (python -m rvsm.eval ... per_font=true), and the default models on all 10;
# 3. tables (experiments/generalization/summarize_fonts.py).
# Folders that already hold a finished run or evaluation are skipped.
set -euo pipefail
LOGS=${1:-logs/generalization_fonts}
PY=${PY:-.venv/bin/python}
H=/usr/share/fonts
ADDED="[$H/truetype/fifthhorseman/dkg.ttf,$H/truetype/femkeklaver/femkeklaver.ttf,\
$H/truetype/sjfonts/SteveHand.ttf,$H/opentype/dancingscript/DancingScript-Regular.otf,\
$H/truetype/humor-sans/Humor-Sans.ttf]"
UNSEEN="[$H/truetype/breip/Breip.ttf,$H/truetype/rufscript/Rufscript010.ttf,\
$H/truetype/sjfonts/Delphine.ttf,$H/opentype/kaushanscript/KaushanScript-Regular.otf,\
$H/truetype/kristi/Kristi.ttf]"
COMMON="data.seed=12345 trainer.max_epochs=7 data.batch_size=64 trainer.precision=32-true threads=1 trainer.enable_progress_bar=false task_name=generalization_fonts"
ADDED_SEEDS=${ADDED_SEEDS:-1 2 3}  # seeds of the model trained with ADDED
for seed in 1 2 3; do
  run="$LOGS/train/default-$seed"
  [ -f "$run/metrics.json" ] || $PY -m rvsm.train seed=$seed $COMMON hydra.run.dir="$run"
done
for seed in $ADDED_SEEDS; do
  run="$LOGS/train/added-$seed"
  [ -f "$run/metrics.json" ] || $PY -m rvsm.train seed=$seed $COMMON \
    data.synth.font_files="$ADDED" hydra.run.dir="$run"
done
for run in "$LOGS"/train/*/; do
  name=$(basename "$run")
  out="$LOGS/eval/$name-on-unseen"
  [ -f "$out/eval.json" ] || $PY -m rvsm.eval ckpt_path="$run" data.synth.font_files="$UNSEEN" \
    per_font=true hydra.run.dir="$out"
  case $name in default-*)
    out="$LOGS/eval/$name-on-added"
    [ -f "$out/eval.json" ] || $PY -m rvsm.eval ckpt_path="$run" data.synth.font_files="$ADDED" \
      per_font=true hydra.run.dir="$out" ;;
  esac
done
$PY experiments/generalization/summarize_fonts.py "$LOGS" experiments/generalization
