"""A circuit as Neuronpedia / Anthropic attribution-graph JSON, and back (import as a new circuit).

Mapping: one node per unit, `node_id` = "<layer position>_<unit index>_0" (the format's layer_feature_ctx
shape), `layer` = the layer's position as text, `feature` = the unit index, `ctx_idx` = 0 (vision units
have no token position), `feature_type` = "vision unit", `clerp` = the consensus label. Extra properties
carry what the format lacks: `layer_name`, `unit_index`, `model`, `labels` (every annotator's label),
`pinned`, `note`. Links carry the signed weight plus `kind` (direct | expanded | manual) and `l2`.
`qParams.supernodes` = [[name, node_id, ...]], `qParams.pinnedIds`, `qParams.clerps` = [[node_id, label]].
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..annotate.circuits import check_supernodes, circuit_dict, create_circuit, get_circuit, node_key, snapshot
from ..annotate.users import Identity
from ..errors import Invalid
from ..store.tables.annotation import Circuit, CircuitEdge, CircuitRevision, Label

SCHEMA_PATH = Path(__file__).with_name("graph_schema.json")
FEATURE_TYPE = "vision unit"
GENERATOR = "circuitscope 0.1.0"


@lru_cache
def graph_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate_graph(doc: Any) -> None:
    """Raises ValueError naming the first problem (path + message) if `doc` is not valid graph JSON."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(graph_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path).lstrip(".")
        raise ValueError(f"{path or '(document)'}: {e.message}")


def graph_node_id(node: dict[str, Any]) -> str:
    pos = node.get("layer_position")
    return f"{pos if pos is not None else node['layer']}_{node['index']}_0"


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "circuit"


def circuit_to_graph(session: Session, circuit_id: int) -> dict[str, Any]:
    c = get_circuit(session, circuit_id)
    d = circuit_dict(session, c)
    ids = {n["id"]: graph_node_id(n) for n in d["nodes"]}
    by_unit: dict[int, list[Label]] = {}
    unit_ids = [n["unit_id"] for n in d["nodes"] if n["unit_id"] is not None]
    if unit_ids:
        for l in session.scalars(select(Label).where(Label.unit_id.in_(unit_ids), Label.deleted.is_(False))
                                 .order_by(Label.id)):
            assert l.unit_id is not None  # selected by unit_id IN (...)
            by_unit.setdefault(l.unit_id, []).append(l)
    from ..evidence.label_scores import evidence_for_labels  # claims, concept AUC, blind share, weak flag

    evidence = evidence_for_labels(session, [l for ls in by_unit.values() for l in ls])
    nodes = []
    for n in d["nodes"]:
        nodes.append({
            "node_id": ids[n["id"]], "jsNodeId": ids[n["id"]], "feature": n["index"],
            "layer": str(n["layer_position"]) if n["layer_position"] is not None else n["layer"],
            "ctx_idx": 0, "feature_type": FEATURE_TYPE, "clerp": n["label"] or "",
            "activation": None, "influence": None,
            "model": d["model"], "layer_name": n["layer"], "unit_index": n["index"], "pinned": n["pinned"],
            "note": n["note"], "label_state": n["label_state"], "missing": n["missing"],
            "labels": [{"annotator": l.user.name, "label": l.label, "description": l.description, "tags": l.tags,
                        "confidence": l.confidence, "status": l.status, "evidence": evidence.get(l.id)}
                       for l in by_unit.get(n["unit_id"], [])],
            "evidence_weak": any(evidence[l.id]["weak"] for l in by_unit.get(n["unit_id"], []) if l.id in evidence),
        })
    links = [{"source": ids[e["source"]], "target": ids[e["target"]], "weight": e["weight"], "kind": e["kind"],
              "l2": e["l2"]} for e in d["edges"]]
    supernodes = [[s["name"], *[ids[k] for k in s["nodes"] if k in ids]] for s in d["supernodes"]]
    graph = {
        "metadata": {
            "slug": f"{d['model']}-{_slugify(d['name'])}-{d['id']}",
            "scan": d["model"],
            "prompt": d["claim"],
            "prompt_tokens": [],
            "info": {"name": d["name"], "claim": d["claim"], "status": d["status"], "evidence": d["evidence"],
                     "author": d["author"], "version": d["version"], "uid": d["uid"], "created_at": d["created_at"],
                     "updated_at": d["updated_at"], "problems": d["problems"], "generator": GENERATOR},
            "generator": {"name": "circuitscope", "version": GENERATOR.split()[-1]},
        },
        "qParams": {"pinnedIds": [ids[n["id"]] for n in d["nodes"] if n["pinned"]], "supernodes": supernodes,
                    "clerps": [[ids[n["id"]], n["label"]] for n in d["nodes"] if n["label"]], "linkType": "both"},
        "nodes": nodes,
        "links": links,
    }
    from ..circuit_tests.exchange import annotate_graph  # activation, influence, attribution from a test

    annotate_graph(session, c, graph)
    return graph


