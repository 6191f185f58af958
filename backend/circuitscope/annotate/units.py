"""Resolving stable unit references (model slug, layer name, unit index) to unit rows, and back."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..store.tables.annotation import Circuit, CircuitNode, Family, FamilyMember, Label
from ..store.tables.records import FeatureVis, Layer, Model, Unit


@dataclass(frozen=True)
class UnitRef:
    model: str
    layer: str
    index: int

    @property
    def key(self) -> str:
        """Node key used inside a circuit (supernodes, graph ids): 'layer:index'."""
        return f"{self.layer}:{self.index}"

    def as_dict(self) -> dict:
        return {"model": self.model, "layer": self.layer, "index": self.index}


@dataclass
class UnitInfo:
    unit_id: int
    ref: UnitRef
    layer_id: int
    layer_position: int


def get_model(session: Session, slug: str) -> Model:
    model = session.scalar(select(Model).where(Model.slug == slug))
    if model is None:
        raise NotFound(f"no model {slug!r}")
    return model


def resolve(session: Session, ref: UnitRef) -> UnitInfo:
    """The unit row for a reference, or a 404 naming what is missing."""
    found = resolve_many(session, ref.model, [(ref.layer, ref.index)])
    info = found.get((ref.layer, ref.index))
    if info is None:
        model = session.scalar(select(Model).where(Model.slug == ref.model))
        if model is None:
            raise NotFound(f"no model {ref.model!r}")
        layer = session.scalar(select(Layer).where(Layer.model_id == model.id, Layer.name == ref.layer))
        if layer is None:
            raise NotFound(f"model {ref.model!r} has no layer {ref.layer!r}")
        raise NotFound(f"layer {ref.layer!r} of model {ref.model!r} has no unit {ref.index} "
                                 f"(it has {layer.channels} channels; units exist once the layer is computed)")
    return info


def resolve_many(session: Session, model_slug: str, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], UnitInfo]:
    pairs = list({(str(a), int(b)) for a, b in pairs})
    out: dict[tuple[str, int], UnitInfo] = {}
    if not pairs:
        return out
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        rows = session.execute(
            select(Unit.id, Layer.name, Unit.index, Layer.id, Layer.position)
            .join(Layer, Unit.layer_id == Layer.id).join(Model, Layer.model_id == Model.id)
            .where(Model.slug == model_slug, tuple_(Layer.name, Unit.index).in_(chunk))
        )
        for uid, lname, idx, lid, pos in rows:
            out[(lname, idx)] = UnitInfo(uid, UnitRef(model_slug, lname, idx), lid, pos)
    return out


def refs_for_ids(session: Session, unit_ids: Iterable[int]) -> dict[int, UnitInfo]:
    ids = list(set(unit_ids))
    out: dict[int, UnitInfo] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Unit.id, Model.slug, Layer.name, Unit.index, Layer.id, Layer.position)
            .join(Layer, Unit.layer_id == Layer.id).join(Model, Layer.model_id == Model.id)
            .where(Unit.id.in_(ids[start:start + 500]))
        )
        for uid, slug, lname, idx, lid, pos in rows:
            out[uid] = UnitInfo(uid, UnitRef(slug, lname, idx), lid, pos)
    return out


def layer_positions(session: Session, model_slug: str) -> dict[str, int]:
    rows = session.execute(
        select(Layer.name, Layer.position).join(Model, Layer.model_id == Model.id).where(Model.slug == model_slug)
    )
    return {name: pos for name, pos in rows}


def thumbnails(session: Session, unit_ids: Iterable[int]) -> dict[int, str]:
    """unit id -> blob hash of its channel feature visualization (variant 0), where computed."""
    ids = list(set(i for i in unit_ids if i is not None))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(FeatureVis.unit_id, FeatureVis.image_hash)
            .where(FeatureVis.unit_id.in_(ids[start:start + 500]), FeatureVis.objective == "channel",
                   FeatureVis.variant == 0)
        )
        out.update({u: h for u, h in rows})
    return out


def relink_detached(session: Session) -> int:
    """Attach annotations whose unit row disappeared (unit_id NULL) to the unit with the same reference,
    if it exists again (e.g. the model was recomputed). Returns how many rows were attached."""
    n = 0
    for label in session.scalars(select(Label).where(Label.unit_id.is_(None))):
        info = resolve_many(session, label.model_slug, [(label.layer_name, label.unit_index)])
        hit = info.get((label.layer_name, label.unit_index))
        if hit:
            label.unit_id = hit.unit_id
            n += 1
    for member, slug in session.execute(
        select(FamilyMember, Family.model_slug).join(Family, FamilyMember.family_id == Family.id)
        .where(FamilyMember.unit_id.is_(None))
    ):
        hit = resolve_many(session, slug, [(member.layer_name, member.unit_index)]).get((member.layer_name, member.unit_index))
        if hit:
            member.unit_id = hit.unit_id
            n += 1
    for node, slug in session.execute(
        select(CircuitNode, Circuit.model_slug).join(Circuit, CircuitNode.circuit_id == Circuit.id)
        .where(CircuitNode.unit_id.is_(None))
    ):
        hit = resolve_many(session, slug, [(node.layer_name, node.unit_index)]).get((node.layer_name, node.unit_index))
        if hit:
            node.unit_id = hit.unit_id
            n += 1
    return n


__all__ = ["UnitRef", "UnitInfo", "resolve", "resolve_many", "refs_for_ids", "thumbnails", "relink_detached",
           "get_model", "layer_positions"]
