#!/usr/bin/env bash
# The test command of the README: set up, make sure PostgreSQL runs, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# Tests use the machine's PostgreSQL (TEST_DATABASE_URL) and start embedded servers of their own.
: "${TEST_DATABASE_URL:=postgresql://postgres@127.0.0.1:5432/postgres}"
export TEST_DATABASE_URL
if ! .venv/bin/python -c "import asyncio, asyncpg, os; asyncio.run(asyncpg.connect(os.environ['TEST_DATABASE_URL'], timeout=3))" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
# Lint and types first (settings in pyproject.toml): a failure stops before the long suite.
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
