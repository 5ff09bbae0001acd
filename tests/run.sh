#!/usr/bin/env bash
# The test command: installs everything the tests need from scratch, then runs them.
#   bash tests/run.sh            # the default suite (what CI runs)
#   bash tests/run.sh -k motion  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# System packages the tests use: a real MQTT broker, openssl for test certificates, Chromium.
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# A real browser for the receiver's web gallery test (driven by selenium from PyPI).
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0  # the CPU build (a bare 'torch' pulls CUDA)
.venv/bin/python -m pip install --quiet -e '.[test,trainer,eval]'

exec .venv/bin/python -m pytest "$@"
