"""Serve the built frontend (frontend/dist copied to api/static by the build) with SPA fallback."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).parent / "static"


def mount_frontend(app: FastAPI) -> None:
    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str):
        if path.startswith("api/"):
            from .errors import not_found

            raise not_found(f"No API endpoint at /{path}. See /docs for the list.")
        candidate = (STATIC / path).resolve()
        if path and candidate.is_file() and STATIC.resolve() in candidate.parents:
            return FileResponse(candidate)
        index = STATIC / "index.html"
        if index.exists():
            return FileResponse(index)
        return HTMLResponse(
            "<h1>circuitscope</h1><p>The frontend is not built. Run <code>scripts/demo.sh</code> "
            "(or <code>npm --prefix frontend ci && npm --prefix frontend run build</code>). "
            "The API is at <a href='/docs'>/docs</a>.</p>",
            status_code=200,
        )
