"""Project import, all or nothing: every check first (check_project: references between the parts, units that
exist, nothing already in the database), then the writes in the caller's single transaction."""
from __future__ import annotations

from collections import defaultdict
from datetime import timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...annotate import circuits as circuits_svc
from ...annotate import families as families_svc
from ...annotate.units import resolve_many
from ...annotate.users import get_user, parse_iso
from ...circuit_tests import exchange as circuit_tests_exchange
from ...store.tables.annotation import (
    Circuit,
    CircuitEdge,
    CircuitNode,
    CircuitRevision,
    Family,
    FamilyMember,
    FamilyRevision,
    Label,
    LabelRevision,
    User,
)
from ...store.tables.evidence import LabelClaim
from ...store.tables.records import Model
from .document import ProjectDoc, parse_document, refuse


def check_project(session: Session, doc: ProjectDoc, allow_missing_units: bool = False) -> dict[str, Any]:
    """Every check, no writes. Returns the resolved units and a list of warnings."""
    names = [u.name for u in doc.users]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        refuse("users", f"user {dup!r} is listed twice")
    known = set(names)

    def user(where: str, n: str) -> None:
        if n not in known:
            refuse(where, f"user {n!r} is not in the document's users list")

    warnings: list[str] = []
    wanted: dict[str, set[tuple[str, int]]] = defaultdict(set)
    seen_labels: set[tuple] = set()
    for i, l in enumerate(doc.labels):
        w = f"labels[{i}]"
        user(f"{w}.annotator", l.annotator)
        key = (l.model, l.layer, l.index, l.annotator)
        if key in seen_labels:
            refuse(w, f"a second label by {l.annotator!r} on {l.model}/{l.layer}/{l.index}")
        seen_labels.add(key)
        _history(w, l.history, l.version, user)
        wanted[l.model].add((l.layer, l.index))
    uids: set[str] = set()
    fam_names: set[tuple[str, str]] = set()
    for i, f in enumerate(doc.families):
        w = f"families[{i}]"
        user(f"{w}.created_by", f.created_by)
        if f.uid in uids:
            refuse(f"{w}.uid", f"{f.uid!r} appears twice")
        uids.add(f.uid)
        if (f.model, f.name) in fam_names:
            refuse(f"{w}.name", f"model {f.model!r} has two families named {f.name!r}")
        fam_names.add((f.model, f.name))
        if f.color and not families_svc.COLOR_RE.match(f.color):
            refuse(f"{w}.color", f"use #rrggbb (got {f.color!r})")
        members = set()
        for j, m in enumerate(f.members):
            user(f"{w}.members[{j}].added_by", m.added_by)
            if (m.layer, m.index) in members:
                refuse(f"{w}.members[{j}]", f"{m.layer}/{m.index} is listed twice")
            members.add((m.layer, m.index))
            wanted[f.model].add((m.layer, m.index))
        _history(w, f.history, f.version, user)
    for i, c in enumerate(doc.circuits):
        w = f"circuits[{i}]"
        user(f"{w}.author", c.author)
        if c.uid in uids:
            refuse(f"{w}.uid", f"{c.uid!r} appears twice")
        uids.add(c.uid)
        keys = set()
        for j, n in enumerate(c.nodes):
            k = circuits_svc.node_key(n.layer, n.index)
            if k in keys:
                refuse(f"{w}.nodes[{j}]", f"{k} is listed twice")
            keys.add(k)
            wanted[c.model].add((n.layer, n.index))
        pairs = set()
        for j, e in enumerate(c.edges):
            for end in ("source", "target"):
                if getattr(e, end) not in keys:
                    refuse(f"{w}.edges[{j}].{end}", f"{getattr(e, end)!r} is not a node of this circuit")
            if (e.source, e.target) in pairs:
                refuse(f"{w}.edges[{j}]", f"edge {e.source} -> {e.target} is listed twice")
            pairs.add((e.source, e.target))
        for j, s in enumerate(c.supernodes):
            for k in s.nodes:
                if k not in keys:
                    refuse(f"{w}.supernodes[{j}]", f"{k!r} is not a node of this circuit")
        _history(w, c.history, c.version, user)

    # Against the database: models and units exist; nothing is imported twice.
    resolved: dict[str, dict[tuple[str, int], Any]] = {}
    for model, unit_pairs in sorted(wanted.items()):
        exists = session.scalar(select(Model.id).where(Model.slug == model)) is not None
        found = resolve_many(session, model, unit_pairs) if exists else {}
        resolved[model] = found
        missing = sorted(unit_pairs - set(found))
        if missing:
            where = _first_use(doc, model, missing)
            what = (f"model {model!r} does not exist in this database" if not exists else
                    f"unit {missing[0][0]}/{missing[0][1]} of model {model!r} does not exist ({len(missing)} "
                    "missing in all)")
            if not allow_missing_units:
                refuse(where, what + ". Register and compute the model first, or import with "
                                     "--allow-missing-units to keep these annotations detached")
            warnings.append(f"{what}: their annotations are imported detached")
    for i, l in enumerate(doc.labels):
        existing = session.scalar(select(Label.id).join(User, Label.user_id == User.id).where(
            Label.model_slug == l.model, Label.layer_name == l.layer, Label.unit_index == l.index,
            User.name == l.annotator))
        if existing is not None:
            refuse(f"labels[{i}]", f"{l.annotator!r} already has a label on {l.model}/{l.layer}/{l.index} in this "
                                   "database (project import is for a fresh database; it never overwrites)")
    for i, f in enumerate(doc.families):
        if session.scalar(select(Family.id).where(Family.uid == f.uid)) is not None:
            refuse(f"families[{i}].uid", f"family {f.name!r} ({f.uid}) is already in this database")
        if session.scalar(select(Family.id).where(Family.model_slug == f.model, Family.name == f.name)) is not None:
            refuse(f"families[{i}].name", f"model {f.model!r} already has a family named {f.name!r}")
    for i, c in enumerate(doc.circuits):
        if session.scalar(select(Circuit.id).where(Circuit.uid == c.uid)) is not None:
            refuse(f"circuits[{i}].uid", f"circuit {c.name!r} ({c.uid}) is already in this database")
    return {"resolved": resolved, "warnings": warnings}


