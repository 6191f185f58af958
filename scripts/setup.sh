#!/usr/bin/env bash
# Install circuitscope into .venv (Python packages) and build the frontend. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch + torchvision from the registry as a matching pair (a CPU machine runs the default build fine).
.venv/bin/python -m pip install -q -e ".[test,ray]"
if [ -f frontend/package.json ]; then
  if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
    # `npm install` (not `npm ci`): it installs the locked versions, and unlike `npm ci` it accepts a lock
    # written with omit-lockfile-registry-resolved, whose optional per-platform packages have no entry.
    npm --prefix frontend install --no-audit --no-fund --loglevel=error
  fi
  npm --prefix frontend run build --silent
fi
