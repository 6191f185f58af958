"""Tables for what people record: users and tokens, labels (one row per unit x annotator), families,
circuit hypotheses, and the revision history of each.

Units are referenced twice: by `unit_id` (a foreign key, SET NULL when the unit row disappears, e.g. a
model is deleted and recomputed) and by the stable reference (model_slug, layer_name, unit_index).
So annotations are never lost with a unit: they become "detached" (unit_id NULL), are reported as such,
and `annotate.units.relink_detached` attaches them again when the unit exists again.

Optimistic concurrency: labels, families and circuits carry a `version`; an update states the version
it was based on and is refused (409) when the row changed since (`UPDATE ... WHERE version = :seen`).
Every change writes a revision row with a full snapshot, the editor and the time.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...enums import CircuitStatus, LabelStatus, Role, values
from ..base import Base, utcnow

ROLES = values(Role)
LABEL_STATUSES = values(LabelStatus)
CIRCUIT_STATUSES = values(CircuitStatus)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # login name, shown as the annotator
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="annotator")  # viewer | annotator | admin
    password_hash: Mapped[str | None] = mapped_column(String(300))  # scrypt$n$r$p$salt$hash; None: no login
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """API tokens (kind 'api') and browser sessions (kind 'session'); only a sha256 of the secret is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="api")  # api | session
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a token in lists
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("model_slug", "layer_name", "unit_index", "user_id", name="uq_labels_unit_ref_user"),
        Index("ix_labels_unit_ref", "model_slug", "layer_name", "unit_index"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    model_slug: Mapped[str] = mapped_column(String(100))
    layer_name: Mapped[str] = mapped_column(String(300))
    unit_index: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    confidence: Mapped[float] = mapped_column(Float, default=0.5)  # 0..1
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | confident | disputed
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)  # withdrawn; history kept
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class LabelRevision(Base):
    __tablename__ = "label_revisions"
    __table_args__ = (UniqueConstraint("label_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]  # the label's version after this change
    editor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))  # create | update | delete | restore
    snapshot: Mapped[dict[str, Any]]  # label, description, tags, confidence, status, deleted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    editor: Mapped[User] = relationship()


class Family(Base):
    """A named group of units of one model (Early Vision: 'Gabor filters', 'colour contrast', ...)."""

    __tablename__ = "families"
    __table_args__ = (UniqueConstraint("model_slug", "name", name="uq_families_model_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # stable across export/import
    model_slug: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str] = mapped_column(String(20), default="")  # "#rrggbb" for the layer grid
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list["FamilyMember"]] = relationship(
        cascade="all, delete-orphan", order_by="FamilyMember.id"
    )
    creator: Mapped[User] = relationship()


class FamilyMember(Base):
    __tablename__ = "family_members"
    __table_args__ = (UniqueConstraint("family_id", "layer_name", "unit_index", name="uq_family_members_ref"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    layer_name: Mapped[str] = mapped_column(String(300))
    unit_index: Mapped[int]
    added_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class FamilyRevision(Base):
    __tablename__ = "family_revisions"
    __table_args__ = (UniqueConstraint("family_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    editor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    snapshot: Mapped[dict[str, Any]]  # name, comment, color, deleted, members [[layer, index], ...]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    editor: Mapped[User] = relationship()


class Circuit(Base):
    """A circuit hypothesis: units across layers, signed weighted edges, and a claim about them."""

    __tablename__ = "circuits"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # stable across export/import
    model_slug: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    claim: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="proposed")  # proposed | supported | refuted
    evidence: Mapped[str] = mapped_column(Text, default="")
    supernodes: Mapped[list[Any]] = mapped_column(default=list)  # [{"name": str, "nodes": ["layer:idx", ...]}]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User] = relationship()
    nodes: Mapped[list["CircuitNode"]] = relationship(
        cascade="all, delete-orphan", order_by="CircuitNode.id", back_populates="circuit"
    )
    edges: Mapped[list["CircuitEdge"]] = relationship(cascade="all, delete-orphan", order_by="CircuitEdge.id")


class CircuitNode(Base):
    __tablename__ = "circuit_nodes"
    __table_args__ = (UniqueConstraint("circuit_id", "layer_name", "unit_index", name="uq_circuit_nodes_ref"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    layer_name: Mapped[str] = mapped_column(String(300))
    unit_index: Mapped[int]
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")

    circuit: Mapped[Circuit] = relationship(back_populates="nodes")


class CircuitEdge(Base):
    __tablename__ = "circuit_edges"
    __table_args__ = (UniqueConstraint("circuit_id", "src_node_id", "dst_node_id", name="uq_circuit_edges_pair"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"), index=True)
    src_node_id: Mapped[int] = mapped_column(ForeignKey("circuit_nodes.id", ondelete="CASCADE"))
    dst_node_id: Mapped[int] = mapped_column(ForeignKey("circuit_nodes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # direct | expanded (from `connections`) | manual
    weight: Mapped[float]  # signed
    l2: Mapped[float] = mapped_column(Float, default=0.0)

    src: Mapped[CircuitNode] = relationship(foreign_keys=[src_node_id])
    dst: Mapped[CircuitNode] = relationship(foreign_keys=[dst_node_id])


class CircuitRevision(Base):
    __tablename__ = "circuit_revisions"
    __table_args__ = (UniqueConstraint("circuit_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    editor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = mapped_column(String(500), default="")
    snapshot: Mapped[dict[str, Any]]  # meta + nodes + edges + supernodes after the change
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    editor: Mapped[User] = relationship()