def _history(where: str, history: list, version: int, user) -> None:
    versions = [h.version for h in history]
    if len(set(versions)) != len(versions):
        refuse(f"{where}.history", "two revisions with the same version")
    if max(versions) != version:
        refuse(f"{where}.version", f"is {version} but the newest revision in its history is {max(versions)}")
    for j, h in enumerate(history):
        user(f"{where}.history[{j}].editor", h.editor)


def _first_use(doc: ProjectDoc, model: str, missing: list[tuple[str, int]]) -> str:
    miss = set(missing)
    for i, l in enumerate(doc.labels):
        if l.model == model and (l.layer, l.index) in miss:
            return f"labels[{i}]"
    for i, f in enumerate(doc.families):
        for j, m in enumerate(f.members):
            if f.model == model and (m.layer, m.index) in miss:
                return f"families[{i}].members[{j}]"
    for i, c in enumerate(doc.circuits):
        for j, n in enumerate(c.nodes):
            if c.model == model and (n.layer, n.index) in miss:
                return f"circuits[{i}].nodes[{j}]"
    return "(document)"


def _dt(value: str):
    return parse_iso(value).astimezone(timezone.utc)


def import_project(session: Session, raw: Any, allow_missing_units: bool = False) -> dict[str, Any]:
    """Validate everything, then write everything (in the caller's transaction). Returns counts + warnings."""
    doc = parse_document(raw)
    checked = check_project(session, doc, allow_missing_units)
    resolved = checked["resolved"]

    def unit_id(model: str, layer: str, index: int) -> int | None:
        hit = resolved.get(model, {}).get((layer, index))
        return hit.unit_id if hit else None

    ids: dict[str, int] = {}
    created_users = 0
    for u in doc.users:
        row = get_user(session, u.name)
        if row is None:
            row = User(name=u.name, display_name=u.display_name, role=u.role)
            session.add(row)
            session.flush()
            created_users += 1
        ids[u.name] = row.id

    for l in doc.labels:
        label_row = Label(unit_id=unit_id(l.model, l.layer, l.index), model_slug=l.model, layer_name=l.layer,
                          unit_index=l.index, user_id=ids[l.annotator], label=l.label, description=l.description,
                          tags=list(l.tags), confidence=l.confidence, status=l.status, deleted=l.deleted, version=l.version,
                          created_at=_dt(l.created_at), updated_at=_dt(l.updated_at))
        session.add(label_row)
        session.flush()
        for h in l.history:
            session.add(LabelRevision(label_id=label_row.id, version=h.version, editor_id=ids[h.editor], action=h.action,
                                      snapshot=h.snapshot.model_dump(), created_at=_dt(h.created_at)))
        for concept in dict.fromkeys(c.strip() for c in l.claims if c.strip()):
            session.add(LabelClaim(label_id=label_row.id, concept=concept[:200]))
    for f in doc.families:
        family_row = Family(uid=f.uid, model_slug=f.model, name=f.name, comment=f.comment, color=f.color,
                            created_by=ids[f.created_by], version=f.version, deleted=f.deleted, created_at=_dt(f.created_at),
                            updated_at=_dt(f.updated_at))
        session.add(family_row)
        session.flush()
        for m in f.members:
            session.add(FamilyMember(family_id=family_row.id, unit_id=unit_id(f.model, m.layer, m.index), layer_name=m.layer,
                                     unit_index=m.index, added_by=ids[m.added_by], added_at=_dt(m.added_at)))
        for fh in f.history:
            session.add(FamilyRevision(family_id=family_row.id, version=fh.version, editor_id=ids[fh.editor], action=fh.action,
                                       snapshot=fh.snapshot, created_at=_dt(fh.created_at)))
    for c in doc.circuits:
        circuit_row = Circuit(uid=c.uid, model_slug=c.model, name=c.name, claim=c.claim, status=c.status, evidence=c.evidence,
                              supernodes=[s.model_dump() for s in c.supernodes], author_id=ids[c.author], version=c.version,
                              deleted=c.deleted, created_at=_dt(c.created_at), updated_at=_dt(c.updated_at))
        session.add(circuit_row)
        session.flush()
        node_ids: dict[str, int] = {}
        for n in c.nodes:
            node = CircuitNode(circuit_id=circuit_row.id, unit_id=unit_id(c.model, n.layer, n.index), layer_name=n.layer,
                               unit_index=n.index, pinned=n.pinned, note=n.note)
            session.add(node)
            session.flush()
            node_ids[circuits_svc.node_key(n.layer, n.index)] = node.id
        for e in c.edges:
            session.add(CircuitEdge(circuit_id=circuit_row.id, src_node_id=node_ids[e.source], dst_node_id=node_ids[e.target],
                                    kind=e.kind, weight=e.weight, l2=e.l2))
        for ch in c.history:
            session.add(CircuitRevision(circuit_id=circuit_row.id, version=ch.version, editor_id=ids[ch.editor], action=ch.action,
                                        summary=ch.summary, snapshot=ch.snapshot, created_at=_dt(ch.created_at)))
        circuit_tests_exchange.import_tests(session, circuit_row.id, c.tests)
    session.flush()
    return {"users_created": created_users, "labels": len(doc.labels), "families": len(doc.families),
            "circuits": len(doc.circuits), "warnings": checked["warnings"]}
