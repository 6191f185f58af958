"""Tables for concept selectivity (concepts/): each unit's best concepts, and each layer's concept set.

`unit_concepts` keeps a unit's top concepts by AUC (concepts/store.py: TOP_PER_UNIT), written in the
same transaction as the layer's dataset examples. `layer_concepts` says whether the layer was scored
and against which concepts, or why not (a dataset without attributes, classes or tags): the API
reports that explicitly instead of an empty list.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, utcnow


class UnitConcept(Base):
    __tablename__ = "unit_concepts"
    __table_args__ = (
        UniqueConstraint("unit_id", "concept"),
        Index("ix_unit_concepts_concept_auc", "concept", "auc"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    concept: Mapped[str] = mapped_column(String(200))  # "colour=red", "orientation=45", "class=dog", "tag=x"
    rank: Mapped[int] = mapped_column(Integer)  # 0 = the unit's highest AUC
    auc: Mapped[float] = mapped_column(Float)  # per-image spatial max, images with vs without the concept
    auc_err: Mapped[float] = mapped_column(Float)  # the most that ties inside histogram bins can move `auc`
    diff: Mapped[float] = mapped_column(Float)  # mean spatial max with minus without
    n_with: Mapped[int] = mapped_column(Integer)  # images with the concept


class LayerConcepts(Base):
    __tablename__ = "layer_concepts"
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20))  # scored | none (the dataset provides no concepts)
    reason: Mapped[str] = mapped_column(Text, default="")  # why "none"
    source: Mapped[str] = mapped_column(String(40), default="")  # attributes | classes | tags | ...+tags
    concepts: Mapped[list[Any]] = mapped_column(default=list)  # [{"concept", "n_with"}] scored against
    images: Mapped[int] = mapped_column(Integer, default=0)
    bins: Mapped[int] = mapped_column(Integer, default=0)  # histogram bins per concept and unit
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
