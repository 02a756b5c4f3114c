#!/usr/bin/env bash
# Serve the web app and run the background worker beside it; stop both together.
set -euo pipefail
BIN=$1 HOST=$2 PORT=$3
CIVIC_CONFIG=${CIVIC_CONFIG:-development} "$BIN/flask" --app wsgi worker &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
"$BIN/flask" --app wsgi run --host "$HOST" --port "$PORT"
