"""Circuit hypotheses: units across layers, signed weighted edges from the stored `connections`, a claim,
a status, evidence notes, named supernodes, and a revision per change.

Circuits are shared work: any annotator may edit any circuit (the version check refuses stale edits and
the history records who changed what); deleting is for the author or an admin.
Nodes whose unit row no longer exists are kept (unit_id NULL) and reported in `problems`.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Forbidden, Invalid, NotFound
from ..store.base import utcnow
from ..store.tables.annotation import CIRCUIT_STATUSES, Circuit, CircuitEdge, CircuitNode, CircuitRevision, Label, User
from ..store.tables.records import Connection
from .common import LIMITS, bump_version, check_len
from .labels import consensus
from .units import UnitRef, get_model, layer_positions, refs_for_ids, resolve_many, thumbnails
from .users import Identity, iso


def node_key(layer: str, index: int) -> str:
    return f"{layer}:{index}"


def parse_key(key: str) -> tuple[str, int]:
    layer, _, idx = str(key).rpartition(":")
    if not layer or not idx.lstrip("-").isdigit():
        raise Invalid(f"node {key!r}: expected 'layer:index'")
    return layer, int(idx)


# --- views -----------------------------------------------------------------------------------------

def snapshot(c: Circuit) -> dict[str, Any]:
    keys = {n.id: node_key(n.layer_name, n.unit_index) for n in c.nodes}
    return {
        "name": c.name, "claim": c.claim, "status": c.status, "evidence": c.evidence,
        "supernodes": [dict(s) for s in (c.supernodes or [])], "deleted": c.deleted,
        "nodes": sorted([n.layer_name, n.unit_index, n.pinned, n.note] for n in c.nodes),
        "edges": sorted([keys[e.src_node_id], keys[e.dst_node_id], e.kind, e.weight, e.l2] for e in c.edges),
    }


def _last_editor(session: Session, c: Circuit) -> str | None:
    return session.scalar(select(User.name).join(CircuitRevision, CircuitRevision.editor_id == User.id)
                          .where(CircuitRevision.circuit_id == c.id).order_by(CircuitRevision.version.desc()).limit(1))


def circuit_summary(c: Circuit) -> dict[str, Any]:
    return {"id": c.id, "uid": c.uid, "model": c.model_slug, "name": c.name, "claim": c.claim, "status": c.status,
            "author": c.author.name, "version": c.version, "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at), "n_nodes": len(c.nodes), "n_edges": len(c.edges), "deleted": c.deleted}


def circuit_dict(session: Session, c: Circuit) -> dict[str, Any]:
    """Everything the circuit page shows: nodes with layer position, consensus label, thumbnail."""
    positions = layer_positions(session, c.model_slug)
    unit_ids = [n.unit_id for n in c.nodes if n.unit_id is not None]
    thumbs = thumbnails(session, unit_ids)
    labels_by_unit: dict[int, list[Label]] = defaultdict(list)
    if unit_ids:
        for l in session.scalars(select(Label).where(Label.unit_id.in_(unit_ids), Label.deleted.is_(False))):
            assert l.unit_id is not None  # selected by unit_id IN (...)
            labels_by_unit[l.unit_id].append(l)
    nodes, problems = [], []
    for n in c.nodes:
        cons = consensus(labels_by_unit.get(n.unit_id, [])) if n.unit_id is not None else None
        missing = n.unit_id is None
        if missing:
            problems.append(f"unit {n.layer_name}/{n.unit_index} of model {c.model_slug!r} no longer exists; "
                            "its node is kept (recompute the layer to attach it again, or remove the node)")
        nodes.append({
            "id": node_key(n.layer_name, n.unit_index), "node_pk": n.id, "layer": n.layer_name, "index": n.unit_index,
            "unit_id": n.unit_id, "layer_position": positions.get(n.layer_name), "pinned": n.pinned, "note": n.note,
            "label": cons["label"] if cons else "", "label_state": cons["state"] if cons else None,
            "image_hash": thumbs.get(n.unit_id) if n.unit_id is not None else None, "missing": missing,
        })
    keys = {n.id: node_key(n.layer_name, n.unit_index) for n in c.nodes}
    edges = [{"source": keys[e.src_node_id], "target": keys[e.dst_node_id], "kind": e.kind, "weight": e.weight,
              "l2": e.l2} for e in c.edges]
    return {**circuit_summary(c), "evidence": c.evidence, "supernodes": c.supernodes or [], "nodes": nodes,
            "edges": edges, "problems": problems, "updated_by": _last_editor(session, c)}


# --- writes ----------------------------------------------------------------------------------------

def _need_annotator(who: Identity) -> None:
    if not who.has_role("annotator"):
        raise Forbidden(f"user {who.name!r} has role {who.role!r}; editing circuits needs annotator or admin")


def _check_meta(name=None, claim=None, status=None, evidence=None) -> None:
    if name is not None:
        check_len("name", name, "circuit_name")
        if not name.strip():
            raise Invalid("name: a circuit needs a name")
    if claim is not None:
        check_len("claim", claim)
    if evidence is not None:
        check_len("evidence", evidence)
    if status is not None and status not in CIRCUIT_STATUSES:
        raise Invalid(f"status: must be one of {', '.join(CIRCUIT_STATUSES)} (got {status!r})")


def get_circuit(session: Session, circuit_id: int) -> Circuit:
    c = session.get(Circuit, circuit_id)
    if c is None or c.deleted:
        raise NotFound(f"no circuit with id {circuit_id}")
    return c


def list_circuits(session: Session, model_slug: str | None = None, status: str | None = None,
                  unit: UnitRef | None = None) -> list[Circuit]:
    q = select(Circuit).where(Circuit.deleted.is_(False)).order_by(Circuit.updated_at.desc())
    if model_slug:
        q = q.where(Circuit.model_slug == model_slug)
    if status:
        q = q.where(Circuit.status == status)
    if unit is not None:
        q = q.where(Circuit.model_slug == unit.model, Circuit.id.in_(
            select(CircuitNode.circuit_id).where(CircuitNode.layer_name == unit.layer,
                                                 CircuitNode.unit_index == unit.index)))
    return list(session.scalars(q))


def _revision(session: Session, c: Circuit, who: Identity, action: str, summary: str = "") -> None:
    session.flush()
    session.expire(c, ["nodes", "edges"])
    session.add(CircuitRevision(circuit_id=c.id, version=c.version, editor_id=who.id, action=action,
                                summary=summary[:500], snapshot=snapshot(c), created_at=c.updated_at))


def create_circuit(session: Session, who: Identity, model_slug: str, name: str, claim: str = "",
                   status: str = "proposed", evidence: str = "", units: Iterable[tuple[str, int]] = ()) -> Circuit:
    _need_annotator(who)
    _check_meta(name, claim, status, evidence)
    get_model(session, model_slug)
    now = utcnow()
    c = Circuit(uid=str(uuid.uuid4()), model_slug=model_slug, name=name.strip(), claim=claim or "", status=status,
                evidence=evidence or "", supernodes=[], author_id=who.id, version=1, created_at=now, updated_at=now)
    session.add(c)
    session.flush()
    units = list(units)
    if units:
        _add_nodes(session, c, units)
        session.flush()
        session.expire(c, ["nodes", "edges"])
        fill_edges(session, c)
    _revision(session, c, who, "create", f"created with {len(units)} unit(s)")
    return c


def _add_nodes(session: Session, c: Circuit, units: list[tuple[str, int]]) -> list[str]:
    found = resolve_many(session, c.model_slug, units)
    for layer, index in units:
        if (layer, int(index)) not in found:
            raise NotFound(f"model {c.model_slug!r} has no unit {layer}/{index}")
    have = {(n.layer_name, n.unit_index) for n in c.nodes}
    new = [(l, int(i)) for l, i in dict.fromkeys((l, int(i)) for l, i in units) if (l, int(i)) not in have]
    if len(have) + len(new) > LIMITS["circuit_nodes"]:
        raise Invalid(f"nodes: a circuit has at most {LIMITS['circuit_nodes']} units")
    for layer, index in new:
        session.add(CircuitNode(circuit_id=c.id, unit_id=found[(layer, index)].unit_id, layer_name=layer,
                                unit_index=index))
    return [node_key(l, i) for l, i in new]


def fill_edges(session: Session, c: Circuit, kinds: tuple[str, ...] = ("direct", "expanded")) -> int:
    """(Re)derive edges between the circuit's units from `connections`; manual edges are kept."""
    by_unit = {n.unit_id: n for n in c.nodes if n.unit_id is not None}
    existing = {(e.src_node_id, e.dst_node_id): e for e in c.edges}
    wanted: dict[tuple[int, int], Connection] = {}
    ids = list(by_unit)
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        for conn in session.scalars(select(Connection).where(Connection.src_unit_id.in_(chunk),
                                                             Connection.dst_unit_id.in_(ids),
                                                             Connection.kind.in_(kinds))):
            wanted[(by_unit[conn.src_unit_id].id, by_unit[conn.dst_unit_id].id)] = conn
    changed = 0
    for pair, e in existing.items():
        if e.kind != "manual" and pair not in wanted:
            session.delete(e)
            changed += 1
    for pair, conn in wanted.items():
        edge = existing.get(pair)
        if edge is None:
            session.add(CircuitEdge(circuit_id=c.id, src_node_id=pair[0], dst_node_id=pair[1], kind=conn.kind,
                                    weight=float(conn.strength), l2=float(conn.l2)))
            changed += 1
        elif edge.kind != "manual" and (edge.weight, edge.l2, edge.kind) != (conn.strength, conn.l2, conn.kind):
            edge.weight, edge.l2, edge.kind = float(conn.strength), float(conn.l2), conn.kind
            changed += 1
    session.flush()
    session.expire(c, ["edges"])
    return changed


