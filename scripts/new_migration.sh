#!/usr/bin/env bash
# Autogenerate an Alembic migration from the table modules: scripts/new_migration.sh "message"
set -euo pipefail
tmp=$(mktemp -d)
python - "$tmp/db.sqlite" "$1" <<'PY'
import sys
from alembic import command
from circuitscope.store.db import alembic_config, make_engine
url = f"sqlite:///{sys.argv[1]}"
cfg = alembic_config(url)
command.upgrade(cfg, "head")
command.revision(cfg, message=sys.argv[2], autogenerate=True)
PY
rm -rf "$tmp"
