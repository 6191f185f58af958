"""Domain errors: what went wrong, in words a user can act on, without saying how it reaches them.

Raised by every package below the API (annotate, evidence, concepts, circuit_tests, export, jobs ...);
`api.errors` maps each class to an HTTP status and the JSON error shape, the CLI prints the message.
`detail` is the message; keyword extras (e.g. `current` on a conflict, `layers` listing valid choices)
travel with it to the client."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class; catch this to handle any refusal (the CLI does)."""

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Invalid(DomainError):
    """The request names something malformed or impossible (a bad value, a layer not computed yet)."""


class NotFound(DomainError):
    """What the request names does not exist."""


class Conflict(DomainError):
    """The thing changed since the caller loaded it, or the name is taken; `current` holds the state now."""


class Forbidden(DomainError):
    """The caller's role or ownership does not allow this."""


class Unauthenticated(DomainError):
    """The action needs a signed-in user."""


class TooManyAttempts(DomainError):
    """Rate limited; `retry_after` seconds until the next attempt can succeed."""

    def __init__(self, detail: str, retry_after: int, **extra: Any):
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class TooLarge(DomainError):
    """The input is larger than allowed."""
