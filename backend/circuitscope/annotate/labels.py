"""Labels: one row per (unit, annotator), versioned, every change kept as a revision; consensus and agreement.

Permission rule: a label belongs to its annotator. Only that annotator (role annotator or admin) may change
or withdraw it; an admin may also edit anyone's label (moderation), and the revision records the admin as
the editor. Another annotator's token gets 403 - they add their own label next to it instead.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from ..store.base import utcnow
from ..store.tables.annotation import LABEL_STATUSES, Label, LabelRevision, User
from ..store.tables.records import Layer, Model, Unit
from .common import bump_version, check_len, clean_tags, conflict
from .units import UnitRef, resolve
from .users import Identity, iso

FIELDS = ("label", "description", "tags", "confidence", "status")


def normalise(text: str) -> str:
    return " ".join((text or "").casefold().split())


def snapshot(label: Label) -> dict[str, Any]:
    return {"label": label.label, "description": label.description, "tags": list(label.tags or []),
            "confidence": label.confidence, "status": label.status, "deleted": label.deleted}


def label_dict(label: Label, editor: str | None = None) -> dict[str, Any]:
    return {
        "id": label.id, "unit_id": label.unit_id, "model": label.model_slug, "layer": label.layer_name,
        "index": label.unit_index, "annotator": label.user.name, **snapshot(label), "version": label.version,
        "created_at": iso(label.created_at), "updated_at": iso(label.updated_at),
        "updated_by": editor or _last_editor(label), "detached": label.unit_id is None,
    }


def _last_editor(label: Label) -> str | None:
    from sqlalchemy.orm import object_session

    s = object_session(label)
    if s is None:
        return None
    return s.scalar(
        select(User.name).join(LabelRevision, LabelRevision.editor_id == User.id)
        .where(LabelRevision.label_id == label.id).order_by(LabelRevision.version.desc()).limit(1)
    )


def validate_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in FIELDS:
            raise Invalid(f"{key}: not a label field (fields: {', '.join(FIELDS)})")
        if key == "label":
            out[key] = " ".join(check_len("label", value).split())
        elif key == "description":
            out[key] = check_len("description", value)
        elif key == "tags":
            out[key] = clean_tags(value)
        elif key == "confidence":
            try:
                c = float(value)
            except (TypeError, ValueError):
                raise Invalid("confidence: must be a number from 0 to 1") from None
            if not 0.0 <= c <= 1.0:
                raise Invalid(f"confidence: must be from 0 to 1 (got {c})")
            out[key] = c
        elif key == "status":
            if value not in LABEL_STATUSES:
                raise Invalid(f"status: must be one of {', '.join(LABEL_STATUSES)} (got {value!r})")
            out[key] = value
    return out


def unit_labels(session: Session, ref: UnitRef, include_deleted: bool = False) -> list[Label]:
    q = select(Label).where(Label.model_slug == ref.model, Label.layer_name == ref.layer,
                            Label.unit_index == ref.index)
    if not include_deleted:
        q = q.where(Label.deleted.is_(False))
    return list(session.scalars(q.order_by(Label.updated_at.desc(), Label.id)))


def _revision(session: Session, label: Label, editor: Identity, action: str) -> None:
    session.add(LabelRevision(label_id=label.id, version=label.version, editor_id=editor.id, action=action,
                              snapshot=snapshot(label), created_at=label.updated_at))


def save_own_label(session: Session, ref: UnitRef, who: Identity, fields: dict[str, Any],
                   expected_version: int | None) -> tuple[Label, bool]:
    """Create or update `who`'s label on a unit. `expected_version` is the version the editor loaded
    (None / 0 when they saw no label of theirs). Returns (label, created)."""
    if not who.has_role("annotator"):
        raise Forbidden(f"user {who.name!r} has role {who.role!r}; labelling needs annotator or admin")
    fields = validate_fields(fields)
    info = resolve(session, ref)
    existing = session.scalar(select(Label).where(
        Label.model_slug == ref.model, Label.layer_name == ref.layer, Label.unit_index == ref.index,
        Label.user_id == who.id))
    if existing is None:
        if expected_version:
            raise Conflict(f"your label on {ref.layer}/{ref.index} no longer exists "
                                     f"(you edited version {expected_version}); reload the unit")
        now = utcnow()
        label = Label(unit_id=info.unit_id, model_slug=ref.model, layer_name=ref.layer, unit_index=ref.index,
                      user_id=who.id, version=1, created_at=now, updated_at=now,
                      **{"label": "", "description": "", "tags": [], "confidence": 0.5, "status": "draft", **fields})
        try:
            with session.begin_nested():  # a concurrent first save (double click) may win the unique key
                session.add(label)
                session.flush()
        except IntegrityError:
            existing = session.scalar(select(Label).where(
                Label.model_slug == ref.model, Label.layer_name == ref.layer, Label.unit_index == ref.index,
                Label.user_id == who.id))
            if existing is None:
                raise
        else:
            _revision(session, label, who, "create")
            return label, True
    if not expected_version:
        if not existing.deleted and all(getattr(existing, k) == v for k, v in fields.items()):
            return existing, False  # the same save again (a double click): nothing to change
        raise conflict(f"Your label on {ref.layer}/{ref.index}", label_dict(existing), expected_version)
    return _apply(session, existing, who, fields, expected_version), False


def update_label(session: Session, label_id: int, who: Identity, fields: dict[str, Any],
                 expected_version: int | None) -> Label:
    label = _get_for_edit(session, label_id, who)
    return _apply(session, label, who, validate_fields(fields), expected_version)


def _get_for_edit(session: Session, label_id: int, who: Identity) -> Label:
    label = session.get(Label, label_id)
    if label is None:
        raise NotFound(f"no label with id {label_id}")
    if not who.has_role("annotator"):
        raise Forbidden(f"user {who.name!r} has role {who.role!r}; labelling needs annotator or admin")
    if label.user_id != who.id and not who.has_role("admin"):
        raise Forbidden(f"this label belongs to {label.user.name!r}: only its annotator (or an admin) "
                                 "may change it. Add your own label to the unit instead.")
    return label


def _apply(session: Session, label: Label, who: Identity, fields: dict[str, Any], expected: int | None,
           action: str | None = None) -> Label:
    bump_version(session, label, expected, f"The label by {label.user.name} on {label.layer_name}/{label.unit_index}",
                 lambda row: label_dict(row))
    was_deleted = label.deleted
    for k, v in fields.items():
        setattr(label, k, v)
    if action is None:
        action = "restore" if was_deleted else "update"
        label.deleted = False
    label.updated_at = utcnow()
    session.flush()
    _revision(session, label, who, action)
    return label


def delete_label(session: Session, label_id: int, who: Identity, expected_version: int | None) -> Label:
    """Withdraw a label (kept, with its history; a later save restores it)."""
    label = _get_for_edit(session, label_id, who)
    label.deleted = True
    return _apply(session, label, who, {}, expected_version, action="delete")


def history(session: Session, label_ids: Iterable[int]) -> list[dict[str, Any]]:
    ids = list(label_ids)
    if not ids:
        return []
    rows = session.execute(
        select(LabelRevision, Label, User.name)
        .join(Label, LabelRevision.label_id == Label.id).join(User, LabelRevision.editor_id == User.id)
        .where(LabelRevision.label_id.in_(ids)).order_by(LabelRevision.created_at.desc(), LabelRevision.id.desc())
    )
    return [{"label_id": rev.label_id, "annotator": label.user.name, "version": rev.version, "editor": editor,
             "action": rev.action, "snapshot": rev.snapshot, "created_at": iso(rev.created_at)}
            for rev, label, editor in rows]


# --- consensus and agreement -----------------------------------------------------------------------

def consensus(labels: Iterable[Label]) -> dict[str, Any] | None:
    """Majority over annotators (ties: higher summed confidence, then most recent). None if unlabelled."""
    live = [l for l in labels if not l.deleted and l.label.strip()]
    if not live:
        return None
    groups: dict[str, list[Label]] = defaultdict(list)
    for l in live:
        groups[normalise(l.label)].append(l)

    def score(item):
        key, members = item
        return (len(members), sum(m.confidence for m in members), max(m.updated_at for m in members))

    ranked = sorted(groups.items(), key=score, reverse=True)
    top_key, top = ranked[0]
    n = len(live)
    shown = Counter(m.label for m in top).most_common(1)[0][0]
    if n == 1:
        state = "single"
    elif len(groups) == 1:
        state = "agreed"
    elif len(top) * 2 > n and (len(ranked) < 2 or len(ranked[1][1]) < len(top)):
        state = "majority"
    else:
        state = "disputed"
    if any(l.status == "disputed" for l in live) and state in ("agreed", "majority", "single"):
        state = "disputed" if state != "agreed" else "agreed-but-flagged"
    tags = Counter(t for l in live for t in (l.tags or []))
    return {
        "label": shown, "state": state, "support": len(top) / n, "n_annotators": n,
        "confidence": sum(m.confidence for m in top) / len(top),
        "tags": [t for t, c in tags.most_common() if c * 2 >= n],
        "candidates": [{"label": Counter(m.label for m in ms).most_common(1)[0][0], "votes": len(ms),
                        "annotators": sorted(m.user.name for m in ms),
                        "mean_confidence": sum(m.confidence for m in ms) / len(ms)} for _, ms in ranked],
    }


def consensus_labels(session: Session, unit_ids: Iterable[int]) -> dict[int, str]:
    """unit id -> consensus label, for the units that have at least one live label (layer grid)."""
    ids = [i for i in set(unit_ids) if i is not None]
    by_unit: dict[int, list[Label]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for label in session.scalars(select(Label).where(Label.unit_id.in_(ids[start:start + 500]),
                                                         Label.deleted.is_(False))):
            assert label.unit_id is not None  # selected by unit_id IN (...)
            by_unit[label.unit_id].append(label)
    out: dict[int, str] = {}
    for uid, labels in by_unit.items():
        c = consensus(labels)
        if c is not None:
            out[uid] = c["label"]
    return out


def pairwise_agreement(labels: list[Label]) -> float | None:
    live = [normalise(l.label) for l in labels if not l.deleted and l.label.strip()]
    pairs = list(combinations(live, 2))
    if not pairs:
        return None
    return sum(a == b for a, b in pairs) / len(pairs)


def layer_agreement(session: Session, model_slug: str) -> list[dict[str, Any]]:
    """Per layer: labelled units, units with 2+ annotators, mean pairwise agreement among those, and
    the number of disputed units. Layers are listed in model order, including unlabelled ones."""
    layers = session.execute(
        select(Layer.name, Layer.position, Layer.channels).join(Model, Layer.model_id == Model.id)
        .where(Model.slug == model_slug).order_by(Layer.position)
    ).all()
    by_unit: dict[tuple[str, int], list[Label]] = defaultdict(list)
    for label in session.scalars(select(Label).where(Label.model_slug == model_slug, Label.deleted.is_(False))):
        if label.label.strip():
            by_unit[(label.layer_name, label.unit_index)].append(label)
    stats: dict[str, dict[str, Any]] = {}
    for (layer, _), labels in by_unit.items():
        s = stats.setdefault(layer, {"labeled_units": 0, "multi_annotated_units": 0, "agreements": [],
                                     "disputed_units": 0, "labels": 0})
        s["labeled_units"] += 1
        s["labels"] += len(labels)
        if len({l.user_id for l in labels}) >= 2:
            s["multi_annotated_units"] += 1
            s["agreements"].append(pairwise_agreement(labels))
            c = consensus(labels)
            if c and c["state"] == "disputed":
                s["disputed_units"] += 1
    out = []
    names = [(n, p, c) for n, p, c in layers] + [(n, None, None) for n in stats if n not in {l[0] for l in layers}]
    for name, pos, channels in names:
        s = stats.get(name, {"labeled_units": 0, "multi_annotated_units": 0, "agreements": [], "disputed_units": 0,
                             "labels": 0})
        ag = s.pop("agreements")
        out.append({"layer": name, "position": pos, "channels": channels, **s,
                    "agreement": (sum(ag) / len(ag)) if ag else None})
    return out


def label_counts(session: Session, model_slug: str) -> dict[str, int]:
    """layer -> number of units with at least one live label."""
    rows = session.execute(
        select(Label.layer_name, func.count(func.distinct(Label.unit_index)))
        .where(Label.model_slug == model_slug, Label.deleted.is_(False), Label.label != "")
        .group_by(Label.layer_name)
    )
    return {name: n for name, n in rows}


def unlabeled_queue(session: Session, ref_layer: tuple[str, str], who: Identity | None, mode: str = "any",
                    after: int = -1, limit: int = 50) -> tuple[list[int], int]:
    """Unit indices of a layer that have no label (mode 'any': by nobody; 'mine': not by `who`), in order,
    starting after `after`. Returns (indices, total remaining in the layer)."""
    model_slug, layer_name = ref_layer
    layer = session.scalar(select(Layer).join(Model, Layer.model_id == Model.id)
                           .where(Model.slug == model_slug, Layer.name == layer_name))
    if layer is None:
        raise NotFound(f"model {model_slug!r} has no layer {layer_name!r}")
    labelled = select(Label.unit_index).where(Label.model_slug == model_slug, Label.layer_name == layer_name,
                                               Label.deleted.is_(False), Label.label != "")
    if mode == "mine":
        if who is None:
            raise Unauthenticated("sign in to see the units you have not labelled")
        labelled = labelled.where(Label.user_id == who.id)
    base = select(Unit.index).where(Unit.layer_id == layer.id, Unit.index.not_in(labelled))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    idx = list(session.scalars(base.where(Unit.index > after).order_by(Unit.index).limit(limit)))
    return idx, total
