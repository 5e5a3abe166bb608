#!/usr/bin/env bash
# Installs csi-bot into .venv (created if missing) and starts it with the settings in .env.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
[ -f .env ] || { cp .env.example .env; echo "Created .env from .env.example: fill in the Slack values."; }
exec .venv/bin/csi-bot serve
