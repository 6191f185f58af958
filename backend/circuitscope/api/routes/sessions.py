"""Browser sessions beside API tokens: list where you are signed in, sign out one session or all others.

A session is the cookie set by `POST /api/auth/login` (stored, like API tokens, only as a hash). Sessions are
also revoked when the user's password or role changes (annotate.users.set_password / set_role).
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ...annotate import users as users_svc
from ...annotate.users import Identity
from ..auth import SESSION_COOKIE, require_user
from ..bounds import RowId
from ..deps import Tx
from ..errors import ApiError
from ..schemas.auth import RevokedOut, SessionOut

router = APIRouter(prefix="/api", tags=["annotate"])


def _session_dict(row, current_id: int | None) -> dict:
    return {**users_svc.token_dict(row), "current": row.id == current_id}


def _target(session: Session, who: Identity, user: str | None):
    target = users_svc.require_user(session, user or who.name)
    if target.id != who.id and not who.has_role("admin"):
        raise ApiError(403, "Only an admin may see or revoke another user's sessions.")
    return target


@router.get("/auth/sessions", response_model=list[SessionOut],
            summary="Your live browser sessions (an admin may pass ?user=); `current` marks "
                                      "this one")
def list_sessions(request: Request, user: str | None = None, who: Identity = Depends(require_user),
                  session: Session = Tx):
    target = _target(session, who, user)
    current = users_svc.token_id_of(session, request.cookies.get(SESSION_COOKIE))
    return [_session_dict(r, current) for r in users_svc.list_sessions(session, target)]


@router.delete("/auth/sessions/{session_id}", response_model=SessionOut,
               summary="Sign out one browser session (yours, or anyone's as admin)")
def revoke_session(session_id: RowId, request: Request, who: Identity = Depends(require_user),
                   session: Session = Tx):
    from ...store.tables.annotation import ApiToken

    row = session.get(ApiToken, session_id)
    if row is None or row.kind != "session":
        raise ApiError(404, f"No browser session with id {session_id}. List them with GET /api/auth/sessions.")
    users_svc.revoke_token(session, session_id, by=who)
    current = users_svc.token_id_of(session, request.cookies.get(SESSION_COOKIE))
    return _session_dict(row, current)


@router.post("/auth/sessions/revoke-others", response_model=RevokedOut, summary="Sign out every other browser session of yours")
def revoke_other_sessions(request: Request, who: Identity = Depends(require_user), session: Session = Tx):
    user = users_svc.require_user(session, who.name)
    current = users_svc.token_id_of(session, request.cookies.get(SESSION_COOKIE))
    return {"revoked": users_svc.revoke_sessions(session, user, keep_token_id=current)}
