"""One unit in full (renders, dataset examples, statistics, strongest inputs and outputs, concept scores), and
where a unit id lives.

The indexes that serve a unit page:

- model + layer:       models.slug (unique), layers (model_id, name) (unique)
- unit:                units (layer_id, index) (unique)
- feature-vis:         feature_vis (unit_id, objective, variant) (unique)
- dataset examples:    dataset_examples (unit_id, kind, rank) (unique) -> dataset_images.id (pk)
- connections:         connections (dst_unit_id, l2) / (src_unit_id, l2), LIMIT n
- stages:              layer_stages (layer_id, stage) (unique)
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..blobs import image_url
from ..tables.concepts import LayerConcepts, UnitConcept
from ..tables.records import Connection, Dataset, DatasetExample, DatasetImage, FeatureVis, Layer, Model, Unit
from .hints import unit_index_out_of_range, unknown_unit_id, with_commands
from .labels import consensus_labels
from .layers import CHANNEL_RENDER, layer_row
from .sql import columns, finite, json_value, rows, source

FV_ORDER = {"channel": 0, "neuron": 1, "negative": 2, "diversity": 3}
STATS = ("mean", "std", "min", "max", "sparsity", "quantiles", "top_activation", "histogram", "max_histogram")
# = records/examples/record.py's QUANTILE_RANK_STRIDE (not imported: that package pulls in torch)
QUANTILE_RANK_STRIDE = 1000

SQL_UNIT = (  # one row per stored concept score of the unit (concepts/store.py), else one row
    f"SELECT {columns(Unit, 'u', 'id', *STATS, 'input_kernel', prefix='unit_')}, "
    f"{columns(LayerConcepts, 'lc', 'status', 'reason', 'source', 'images', 'bins', 'concepts')}, "
    f"{columns(UnitConcept, 'uc', 'concept', 'auc', 'auc_err', 'diff', 'n_with')} "
    f"FROM {source(Unit, 'u')} LEFT JOIN {source(LayerConcepts, 'lc')} ON lc.layer_id = u.layer_id "
    f"LEFT JOIN {source(UnitConcept, 'uc')} ON uc.unit_id = u.id AND lc.status = 'scored' "
    'WHERE u.layer_id = :lid AND u."index" = :idx ORDER BY uc.rank'
)
SQL_FEATURE_VIS = (
    f"SELECT {columns(FeatureVis, 'f', 'objective', 'variant', 'image_hash', 'activation', 'peak', 'params')} "
    f"FROM {source(FeatureVis, 'f')} WHERE f.unit_id = :uid"
)
SQL_EXAMPLES = (
    f"SELECT {columns(DatasetExample, 'e', 'kind', 'rank', 'activation', 'y', 'x', 'box', 'crop_hash', 'heatmap_hash')}, "
    f"{columns(DatasetImage, 'i', 'dataset_id', 'index as dataset_index', 'ref', 'label', 'image_hash')}, "
    f"(SELECT COUNT(*) FROM {source(DatasetExample, 'n')} WHERE n.unit_id = e.unit_id AND n.kind = e.kind) AS stored "
    f"FROM {source(DatasetExample, 'e')} JOIN {source(DatasetImage, 'i')} ON i.id = e.dataset_image_id "
    "WHERE e.unit_id = :uid AND (e.rank < :lim OR e.kind = 'quantile') ORDER BY e.kind, e.rank"
)
SQL_EXAMPLE_COUNTS = (f"SELECT e.kind AS kind, COUNT(*) AS stored FROM {source(DatasetExample, 'e')} "
                      "WHERE e.unit_id = :uid GROUP BY e.kind")
SQL_CLASSES = f"SELECT {columns(Dataset, 'd', 'classes')} FROM {source(Dataset, 'd')} WHERE d.id = :id"
_UNIT_WHERE = (  # a unit with its layer, model and channel render
    f"{columns(Unit, 'u', 'id', 'index', prefix='unit_')}, {columns(Layer, 'l', 'name as layer_name')}, "
    f"{columns(Model, 'm', 'slug as model_slug')}, {columns(FeatureVis, 'f', 'image_hash')}"
)
_CONNECTIONS = (
    f"SELECT {columns(Connection, 'c', 'kind', 'strength', 'l2', 'kernel')}, {_UNIT_WHERE} "
    f"FROM {source(Connection, 'c')} JOIN {source(Unit, 'u')} ON u.id = c.{{other}} "
    f"JOIN {source(Layer, 'l')} ON l.id = u.layer_id JOIN {source(Model, 'm')} ON m.id = l.model_id "
    f"LEFT JOIN {source(FeatureVis, 'f')} ON {CHANNEL_RENDER} "
    "WHERE c.{mine} = :uid ORDER BY c.l2 DESC LIMIT :lim"
)
SQL_INCOMING = _CONNECTIONS.format(mine="dst_unit_id", other="src_unit_id")
SQL_OUTGOING = _CONNECTIONS.format(mine="src_unit_id", other="dst_unit_id")
SQL_UNIT_REF = (
    f"SELECT {_UNIT_WHERE} FROM {source(Unit, 'u')} JOIN {source(Layer, 'l')} ON l.id = u.layer_id "
    f"JOIN {source(Model, 'm')} ON m.id = l.model_id "
    f"LEFT JOIN {source(FeatureVis, 'f')} ON {CHANNEL_RENDER} WHERE u.id = :uid"
)


def _histogram(h: Any) -> dict[str, Any] | None:
    h = json_value(h)
    if not isinstance(h, dict) or "edges" not in h or "counts" not in h:
        return None
    return {"edges": [finite(v) for v in h["edges"]], "counts": [finite(v) for v in h["counts"]]}


def _unit_ref(r: Any, labels: dict[int, str]) -> dict[str, Any]:
    return {"id": r.unit_id, "model": r.model_slug, "layer": r.layer_name, "index": r.unit_index,
            "label": labels.get(r.unit_id), "image": image_url(r.image_hash)}


def _connections(conn_rows: list[Any], labels: dict[int, str]) -> list[dict[str, Any]]:
    top = max((r.l2 for r in conn_rows), default=0.0) or 0.0
    return [
        {"unit": _unit_ref(r, labels), "kind": r.kind, "strength": finite(r.strength), "l2": finite(r.l2),
         "relative": (r.l2 / top) if top > 0 else 0.0, "kernel": json_value(r.kernel) or []}
        for r in conn_rows
    ]


def _examples(session: Session, unit_id: int, limit: int
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(top, bottom, quantile, {kind: rows stored}) of one unit; the first `limit` top / bottom by rank."""
    found = rows(session, SQL_EXAMPLES, uid=unit_id, lim=limit) if limit > 0 else []
    stored = {r.kind: int(r.stored) for r in found}
    if not found:
        stored = {r.kind: int(r.stored) for r in rows(session, SQL_EXAMPLE_COUNTS, uid=unit_id)}
    classes: dict[int, list[Any]] = {}
    for ds_id in {r.dataset_id for r in found if r.label is not None}:
        ds = rows(session, SQL_CLASSES, id=ds_id)
        classes[ds_id] = list(json_value(ds[0].classes) or []) if ds else []
    by_kind: dict[str, list[dict[str, Any]]] = {"top": [], "bottom": [], "quantile": []}
    for r in found:
        if r.label is None:
            name = None
        else:
            names = classes.get(r.dataset_id, [])
            name = str(names[r.label]) if 0 <= r.label < len(names) else str(r.label)
        out = {
            "kind": r.kind, "rank": r.rank, "activation": finite(r.activation), "y": r.y, "x": r.x,
            "box": json_value(r.box) or [], "crop": image_url(r.crop_hash), "heatmap": image_url(r.heatmap_hash),
            "image": image_url(r.image_hash), "dataset_index": r.dataset_index, "ref": r.ref, "label": name,
        }
        if r.kind == "quantile":  # the decile is stored in the rank (records/examples/record.py)
            out["decile"] = r.rank // QUANTILE_RANK_STRIDE
        by_kind.get(r.kind, by_kind["quantile"]).append(out)
    return by_kind["top"], by_kind["bottom"], by_kind["quantile"], stored


