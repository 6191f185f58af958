"""Shared pieces: field limits, optimistic-concurrency version bumps, HTML-safe text checks."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..errors import Conflict, Invalid

# Field limits (also enforced by the API schemas, which answer 422 naming the field and the limit).
LIMITS = {
    "label": 200,
    "description": 5000,
    "tag": 50,
    "tags": 30,
    "family_name": 200,
    "family_comment": 5000,
    "circuit_name": 200,
    "claim": 5000,
    "evidence": 20000,
    "note": 2000,
    "supernode_name": 200,
    "supernodes": 100,
    "circuit_nodes": 500,
    "query": 200,
}


def check_len(field: str, value: str | None, limit_key: str | None = None) -> str:
    value = value if value is not None else ""
    if not isinstance(value, str):
        raise Invalid(f"{field}: must be text")
    limit = LIMITS[limit_key or field]
    if len(value) > limit:
        raise Invalid(f"{field}: at most {limit} characters (got {len(value)})", field=field, limit=limit)
    return value


def clean_tags(tags: list[Any] | None) -> list[str]:
    out: list[str] = []
    for t in tags or []:
        if not isinstance(t, str):
            raise Invalid("tags: every tag must be text")
        t = " ".join(t.split())
        check_len("tags[]", t, "tag")
        if t and t not in out:
            out.append(t)
    if len(out) > LIMITS["tags"]:
        raise Invalid(f"tags: at most {LIMITS['tags']} tags (got {len(out)})", field="tags",
                            limit=LIMITS["tags"])
    return out


def conflict(what: str, current: dict, expected: int | None) -> Conflict:
    by = current.get("updated_by") or current.get("annotator") or current.get("author") or "someone"
    return Conflict(
        f"{what} was changed by {by} at {current.get('updated_at')} (now version {current.get('version')}; "
        f"your edit was based on version {expected}). Nothing was saved: reload, then reapply your edit.",
        current=current,
    )


def bump_version(session: Session, row: Any, expected: int | None, what: str, describe) -> int:
    """Compare-and-set on `row.version`: refuses (409) unless the stored version is `expected`.

    The conditional UPDATE makes the check atomic even when two requests race past the first read."""
    cls = type(row)
    if expected is None or row.version != expected:
        raise conflict(what, describe(row), expected)
    res = session.execute(
        update(cls).where(cls.id == row.id, cls.version == expected).values(version=expected + 1)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult, res).rowcount != 1:
        session.refresh(row)
        raise conflict(what, describe(row), expected)
    set_committed_value(row, "version", expected + 1)
    return expected + 1
