#!/usr/bin/env bash
# The test suite's wall time, measured side by side: `make test` (the whole suite, as CI runs it)
# at two commits, each in a fresh clone with its own venv (installed before any timing), the runs
# interleaved (base, head; then head, base; ...), and `make test ARGS='-m "not slow"'` at head.
# Writes experiments/suite/times.csv and the table of experiments/suite/README.md (between its
# markers). Run it on a quiet machine (nothing else running):
#   bash experiments/suite/time.sh <base commit> [<head commit, default HEAD>] [<rounds, default 1>]
set -euo pipefail
base=${1:?usage: time.sh BASE [HEAD] [ROUNDS]}
head=${2:-HEAD}
rounds=${3:-1}
repo=$(git rev-parse --show-toplevel)
here=$repo/experiments/suite
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base_sha=$(git -C "$repo" rev-parse --short "$base")
head_sha=$(git -C "$repo" rev-parse --short "$head")

for sha in "$base_sha" "$head_sha"; do
  git clone -q "$repo" "$work/$sha"
  git -C "$work/$sha" checkout -q "$sha"
  make -C "$work/$sha" .venv/.installed > "$work/$sha.install.log" 2>&1
done

rows=()
timed() {  # timed <sha> <label> [make args...]: one timed run, a row of the table
  local sha=$1 label=$2
  shift 2
  local start end status=0
  start=$(date +%s.%N)
  make -C "$work/$sha" test "$@" > "$work/run.log" 2>&1 || status=$?
  end=$(date +%s.%N)
  local summary
  summary=$(grep -E ' (passed|failed)' "$work/run.log" | tail -n 1 | tr -d '=,' | xargs)
  rows+=("$sha,$label,$(python3 -c "print(round($end - $start, 1))"),$status,$summary")
  echo "${rows[-1]}"
}

for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=("$base_sha" "$head_sha"); else order=("$head_sha" "$base_sha"); fi
  for sha in "${order[@]}"; do timed "$sha" "make test"; done
done
timed "$head_sha" 'make test ARGS=-m "not slow"' ARGS='-m "not slow"'

{
  echo "commit,command,wall_s,exit,summary"
  printf '%s\n' "${rows[@]}"
} > "$here/times.csv"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
table=$(python3 - "$here/times.csv" "$base_sha" "$head_sha" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base, head = sys.argv[2], sys.argv[3]
def walls(sha, cmd="make test"):
    return [float(r["wall_s"]) for r in rows if r["commit"] == sha and r["command"] == cmd]
print("| commit | command | runs | wall (s) | exit | pytest's last line |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['commit']} | `{r['command']}` | 1 | {float(r['wall_s']):.0f} | {r['exit']} | {r['summary']} |")
b, h = statistics.median(walls(base)), statistics.median(walls(head))
print()
print(f"`make test` at {head} takes **{h / b:.2f}** of the wall time at {base} (median of each).")
PY
)
{
  echo "<!-- measured: begin (written by experiments/suite/time.sh) -->"
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores of an $cpu, nothing else running;"
  echo "\`bash experiments/suite/time.sh $base_sha $head_sha $rounds\`:"
  echo
  echo "$table"
  echo "<!-- measured: end -->"
} > "$work/table.md"
python3 - "$here/README.md" "$work/table.md" <<'PY'
import re, sys
page, table = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pattern = r"<!-- measured: begin.*?<!-- measured: end -->"
assert re.search(pattern, page, re.S), "no markers in the page"
open(sys.argv[1], "w").write(re.sub(pattern, lambda _: table, page, flags=re.S))
PY
echo "wrote $here/times.csv and the table in $here/README.md"