def _input_kernel(kernel: Any) -> dict[str, Any] | None:
    """A first-layer unit's weights on the image channels: {channels, size: [kh, kw], values: [c][y][x]}."""
    if not isinstance(kernel, list) or not kernel or not kernel[0]:
        return None
    return {"channels": len(kernel), "size": [len(kernel[0]), len(kernel[0][0])],
            "values": [[[finite(v) for v in row] for row in ch] for ch in kernel]}


def _concepts_of_rows(unit_rows: list[Any]) -> dict[str, Any]:
    """The concept fields from SQL_UNIT's joined columns (no extra query on the unit page)."""
    from ...concepts.store import unit_concepts_from_rows

    first = unit_rows[0]
    return unit_concepts_from_rows([first._replace(concepts=json_value(first.concepts)), *unit_rows[1:]])


def _concepts(session: Session, layer_id: int, unit_id: int | None) -> dict[str, Any]:
    """`concepts` (ranked scores or null), `concept_status`, `suggested_label` (concepts/store.py)."""
    from ...concepts.store import unit_concepts_payload

    return unit_concepts_payload(session, layer_id, unit_id)


def unit_detail(session: Session, slug: str, name: str, index: int, examples: int, connections: int) -> dict[str, Any]:
    """UnitDetail: renders, dataset examples, statistics, strongest inputs and outputs."""
    row = layer_row(session, slug, name)
    if not 0 <= index < row.channels:
        raise unit_index_out_of_range(row.slug, row.name, row.channels, index)
    with_commands(session, {row.slug: [row.context]})
    base = {"model": row.slug, "model_name": row.model_name, "input_size": row.input_size, "layer": row.context,
            "index": index}
    units = rows(session, SQL_UNIT, lid=row.id, idx=index)
    if not units:  # a valid unit whose layer has not been computed (yet)
        return {**base, "id": None, "computed": False, "label": None, "stats": dict.fromkeys(STATS), "feature_vis": [],
                "top": [], "bottom": [], "quantile": [], "examples_stored": {"top": 0, "bottom": 0}, "input_kernel": None,
                "incoming": [], "outgoing": [], **_concepts(session, row.id, None)}
    u = units[0]
    fvs = sorted(rows(session, SQL_FEATURE_VIS, uid=u.unit_id),
                 key=lambda f: (FV_ORDER.get(f.objective, 9), f.objective, f.variant))
    feature_vis = [
        {"objective": f.objective, "variant": f.variant, "image": image_url(f.image_hash),
         "activation": finite(f.activation), "peak": finite(f.peak), "params": json_value(f.params) or {}}
        for f in fvs
    ]
    top, bottom, quantile, stored = _examples(session, u.unit_id, examples)
    incoming = rows(session, SQL_INCOMING, uid=u.unit_id, lim=connections) if connections > 0 else []
    outgoing = rows(session, SQL_OUTGOING, uid=u.unit_id, lim=connections) if connections > 0 else []
    labels = consensus_labels(session, [u.unit_id, *(r.unit_id for r in incoming), *(r.unit_id for r in outgoing)])
    q = json_value(u.unit_quantiles)
    stats = {
        "mean": finite(u.unit_mean), "std": finite(u.unit_std), "min": finite(u.unit_min),
        "max": finite(u.unit_max), "sparsity": finite(u.unit_sparsity),
        "quantiles": {k: finite(v) for k, v in q.items()} if isinstance(q, dict) else None,
        "top_activation": finite(u.unit_top_activation),
        "histogram": _histogram(u.unit_histogram), "max_histogram": _histogram(u.unit_max_histogram),
    }
    computed = bool(u.unit_mean is not None or feature_vis or top or bottom or incoming or outgoing)
    return {
        **base, "id": u.unit_id, "computed": computed, "label": labels.get(u.unit_id), "stats": stats,
        "feature_vis": feature_vis, "top": top, "bottom": bottom, "quantile": quantile,
        "examples_stored": {"top": stored.get("top", 0), "bottom": stored.get("bottom", 0)},
        "input_kernel": _input_kernel(json_value(u.unit_input_kernel)),
        "incoming": _connections(incoming, labels), "outgoing": _connections(outgoing, labels),
        **_concepts_of_rows(units),
    }


def unit_ref(session: Session, unit_id: int) -> dict[str, Any]:
    """UnitRef: where a unit id lives."""
    found = rows(session, SQL_UNIT_REF, uid=unit_id)
    if not found:
        raise unknown_unit_id(unit_id)
    return _unit_ref(found[0], consensus_labels(session, [unit_id]))
