"""Every error is JSON in one shape: {"detail": "<what went wrong and how to fix it>", ...extra fields}.

Validation errors add `errors` (one line per problem); conflicts add `current` (the state now). The OpenAPI
document describes exactly this shape (`ErrorOut`) for every error status, instead of FastAPI's default
validation-error array, and declares the non-JSON responses (CSV, GraphML, HTML, images, event streams).

Errors that come from the database or the runtime rather than from a route are mapped to what they mean for
the client: a uniqueness race is a 409 (reload and retry), a number too large for a database integer a 422,
a busy database a 503 with Retry-After; anything else is a JSON 500 that names no internals.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import errors as domain

log = logging.getLogger("circuitscope.api")
security_log = logging.getLogger("circuitscope.security")


class ApiError(Exception):
    """A refusal decided by the API layer itself (authentication, request framing, paths); the packages below
    the API raise domain errors (circuitscope.errors) instead, mapped by DOMAIN_STATUS."""

    def __init__(self, status: int, detail: str, **extra):
        self.status, self.detail, self.extra = status, detail, extra


# The one place where a domain error becomes an HTTP status (most specific class first).
DOMAIN_STATUS: dict[type[domain.DomainError], int] = {
    domain.Unauthenticated: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.TooLarge: 413,
    domain.Invalid: 422,
    domain.TooManyAttempts: 429,
}


def domain_status(exc: domain.DomainError) -> int:
    return next((status for cls, status in DOMAIN_STATUS.items() if isinstance(exc, cls)), 422)


def not_found(detail: str, **extra) -> ApiError:
    return ApiError(404, detail, **extra)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorOut",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "What went wrong and how to fix it."},
        "errors": {"type": "array", "items": {"type": "string"},
                   "description": "Validation errors: one 'field: problem' line each."},
        "current": {"description": "On 409: the current state of what you tried to change."},
    },
    "additionalProperties": True,
}
ERROR_STATUSES = {
    "400": "Bad request (e.g. a host name this server does not answer to)",
    "401": "Not signed in, or the token is unknown, expired or revoked",
    "403": "Not allowed (role, cross-site write, path outside the allowed folders)",
    "404": "Not found",
    "409": "Conflict: changed since you loaded it; `current` holds the state now",
    "413": "Request body too large",
    "414": "URL too long",
    "415": "The body must be application/json",
    "422": "Invalid request: `detail` names the first problem, `errors` lists them",
    "429": "Too many attempts; see Retry-After",
    "500": "Server error",
    "503": "Busy; retry after Retry-After seconds",
}


def _json(status: int, detail: str, headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def log_refusal(request: Request, status: int, detail: str) -> None:
    """Every refused request is logged with who asked (refusals of access louder than plain mistakes)."""
    user = getattr(request.state, "identity", None)
    client = request.client.host if request.client else "?"
    level = logging.WARNING if status in (401, 403, 429) else logging.INFO
    security_log.log(level, "refused %s %s (%s, user %s, client %s): %s", request.method, request.url.path, status,
                     user.name if user else "anonymous", client, detail[:500])


def validation_problem(error: dict[str, Any]) -> str:
    """One 'field: problem' line; an unknown key says so (the run-description wording, compute.config)."""
    where = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "path", "header", "cookie"))
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}' (remove it or check its spelling)"
    return f"{where or '(request)'}: {error['msg']}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        extra = dict(exc.extra)
        headers = extra.pop("headers", None) if isinstance(extra.get("headers"), dict) else None
        log_refusal(request, exc.status, exc.detail)
        return _json(exc.status, exc.detail, headers, **extra)

    @app.exception_handler(domain.DomainError)
    async def _domain_error(request: Request, exc: domain.DomainError):
        status = domain_status(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, domain.TooManyAttempts) else None
        log_refusal(request, status, exc.detail)
        return _json(status, exc.detail, headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        problems = [validation_problem(e) for e in exc.errors()]
        log_refusal(request, 422, "; ".join(problems))
        return JSONResponse({"detail": "Invalid request: " + "; ".join(problems), "errors": problems}, 422)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        log.warning("integrity race on %s %s: %s", request.method, request.url.path, exc.orig)
        return _json(409, "Someone else changed the same thing at the same moment, so nothing was saved. Reload "
                          "and apply your change again.")

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError):
        return _json(422, "Invalid request: a number is too large (database integers are at most 2^63-1). "
                          "Use a smaller number.")

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError):
        return _json(422, f"Invalid request: the database refused a value ({str(exc.orig).splitlines()[0][:200]}). "
                          "Check numbers and text for out-of-range values.")

    @app.exception_handler(RecursionError)
    async def _recursion(_: Request, exc: RecursionError):
        return _json(422, "Invalid request: the input is nested too deeply. Flatten it.")

    @app.exception_handler(PoolTimeout)
    async def _pool(_: Request, exc: PoolTimeout):
        log.error("database connection pool exhausted: %s", exc)
        return _json(503, "The server is busy (no free database connection). Retry in a few seconds.",
                     {"Retry-After": "2"})

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError):
        text = str(exc.orig)
        if "locked" in text or "busy" in text:
            log.error("database busy on %s %s: %s", request.method, request.url.path, text)
            return _json(503, "The database is busy; nothing was saved. Retry in a few seconds.",
                         {"Retry-After": "2"})
        log.exception("database error on %s %s", request.method, request.url.path)
        return _json(500, "Database error; nothing was saved. The server log has the details.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _json(500, f"Unexpected server error ({type(exc).__name__}); nothing was saved. The server log has "
                          "the details.")


# Non-JSON responses, by (method, path template): media type -> schema.
_TEXT = {"type": "string"}
EXTRA_CONTENT: dict[tuple[str, str], dict[str, dict]] = {
    ("get", "/api/export/circuits/{circuit_id}"): {
        "application/json": {"schema": {"type": "object"}}, "application/graphml+xml": {"schema": _TEXT},
        "text/html": {"schema": _TEXT}},
    ("get", "/api/export/labels/{model}"): {"application/json": {"schema": {"type": "object"}},
                                           "text/csv": {"schema": _TEXT}},
    ("get", "/api/export/project"): {"application/json": {"schema": {"type": "object"}}},
    ("get", "/api/jobs/{job_id}/events"): {"text/event-stream": {"schema": _TEXT}},
}


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say what the API does: the ErrorOut shape for every error status (replacing
    FastAPI's default validation-error array), and the media types of non-JSON responses."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorOut"] = ERROR_SCHEMA
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/ErrorOut"}
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                for status, description in ERROR_STATUSES.items():
                    responses[status] = {"description": responses.get(status, {}).get("description", description),
                                         "content": {"application/json": {"schema": ref}}}
                extra = EXTRA_CONTENT.get((method, path))
                ok = next((s for s in ("200", "201") if s in responses), None)
                if ok and extra:
                    responses[ok].setdefault("content", {}).update(extra)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
