#!/usr/bin/env bash
# Static checks: ruff (lint + import order) and mypy on the backend, eslint and tsc on the frontend.
# Runs all four and fails if any failed. `scripts/lint.sh --fix` lets ruff and eslint fix what they can.
set -uo pipefail
cd "$(dirname "$0")/.."
fix=()
[ "${1-}" = "--fix" ] && fix=(--fix)
failed=()
step() {  # step NAME CMD...: run CMD, remember NAME if it failed
  local name=$1; shift
  echo "== $name"
  "$@" || failed+=("$name")
}
step ruff .venv/bin/ruff check --output-format concise "${fix[@]}" backend tests scripts
step mypy env PYTHONPATH=backend .venv/bin/mypy
step eslint npm --prefix frontend run --silent lint -- "${fix[@]}"
step tsc npm --prefix frontend run --silent typecheck
if [ ${#failed[@]} -gt 0 ]; then
  echo "lint: failed: ${failed[*]}" >&2
  exit 1
fi
echo "lint: all clean"
