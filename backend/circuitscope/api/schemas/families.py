"""Response models of families (named groups of units)."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from .common import Out, UtcDatetime


class FamilySummary(Out):
    id: int
    uid: str
    model: str
    name: str
    comment: str
    color: str
    created_by: str
    version: int
    deleted: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    size: int
    updated_by: str | None


class FamilyMemberOut(Out):
    layer: str
    index: int
    unit_id: int | None
    detached: bool


class FamilyOut(FamilySummary):
    members: list[FamilyMemberOut]


class FamilyRevisionOut(Out):
    version: int
    editor: str
    action: str
    snapshot: dict[str, Any]
    created_at: UtcDatetime


class FamilyMapOut(Out):
    families: list[FamilySummary]
    units: dict[int, list[int]] = Field(description="unit index -> ids of its families")