def _finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def graph_to_circuit_spec(doc: Any) -> dict[str, Any]:
    """Read graph JSON into what `import_graph_circuit` writes. ValueError names the first problem."""
    validate_graph(doc)
    model = None
    units: list[tuple[str, int]] = []
    keys: dict[str, str] = {}
    for i, n in enumerate(doc["nodes"]):
        layer = n.get("layer_name")
        index = n.get("unit_index", n.get("feature"))
        if not isinstance(layer, str) or not isinstance(index, int):
            raise ValueError(f"nodes[{i}]: needs 'layer_name' (text) and 'unit_index' or 'feature' (integer) to "
                             "name a unit of the model")
        if n.get("model") and model is None:
            model = n["model"]
        if n["node_id"] in keys:
            raise ValueError(f"nodes[{i}].node_id: {n['node_id']!r} appears twice")
        keys[n["node_id"]] = node_key(layer, index)
        units.append((layer, index))
    model = model or doc["metadata"]["scan"]
    links = []
    for i, l in enumerate(doc["links"]):
        for end in ("source", "target"):
            if l[end] not in keys:
                raise ValueError(f"links[{i}].{end}: {l[end]!r} is not a node_id of this graph")
        weight, l2 = l["weight"], l.get("l2")
        if not _finite(weight) or (isinstance(l2, float) and not _finite(l2)):
            raise ValueError(f"links[{i}]: weight and l2 must be finite numbers (NaN and Infinity are not JSON "
                             "and cannot be stored)")
        links.append((keys[l["source"]], keys[l["target"]], float(weight), l.get("kind"), l2))
    supernodes = []
    for i, s in enumerate(doc["qParams"].get("supernodes", [])):
        missing = [x for x in s[1:] if x not in keys]
        if missing:
            raise ValueError(f"qParams.supernodes[{i}]: {missing[0]!r} is not a node_id of this graph")
        supernodes.append({"name": s[0], "nodes": [keys[x] for x in s[1:]]})
    for i, p in enumerate(doc["qParams"].get("pinnedIds", [])):
        if p not in keys:
            raise ValueError(f"qParams.pinnedIds[{i}]: {p!r} is not a node_id of this graph")
    info = doc["metadata"].get("info") or {}
    name = info.get("name") if isinstance(info.get("name"), str) else doc["metadata"]["slug"]
    return {
        "model": model, "name": name,
        "claim": info.get("claim") if isinstance(info.get("claim"), str) else doc["metadata"].get("prompt", ""),
        "status": info.get("status") if info.get("status") in ("proposed", "supported", "refuted") else "proposed",
        "evidence": info.get("evidence") if isinstance(info.get("evidence"), str) else "",
        "units": units, "links": links, "supernodes": supernodes,
        "pinned": [keys[p] for p in doc["qParams"].get("pinnedIds", [])],
        "notes": {keys[n["node_id"]]: n["note"] for n in doc["nodes"] if isinstance(n.get("note"), str) and n["note"]},
    }


def import_graph_circuit(session: Session, doc: Any, who: Identity) -> Circuit:
    """Create a new circuit from graph JSON (nodes must name existing units of an existing model).
    Edges come from the stored weights; links the weights do not explain are kept as manual edges."""
    try:
        spec = graph_to_circuit_spec(doc)
    except ValueError as e:
        raise Invalid(f"not a usable graph JSON: {e}") from None
    c = create_circuit(session, who, spec["model"], spec["name"], spec["claim"], spec["status"], spec["evidence"],
                       spec["units"])
    nodes = {node_key(n.layer_name, n.unit_index): n for n in c.nodes}
    derived = {(e.src_node_id, e.dst_node_id) for e in c.edges}
    for src, dst, weight, _kind, l2 in spec["links"]:
        pair = (nodes[src].id, nodes[dst].id)
        if pair not in derived:
            session.add(CircuitEdge(circuit_id=c.id, src_node_id=pair[0], dst_node_id=pair[1], kind="manual",
                                    weight=weight, l2=float(l2) if isinstance(l2, (int, float)) else abs(weight)))
            derived.add(pair)
    for key in spec["pinned"]:
        nodes[key].pinned = True
    for key, note in spec["notes"].items():
        nodes[key].note = note[:2000]
    c.supernodes = check_supernodes(spec["supernodes"], set(nodes))
    session.flush()
    session.expire(c, ["nodes", "edges"])
    rev = session.scalar(select(CircuitRevision).where(CircuitRevision.circuit_id == c.id))
    assert rev is not None  # create_circuit records the first revision
    rev.action, rev.summary, rev.snapshot = "import", "imported from attribution-graph JSON", snapshot(c)
    return c
