#!/usr/bin/env bash
# Regenerates experiments/headline/results.{md,csv}: the paper's headline on CPU, one seed each:
# the default (l0, mixed data), Tl1, the two data kinds of the paper under l0, and a dense baseline.
# Usage: bash experiments/headline/run.sh [extra overrides...]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
make .venv/.installed >/dev/null
out=logs/headline
rm -rf "$out"
run() {
  local name=$1; shift
  /usr/bin/time -f "$name: %e s wall" .venv/bin/python -m rvsm.train trainer.enable_progress_bar=false \
    seed=12345 "hydra.run.dir=$out/$name" "$@" 2>&1 | grep -E "^rvsm:|s wall"
}
run l0_mixed "$@"
run tl1_mixed penalty=tl1 "$@"
run l0_fonts data=fonts "$@"
run l0_handwriting data=handwriting "$@"
run dense_mixed penalty=none "$@"
.venv/bin/python -m rvsm.report "$out" --out experiments/headline/results
