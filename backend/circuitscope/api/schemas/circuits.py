"""Response models of circuit hypotheses: summaries, the full graph, history, suggestions, import."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from ...enums import CircuitStatus, ConnectionKind, EdgeKind
from .common import ImageUrl, Out, UtcDatetime, image_field


class CircuitSummary(Out):
    id: int
    uid: str
    model: str
    name: str
    claim: str
    status: CircuitStatus
    author: str
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    n_nodes: int
    n_edges: int
    deleted: bool


class Supernode(Out):
    name: str
    nodes: list[str] = Field(description="node ids ('layer:index')")


class CircuitNodeOut(Out):
    id: str = Field(description="'layer:index'")
    node_pk: int
    layer: str
    index: int
    unit_id: int | None
    layer_position: int | None
    pinned: bool
    note: str
    label: str = Field(description="the unit's consensus label ('' when unlabelled)")
    label_state: str | None
    image: ImageUrl | None = image_field()
    missing: bool = Field(description="the unit no longer exists (see `problems`)")


class CircuitEdgeOut(Out):
    source: str
    target: str
    kind: EdgeKind
    weight: float = Field(description="signed strength (sum of the kernel)")
    l2: float


class CircuitOut(CircuitSummary):
    evidence: str
    supernodes: list[Supernode]
    nodes: list[CircuitNodeOut]
    edges: list[CircuitEdgeOut]
    problems: list[str]
    updated_by: str | None


class CircuitRevisionOut(Out):
    version: int
    editor: str
    action: str
    summary: str
    snapshot: dict[str, Any]
    created_at: UtcDatetime


class Suggestion(Out):
    layer: str
    index: int
    unit_id: int
    layer_position: int
    via: str | None = Field(description="the node ('layer:index') it connects to")
    weight: float
    l2: float
    kind: ConnectionKind
    label: str
    image: ImageUrl | None = image_field()


class SuggestionsOut(Out):
    upstream: list[Suggestion]
    downstream: list[Suggestion]


class ProjectImportOut(Out):
    users_created: int
    labels: int
    families: int
    circuits: int
    warnings: list[str]


class RelinkOut(Out):
    attached: int = Field(description="annotations attached to recomputed units")
