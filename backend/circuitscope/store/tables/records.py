"""Tables for what the engine computes: models, layers, units and their records.

Every record row belongs to a unit; images are content-addressed blobs (files), referenced by hash.
A layer's stage (examples / featurevis / weights) is written in one transaction per chunk and marked
done in `layer_stages`, which is what makes runs resumable and idempotent.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base, utcnow


class Blob(Base):
    __tablename__ = "blobs"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the bytes
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(40))
    width: Mapped[int | None]
    height: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)  # used in URLs
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[dict[str, Any]]  # spec that reproduces the model (models.sources.load_model)
    input_size: Mapped[int]
    mean: Mapped[list[Any]]
    std: Mapped[list[Any]]
    class_names: Mapped[list[Any] | None]
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    layers: Mapped[list["Layer"]] = relationship(back_populates="model", order_by="Layer.position")


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    spec: Mapped[dict[str, Any]]  # datasets.build_dataset(spec) rebuilds it
    num_images: Mapped[int]
    classes: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetImage(Base):
    """An image that appears among some unit's dataset examples (only those are stored)."""

    __tablename__ = "dataset_images"
    __table_args__ = (UniqueConstraint("dataset_id", "index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    index: Mapped[int]
    ref: Mapped[str] = mapped_column(String(1000))
    label: Mapped[int | None]
    attributes: Mapped[dict[str, Any]]
    image_hash: Mapped[str] = mapped_column(ForeignKey("blobs.hash"))  # the model-input image


class Run(Base):
    """One computation: a model on a dataset with a run description (stored so every image is explained)."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    config: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done | failed | cancelled
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # skipped images, timings
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Layer(Base):
    __tablename__ = "layers"
    __table_args__ = (UniqueConstraint("model_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))  # dotted module name
    position: Mapped[int]  # execution order among the model's layers
    module_type: Mapped[str] = mapped_column(String(100))
    output_shape: Mapped[list[Any]]
    channels: Mapped[int]

    model: Mapped[Model] = relationship(back_populates="layers")
    stages: Mapped[list["LayerStage"]] = relationship(cascade="all, delete-orphan")


class LayerStage(Base):
    """Progress of one stage of one layer; `status == 'done'` with the same params means: skip on rerun."""

    __tablename__ = "layer_stages"
    __table_args__ = (UniqueConstraint("layer_id", "stage"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20))  # examples | featurevis | weights
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | running | done
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    units_done: Mapped[int] = mapped_column(default=0)
    units_total: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("layer_id", "index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    index: Mapped[int]
    # Activation statistics over every spatial position of every image (null until computed).
    mean: Mapped[float | None]
    std: Mapped[float | None]
    min: Mapped[float | None]
    max: Mapped[float | None]
    sparsity: Mapped[float | None]  # fraction of positions > 0
    quantiles: Mapped[dict[str, Any] | None]
    histogram: Mapped[dict[str, Any] | None]  # {"edges": [...], "counts": [...]} over all positions
    max_histogram: Mapped[dict[str, Any] | None]  # same over per-image spatial maxima
    top_activation: Mapped[float | None]  # best dataset example, to compare feature-vis against
    # a first-layer unit's weights on the image channels [channels][kh][kw] (records/input_kernels.py)
    input_kernel: Mapped[list[Any] | None]

    layer: Mapped[Layer] = relationship()


class DatasetExample(Base):
    __tablename__ = "dataset_examples"
    __table_args__ = (UniqueConstraint("unit_id", "kind", "rank"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # top | bottom
    rank: Mapped[int]
    dataset_image_id: Mapped[int] = mapped_column(ForeignKey("dataset_images.id"))
    activation: Mapped[float]
    y: Mapped[int]  # position in the layer's activation map
    x: Mapped[int]
    box: Mapped[list[Any]]  # receptive field [x0, y0, x1, y1] in input pixels
    crop_hash: Mapped[str] = mapped_column(ForeignKey("blobs.hash"))
    heatmap_hash: Mapped[str] = mapped_column(ForeignKey("blobs.hash"))

    image: Mapped[DatasetImage] = relationship()


class FeatureVis(Base):
    __tablename__ = "feature_vis"
    __table_args__ = (UniqueConstraint("unit_id", "objective", "variant"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    objective: Mapped[str] = mapped_column(String(20))  # channel | neuron | negative | diversity
    variant: Mapped[int] = mapped_column(default=0)
    image_hash: Mapped[str] = mapped_column(ForeignKey("blobs.hash"))
    activation: Mapped[float]  # what the render reaches on its own objective
    # spatial max of the unit's map of the layer output on the render (what dataset examples are ranked by)
    peak: Mapped[float | None]
    params: Mapped[dict[str, Any]]  # steps, size, lr, seed, transforms
    # peak / the unit's top dataset example (units.top_activation) when written; null without examples
    fidelity: Mapped[float | None]
    note: Mapped[str | None] = mapped_column(String(300))  # why the render is weak, when known


class FeatureVisFailure(Base):
    """A unit's objective that could not be rendered (e.g. no gradient reaches the input), and why:
    stored instead of a misleading grey image; counts as done when a run resumes with the same params."""

    __tablename__ = "feature_vis_failures"
    __table_args__ = (UniqueConstraint("unit_id", "objective"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    objective: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]]


class Connection(Base):
    """Signed weight between two units: the conv kernel (direct) or the linearised path (expanded)."""

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("src_unit_id", "dst_unit_id"),
        Index("ix_connections_dst_l2", "dst_unit_id", "l2"),
        Index("ix_connections_src_l2", "src_unit_id", "l2"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    src_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    dst_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # direct | expanded
    strength: Mapped[float]  # signed: sum of the kernel
    l2: Mapped[float]  # L2 norm of the kernel (Circuits ranks inputs by it)
    kernel: Mapped[list[Any]]  # kh x kw floats

    src: Mapped[Unit] = relationship(foreign_keys=[src_unit_id])
    dst: Mapped[Unit] = relationship(foreign_keys=[dst_unit_id])
