#!/usr/bin/env bash
# Run every benchmark under bench/; each prints one JSON object per line.
set -uo pipefail
rc=0
for script in bench/bench_*.py; do
  [ -e "$script" ] || continue
  .venv/bin/python "$script" || { echo "{\"bench\": \"$script\", \"error\": \"exited non-zero\"}"; rc=1; }
done
exit $rc
