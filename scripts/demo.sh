#!/usr/bin/env bash
# Sets up a virtual environment and opens the console on its built-in sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
echo "setting up .venv (log: .venv/install.log)…" >&2
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e .; } >.venv/install.log 2>&1; then
  cat .venv/install.log >&2
  echo "$(basename "$0"): installing the project failed (see above)" >&2
  exit 1
fi
exec .venv/bin/clerk-migrate demo "$@"
