"""Write the API's OpenAPI schema (what `/openapi.json` serves) without starting a server.

`python -m circuitscope.api.openapi_dump PATH` (or `-` for stdout). The frontend's build runs it and
generates its TypeScript types from the result (frontend/scripts/gen_api.sh), so the browser code and
the routes share one contract.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def openapi_schema() -> dict:
    from ..settings import Settings
    from .app import create_app

    # A throw-away data folder: building the app must not create or touch a real database.
    with tempfile.TemporaryDirectory(prefix="circuitscope-openapi-") as tmp:
        app = create_app(Settings(data_dir=Path(tmp), database_url=None))
        return app.openapi()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m circuitscope.api.openapi_dump PATH|-", file=sys.stderr)
        return 2
    text = json.dumps(openapi_schema(), indent=1, sort_keys=True) + "\n"
    if args[0] == "-":
        sys.stdout.write(text)
    else:
        out = Path(args[0])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
