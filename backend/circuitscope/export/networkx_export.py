"""A circuit as a networkx DiGraph: node-link JSON (edges under "links", passed explicitly) and GraphML
(Gephi, Cytoscape desktop). Node ids are "layer:index"; attributes are scalars so GraphML can hold them."""
from __future__ import annotations

import io
from typing import Any

import networkx as nx
from sqlalchemy.orm import Session

from ..annotate.circuits import circuit_dict, get_circuit


def circuit_graph(session: Session, circuit_id: int) -> nx.DiGraph:
    d = circuit_dict(session, get_circuit(session, circuit_id))
    g = nx.DiGraph(name=d["name"], model=d["model"], claim=d["claim"], status=d["status"], evidence=d["evidence"],
                   author=d["author"], version=d["version"], uid=d["uid"], created_at=d["created_at"] or "",
                   updated_at=d["updated_at"] or "")
    member_of: dict[str, list[str]] = {}
    for s in d["supernodes"]:
        for k in s["nodes"]:
            member_of.setdefault(k, []).append(s["name"])
    for n in d["nodes"]:
        g.add_node(n["id"], layer=n["layer"], index=n["index"],
                   layer_position=n["layer_position"] if n["layer_position"] is not None else -1,
                   label=n["label"] or "", label_state=n["label_state"] or "", pinned=n["pinned"], note=n["note"] or "",
                   supernodes="; ".join(member_of.get(n["id"], [])), image_hash=n["image_hash"] or "",
                   missing=n["missing"])
    for e in d["edges"]:
        g.add_edge(e["source"], e["target"], weight=e["weight"], l2=e["l2"], kind=e["kind"],
                   sign=1 if e["weight"] >= 0 else -1)
    return g


def node_link(session: Session, circuit_id: int) -> dict[str, Any]:
    data = nx.node_link_data(circuit_graph(session, circuit_id), edges="links")
    data["graph"]["supernodes"] = circuit_dict(session, get_circuit(session, circuit_id))["supernodes"]
    return data


def graphml(session: Session, circuit_id: int) -> bytes:
    buf = io.BytesIO()
    nx.write_graphml(circuit_graph(session, circuit_id), buf, encoding="utf-8")
    return buf.getvalue()
