"""Read queries behind the browse API.

A unit page is a handful of small indexed queries, written as plain SQL (portable between SQLite and
PostgreSQL: named parameters, quoted "index") and run on the DBAPI cursor of the request's connection,
returning plain dicts that the routes serialize once. This skips SQLAlchemy's per-statement construction
and pydantic's per-object validation, which were most of the cost: a unit page stays around a few
milliseconds of CPU at 100k units and millions of example rows. The response shapes are the pydantic
models of schemas_browse (the OpenAPI schema); tests/api/test_browse_api.py validates responses against them.
The indexes that serve the queries:

- model + layer:       models.slug (unique), layers (model_id, name) (unique)
- unit:                units (layer_id, index) (unique)
- feature-vis:         feature_vis (unit_id, objective, variant) (unique)
- dataset examples:    dataset_examples (unit_id, kind, rank) (unique) -> dataset_images.id (pk)
- connections:         connections (dst_unit_id, l2) / (src_unit_id, l2), LIMIT n
- stages:              layer_stages (layer_id, stage) (unique)
"""
from __future__ import annotations

import difflib
import json
import math
import re
import shlex
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any

from sqlalchemy.orm import Session

from .errors import ApiError, not_found
from .schemas_browse import image_url

MAX_LIST_IN_ERROR = 40
FV_ORDER = {"channel": 0, "neuron": 1, "negative": 2, "diversity": 3}


# ----------------------------------------------------------------------------------------- labels
@lru_cache(maxsize=1)
def _labels_impl() -> Callable[[Session, list[int]], dict[int, str]] | None:
    try:
        from ..annotate.labels import consensus_labels  # written by the annotation work
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("circuitscope.annotate"):
            return None
        raise
    except ImportError:
        return None
    return consensus_labels


def consensus_labels(session: Session, unit_ids: Iterable[int | None]) -> dict[int, str]:
    """Consensus label per unit id (absent when a unit has none); {} until annotation is installed.

    A cheap indexed look-up (labels.unit_id) first finds which of the units have any live label, so the
    annotation module's consensus (ORM objects, annotators) only runs for those.
    """
    ids = sorted({int(i) for i in unit_ids if i is not None})
    impl = _labels_impl()
    if impl is None or not ids:
        return {}
    params = {f"u{i}": uid for i, uid in enumerate(ids)}
    sql = (f"SELECT DISTINCT unit_id FROM labels WHERE unit_id IN ({', '.join(':' + k for k in params)}) "
           "AND deleted = :deleted")
    labelled = [r[0] for r in _rows(session, sql, deleted=False, **params)]
    if not labelled:
        return {}
    return dict(impl(session, labelled) or {})