def update_circuit(session: Session, circuit_id: int, who: Identity, expected_version: int | None,
                   **fields: Any) -> Circuit:
    _need_annotator(who)
    c = get_circuit(session, circuit_id)
    allowed = {"name", "claim", "status", "evidence", "supernodes"}
    unknown = set(fields) - allowed
    if unknown:
        raise Invalid(f"{sorted(unknown)[0]}: not a circuit field")
    _check_meta(fields.get("name"), fields.get("claim"), fields.get("status"), fields.get("evidence"))
    if "supernodes" in fields:
        fields["supernodes"] = check_supernodes(fields["supernodes"], {node_key(n.layer_name, n.unit_index)
                                                                       for n in c.nodes})
    bump_version(session, c, expected_version, f"Circuit {c.name!r}", lambda row: circuit_dict(session, row))
    for k, v in fields.items():
        setattr(c, k, v.strip() if k == "name" else v)
    c.updated_at = utcnow()
    _revision(session, c, who, "update", "changed " + ", ".join(sorted(fields)))
    return c


def check_supernodes(supernodes: Any, keys: set[str]) -> list[dict[str, Any]]:
    if not isinstance(supernodes, list):
        raise Invalid("supernodes: must be a list of {name, nodes}")
    if len(supernodes) > LIMITS["supernodes"]:
        raise Invalid(f"supernodes: at most {LIMITS['supernodes']}")
    out = []
    for i, s in enumerate(supernodes):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not isinstance(s.get("nodes"), list):
            raise Invalid(f"supernodes[{i}]: must be {{name: text, nodes: [node ids]}}")
        check_len(f"supernodes[{i}].name", s["name"], "supernode_name")
        for k in s["nodes"]:
            if k not in keys:
                raise Invalid(f"supernodes[{i}] ({s['name']!r}): {k!r} is not a node of this circuit")
        out.append({"name": s["name"], "nodes": list(dict.fromkeys(s["nodes"]))})
    return out


