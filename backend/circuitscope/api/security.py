"""Request guards that sit in front of every route (one ASGI middleware, so nothing can forget them):

- the Host header must be one of settings.trusted_hosts (DNS rebinding: a page on rebind.example that resolves
  to this server cannot talk to it, and the Origin check in api.auth can trust Host);
- a write's body must be JSON (`application/json`): HTML forms and `text/plain` fetches, which other sites can
  send without asking, are refused with 415;
- JSON bodies are checked before any route sees them: size (413), nesting depth, non-finite numbers
  (NaN/Infinity are not JSON and cannot be stored or exported), NUL characters (422);
- URLs with NUL characters or of absurd length are refused (422/414);
- every response carries X-Frame-Options, a frame-ancestors CSP, X-Content-Type-Options and Referrer-Policy.

Refusals are JSON (`{"detail": "..."}`, naming the problem and the fix) and are logged.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("circuitscope.security")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
MAX_URL_CHARS = 8192
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
FRAME_CSP = (b"content-security-policy", b"frame-ancestors 'none'")


class BodyRefused(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def host_allowed(host_header: str, allowed: list[str]) -> bool:
    """Starlette TrustedHostMiddleware's rule: exact names, '*.domain' for subdomains, '*' for any."""
    if "*" in allowed:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    for pattern in allowed:
        pattern = pattern.lower().strip("[]")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _reject_constant(name: str) -> Any:
    raise BodyRefused(422, f"Invalid request: the JSON contains {name}, which is not a number JSON allows "
                           "(and cannot be stored or exported). Replace it with a finite number or null.")


def check_json_value(value: Any, max_depth: int) -> None:
    """Depth and NUL characters, iteratively (a recursive walk is what deep nesting breaks)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise BodyRefused(422, f"Invalid request: the JSON is nested more than {max_depth} levels deep. "
                                   "Flatten it; no circuitscope document needs that depth.")
        if isinstance(item, dict):
            for key, v in item.items():
                if "\x00" in key:
                    raise BodyRefused(422, "Invalid request: a key contains a NUL character (\\u0000). Remove it.")
                stack.append((v, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and "\x00" in item:
            raise BodyRefused(422, "Invalid request: a text value contains a NUL character (\\u0000), which "
                                   "cannot be stored. Remove it.")


def parse_json_body(raw: bytes, max_depth: int) -> Any:
    """The body as JSON, or BodyRefused naming the first problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyRefused(422, f"Invalid request: the body is not UTF-8 text ({err}). Send UTF-8 JSON.") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BodyRefused(422, "Invalid request: the JSON is nested too deeply to read. Flatten it.") from None
    except json.JSONDecodeError as err:
        raise BodyRefused(422, f"Invalid request: the body is not JSON ({err.msg} at line {err.lineno} "
                               f"column {err.colno}). Send a JSON document.") from None
    check_json_value(value, max_depth)
    return value


def _json_type(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._check_request(scope, headers)
        if problem is not None:
            await self._refuse(scope, receive, send, *problem)
            return
        if scope["type"] == "http" and scope["method"] in _WRITES and scope["path"].startswith("/api/"):
            try:
                receive = await self._checked_body(scope, headers, receive)
            except BodyRefused as err:
                await self._refuse(scope, receive, send, err.status, err.detail)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                # A route's own CSP stays; a second policy header only adds the framing restriction.
                extra = [h for h in SECURITY_HEADERS if h[0] not in present] + [FRAME_CSP]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _check_request(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "")
        allowed = self.settings.trusted_hosts
        if not host_allowed(host, allowed):
            return 400, (f"This server does not answer to the host name {host[:100]!r} (allowed: "
                         f"{', '.join(allowed)}). Open it by an allowed name, or have the administrator add this "
                         "name to CIRCUITSCOPE_ALLOWED_HOSTS.")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        if len(raw_path) + len(query) > MAX_URL_CHARS:
            return 414, f"The URL is longer than {MAX_URL_CHARS} characters. Shorten it."
        if b"%00" in raw_path or b"%00" in query or "\x00" in scope["path"] or "\x00" in unquote(
                query.decode("latin-1")):
            return 422, "Invalid request: the URL contains a NUL character (%00). Remove it."
        return None

    async def _checked_body(self, scope: Scope, headers: Headers, receive: Receive) -> Receive:
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length")
        try:
            declared_size = int(declared) if declared is not None else None
        except ValueError:
            raise BodyRefused(400, "Invalid request: Content-Length is not a number.") from None
        if declared_size is not None and declared_size > limit:
            raise BodyRefused(413, f"The request body is {declared_size} bytes; this server accepts at most "
                                   f"{limit} (CIRCUITSCOPE_MAX_BODY_BYTES). Split the import.")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, f"The request body is larger than {limit} bytes "
                                       "(CIRCUITSCOPE_MAX_BODY_BYTES). Split the import.")
            chunks.append(chunk)
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        if raw.strip():
            content_type = headers.get("content-type", "")
            if not _json_type(content_type):
                raise BodyRefused(415, f"This endpoint reads JSON: send the body with 'Content-Type: "
                                       f"application/json' (got {content_type[:100] or 'no Content-Type'!r}).")
            parse_json_body(raw, self.settings.max_json_depth)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        return replay

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        client = scope.get("client") or ("?", 0)
        log.warning("refused %s %s (%s, client %s): %s", scope.get("method", "WS"), scope.get("path"), status,
                    client[0], detail)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse({"detail": detail}, status_code=status)
        await response(scope, receive, send_with_security_headers(send))


def send_with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS + [FRAME_CSP]
        await send(message)

    return wrapped