# ------------------------------------------------------------------------------------------- SQL
# Plain SQL with :named parameters (sqlite3's style; rewritten to %(name)s for psycopg) and a quoted
# "index" column, run on the DBAPI cursor of the request's own connection (same transaction).
_LAYER_COLS = "l.id, l.name, l.position, l.module_type, l.output_shape, l.channels"
_STAGE_COLS = "s.stage, s.status, s.units_done, s.units_total"
SQL_MODELS = "SELECT id, slug, name, description, input_size FROM models ORDER BY slug"
SQL_MODEL = "SELECT id, slug, name, description, input_size FROM models WHERE slug = :slug"
SQL_MODEL_SLUGS = "SELECT slug FROM models ORDER BY slug"
SQL_LAYERS_WITH_STAGES = (
    f"SELECT l.model_id, {_LAYER_COLS}, {_STAGE_COLS} FROM layers l "
    "LEFT JOIN layer_stages s ON s.layer_id = l.id {where} ORDER BY l.model_id, l.position, s.stage"
)
SQL_ALL_LAYERS = SQL_LAYERS_WITH_STAGES.format(where="")
SQL_MODEL_LAYERS = SQL_LAYERS_WITH_STAGES.format(where="WHERE l.model_id = :mid")
# model + layer + its neighbours in execution order (any, and the nearest with records) + its stages
# (one row per stage), in one query
_NEIGHBOUR = (
    "(SELECT x.{col} FROM layers x WHERE x.model_id = l.model_id AND x.position {op} l.position{cond} "
    "ORDER BY x.position {order} LIMIT 1)"
)
_HAS_RECORDS = (
    " AND EXISTS (SELECT 1 FROM layer_stages st WHERE st.layer_id = x.id "
    "AND (st.status = 'done' OR st.units_done > 0))"
)
SQL_LAYER = (
    f"SELECT m.id, m.slug, m.name, m.input_size, {_LAYER_COLS}, "
    + ", ".join(_NEIGHBOUR.format(col=c, op=op, order=o, cond=cond)
                for cond in ("", _HAS_RECORDS) for op, o in (("<", "DESC"), (">", "ASC"))
                for c in ("name", "channels"))
    + f", {_STAGE_COLS} FROM models m JOIN layers l ON l.model_id = m.id "
    "LEFT JOIN layer_stages s ON s.layer_id = l.id WHERE m.slug = :slug AND l.name = :name ORDER BY s.stage"
)
SQL_UNIT = (  # one row per stored concept score of the unit (concepts/store.py), else one row
    "SELECT u.id, u.mean, u.std, u.min, u.max, u.sparsity, u.quantiles, u.histogram, u.max_histogram, "
    "u.top_activation, u.input_kernel, lc.status, lc.reason, lc.source, lc.images, lc.bins, lc.concepts, "
    "uc.concept, uc.auc, uc.auc_err, uc.diff, uc.n_with "
    "FROM units u LEFT JOIN layer_concepts lc ON lc.layer_id = u.layer_id "
    "LEFT JOIN unit_concepts uc ON uc.unit_id = u.id AND lc.status = 'scored' "
    'WHERE u.layer_id = :lid AND u."index" = :idx ORDER BY uc.rank'
)
SQL_FEATURE_VIS = "SELECT objective, variant, image_hash, activation, peak, params FROM feature_vis WHERE unit_id = :uid"
SQL_EXAMPLES = (
    "SELECT e.kind, e.rank, e.activation, e.y, e.x, e.box, e.crop_hash, e.heatmap_hash, "
    'i.dataset_id, i."index", i.ref, i.label, i.image_hash, '
    "(SELECT COUNT(*) FROM dataset_examples n WHERE n.unit_id = e.unit_id AND n.kind = e.kind) "
    "FROM dataset_examples e JOIN dataset_images i ON i.id = e.dataset_image_id "
    "WHERE e.unit_id = :uid AND (e.rank < :lim OR e.kind = 'quantile') ORDER BY e.kind, e.rank"
)
# = records/examples/record.py's QUANTILE_RANK_STRIDE (not imported: that package pulls in torch)
QUANTILE_RANK_STRIDE = 1000
SQL_EXAMPLE_COUNTS = "SELECT kind, COUNT(*) FROM dataset_examples WHERE unit_id = :uid GROUP BY kind"
SQL_CLASSES = "SELECT classes FROM datasets WHERE id = :id"
_CONN = (
    'SELECT c.kind, c.strength, c.l2, c.kernel, u.id, u."index", l.name, m.slug, f.image_hash '
    "FROM connections c JOIN units u ON u.id = c.{other} JOIN layers l ON l.id = u.layer_id "
    "JOIN models m ON m.id = l.model_id "
    "LEFT JOIN feature_vis f ON f.unit_id = u.id AND f.objective = 'channel' AND f.variant = 0 "
    "WHERE c.{mine} = :uid ORDER BY c.l2 DESC LIMIT :lim"
)
SQL_INCOMING = _CONN.format(mine="dst_unit_id", other="src_unit_id")
SQL_OUTGOING = _CONN.format(mine="src_unit_id", other="dst_unit_id")
SQL_GRID = (
    'SELECT u."index", u.id, u.top_activation, f.image_hash FROM units u '
    "LEFT JOIN feature_vis f ON f.unit_id = u.id AND f.objective = 'channel' AND f.variant = 0 "
    'WHERE u.layer_id = :lid AND u."index" >= :lo AND u."index" < :hi ORDER BY u."index"'
)
SQL_UNIT_REF = (
    'SELECT u.id, u."index", l.name, m.slug, f.image_hash FROM units u JOIN layers l ON l.id = u.layer_id '
    "JOIN models m ON m.id = l.model_id "
    "LEFT JOIN feature_vis f ON f.unit_id = u.id AND f.objective = 'channel' AND f.variant = 0 WHERE u.id = :uid"
)
SQL_LAYER_NAMES = "SELECT name FROM layers WHERE model_id = :mid ORDER BY position"

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