def add_nodes(session: Session, circuit_id: int, who: Identity, expected_version: int | None,
              units: Iterable[tuple[str, int]]) -> Circuit:
    _need_annotator(who)
    c = get_circuit(session, circuit_id)
    bump_version(session, c, expected_version, f"Circuit {c.name!r}", lambda row: circuit_dict(session, row))
    added = _add_nodes(session, c, list(units))
    session.flush()
    session.expire(c, ["nodes", "edges"])
    fill_edges(session, c)
    c.updated_at = utcnow()
    _revision(session, c, who, "add-nodes", "added " + ", ".join(added))
    return c


def remove_nodes(session: Session, circuit_id: int, who: Identity, expected_version: int | None,
                 keys: Iterable[str]) -> Circuit:
    _need_annotator(who)
    c = get_circuit(session, circuit_id)
    bump_version(session, c, expected_version, f"Circuit {c.name!r}", lambda row: circuit_dict(session, row))
    keys = set(keys)
    present = {node_key(n.layer_name, n.unit_index): n for n in c.nodes}
    for k in keys:
        if k not in present:
            raise NotFound(f"{k!r} is not a node of circuit {c.id}")
    for k in keys:
        session.delete(present[k])
    c.supernodes = [{"name": s["name"], "nodes": [k for k in s["nodes"] if k not in keys]} for s in c.supernodes or []]
    c.updated_at = utcnow()
    _revision(session, c, who, "remove-nodes", "removed " + ", ".join(sorted(keys)))
    return c


def update_node(session: Session, circuit_id: int, who: Identity, expected_version: int | None, key: str,
                pinned: bool | None = None, note: str | None = None) -> Circuit:
    _need_annotator(who)
    c = get_circuit(session, circuit_id)
    node = next((n for n in c.nodes if node_key(n.layer_name, n.unit_index) == key), None)
    if node is None:
        raise NotFound(f"{key!r} is not a node of circuit {c.id}")
    if note is not None:
        check_len("note", note)
    bump_version(session, c, expected_version, f"Circuit {c.name!r}", lambda row: circuit_dict(session, row))
    if pinned is not None:
        node.pinned = bool(pinned)
    if note is not None:
        node.note = note
    c.updated_at = utcnow()
    _revision(session, c, who, "update-node", f"changed node {key}")
    return c


