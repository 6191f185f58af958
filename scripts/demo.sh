#!/usr/bin/env bash
# Install, train the demo model on generated images (first time only), compute every unit, and serve
# the browser UI at http://127.0.0.1:8000. Extra arguments go to `circuitscope demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/circuitscope demo "$@"
