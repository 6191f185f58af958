"""Request bodies of the annotation API. Length limits answer 422 naming the field and the limit
(e.g. "Invalid request: label: String should have at most 200 characters")."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ...annotate.common import LIMITS
from ...enums import CircuitStatus, LabelStatus, Role

Tag = Annotated[str, StringConstraints(max_length=LIMITS["tag"])]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ConnectionKind = Literal["direct", "expanded"]
CONNECTION_KINDS: tuple[ConnectionKind, ...] = ("direct", "expanded")


class _In(BaseModel):
    # enums reach the domain as plain text (defaults too)
    model_config = ConfigDict(extra="forbid", use_enum_values=True, validate_default=True)


class LoginIn(_In):
    name: Name
    password: str = Field(max_length=200)


class TokenIn(_In):
    name: str = Field(default="", max_length=100)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class UserCreateIn(_In):
    name: Name
    role: Role = Role.ANNOTATOR
    password: str | None = Field(default=None, min_length=4, max_length=200)
    display_name: str = Field(default="", max_length=200)


class UserPatchIn(_In):
    role: Role | None = None
    password: str | None = Field(default=None, min_length=4, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)
    disabled: bool | None = None


class LabelIn(_In):
    """Your label on a unit. `version`: the version of your label you loaded (null when you had none)."""

    label: str = Field(max_length=LIMITS["label"])
    description: str = Field(default="", max_length=LIMITS["description"])
    tags: list[Tag] = Field(default_factory=list, max_length=LIMITS["tags"])
    confidence: float = Field(default=0.5, ge=0, le=1)
    status: LabelStatus = LabelStatus.DRAFT
    version: int | None = Field(default=None, ge=0)


class LabelPatchIn(_In):
    label: str | None = Field(default=None, max_length=LIMITS["label"])
    description: str | None = Field(default=None, max_length=LIMITS["description"])
    tags: list[Tag] | None = Field(default=None, max_length=LIMITS["tags"])
    confidence: float | None = Field(default=None, ge=0, le=1)
    status: LabelStatus | None = None
    version: int = Field(ge=1)


class VersionIn(_In):
    version: int = Field(ge=1)


class UnitKeyIn(_In):
    layer: str = Field(min_length=1, max_length=300)
    index: int = Field(ge=0)


class FamilyIn(_In):
    model: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=LIMITS["family_name"])
    comment: str = Field(default="", max_length=LIMITS["family_comment"])
    color: str = Field(default="", max_length=7)
    units: list[UnitKeyIn] = Field(default_factory=list, max_length=5000)


class FamilyPatchIn(_In):
    version: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=LIMITS["family_name"])
    comment: str | None = Field(default=None, max_length=LIMITS["family_comment"])
    color: str | None = Field(default=None, max_length=7)


class FamilyMembersIn(_In):
    version: int = Field(ge=1)
    add: list[UnitKeyIn] = Field(default_factory=list, max_length=5000)
    remove: list[UnitKeyIn] = Field(default_factory=list, max_length=5000)


class CircuitIn(_In):
    model: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=LIMITS["circuit_name"])
    claim: str = Field(default="", max_length=LIMITS["claim"])
    status: CircuitStatus = CircuitStatus.PROPOSED
    evidence: str = Field(default="", max_length=LIMITS["evidence"])
    units: list[UnitKeyIn] = Field(default_factory=list, max_length=LIMITS["circuit_nodes"])


class SupernodeIn(_In):
    name: str = Field(min_length=1, max_length=LIMITS["supernode_name"])
    nodes: list[str] = Field(max_length=LIMITS["circuit_nodes"])


class CircuitPatchIn(_In):
    version: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=LIMITS["circuit_name"])
    claim: str | None = Field(default=None, max_length=LIMITS["claim"])
    status: CircuitStatus | None = None
    evidence: str | None = Field(default=None, max_length=LIMITS["evidence"])
    supernodes: list[SupernodeIn] | None = Field(default=None, max_length=LIMITS["supernodes"])


class CircuitNodesIn(_In):
    version: int = Field(ge=1)
    units: list[UnitKeyIn] = Field(min_length=1, max_length=LIMITS["circuit_nodes"])


class CircuitRemoveIn(_In):
    version: int = Field(ge=1)
    nodes: list[str] = Field(min_length=1, max_length=LIMITS["circuit_nodes"])


class NodePatchIn(_In):
    version: int = Field(ge=1)
    pinned: bool | None = None
    note: str | None = Field(default=None, max_length=LIMITS["note"])


class RefreshIn(_In):
    version: int = Field(ge=1)
    kinds: list[ConnectionKind] = Field(default_factory=lambda: list(CONNECTION_KINDS), min_length=1)
