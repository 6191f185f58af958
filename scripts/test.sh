#!/usr/bin/env bash
# Install everything the tests need (Python packages, frontend build, Chromium, PostgreSQL) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/setup.sh
# Static checks first (ruff, mypy, eslint, tsc; ~15 s): a lint error fails the run like a test.
scripts/lint.sh
# The full run includes the slow tests (e.g. training the demo model to >= 90 % held-out accuracy,
# ~1-2 min); `CIRCUITSCOPE_RUN_SLOW= scripts/test.sh` skips them.
export CIRCUITSCOPE_RUN_SLOW=${CIRCUITSCOPE_RUN_SLOW-1}
exec .venv/bin/python -m pytest "$@"
