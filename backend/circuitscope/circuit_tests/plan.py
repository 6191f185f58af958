"""From a stored circuit to what gets tested, with every check made before any work starts.

Targets T: the user's choice, or the circuit's most downstream nodes (those in its deepest layer);
all targets must be in one layer. Members M: every other node; each must be in a layer computed
before T's. Each node's layer must be computed (unit rows exist, dataset examples done: that run's
dataset is the one the test reads). Refusals are 422s that name the unit and what to do.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..annotate.circuits import get_circuit, node_key, parse_key
from ..errors import Invalid
from ..store.tables.records import Dataset, Layer, LayerStage, Model, Run
from .ablation import KINDS
from .statistics import max_random_sets

LIMITS = {"random_sets": 5000, "images": 5000, "context_images": 1000}


@dataclass
class TestParams:
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    random_sets: int = 100
    images: int = 200
    seed: int = 0
    targets: list[str] | None = None  # "layer:index"; None = the circuit's deepest nodes
    context_images: int = 50
    scan_limit: int | None = None  # scan only the first N dataset images (None: all)

    def as_dict(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), "random_sets": self.random_sets, "images": self.images,
                "seed": self.seed, "targets": self.targets, "context_images": self.context_images,
                "scan_limit": self.scan_limit}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TestParams":
        return cls(**{k: d[k] for k in cls().as_dict() if k in d})


@dataclass
class TestPlan:
    circuit_id: int
    circuit_version: int
    model_slug: str
    model_source: dict[str, Any]
    dataset_spec: dict[str, Any]
    run_id: int
    target_layer: str
    targets: list[int]
    members: dict[str, list[int]]
    channels: dict[str, int]
    positions: dict[str, int]
    edges: list[tuple[str, str, float]]
    params: TestParams


def check_params(p: TestParams) -> TestParams:
    kinds = list(dict.fromkeys(str(k).strip() for k in p.kinds if str(k).strip()))
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise Invalid(f"kinds: {', '.join(bad) or '(none)'} - choose from {', '.join(KINDS)}")
    for name in ("random_sets", "images", "context_images"):
        v = getattr(p, name)
        low = 2 if name == "random_sets" else (0 if name == "context_images" else 1)
        if not isinstance(v, int) or not low <= v <= LIMITS[name]:
            raise Invalid(f"{name}: must be a whole number from {low} to {LIMITS[name]} (got {v!r})")
    if p.scan_limit is not None and (not isinstance(p.scan_limit, int) or p.scan_limit < p.images):
        raise Invalid(f"scan_limit: must be at least images ({p.images}) (got {p.scan_limit!r})")
    p.kinds = kinds
    return p


def build_plan(session: Session, circuit_id: int, params: TestParams) -> TestPlan:
    check_params(params)
    c = get_circuit(session, circuit_id)
    model = session.scalar(select(Model).where(Model.slug == c.model_slug))
    if model is None:
        raise Invalid(f"circuit {c.id}: its model {c.model_slug!r} is not in this database; "
                                 "compute the model again (circuitscope compute) to test the circuit")
    layers = {l.name: l for l in session.scalars(select(Layer).where(Layer.model_id == model.id))}
    nodes = [(n.layer_name, n.unit_index, n.unit_id) for n in c.nodes]
    if len(nodes) < 2:
        raise Invalid(f"circuit {c.id} has {len(nodes)} unit(s): a test needs a target and at least "
                                 "one upstream member; add units to the circuit")
    for layer, index, unit_id in nodes:
        if unit_id is None or layer not in layers:
            raise Invalid(f"unit {node_key(layer, index)}: its layer {layer!r} is not computed for model "
                                     f"{c.model_slug!r}; compute it (circuitscope compute --layers {layer}) or "
                                     "remove the node")
    stages = {s.layer_id: s for s in session.scalars(select(LayerStage).where(
        LayerStage.layer_id.in_([l.id for l in layers.values()]), LayerStage.stage == "examples"))}
    for layer, index, _ in nodes:
        st = stages.get(layers[layer].id)
        if st is None or st.status != "done" or st.run_id is None:
            raise Invalid(f"unit {node_key(layer, index)}: the dataset pass of layer {layer!r} is not "
                                     f"done; compute the layer (circuitscope compute --layers {layer}) first")
    positions = {name: l.position for name, l in layers.items()}
    if params.targets:
        keys = {node_key(l, i) for l, i, _ in nodes}
        targets = []
        for t in params.targets:
            layer, index = parse_key(t)
            if node_key(layer, index) not in keys:
                raise Invalid(f"target {t!r} is not a node of circuit {c.id}; pick targets among its units")
            targets.append((layer, index))
    else:
        deepest = max(positions[l] for l, _, _ in nodes)
        targets = [(l, i) for l, i, _ in nodes if positions[l] == deepest]
    target_layers = sorted({l for l, _ in targets})
    if len(target_layers) > 1:
        raise Invalid(f"targets are in several layers ({', '.join(target_layers)}); pick targets of one "
                                 "layer (test the other layer separately)")
    t_layer = target_layers[0]
    t_set = set(targets)
    members: dict[str, list[int]] = defaultdict(list)
    for layer, index, _ in nodes:
        if (layer, index) in t_set:
            continue
        if positions[layer] >= positions[t_layer]:
            where = "the same layer as" if layer == t_layer else "downstream of"
            raise Invalid(f"unit {node_key(layer, index)} is {where} the target layer {t_layer!r}, so it "
                                     "cannot feed the target; make it a target too, or remove it from the circuit")
        members[layer].append(index)
    if not members:
        raise Invalid(f"circuit {c.id}: every unit is a target; a test needs at least one upstream member")
    members = {l: sorted(v) for l, v in members.items()}
    channels = {l: layers[l].channels for l in members}
    possible = max_random_sets(members, channels)
    if params.random_sets > possible:
        detail = ", ".join(f"{len(v)} of the {channels[l] - len(v)} other units of {l}" for l, v in members.items())
        raise Invalid(f"random_sets: {params.random_sets} distinct random sets are more than this circuit "
                                 f"allows ({detail}): the maximum is {possible}", maximum=possible)
    run = session.get(Run, stages[layers[t_layer].id].run_id)
    dataset = session.get(Dataset, run.dataset_id) if run is not None else None
    if run is None or dataset is None:
        raise Invalid(f"the run that computed layer {t_layer!r} is gone; recompute the layer")
    key_of = {n.id: node_key(n.layer_name, n.unit_index) for n in c.nodes}
    edges = [(key_of[e.src_node_id], key_of[e.dst_node_id], float(e.weight)) for e in c.edges]
    return TestPlan(circuit_id=c.id, circuit_version=c.version, model_slug=c.model_slug,
                    model_source=dict(model.source or {}), dataset_spec=dict(dataset.spec), run_id=run.id,
                    target_layer=t_layer, targets=sorted(i for _, i in targets), members=members, channels=channels,
                    positions=positions, edges=edges, params=params)