@cache
def _for_dialect(dialect: str, sql: str) -> str:
    return sql if dialect == "sqlite" else _PARAM.sub(r"%(\1)s", sql)


def _rows(session: Session, sql: str, **params: Any) -> list[tuple]:
    """Run one statement on the request's connection; plain tuples back (no per-row objects)."""
    conn = session.connection()
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection always has its DBAPI connection
    cur = driver.cursor()
    try:
        cur.execute(_for_dialect(conn.dialect.name, sql), params)
        return cur.fetchall()
    finally:
        cur.close()


def _j(value: Any) -> Any:
    """A JSON column: text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, (str, bytes, bytearray)):
        return json.loads(value)
    return value


def _f(value: Any) -> float | None:
    """A float for JSON: NaN and infinities (e.g. the std of a dead unit) become null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def to_json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# ---------------------------------------------------------------------------------------- helpers
def compute_command(slug: str, layer: str) -> str:
    """Placeholder until _with_commands fills in the real command (it needs the model's stored spec)."""
    return f"circuitscope compute --model-slug {shlex.quote(slug)} --layers {shlex.quote(layer)}"


def _with_commands(session: Session, layers_by_slug: dict[str, list[dict[str, Any]]]) -> None:
    """Set each layer's compute_command from its model's stored spec and latest dataset (api/compute_hint)."""
    from . import compute_hint

    specs = compute_hint.commands_for_models(session, list(layers_by_slug))
    for slug, layers in layers_by_slug.items():
        model_spec, dataset_spec = specs.get(slug, (None, None))
        for lyr in layers:
            lyr["compute_command"] = compute_hint.command(slug, lyr["name"], model_spec, dataset_spec)


def layer_status(stages: dict[str, dict[str, Any]]) -> tuple[str, float]:
    """(status, progress) of a layer from its stages: done | running | partial | not_computed."""
    if not stages:
        return "not_computed", 0.0
    done = sum(s["units_done"] for s in stages.values())
    total = sum(s["units_total"] for s in stages.values())
    statuses = {s["status"] for s in stages.values()}
    if statuses == {"done"}:
        return "done", 1.0
    progress = min(1.0, done / total) if total else 0.0
    if "running" in statuses:
        return "running", progress
    if "done" in statuses or done > 0:
        return "partial", progress
    return "not_computed", progress


def _combine_status(statuses: list[str]) -> str:
    s = set(statuses)
    if not s or s == {"not_computed"}:
        return "not_computed"
    if s == {"done"}:
        return "done"
    if "running" in s:
        return "running"
    return "partial"


