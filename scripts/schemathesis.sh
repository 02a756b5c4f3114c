#!/usr/bin/env bash
# Fuzz the JSON API with schemathesis (tests/security/test_openapi_fuzz.py; see docs/security.md).
# Usage: scripts/schemathesis.sh [examples per operation, default 50]
# Uses its own databases: /tmp/civic-security.db and PostgreSQL civic_security (created if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_EXAMPLES="${1:-50}"
PY=.venv/bin/python
TEST_DATABASE_URL=sqlite:////tmp/civic-security.db "$PY" -m pytest -q tests/security/test_openapi_fuzz.py
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  createdb -h 127.0.0.1 -U postgres civic_security 2>/dev/null || true
  TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/civic_security \
    "$PY" -m pytest -q tests/security/test_openapi_fuzz.py
else
  echo "PostgreSQL is not running on 127.0.0.1:5432: skipped the PostgreSQL run" >&2
fi
