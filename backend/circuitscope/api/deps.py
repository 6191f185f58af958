"""Shared FastAPI dependencies: settings, database session, blob store."""
from __future__ import annotations

from typing import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from ..settings import Settings
from ..store import BlobStore, Database


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the handler returns without error.

    Always use it as `Depends(get_session, scope="function")`: with FastAPI's default request scope
    the commit would run after the response is sent (a client could read before the write lands,
    and a failed commit would still answer 200)."""
    with request.app.state.db.session() as session:
        yield session


def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs
