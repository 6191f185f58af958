"""Project export: labels with their history, families, circuits (and their tests), and the users they name."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...annotate import circuits as circuits_svc
from ...annotate.users import iso, utcnow_iso
from ...circuit_tests import exchange as circuit_tests_exchange
from ...store.tables.annotation import (
    Circuit,
    CircuitRevision,
    Family,
    FamilyRevision,
    Label,
    LabelRevision,
    User,
)
from .document import FORMAT, FORMAT_VERSION


def export_project(session: Session, models: list[str] | None = None) -> dict[str, Any]:
    users: dict[int, User] = {u.id: u for u in session.scalars(select(User))}
    name = lambda uid: users[uid].name  # noqa: E731
    used: set[int] = set()

    def use(uid: int) -> str:
        used.add(uid)
        return name(uid)

    label_q = select(Label)
    fam_q = select(Family)
    circ_q = select(Circuit)
    if models:
        label_q = label_q.where(Label.model_slug.in_(models))
        fam_q = fam_q.where(Family.model_slug.in_(models))
        circ_q = circ_q.where(Circuit.model_slug.in_(models))

    label_revs = _revisions(session, LabelRevision.label_id, label_q.with_only_columns(Label.id))
    from ...evidence.label_scores import claims_by_label  # the concepts each label claims

    claims = claims_by_label(session, session.scalars(label_q.with_only_columns(Label.id)).all())
    labels: list[dict[str, Any]] = []
    for l in session.scalars(label_q):
        labels.append({
            "model": l.model_slug, "layer": l.layer_name, "index": l.unit_index, "annotator": use(l.user_id),
            "label": l.label, "description": l.description, "tags": list(l.tags or []), "confidence": l.confidence,
            "status": l.status, "deleted": l.deleted, "version": l.version, "created_at": iso(l.created_at),
            "updated_at": iso(l.updated_at),
            "history": [{"version": r.version, "editor": use(r.editor_id), "action": r.action,
                         "snapshot": r.snapshot, "created_at": iso(r.created_at)} for r in label_revs[l.id]],
            "claims": claims.get(l.id, []),
        })
    labels.sort(key=lambda x: (x["model"], x["layer"], x["index"], x["annotator"]))

    family_revs = _revisions(session, FamilyRevision.family_id, fam_q.with_only_columns(Family.id))
    families: list[dict[str, Any]] = []
    for f in session.scalars(fam_q.options(selectinload(Family.members))):
        families.append({
            "uid": f.uid, "model": f.model_slug, "name": f.name, "comment": f.comment, "color": f.color,
            "created_by": use(f.created_by), "deleted": f.deleted, "version": f.version,
            "created_at": iso(f.created_at), "updated_at": iso(f.updated_at),
            "members": sorted(({"layer": m.layer_name, "index": m.unit_index, "added_by": use(m.added_by),
                                "added_at": iso(m.added_at)} for m in f.members),
                              key=lambda m: (m["layer"], m["index"])),
            "history": [{"version": r.version, "editor": use(r.editor_id), "action": r.action, "snapshot": r.snapshot,
                         "created_at": iso(r.created_at)} for r in family_revs[f.id]],
        })
    families.sort(key=lambda x: (x["model"], x["name"], x["uid"]))

    circuit_revs = _revisions(session, CircuitRevision.circuit_id, circ_q.with_only_columns(Circuit.id))
    circuits: list[dict[str, Any]] = []
    for c in session.scalars(circ_q.options(selectinload(Circuit.nodes), selectinload(Circuit.edges))):
        keys = {n.id: circuits_svc.node_key(n.layer_name, n.unit_index) for n in c.nodes}
        circuits.append({
            "uid": c.uid, "model": c.model_slug, "name": c.name, "claim": c.claim, "status": c.status,
            "evidence": c.evidence, "supernodes": c.supernodes or [], "author": use(c.author_id), "deleted": c.deleted,
            "version": c.version, "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
            "nodes": sorted(({"layer": n.layer_name, "index": n.unit_index, "pinned": n.pinned, "note": n.note}
                             for n in c.nodes), key=lambda n: (n["layer"], n["index"])),
            "edges": sorted(({"source": keys[e.src_node_id], "target": keys[e.dst_node_id], "kind": e.kind,
                              "weight": e.weight, "l2": e.l2} for e in c.edges),
                            key=lambda e: (e["source"], e["target"])),
            "history": [{"version": r.version, "editor": use(r.editor_id), "action": r.action, "summary": r.summary,
                         "snapshot": r.snapshot, "created_at": iso(r.created_at)} for r in circuit_revs[c.id]],
            "tests": circuit_tests_exchange.export_tests(session, c.id),  # stored circuit tests (evidence)
        })
    circuits.sort(key=lambda x: (x["created_at"] or "", x["uid"]))

    model_slugs = sorted({x["model"] for x in labels} | {x["model"] for x in families} | {x["model"] for x in circuits})
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "generator": "circuitscope 0.1.0",
        "exported_at": utcnow_iso(), "models": model_slugs,
        "users": sorted(({"name": users[u].name, "display_name": users[u].display_name, "role": users[u].role}
                         for u in used), key=lambda u: u["name"]),
        "labels": labels, "families": families, "circuits": circuits,
    }


def _revisions(session: Session, owner_fk, owner_ids) -> dict[int, list[Any]]:
    """The revisions of the owners `owner_ids` (a select of ids), in one query: owner id -> revisions by version."""
    rev_cls = owner_fk.class_
    out: dict[int, list[Any]] = defaultdict(list)
    for r in session.scalars(select(rev_cls).where(owner_fk.in_(owner_ids)).order_by(rev_cls.version)):
        out[getattr(r, owner_fk.key)].append(r)
    return out
