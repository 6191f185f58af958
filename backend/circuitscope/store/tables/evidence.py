"""Tables for label evidence: the blind human comparison (Curve Detectors) and the concepts a label claims.

A comparison *sample* is a set of images drawn evenly across one unit's activation range (per-image spatial
max over a scan of its dataset, binned; includes zero and negative values) with, per bin, how often the scan
saw it and how much of the unit's expected activation it holds. Annotators answer each item blind (no
activation shown) for one label *version*: fits / partly / not. Results are computed from the answers.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base, utcnow

ANSWERS = ("fits", "partly", "not")


class ComparisonSample(Base):
    __tablename__ = "comparison_samples"
    __table_args__ = (Index("ix_comparison_samples_unit_ref", "model_slug", "layer_name", "unit_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    model_slug: Mapped[str] = mapped_column(String(100))
    layer_name: Mapped[str] = mapped_column(String(300))
    unit_index: Mapped[int]
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    measure: Mapped[str] = mapped_column(String(20))  # output | pre_relu (spatial max of which map)
    scanned: Mapped[int]  # images whose activation was measured
    bins: Mapped[dict[str, Any]]  # {"edges", "counts", "weights" (expected activation per bin)}
    params: Mapped[dict[str, Any]]  # per_bin, seed, max_images
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list["ComparisonItem"]] = relationship(cascade="all, delete-orphan",
                                                         order_by="ComparisonItem.position")


class ComparisonItem(Base):
    __tablename__ = "comparison_items"
    __table_args__ = (UniqueConstraint("sample_id", "position", name="uq_comparison_items_sample_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("comparison_samples.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    dataset_index: Mapped[int]
    ref: Mapped[str] = mapped_column(String(1000))
    activation: Mapped[float]  # the unit's spatial max on this image (never shown to annotators)
    bin: Mapped[int]
    y: Mapped[int]
    x: Mapped[int]
    box: Mapped[list[Any]]
    crop_hash: Mapped[str] = mapped_column(ForeignKey("blobs.hash"))
    image_hash: Mapped[str] = mapped_column(ForeignKey("blobs.hash"))


class ComparisonAnswer(Base):
    __tablename__ = "comparison_answers"
    __table_args__ = (
        UniqueConstraint("item_id", "label_id", "label_version", "user_id", name="uq_comparison_answers_item_label"),
        Index("ix_comparison_answers_label", "label_id", "label_version"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("comparison_items.id", ondelete="CASCADE"), index=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
    label_version: Mapped[int] = mapped_column(Integer)
    label_text: Mapped[str] = mapped_column(String(200))  # the label as the annotator saw it
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    answer: Mapped[str] = mapped_column(String(10))  # fits | partly | not
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelClaim(Base):
    """A concept a label claims (e.g. 'colour=red'), scored by the unit's concept AUC."""

    __tablename__ = "label_claims"
    __table_args__ = (UniqueConstraint("label_id", "concept", name="uq_label_claims_label_concept"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    concept: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
