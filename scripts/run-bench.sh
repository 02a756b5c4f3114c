#!/usr/bin/env bash
# Run every benchmark under bench/; each prints one JSON object per line.
set -uo pipefail
# bench/bench_pages.py loads the server with wrk (Debian package 'wrk'): install it when missing,
# as scripts/ensure-chromium.sh does for the browser tests.
if ! command -v wrk >/dev/null; then
  echo "wrk is missing: installing Debian's package 'wrk' for the page benchmark..." >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "Cannot install wrk without root. Run: sudo apt-get install -y wrk" >&2; SUDO="false"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null; } \
    || echo "Installing wrk failed; bench/bench_pages.py will say so." >&2
fi
rc=0
for script in bench/bench_*.py; do
  [ -e "$script" ] || continue
  .venv/bin/python "$script" || { echo "{\"bench\": \"$script\", \"error\": \"exited non-zero\"}"; rc=1; }
done
exit $rc
