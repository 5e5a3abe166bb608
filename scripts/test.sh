#!/usr/bin/env bash
# Installs csi-bot with its test dependencies into .venv (created if missing) and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# Four workers, one test file each at a time (its tests share one running bot): most of the time
# is spent waiting on real processes, so four fit two cores. `-n 0` runs in one process.
exec .venv/bin/python -m pytest -n 4 --dist loadfile "$@"
