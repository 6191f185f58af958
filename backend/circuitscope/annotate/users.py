"""User accounts, roles, passwords (scrypt, salted) and tokens (random, stored as sha256).

Roles are ordered: viewer < annotator < admin. A viewer reads; an annotator writes labels, families and
circuits; an admin also manages users and may edit anyone's label.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..store.base import utcnow
from ..store.tables.annotation import ROLES, ApiToken, User

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
TOKEN_PREFIX = "cs_"
SESSION_DAYS = 30
_SCRYPT = (2**14, 8, 1)


@dataclass(frozen=True)
class Identity:
    """Who is acting: a detached copy of the user row (safe to keep beyond a session)."""

    id: int
    name: str
    role: str
    display_name: str = ""

    def has_role(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "display_name": self.display_name}


def role_rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def identity(user: User) -> Identity:
    return Identity(user.id, user.name, user.role, user.display_name or "")


# --- passwords -------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# --- users -----------------------------------------------------------------------------------------

def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise Invalid(f"user name {name!r} is not valid: use 1-64 letters, digits, '_', '.', '-'")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def get_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def require_user(session: Session, name: str) -> User:
    user = get_user(session, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def create_user(session: Session, name: str, role: str = "annotator", password: str | None = None,
                display_name: str = "") -> User:
    check_name(name)
    check_role(role)
    if get_user(session, name) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    user = User(name=name, role=role, display_name=display_name or "",
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def ensure_user(session: Session, name: str, role: str = "admin") -> User:
    """Get or create. A concurrent creator makes the flush raise IntegrityError: callers that can race
    (the local default user) retry in a fresh transaction (see api.auth)."""
    user = get_user(session, name)
    if user is not None:
        return user
    user = User(name=check_name(name), role=check_role(role), display_name="")
    session.add(user)
    session.flush()
    return user


def set_role(session: Session, name: str, role: str) -> User:
    """Change a role; a real change signs the user out everywhere (their browser sessions are revoked; API
    tokens stay, they act with the new role)."""
    user = require_user(session, name)
    role = check_role(role)
    if role != user.role:
        user.role = role
        revoke_sessions(session, user)
    return user


def set_password(session: Session, name: str, password: str) -> User:
    """Set a password and revoke the user's browser sessions (a stolen session dies with the old password)."""
    user = require_user(session, name)
    if len(password) < 4:
        raise Invalid("password: at least 4 characters")
    user.password_hash = hash_password(password)
    revoke_sessions(session, user)
    return user


def revoke_sessions(session: Session, user: User, keep_token_id: int | None = None) -> int:
    """Revoke all of `user`'s live browser sessions (except `keep_token_id`); returns how many."""
    now = utcnow()
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "session",
                                                  ApiToken.revoked_at.is_(None))).all()
    count = 0
    for row in rows:
        if row.id != keep_token_id:
            row.revoked_at = now
            count += 1
    return count


def list_sessions(session: Session, user: User) -> list[ApiToken]:
    """A user's browser sessions that still work (not revoked, not expired), newest first."""
    now = utcnow()
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "session",
                                                  ApiToken.revoked_at.is_(None)).order_by(ApiToken.id.desc()))
    return [r for r in rows if r.expires_at is None or _aware(r.expires_at) >= now]


def token_id_of(session: Session, secret: str | None) -> int | None:
    if not secret or len(secret) > 200:
        return None
    return session.scalar(select(ApiToken.id).where(ApiToken.token_hash == _digest(secret)))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def user_dict(user: User) -> dict:
    return {"id": user.id, "name": user.name, "display_name": user.display_name, "role": user.role,
            "disabled": user.disabled, "has_password": bool(user.password_hash),
            "created_at": iso(user.created_at)}


def authenticate(session: Session, name: str, password: str) -> User | None:
    user = get_user(session, name)
    if user is None or user.disabled:
        hash_password("timing-equaliser")  # same work whether or not the user exists
        return None
    return user if verify_password(password, user.password_hash) else None


# --- tokens ----------------------------------------------------------------------------------------

def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, user: User, name: str = "", kind: str = "api",
                 expires_days: int | None = None) -> tuple[ApiToken, str]:
    """Returns (row, secret); the secret is shown once and only its hash is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    row = ApiToken(user_id=user.id, kind=kind, name=name[:100], token_hash=_digest(secret),
                   prefix=secret[:10], expires_at=expires)
    session.add(row)
    session.flush()
    return row, secret


def resolve_token(session: Session, secret: str, touch: bool = True, stale: list[int] | None = None) -> User | None:
    """The user of a live token or session secret, else None. `touch` records the use (at most every 5 min);
    without it, the id of a token whose use should be recorded is appended to `stale` (the caller records it
    later, off the event loop: that write may wait for the database's write lock)."""
    if not secret or len(secret) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.expires_at is not None and _aware(row.expires_at) < now:
        return None
    user = row.user
    if user.disabled:
        return None
    if row.last_used_at is None or now - _aware(row.last_used_at) > timedelta(minutes=5):
        if touch:
            row.last_used_at = now
        elif stale is not None:
            stale.append(row.id)
    return user


def touch_tokens(session: Session, token_ids: list[int]) -> None:
    from sqlalchemy import update

    session.execute(update(ApiToken).where(ApiToken.id.in_(token_ids)).values(last_used_at=utcnow()))


def revoke_token(session: Session, token_id: int, by: Identity | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    if by is not None and row.user_id != by.id and not by.has_role("admin"):
        raise Forbidden("you may revoke only your own tokens")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def revoke_secret(session: Session, secret: str) -> None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def list_tokens(session: Session, user: User | None = None, include_sessions: bool = False) -> list[ApiToken]:
    q = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        q = q.where(ApiToken.user_id == user.id)
    if not include_sessions:
        q = q.where(ApiToken.kind == "api")
    return list(session.scalars(q))


def token_dict(row: ApiToken) -> dict:
    return {"id": row.id, "user": row.user.name, "name": row.name, "kind": row.kind, "prefix": row.prefix,
            "created_at": iso(row.created_at), "last_used_at": iso(row.last_used_at),
            "expires_at": iso(row.expires_at), "revoked": row.revoked_at is not None}


# --- helpers ---------------------------------------------------------------------------------------

def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
def iso(dt: datetime | None) -> str | None:
    """Timestamps as ISO 8601 UTC with microseconds (exact round trip through exports)."""
    if dt is None:
        return None
    return _aware(dt).astimezone(timezone.utc).isoformat()


def utcnow_iso() -> str:
    return iso(utcnow())


@overload
def parse_iso(value: str) -> datetime: ...
@overload
def parse_iso(value: None) -> None: ...
def parse_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value)
    return _aware(dt)