def _layer_summary(slug: str, layer: tuple, stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    _id, name, position, module_type, output_shape, channels = layer
    status, progress = layer_status(stages)
    return {
        "name": name,
        "position": position,
        "module_type": module_type,
        "output_shape": list(_j(output_shape) or []),
        "channels": channels,
        "status": status,
        "progress": progress,
        "stages": stages,
        "compute_command": compute_command(slug, name),
    }


def _layers_with_stages(rows: list[tuple]) -> dict[int, list[tuple[tuple, dict[str, dict[str, Any]]]]]:
    """Rows of SQL_*LAYERS (model_id, 6 layer columns, 4 stage columns) -> {model_id: [(layer, stages)]}."""
    out: dict[int, list[tuple[tuple, dict[str, dict[str, Any]]]]] = {}
    last_id = None
    for row in rows:
        model_id, layer, stage = row[0], row[1:7], row[7:]
        if layer[0] != last_id:
            out.setdefault(model_id, []).append((layer, {}))
            last_id = layer[0]
        if stage[0] is not None:
            out[model_id][-1][1][stage[0]] = {"status": stage[1], "units_done": stage[2] or 0,
                                             "units_total": stage[3] or 0}
    return out


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _listing(options: list[str]) -> str:
    shown = ", ".join(options[:MAX_LIST_IN_ERROR])
    return shown + (f" ... ({len(options)} in all)" if len(options) > MAX_LIST_IN_ERROR else "")


# ----------------------------------------------------------------------------------------- models
def _model_summary(m: tuple, layers: list[dict[str, Any]]) -> dict[str, Any]:
    _id, slug, name, description, input_size = m
    units = sum(lyr["channels"] for lyr in layers)
    # Progress and status count the layers some run asked for (they have stage rows), not every module the
    # model lists (sub-modules, pools, the classifier), which would read "partly computed" when all is done.
    asked = [lyr for lyr in layers if lyr["stages"]]
    asked_units = sum(lyr["channels"] for lyr in asked)
    progress = (sum(lyr["progress"] * lyr["channels"] for lyr in asked) / asked_units) if asked_units else 0.0
    return {
        "slug": slug,
        "name": name,
        "description": description or "",
        "input_size": input_size,
        "num_layers": len(layers),
        "num_units": units,
        "status": _combine_status([lyr["status"] for lyr in asked]),
        "progress": progress,
        "layers": layers,
    }


def list_models(session: Session) -> list[dict[str, Any]]:
    """[ModelSummary]: every model with its layers and their progress."""
    models = _rows(session, SQL_MODELS)
    layers = _layers_with_stages(_rows(session, SQL_ALL_LAYERS))
    out = [
        _model_summary(m, [_layer_summary(m[1], lyr, st) for lyr, st in layers.get(m[0], [])]) for m in models
    ]
    _with_commands(session, {m["slug"]: m["layers"] for m in out})
    return out


def get_model(session: Session, slug: str) -> dict[str, Any]:
    """ModelSummary of one model."""
    m = _model_row(session, slug)
    layers = _layers_with_stages(_rows(session, SQL_MODEL_LAYERS, mid=m[0])).get(m[0], [])
    out = _model_summary(m, [_layer_summary(m[1], lyr, st) for lyr, st in layers])
    _with_commands(session, {out["slug"]: out["layers"]})
    return out


def list_layers(session: Session, slug: str) -> list[dict[str, Any]]:
    return get_model(session, slug)["layers"]


def _model_row(session: Session, slug: str) -> tuple:
    rows = _rows(session, SQL_MODEL, slug=slug)
    if not rows:
        raise _unknown_model(session, slug)
    return rows[0]


def _unknown_model(session: Session, slug: str) -> ApiError:
    slugs = [r[0] for r in _rows(session, SQL_MODEL_SLUGS)]
    if not slugs:
        return not_found(
            f"No model '{slug}': no models have been computed yet. "
            "Run: circuitscope compute --model <model> --layers <layers> (or circuitscope demo)",
            models=[],
        )
    return not_found(f"No model '{slug}'.{_suggest(slug, slugs)} Models: {_listing(slugs)}", models=slugs)


def _unknown_layer(session: Session, model_id: int, slug: str, name: str) -> ApiError:
    names = [r[0] for r in _rows(session, SQL_LAYER_NAMES, mid=model_id)]
    return not_found(
        f"Model '{slug}' has no layer '{name}'.{_suggest(name, names)} Layers: {_listing(names) or '(none)'}",
        layers=names,
    )


# ----------------------------------------------------------------------------------------- layers
class _LayerRow:
    """Model + layer + neighbours + stages, from one query (SQL_LAYER)."""

    __slots__ = ("model_id", "slug", "model_name", "input_size", "id", "name", "position", "channels", "context")

    def __init__(self, rows: list[tuple]):
        r = rows[0]
        self.model_id, self.slug, self.model_name, self.input_size = r[0], r[1], r[2], r[3]
        layer = r[4:10]
        self.id, self.name, self.position, self.channels = layer[0], layer[1], layer[2], layer[5]
        n = r[10:18]  # prev, next, prev computed, next computed: (name, channels) each
        stages = {
            row[18]: {"status": row[19], "units_done": row[20] or 0, "units_total": row[21] or 0}
            for row in rows if row[18] is not None
        }

        def ref(name: str | None, channels: int | None) -> dict[str, Any] | None:
            return {"name": name, "channels": channels} if name is not None else None

        self.context = {
            **_layer_summary(self.slug, layer, stages),
            "model": self.slug,
            "prev": ref(n[0], n[1]),
            "next": ref(n[2], n[3]),
            "prev_computed": ref(n[4], n[5]),
            "next_computed": ref(n[6], n[7]),
        }


def _layer_row(session: Session, slug: str, name: str) -> _LayerRow:
    """One indexed query; on a miss, a second query finds which part is unknown."""
    rows = _rows(session, SQL_LAYER, slug=slug, name=name)
    if not rows:
        m = _model_row(session, slug)  # raises for an unknown model
        raise _unknown_layer(session, m[0], slug, name)
    return _LayerRow(rows)


def get_layer(session: Session, slug: str, name: str) -> dict[str, Any]:
    """LayerDetail: the layer, its stages and status, its neighbours."""
    context = _layer_row(session, slug, name).context
    _with_commands(session, {slug: [context]})
    return context


def unit_page(session: Session, slug: str, name: str, offset: int, limit: int) -> dict[str, Any]:
    """UnitPage: the cells [offset, offset + limit) of a layer grid; uncomputed units are bare cells."""
    row = _layer_row(session, slug, name)
    total = row.channels
    end = min(total, offset + limit)
    cells: dict[int, dict[str, Any]] = {}
    if offset < end:
        rows = _rows(session, SQL_GRID, lid=row.id, lo=offset, hi=end)
        labels = consensus_labels(session, [r[1] for r in rows])
        for idx, uid, top, digest in rows:
            cells[idx] = {"index": idx, "id": uid, "label": labels.get(uid), "image": image_url(digest),
                          "top_activation": _f(top)}
    items = [
        cells.get(i) or {"index": i, "id": None, "label": None, "image": None, "top_activation": None}
        for i in range(offset, end)
    ]
    return {"model": row.slug, "layer": row.name, "total": total, "offset": offset, "limit": limit, "items": items}


# ------------------------------------------------------------------------------------------- unit
def _histogram(h: Any) -> dict[str, Any] | None:
    h = _j(h)
    if not isinstance(h, dict) or "edges" not in h or "counts" not in h:
        return None
    return {"edges": [_f(v) for v in h["edges"]], "counts": [_f(v) for v in h["counts"]]}


def _connections_out(rows: list[tuple], labels: dict[int, str]) -> list[dict[str, Any]]:
    top = max((r[2] for r in rows), default=0.0) or 0.0
    return [
        {
            "unit": {"id": uid, "model": model, "layer": layer, "index": idx, "label": labels.get(uid),
                     "image": image_url(digest)},
            "kind": kind,
            "strength": _f(strength),
            "l2": _f(l2),
            "relative": (l2 / top) if top > 0 else 0.0,
            "kernel": _j(kernel) or [],
        }
        for kind, strength, l2, kernel, uid, idx, layer, model, digest in rows
    ]


def _examples(session: Session, unit_id: int, limit: int
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(top, bottom, quantile, {kind: rows stored}) of one unit; the first `limit` top / bottom by rank."""
    rows = _rows(session, SQL_EXAMPLES, uid=unit_id, lim=limit) if limit > 0 else []
    stored = {r[0]: int(r[13]) for r in rows}
    if not rows:
        stored = {kind: int(n) for kind, n in _rows(session, SQL_EXAMPLE_COUNTS, uid=unit_id)}
    classes: dict[int, list[Any]] = {}
    for ds_id in {r[8] for r in rows if r[11] is not None}:
        found = _rows(session, SQL_CLASSES, id=ds_id)
        classes[ds_id] = list(_j(found[0][0]) or []) if found else []
    top: list[dict[str, Any]] = []
    bottom: list[dict[str, Any]] = []
    quantile: list[dict[str, Any]] = []
    for kind, rank, act, y, x, box, crop, heat, ds_id, ds_index, ref, label, image, _ in rows:
        if label is None:
            name = None
        else:
            names = classes.get(ds_id, [])
            name = str(names[label]) if 0 <= label < len(names) else str(label)
        out = {
            "kind": kind, "rank": rank, "activation": _f(act), "y": y, "x": x, "box": _j(box) or [],
            "crop": image_url(crop), "heatmap": image_url(heat), "image": image_url(image),
            "dataset_index": ds_index, "ref": ref, "label": name,
        }
        if kind == "quantile":  # the decile is stored in the rank (records/examples/record.py)
            out["decile"] = rank // QUANTILE_RANK_STRIDE
        {"top": top, "bottom": bottom}.get(kind, quantile).append(out)
    return top, bottom, quantile, stored


def _input_kernel(kernel: Any) -> dict[str, Any] | None:
    """A first-layer unit's weights on the image channels: {channels, size: [kh, kw], values: [c][y][x]}."""
    if not isinstance(kernel, list) or not kernel or not kernel[0]:
        return None
    return {"channels": len(kernel), "size": [len(kernel[0]), len(kernel[0][0])],
            "values": [[[_f(v) for v in row] for row in ch] for ch in kernel]}


def unit_detail(session: Session, slug: str, name: str, index: int, examples: int, connections: int) -> dict[str, Any]:
    """UnitDetail: renders, dataset examples, statistics, strongest inputs and outputs."""
    row = _layer_row(session, slug, name)
    if not 0 <= index < row.channels:
        raise not_found(
            f"Layer '{row.name}' of model '{row.slug}' has {row.channels} units: "
            f"the index must be between 0 and {row.channels - 1}, not {index}.",
            channels=row.channels,
        )
    _with_commands(session, {row.slug: [row.context]})
    base = {"model": row.slug, "model_name": row.model_name, "input_size": row.input_size, "layer": row.context,
            "index": index}
    units = _rows(session, SQL_UNIT, lid=row.id, idx=index)
    if not units:  # a valid unit whose layer has not been computed (yet)
        return {**base, "id": None, "computed": False, "label": None, "stats": dict.fromkeys(_STATS), "feature_vis": [],
                "top": [], "bottom": [], "quantile": [], "examples_stored": {"top": 0, "bottom": 0}, "input_kernel": None,
                "incoming": [], "outgoing": [], **_concepts(session, row.id, None)}
    uid, mean, std, vmin, vmax, sparsity, quantiles, histogram, max_histogram, top_activation, kernel = units[0][:11]
    fvs = sorted(_rows(session, SQL_FEATURE_VIS, uid=uid), key=lambda f: (FV_ORDER.get(f[0], 9), f[0], f[1]))
    feature_vis = [
        {"objective": o, "variant": v, "image": image_url(h), "activation": _f(a), "peak": _f(pk), "params": _j(p) or {}}
        for o, v, h, a, pk, p in fvs
    ]
    top, bottom, quantile, stored = _examples(session, uid, examples)
    incoming = _rows(session, SQL_INCOMING, uid=uid, lim=connections) if connections > 0 else []
    outgoing = _rows(session, SQL_OUTGOING, uid=uid, lim=connections) if connections > 0 else []
    labels = consensus_labels(session, [uid, *(r[4] for r in incoming), *(r[4] for r in outgoing)])
    q = _j(quantiles)
    stats = {
        "mean": _f(mean), "std": _f(std), "min": _f(vmin), "max": _f(vmax), "sparsity": _f(sparsity),
        "quantiles": {k: _f(v) for k, v in q.items()} if isinstance(q, dict) else None,
        "top_activation": _f(top_activation),
        "histogram": _histogram(histogram), "max_histogram": _histogram(max_histogram),
    }
    computed = bool(mean is not None or feature_vis or top or bottom or incoming or outgoing)
    return {
        **base, "id": uid, "computed": computed, "label": labels.get(uid), "stats": stats,
        "feature_vis": feature_vis, "top": top, "bottom": bottom, "quantile": quantile,
        "examples_stored": {"top": stored.get("top", 0), "bottom": stored.get("bottom", 0)},
        "input_kernel": _input_kernel(_j(kernel)),
        "incoming": _connections_out(incoming, labels), "outgoing": _connections_out(outgoing, labels),
        **_concepts_of_rows([r[11:] for r in units]),
    }


def _concepts_of_rows(rows: list[tuple]) -> dict[str, Any]:
    """The concept fields from SQL_UNIT's joined columns (no extra query on the unit page)."""
    from ..concepts.store import unit_concepts_from_rows

    return unit_concepts_from_rows([(r[0], r[1], r[2], r[3], r[4], _j(r[5]), *r[6:]) for r in rows])


def _concepts(session: Session, layer_id: int, unit_id: int | None) -> dict[str, Any]:
    """`concepts` (ranked scores or null), `concept_status`, `suggested_label` (concepts/store.py)."""
    from ..concepts.store import unit_concepts_payload

    return unit_concepts_payload(session, layer_id, unit_id)


_STATS = ("mean", "std", "min", "max", "sparsity", "quantiles", "top_activation", "histogram", "max_histogram")


def unit_ref(session: Session, unit_id: int) -> dict[str, Any]:
    """UnitRef: where a unit id lives."""
    rows = _rows(session, SQL_UNIT_REF, uid=unit_id)
    if not rows:
        raise not_found(f"No unit with id {unit_id}.")
    uid, idx, layer, model, digest = rows[0]
    labels = consensus_labels(session, [uid])
    return {"id": uid, "model": model, "layer": layer, "index": idx, "label": labels.get(uid),
            "image": image_url(digest)}
