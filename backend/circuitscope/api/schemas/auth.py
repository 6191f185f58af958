"""Response models of sign-in, accounts, API tokens and browser sessions."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...enums import Role
from .common import Out, UtcDatetime


class IdentityOut(Out):
    """Who is acting."""

    id: int
    name: str
    role: Role
    display_name: str


class MeOut(Out):
    user: IdentityOut | None = Field(description="null when nobody is signed in")
    via: Literal["token", "cookie", "local", "anonymous"] = Field(description="how this request was identified")
    anonymous_read: bool
    local_user: str | None = Field(description="the local default user, when this server runs single-user")
    multi_user: bool


class LoginOut(Out):
    user: IdentityOut


class UserOut(Out):
    """An account (admin view)."""

    id: int
    name: str
    display_name: str
    role: Role
    disabled: bool
    has_password: bool
    created_at: UtcDatetime


class TokenOut(Out):
    id: int
    user: str
    name: str
    kind: Literal["api", "session"]
    prefix: str = Field(description="the first characters of the secret, to recognise it")
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None
    expires_at: UtcDatetime | None
    revoked: bool


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the secret; shown only this once")


class SessionOut(TokenOut):
    current: bool = Field(description="the session of this request")


class RevokedOut(Out):
    revoked: int = Field(description="how many sessions were signed out")
