#!/usr/bin/env bash
# Create .venv and install the requirements (skipped when they did not change since last time).
# Usage: scripts/setup.sh [--dev]   (--dev adds the test tools and Debian's Chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The repo root on the venv's import path (a .pth file, as an editable install makes): scripts import
# services, config, ... from any working directory without patching sys.path.
echo "$PWD" > "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/feedlyai-repo.pth"
files=(requirements.txt)
[ "${1:-}" = "--dev" ] && files+=(test/requirements.txt)
stamp=".venv/.installed-$(cat "${files[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  for f in "${files[@]}"; do .venv/bin/pip install -q -r "$f"; done
  .venv/bin/pip install -q --no-deps $(sed -n 's/^# no-deps: //p' requirements.txt)
  touch "$stamp"
fi
if [ "${1:-}" = "--dev" ] && ! command -v pg_dump >/dev/null; then
  # test_schema_snapshot compares pg_dump's view of a migrated database with db/schema.sql.
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-client >/dev/null
fi
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  # The dashboard test drives a real browser; Debian's Chromium (playwright's own download is blocked).
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
