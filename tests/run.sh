#!/usr/bin/env bash
# The test command: installs everything the tests need from scratch, then runs them.
#   bash tests/run.sh            # the default suite (what CI runs)
#   bash tests/run.sh -k motion  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

exec .venv/bin/python -m pytest "$@"
