"""Families: named groups of units of one model with a comment, shared by the team (any annotator edits,
with version checks and a revision per change)."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..store.base import utcnow
from ..store.tables.annotation import Family, FamilyMember, FamilyRevision, User
from .common import bump_version, check_len
from .units import UnitRef, get_model, resolve_many
from .users import Identity, iso

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075"]


def snapshot(f: Family) -> dict[str, Any]:
    return {"name": f.name, "comment": f.comment, "color": f.color, "deleted": f.deleted,
            "members": sorted([m.layer_name, m.unit_index] for m in f.members)}


def family_dict(f: Family, with_members: bool = True) -> dict[str, Any]:
    d = {"id": f.id, "uid": f.uid, "model": f.model_slug, "name": f.name, "comment": f.comment, "color": f.color,
         "created_by": f.creator.name, "version": f.version, "deleted": f.deleted,
         "created_at": iso(f.created_at), "updated_at": iso(f.updated_at), "size": len(f.members),
         "updated_by": _last_editor(f)}
    if with_members:
        d["members"] = [{"layer": m.layer_name, "index": m.unit_index, "unit_id": m.unit_id,
                         "detached": m.unit_id is None}
                        for m in sorted(f.members, key=lambda m: (m.layer_name, m.unit_index))]
    return d


def _last_editor(f: Family) -> str | None:
    from sqlalchemy.orm import object_session

    s = object_session(f)
    if s is None:
        return None
    return s.scalar(select(User.name).join(FamilyRevision, FamilyRevision.editor_id == User.id)
                    .where(FamilyRevision.family_id == f.id).order_by(FamilyRevision.version.desc()).limit(1))


def _need_annotator(who: Identity) -> None:
    if not who.has_role("annotator"):
        raise Forbidden(f"user {who.name!r} has role {who.role!r}; editing families needs annotator or admin")


def _revision(session: Session, f: Family, who: Identity, action: str) -> None:
    session.flush()
    session.expire(f, ["members"])
    session.add(FamilyRevision(family_id=f.id, version=f.version, editor_id=who.id, action=action,
                               snapshot=snapshot(f), created_at=f.updated_at))


def _check(name: str | None, comment: str | None, color: str | None) -> None:
    if name is not None:
        check_len("name", name, "family_name")
        if not name.strip():
            raise Invalid("name: a family needs a name")
    if comment is not None:
        check_len("comment", comment, "family_comment")
    if color and not COLOR_RE.match(color):
        raise Invalid(f"color: use #rrggbb (got {color!r})")


def get_family(session: Session, family_id: int) -> Family:
    f = session.get(Family, family_id)
    if f is None or f.deleted:
        raise NotFound(f"no family with id {family_id}")
    return f


def list_families(session: Session, model_slug: str | None = None, include_deleted: bool = False) -> list[Family]:
    q = select(Family).order_by(Family.model_slug, Family.name)
    if model_slug:
        q = q.where(Family.model_slug == model_slug)
    if not include_deleted:
        q = q.where(Family.deleted.is_(False))
    return list(session.scalars(q))


def create_family(session: Session, who: Identity, model_slug: str, name: str, comment: str = "",
                  color: str = "", units: Iterable[tuple[str, int]] = ()) -> Family:
    _need_annotator(who)
    _check(name, comment, color)
    get_model(session, model_slug)
    name = name.strip()
    clash = session.scalar(select(Family).where(Family.model_slug == model_slug, Family.name == name))
    if clash is not None:
        raise Conflict(f"model {model_slug!r} already has a family named {name!r}"
                                 + (" (deleted; choose another name)" if clash.deleted else ""))
    if not color:
        n = len(list_families(session, model_slug, include_deleted=True))
        color = PALETTE[n % len(PALETTE)]
    now = utcnow()
    f = Family(uid=str(uuid.uuid4()), model_slug=model_slug, name=name, comment=comment or "", color=color,
               created_by=who.id, version=1, created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # two people creating the same name at once: one wins, one gets 409
            session.add(f)
            session.flush()
    except IntegrityError:
        clash = session.scalar(select(Family).where(Family.model_slug == model_slug, Family.name == name))
        if clash is None:
            raise
        raise Conflict(f"model {model_slug!r} already has a family named {name!r} (created just now by "
                                 f"{clash.creator.name}); nothing was saved. Choose another name or add your units "
                                 "to that family.", current=family_dict(clash)) from None
    _add(session, f, who, list(units))
    _revision(session, f, who, "create")
    return f


def update_family(session: Session, family_id: int, who: Identity, expected_version: int | None,
                  name: str | None = None, comment: str | None = None, color: str | None = None) -> Family:
    _need_annotator(who)
    _check(name, comment, color)
    f = get_family(session, family_id)
    if name is not None and name.strip() != f.name:
        clash = session.scalar(select(Family).where(Family.model_slug == f.model_slug, Family.name == name.strip()))
        if clash is not None:
            raise Conflict(f"model {f.model_slug!r} already has a family named {name.strip()!r}")
    bump_version(session, f, expected_version, f"Family {f.name!r}", family_dict)
    if name is not None:
        f.name = name.strip()
    if comment is not None:
        f.comment = comment
    if color is not None:
        f.color = color
    f.updated_at = utcnow()
    _revision(session, f, who, "update")
    return f


def _add(session: Session, f: Family, who: Identity, units: list[tuple[str, int]]) -> int:
    found = resolve_many(session, f.model_slug, units)
    for layer, index in units:
        if (layer, int(index)) not in found:
            raise NotFound(f"model {f.model_slug!r} has no unit {layer}/{index}")
    have = {(m.layer_name, m.unit_index) for m in f.members}
    added = 0
    for layer, index in dict.fromkeys((l, int(i)) for l, i in units):
        if (layer, index) in have:
            continue
        session.add(FamilyMember(family_id=f.id, unit_id=found[(layer, index)].unit_id, layer_name=layer,
                                 unit_index=index, added_by=who.id))
        added += 1
    return added


def change_members(session: Session, family_id: int, who: Identity, expected_version: int | None,
                   add: Iterable[tuple[str, int]] = (), remove: Iterable[tuple[str, int]] = ()) -> Family:
    _need_annotator(who)
    f = get_family(session, family_id)
    bump_version(session, f, expected_version, f"Family {f.name!r}", family_dict)
    add, remove = list(add), {(l, int(i)) for l, i in remove}
    if add:
        _add(session, f, who, add)
    for m in list(f.members):
        if (m.layer_name, m.unit_index) in remove:
            session.delete(m)
    f.updated_at = utcnow()
    _revision(session, f, who, "members")
    return f


def delete_family(session: Session, family_id: int, who: Identity, expected_version: int | None) -> Family:
    _need_annotator(who)
    f = get_family(session, family_id)
    bump_version(session, f, expected_version, f"Family {f.name!r}", family_dict)
    f.deleted = True
    f.updated_at = utcnow()
    _revision(session, f, who, "delete")
    return f


def history(session: Session, family_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(FamilyRevision, User.name).join(User, FamilyRevision.editor_id == User.id)
                           .where(FamilyRevision.family_id == family_id).order_by(FamilyRevision.version.desc()))
    return [{"version": r.version, "editor": name, "action": r.action, "snapshot": r.snapshot,
             "created_at": iso(r.created_at)} for r, name in rows]


def layer_families(session: Session, model_slug: str, layer_name: str) -> dict[str, Any]:
    """What the layer grid needs: the model's families and, per unit index of the layer, its family ids."""
    fams = list_families(session, model_slug)
    units: dict[int, list[int]] = {}
    for f in fams:
        for m in f.members:
            if m.layer_name == layer_name:
                units.setdefault(m.unit_index, []).append(f.id)
    return {"families": [family_dict(f, with_members=False) for f in fams], "units": units}


def unit_families(session: Session, ref: UnitRef) -> list[Family]:
    return list(session.scalars(
        select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(Family.model_slug == ref.model, Family.deleted.is_(False), FamilyMember.layer_name == ref.layer,
               FamilyMember.unit_index == ref.index).order_by(Family.name)))
