#!/usr/bin/env bash
# Sets up a virtual environment with the test extras and runs the whole suite.
# pytest's "no tests collected" (exit 5) is a failure here, not a pass.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
echo "setting up .venv (log: .venv/install.log)…" >&2
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[test]'; } >.venv/install.log 2>&1; then
  cat .venv/install.log >&2
  echo "$(basename "$0"): installing the project failed (see above)" >&2
  exit 1
fi
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$code"
