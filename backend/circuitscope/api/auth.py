"""Identity and roles for API requests.

Who is asking, in this order:
1. `Authorization: Bearer <token>` (an API token from `circuitscope tokens create` or the account page);
   a wrong or revoked token is refused (401), never silently downgraded.
2. The session cookie set by `POST /api/auth/login` (an expired or unknown cookie counts as absent).
3. `settings.local_user` (default "demo"): single-user local mode, where requests without credentials act as
   that user, created on first use as admin. Multi-user mode: `CIRCUITSCOPE_LOCAL_USER=` (empty).
4. Otherwise anonymous: may read only when `settings.anonymous_read` is on.

Roles: viewer (read) < annotator (write labels, families, circuits) < admin (users, anyone's label).
Writes authenticated by cookie or by the local default are refused when the request's Origin is another
site (a page elsewhere cannot make your browser write here).
"""
from __future__ import annotations

import time
from typing import Callable
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.exc import IntegrityError

from ..annotate.users import Identity, ensure_user, identity, resolve_token
from .errors import ApiError

SESSION_COOKIE = "circuitscope_session"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "Authorization header must be 'Bearer <token>'")
    return value.strip()


def _resolve(request: Request) -> tuple[Identity | None, str]:
    db = request.app.state.db
    settings = request.app.state.settings
    token = _bearer(request)
    if token is not None:
        with db.session() as session:
            user = resolve_token(session, token)
            if user is None:
                raise ApiError(401, "This API token is unknown, expired or revoked. Create a new one with "
                                    "`circuitscope tokens create <user>`.")
            return identity(user), "token"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with db.session() as session:
            user = resolve_token(session, cookie)
            if user is not None:
                return identity(user), "cookie"
    if settings.local_user:
        return _local_identity(request), "local"
    return None, "anonymous"


LOCAL_IDENTITY_TTL = 5.0  # seconds; a role change of the local user shows within this time


def _local_identity(request: Request) -> Identity:
    """The single-user default, looked up at most every few seconds (it is on every request's path)."""
    cached = getattr(request.app.state, "local_identity", None)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    db, name = request.app.state.db, request.app.state.settings.local_user
    try:
        with db.session() as session:
            ident = identity(ensure_user(session, name, role="admin"))
    except IntegrityError:  # created by a concurrent request: it exists now
        with db.session() as session:
            ident = identity(ensure_user(session, name, role="admin"))
    request.app.state.local_identity = (ident, time.monotonic() + LOCAL_IDENTITY_TTL)
    return ident


def current_user(request: Request) -> Identity | None:
    """The acting user, or None when anonymous (computed once per request)."""
    if not hasattr(request.state, "identity"):
        request.state.identity, request.state.auth_via = _resolve(request)
    return request.state.identity


def auth_via(request: Request) -> str:
    current_user(request)
    return request.state.auth_via


def _check_origin(request: Request) -> None:
    if request.method not in _UNSAFE or auth_via(request) not in ("cookie", "local"):
        return
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host:
        raise ApiError(403, f"cross-site write refused (Origin {origin} is not this server {host}); "
                            "use an API token for scripts")


def require_reader(request: Request) -> Identity | None:
    """Guards every read endpoint: anonymous reads only when settings.anonymous_read is on."""
    user = current_user(request)
    if user is None and not request.app.state.settings.anonymous_read:
        raise ApiError(401, "Sign in to read (this server has anonymous reading switched off).")
    return user


async def require_reader_inline(request: Request) -> Identity | None:
    """`require_reader` run on the event loop (no threadpool hop): it is on every read's path and its
    database work is a cached identity or one indexed token lookup."""
    return require_reader(request)


def require_user(request: Request) -> Identity:
    user = current_user(request)
    if user is None:
        raise ApiError(401, "Sign in (POST /api/auth/login) or send 'Authorization: Bearer <token>'.")
    _check_origin(request)
    return user


def require_role(role: str) -> Callable[[Request], Identity]:
    """Dependency factory: `Depends(require_role("annotator"))` -> the acting Identity."""

    def dependency(request: Request) -> Identity:
        user = require_user(request)
        if not user.has_role(role):
            raise ApiError(403, f"This needs the {role} role; {user.name!r} is a {user.role}.")
        return user

    dependency.__name__ = f"require_{role}"
    return dependency
