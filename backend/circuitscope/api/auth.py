"""Identity and roles for API requests.

Who is asking, in this order:
1. `Authorization: Bearer <token>` (an API token from `circuitscope tokens create` or the account page);
   a wrong or revoked token is refused (401), never silently downgraded.
2. The session cookie set by `POST /api/auth/login` (an expired or unknown cookie counts as absent).
3. `settings.local_user` (default "demo"): single-user local mode, where requests without credentials act as
   that user, created on first use as admin. Multi-user mode: `CIRCUITSCOPE_LOCAL_USER=` (empty).
4. Otherwise anonymous: may read only when `settings.anonymous_read` is on.

Roles: viewer (read) < annotator (write labels, families, circuits) < admin (users, anyone's label).
Writes authenticated by cookie or by the local default are refused when they may come from another site:
Origin another site or 'null', Referer another site, or (without either) browser fetch metadata saying
cross-site or a form-type body. The Host header is checked against the allowed hosts first (api.security).
Computations (models, jobs, the file browser, job configs) need settings.compute_role (admin by default).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.exc import IntegrityError

from ..annotate.users import Identity, ensure_user, identity, resolve_token, touch_tokens
from .errors import ApiError

log = logging.getLogger("circuitscope.security")
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


def _resolve(request: Request, inline: bool = False) -> tuple[Identity | None, str]:
    """Reads only: a token's last-use time is recorded in a background thread, because that write may wait for
    the database's write lock, and the writer holding it may need this thread or the event loop (`inline`)."""
    db = request.app.state.db
    settings = request.app.state.settings
    token = _bearer(request)
    stale: list[int] = []
    try:
        return _lookup(request, db, settings, token, stale)
    finally:
        if stale:
            _touch_later(db, stale)


def _touch_later(db, token_ids: list[int]) -> None:
    def touch() -> None:
        try:
            with db.session() as session:
                touch_tokens(session, token_ids)
        except Exception:  # noqa: BLE001 - bookkeeping only
            log.debug("could not record token use", exc_info=True)

    threading.Thread(target=touch, daemon=True, name="token-touch").start()


def _lookup(request: Request, db, settings, token: str | None, stale: list[int]) -> tuple[Identity | None, str]:
    if token is not None:
        with db.session() as session:
            user = resolve_token(session, token, touch=False, stale=stale)
            if user is None:
                raise ApiError(401, "This API token is unknown, expired or revoked. Create a new one with "
                                    "`circuitscope tokens create <user>`.")
            return identity(user), "token"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with db.session() as session:
            user = resolve_token(session, cookie, touch=False, stale=stale)
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


def current_user(request: Request, inline: bool = False) -> Identity | None:
    """The acting user, or None when anonymous (computed once per request)."""
    if not hasattr(request.state, "identity"):
        request.state.identity, request.state.auth_via = _resolve(request, inline)
    return request.state.identity


def auth_via(request: Request) -> str:
    current_user(request)
    return request.state.auth_via


# Content types a cross-site page can send without a CORS preflight (HTML forms, text/plain fetches).
_SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def refuse(request: Request, status: int, detail: str) -> ApiError:
    """An ApiError for a refused request (the error handler logs it with who asked: api.errors.log_refusal)."""
    return ApiError(status, detail)


def _same_site(url: str, host: str) -> bool:
    try:
        return urlsplit(url).netloc.lower() == host.lower()
    except ValueError:
        return False


def _check_origin(request: Request) -> None:
    """Writes that ride on the browser's ambient credentials (session cookie, local default user) must come
    from this server's own pages. The Host header itself was checked against the allowed hosts (api.security),
    so Origin == Host cannot be produced by DNS rebinding."""
    if request.method not in _UNSAFE or auth_via(request) not in ("cookie", "local"):
        return
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    fix = ("Use this server's own pages, or send an API token ('Authorization: Bearer ...') from scripts.")
    if origin is not None:
        if origin == "null":
            raise refuse(request, 403, "cross-site write refused: the request's Origin is 'null' (a sandboxed "
                                       "frame or a page that hides its origin). " + fix)
        if not _same_site(origin, host):
            raise refuse(request, 403, f"cross-site write refused (Origin {origin[:200]} is not this server {host}). "
                                       + fix)
        return
    referer = request.headers.get("referer")
    if referer:
        if not _same_site(referer, host):
            raise refuse(request, 403, f"cross-site write refused (Referer {referer[:200]} is not this server "
                                       f"{host}). " + fix)
        return
    # Neither Origin nor Referer. Every current browser sends Origin on writes, so this is a script, a test
    # client or a very old browser. Refuse whatever a cross-site page could have produced: browser fetch
    # metadata saying so, or a body type that HTML forms send.
    fetch_site = request.headers.get("sec-fetch-site")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if (fetch_site and fetch_site not in ("same-origin", "none")) or content_type in _SIMPLE_TYPES:
        raise refuse(request, 403, "cross-site write refused: the request has neither Origin nor Referer and "
                                   "could come from another site. " + fix)


def require_reader(request: Request, inline: bool = False) -> Identity | None:
    """Guards every read endpoint: anonymous reads only when settings.anonymous_read is on."""
    user = current_user(request, inline)
    if user is None and not request.app.state.settings.anonymous_read:
        raise ApiError(401, "Sign in to read (this server has anonymous reading switched off).")
    return user


async def require_reader_inline(request: Request) -> Identity | None:
    """`require_reader` run on the event loop (no threadpool hop): it is on every read's path and its
    database work is a cached identity or one indexed token lookup (it never writes there)."""
    return require_reader(request, inline=True)


def require_user(request: Request) -> Identity:
    user = current_user(request)
    if user is None:
        raise refuse(request, 401, "Sign in (POST /api/auth/login) or send 'Authorization: Bearer <token>'.")
    _check_origin(request)
    return user


def require_role(role: str) -> Callable[[Request], Identity]:
    """Dependency factory: `Depends(require_role("annotator"))` -> the acting Identity."""

    def dependency(request: Request) -> Identity:
        user = require_user(request)
        if not user.has_role(role):
            raise refuse(request, 403, f"This needs the {role} role; {user.name!r} is a {user.role}. Ask an "
                                       "admin to change your role.")
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


def can_compute(request: Request) -> bool:
    """Whether the acting user holds the compute permission (settings.compute_role: admin by default)."""
    user = current_user(request)
    return user is not None and user.has_role(request.app.state.settings.compute_role)


def require_compute(request: Request) -> Identity:
    """Registering models, browsing the allowed folders, reading job configs, starting and cancelling jobs."""
    user = require_user(request)
    role = request.app.state.settings.compute_role
    if not user.has_role(role):
        raise refuse(request, 403, f"Computations need the compute permission (the {role} role, set by "
                                   f"CIRCUITSCOPE_COMPUTE_ROLE); {user.name!r} has the {user.role} role. Ask an admin "
                                   "to start it, or to change your role.")
    return user


def require_compute_reader(request: Request) -> Identity:
    """Reads that reveal server paths and model code locations: signed-in users with the compute permission."""
    user = current_user(request)
    if user is None:
        raise refuse(request, 401, "Sign in to see this (it shows server paths): POST /api/auth/login or send "
                                   "'Authorization: Bearer <token>'.")
    role = request.app.state.settings.compute_role
    if not user.has_role(role):
        raise refuse(request, 403, f"This shows server paths and needs the compute permission (the {role} "
                                   f"role); {user.name!r} has the {user.role} role.")
    return user
