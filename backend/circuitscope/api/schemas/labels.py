"""Response models of labels: a unit's labels with consensus, history, agreement, the queue and search."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ...enums import LabelStatus
from .circuits import CircuitSummary
from .common import ImageUrl, Out, Page, UtcDatetime, image_field
from .families import FamilySummary

ConsensusState = Literal["single", "agreed", "majority", "disputed", "agreed-but-flagged"]


class ClaimScore(Out):
    concept: str
    auc: float | None = Field(description="the unit's AUC for the claimed concept; null when not among its stored "
                                          "best concepts")
    auc_below: float | None = Field(description="when `auc` is null: the AUC is below this (the lowest stored)")


class LabelEvidence(Out):
    """How well the evidence supports a label: claimed concepts' AUC and the blind human comparison."""

    claims: list[ClaimScore]
    human_share: float | None
    human_answers: int
    human_coverage: float | None
    human_annotators: int
    evidence: Literal["unchecked", "weak", "supported", "mixed"]
    weak: bool
    reasons: list[str]


class LabelOut(Out):
    id: int
    unit_id: int | None = Field(description="null when the unit was not recomputed (the label is kept, detached)")
    model: str
    layer: str
    index: int
    annotator: str
    label: str
    description: str
    tags: list[str]
    confidence: float
    status: LabelStatus
    deleted: bool
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    updated_by: str | None
    detached: bool


class ConsensusCandidate(Out):
    label: str
    votes: int
    annotators: list[str]
    mean_confidence: float


class ConsensusOut(Out):
    label: str
    state: ConsensusState
    support: float = Field(description="share of annotators behind the shown label")
    n_annotators: int
    confidence: float
    tags: list[str]
    candidates: list[ConsensusCandidate]


class UnitKey(Out):
    model: str
    layer: str
    index: int
    unit_id: int
    layer_position: int


class UnitLabelsOut(Out):
    """A unit's labels (one per annotator), consensus, your own label, its families and circuits."""

    unit: UnitKey
    labels: list[LabelOut]
    consensus: ConsensusOut | None
    mine: LabelOut | None
    families: list[FamilySummary]
    circuits: list[CircuitSummary]
    can_edit: bool


class LabelRevisionOut(Out):
    label_id: int
    annotator: str
    version: int
    editor: str
    action: str = Field(description="create | update | delete | restore | accept_suggestion")
    snapshot: dict[str, Any] = Field(description="the label's fields after this revision")
    created_at: UtcDatetime


class LayerAgreement(Out):
    layer: str
    position: int | None
    channels: int | None
    labeled_units: int
    multi_annotated_units: int
    disputed_units: int
    labels: int
    agreement: float | None = Field(description="mean pairwise agreement over units with 2+ annotators")


class QueueOut(Out):
    model: str
    layer: str
    mode: Literal["any", "mine"]
    remaining: int
    units: list[int]


class LabelWithEvidence(LabelOut):
    evidence: LabelEvidence | None = None


class FamilyTag(Out):
    id: int
    name: str
    color: str


class ConceptHit(Out):
    concept: str
    display: str
    auc: float
    diff: float
    auc_err: float | None


class SearchResult(Out):
    model: str
    layer: str
    index: int
    unit_id: int | None
    consensus: ConsensusOut | None
    label: str
    image: ImageUrl | None = image_field()
    labels: list[LabelWithEvidence]
    families: list[FamilyTag]
    concept: ConceptHit | None = Field(None, description="with a concept search: the unit's score")


class SearchOut(Page[SearchResult]):
    concept: str | None = Field(None, description="with a concept search: the concept asked for")
    min_auc: float | None = None


class SuggestionOut(Out):
    label: str
    concepts: list[str]
    auc: float
    description: str


class AdoptedOut(Out):
    label: LabelOut
    suggestion: SuggestionOut
