#!/usr/bin/env bash
# Generate the frontend's API types from the backend's OpenAPI schema (no server needed):
#   backend routes -> build/openapi.json -> frontend/src/shared/api/schema.d.ts (generated, git-ignored).
# Run by `npm run gen:api`, `npm run build`, `npm run typecheck` and scripts/lint.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
mkdir -p build
PYTHONPATH="$PWD/backend${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m circuitscope.api.openapi_dump build/openapi.json
frontend/node_modules/.bin/openapi-typescript build/openapi.json -o frontend/src/shared/api/schema.d.ts \
  --root-types --root-types-no-schema-prefix --alphabetize --default-non-nullable false --silent
