"""Plain SQL on the request's own DBAPI connection, rows read by name, column lists from the table definitions.

Why raw SQL: a unit page is a handful of small indexed queries, and SQLAlchemy's per-statement construction
plus pydantic's per-object validation were most of its cost (tests/api/test_browse_api.py counts the statements;
README benchmark). The statements stay portable between SQLite and PostgreSQL: :named parameters (rewritten to
%(name)s for psycopg), quoted identifiers, and every column named from the ORM table (`columns`), so renaming a
column breaks at import time rather than at the first request.
"""
from __future__ import annotations

import json
import math
import re
from collections import namedtuple
from functools import cache, lru_cache
from typing import Any

from sqlalchemy.orm import Session

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


def columns(table: Any, alias: str, *names: str, prefix: str = "") -> str:
    """`alias."col" AS prefixcol, ...` for the named columns of an ORM table; "col as name" renames one.

    A KeyError names a column the table does not have.
    """
    out = []
    for spec in names:
        key, _, label = spec.partition(" as ")
        column = table.__table__.c[key]
        out.append(f'{alias}."{column.name}" AS "{label or prefix + column.name}"')
    return ", ".join(out)


def source(table: Any, alias: str) -> str:
    """`tablename alias` for a FROM or JOIN clause."""
    return f"{table.__tablename__} {alias}"


@cache
def _for_dialect(dialect: str, sql: str) -> str:
    return sql if dialect == "sqlite" else _PARAM.sub(r"%(\1)s", sql)


@lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names)  # one class per column list; a repeated label fails here, loudly


def rows(session: Session, sql: str, **params: Any) -> list[Any]:
    """Run one statement on the request's connection (same transaction); rows with a field per column label."""
    conn = session.connection()
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection always has its DBAPI connection
    cur = driver.cursor()
    try:
        cur.execute(_for_dialect(conn.dialect.name, sql), params)
        data = cur.fetchall()
        row = _row_type(tuple(d[0] for d in cur.description))
    finally:
        cur.close()
    return [row._make(r) for r in data]


def json_value(value: Any) -> Any:
    """A JSON column: text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, (str, bytes, bytearray)):
        return json.loads(value)
    return value


def finite(value: Any) -> float | None:
    """A float for JSON: NaN and infinities (e.g. the std of a dead unit) become null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def to_json(data: Any) -> bytes:
    """The gateway's plain dicts as compact JSON bytes (non-finite floats were already made null)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