def refresh_edges(session: Session, circuit_id: int, who: Identity, expected_version: int | None,
                  kinds: tuple[str, ...] = ("direct", "expanded")) -> Circuit:
    _need_annotator(who)
    c = get_circuit(session, circuit_id)
    bump_version(session, c, expected_version, f"Circuit {c.name!r}", lambda row: circuit_dict(session, row))
    n = fill_edges(session, c, kinds)
    c.updated_at = utcnow()
    _revision(session, c, who, "refresh-edges", f"{n} edge change(s) from stored weights ({'/'.join(kinds)})")
    return c


def delete_circuit(session: Session, circuit_id: int, who: Identity, expected_version: int | None) -> Circuit:
    _need_annotator(who)
    c = get_circuit(session, circuit_id)
    if c.author_id != who.id and not who.has_role("admin"):
        raise Forbidden(f"only the author ({c.author.name}) or an admin may delete this circuit")
    bump_version(session, c, expected_version, f"Circuit {c.name!r}", lambda row: circuit_dict(session, row))
    c.deleted = True
    c.updated_at = utcnow()
    _revision(session, c, who, "delete")
    return c


def history(session: Session, circuit_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(CircuitRevision, User.name).join(User, CircuitRevision.editor_id == User.id)
                           .where(CircuitRevision.circuit_id == circuit_id).order_by(CircuitRevision.version.desc()))
    return [{"version": r.version, "editor": name, "action": r.action, "summary": r.summary, "snapshot": r.snapshot,
             "created_at": iso(r.created_at)} for r, name in rows]


# --- suggestions -----------------------------------------------------------------------------------

def _neighbours(session: Session, unit_ids: list[int], direction: str, limit: int, exclude: set[int]):
    """Strongest connections (by L2 of the kernel) into (`up`) or out of (`down`) the given units."""
    if not unit_ids:
        return []
    here, there = ((Connection.dst_unit_id, Connection.src_unit_id) if direction == "up"
                   else (Connection.src_unit_id, Connection.dst_unit_id))
    q = (select(Connection).where(here.in_(unit_ids)))
    if exclude:
        q = q.where(there.not_in(list(exclude)))
    return list(session.scalars(q.order_by(Connection.l2.desc()).limit(limit * 3)))


def suggestions(session: Session, model_slug: str, unit_ids: list[int], limit: int = 10,
                keys: dict[int, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Strongest upstream and downstream units of a set of units that are not in the set."""
    exclude = set(unit_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for direction in ("up", "down"):
        conns = _neighbours(session, unit_ids, direction, limit, exclude)
        best: dict[int, Connection] = {}
        for conn in conns:
            other = conn.src_unit_id if direction == "up" else conn.dst_unit_id
            if other not in best or conn.l2 > best[other].l2:
                best[other] = conn
        picked = sorted(best.items(), key=lambda kv: -kv[1].l2)[:limit]
        other_ids = [o for o, _ in picked]
        refs = refs_for_ids(session, other_ids + list(unit_ids))
        thumbs = thumbnails(session, other_ids)
        labels: dict[int, list[Label]] = defaultdict(list)
        if other_ids:
            for l in session.scalars(select(Label).where(Label.unit_id.in_(other_ids), Label.deleted.is_(False))):
                assert l.unit_id is not None  # selected by unit_id IN (...)
                labels[l.unit_id].append(l)
        rows = []
        for other, conn in picked:
            info = refs.get(other)
            if info is None:
                continue
            via = conn.dst_unit_id if direction == "up" else conn.src_unit_id
            via_info = refs.get(via)
            cons = consensus(labels.get(other, []))
            rows.append({"layer": info.ref.layer, "index": info.ref.index, "unit_id": other,
                         "layer_position": info.layer_position,
                         "via": node_key(via_info.ref.layer, via_info.ref.index) if via_info else None,
                         "weight": conn.strength, "l2": conn.l2, "kind": conn.kind,
                         "label": cons["label"] if cons else "", "image_hash": thumbs.get(other)})
        out["upstream" if direction == "up" else "downstream"] = rows
    return out


def circuit_suggestions(session: Session, circuit_id: int, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    c = get_circuit(session, circuit_id)
    return suggestions(session, c.model_slug, [n.unit_id for n in c.nodes if n.unit_id is not None], limit)
