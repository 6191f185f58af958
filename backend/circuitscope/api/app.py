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

    from .errors import document_errors, install_error_handlers
    from .routes import annotate, browse, jobs, sessions
    from .security import SecurityMiddleware

    install_error_handlers(app)
    document_errors(app)
    from .write_gate import SqliteWriteGate

    app.add_middleware(SqliteWriteGate, db=app.state.db)
    # Outermost: the host check and body checks run before anything else sees the request.
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.include_router(browse.router)
    app.include_router(annotate.router)
    app.include_router(jobs.router)
    from .routes import concepts as concept_routes

    app.include_router(concept_routes.router)
    from .routes import evidence

    app.include_router(evidence.router)
    from .routes import circuit_tests

    app.include_router(circuit_tests.router)
    app.include_router(sessions.router)
    from .routes import fidelity  # feature-vis fidelity (records/featurevis/fidelity.py)

    app.include_router(fidelity.router)

    from .frontend import mount_frontend  # last: its catch-all route must not shadow /api

    mount_frontend(app)
    return app
