"""Shared FastAPI dependencies: settings, database session, blob store."""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ..settings import Settings
from ..store import BlobStore, Database

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the handler returns without error.

    Always use it as `Depends(get_session, scope="function")`: with FastAPI's default request scope
    the commit would run after the response is sent (a client could read before the write lands,
    and a failed commit would still answer 200)."""
    # Writes (POST/PUT/PATCH/DELETE) take the database's write lock up front (store.db.Database.session).
    # Who is asking is settled first: resolving a token may itself write (last use), which must not wait
    # behind this request's own write lock.
    from .auth import current_user

    current_user(request)
    with request.app.state.db.session(write=request.method in _WRITES) as session:
        yield session


# The one way a route gets its database session: `session: Session = Tx`. The transaction commits when the
# handler returns, BEFORE the response is sent (FastAPI's default scope for yield dependencies ends after
# sending: a client could then read before the write is committed, or get a 200 for a commit that fails).
# Only the async browse reads (measured: no threadpool hop) and event streams open short sessions themselves.
Tx = Depends(get_session, scope="function")


def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs
