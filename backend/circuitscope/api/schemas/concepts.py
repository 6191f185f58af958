"""Response models of concept selectivity."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Out


class ConceptStatus(Out):
    status: Literal["scored", "none", "not_computed"]
    reason: str | None = None
    source: str | None = None
    images: int | None = None
    bins: int | None = None
    concepts: int | None = None


class UnitBestConcept(Out):
    index: int
    concept: str
    display: str
    auc: float
    diff: float


class ConceptCount(Out):
    concept: str
    display: str
    units: int


class KindCount(Out):
    kind: str
    units: int


class LayerConceptsOut(Out):
    model: str
    layer: str
    channels: int
    concept_status: ConceptStatus
    threshold: float = Field(description="AUC that counts as selective")
    units: list[UnitBestConcept]
    by_concept: list[ConceptCount]
    by_kind: list[KindCount]
    selective_units: int
    scored_units: int
