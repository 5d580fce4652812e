#!/usr/bin/env bash
# The demo command of the README: set up, then run one 3-variant job end to end and keep serving.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
