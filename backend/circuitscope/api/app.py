"""The FastAPI application: JSON API under /api, images, and the built frontend (single-page app)."""
from __future__ import annotations

from fastapi import FastAPI

from ..settings import Settings, get_settings
from ..store import BlobStore, Database


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="circuitscope",
        description="A self-hosted Microscope for circuits research: units, dataset examples, "
        "feature visualizations, weights, labels and circuit hypotheses.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.sqlalchemy_url)
    app.state.blobs = BlobStore(settings.blob_dir)

    from .errors import install_error_handlers
    from .routes import annotate, browse, jobs

    install_error_handlers(app)
    app.include_router(browse.router)
    app.include_router(annotate.router)
    app.include_router(jobs.router)
    from .routes import fidelity  # feature-vis fidelity (records/featurevis/fidelity.py)

    app.include_router(fidelity.router)

    from .frontend import mount_frontend  # last: its catch-all route must not shadow /api

    mount_frontend(app)
    return app
