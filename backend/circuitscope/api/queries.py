"""Read queries behind the browse API.

Everything here selects plain columns (SQLAlchemy Core rows, no ORM objects) through indexed lookups,
so a unit page is a handful of small queries that stay fast at 100k units and millions of examples:

- model + layer:       models.slug (unique) joined to layers (model_id, name) (unique)
- unit:                units (layer_id, index) (unique)
- feature-vis:         feature_vis (unit_id, objective, variant) (unique)
- dataset examples:    dataset_examples (unit_id, kind, rank) (unique) -> dataset_images.id (pk)
- connections:         connections (dst_unit_id, l2) / (src_unit_id, l2), LIMIT n
- stages:              layer_stages (layer_id, stage) (unique)
"""
from __future__ import annotations

import difflib
import shlex
from functools import lru_cache
from typing import Any, Callable, Iterable

from sqlalchemy import and_, select, union_all
from sqlalchemy.orm import Session, aliased

from ..store.schema import (
    Connection,
    Dataset,
    DatasetExample,
    DatasetImage,
    FeatureVis,
    Layer,
    LayerStage,
    Model,
    Unit,
)
from .errors import ApiError, not_found
from .schemas_browse import (
    ConnectionOut,
    ExampleOut,
    FeatureVisOut,
    Histogram,
    LayerContext,
    LayerDetail,
    LayerNeighbour,
    LayerSummary,
    ModelSummary,
    StageProgress,
    UnitCell,
    UnitDetail,
    UnitPage,
    UnitRef,
    UnitStats,
    image_url,
)

STAGES = ("examples", "featurevis", "weights")
MAX_LIST_IN_ERROR = 40


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


def consensus_labels(session: Session, unit_ids: Iterable[int]) -> dict[int, str]:
    """Consensus label per unit id (absent when a unit has none); {} until annotation is installed."""
    ids = sorted({int(i) for i in unit_ids if i is not None})
    impl = _labels_impl()
    if impl is None or not ids:
        return {}
    return dict(impl(session, ids) or {})


# ---------------------------------------------------------------------------------------- helpers
def compute_command(slug: str, layer: str) -> str:
    return f"circuitscope compute --model {shlex.quote(slug)} --layers {shlex.quote(layer)}"


def _status(stages: dict[str, StageProgress]) -> tuple[str, float]:
    if not stages:
        return "not_computed", 0.0
    done = sum(s.units_done for s in stages.values())
    total = sum(s.units_total for s in stages.values())
    statuses = {s.status for s in stages.values()}
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


def _stages_by_layer(session: Session, layer_ids: list[int]) -> dict[int, dict[str, StageProgress]]:
    out: dict[int, dict[str, StageProgress]] = {i: {} for i in layer_ids}
    if not layer_ids:
        return out
    rows = session.execute(
        select(LayerStage.layer_id, LayerStage.stage, LayerStage.status, LayerStage.units_done, LayerStage.units_total)
        .where(LayerStage.layer_id.in_(layer_ids))
    ).all()
    for layer_id, stage, status, done, total in rows:
        out[layer_id][stage] = StageProgress(status=status, units_done=done or 0, units_total=total or 0)
    return out


_LAYER_COLS = (Layer.id, Layer.name, Layer.position, Layer.module_type, Layer.output_shape, Layer.channels)


def _layer_summary(slug: str, row: Any, stages: dict[str, StageProgress]) -> dict[str, Any]:
    status, progress = _status(stages)
    return dict(
        name=row.name,
        position=row.position,
        module_type=row.module_type,
        output_shape=list(row.output_shape or []),
        channels=row.channels,
        status=status,
        progress=progress,
        stages=stages,
        compute_command=compute_command(slug, row.name),
    )


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _listing(options: list[str]) -> str:
    shown = ", ".join(options[:MAX_LIST_IN_ERROR])
    return shown + (f" ... ({len(options)} in all)" if len(options) > MAX_LIST_IN_ERROR else "")


# ----------------------------------------------------------------------------------------- models
def list_models(session: Session) -> list[ModelSummary]:
    models = session.execute(
        select(Model.id, Model.slug, Model.name, Model.description, Model.input_size).order_by(Model.slug)
    ).all()
    layers = session.execute(select(Layer.model_id, *_LAYER_COLS).order_by(Layer.model_id, Layer.position)).all()
    stages = _stages_by_layer(session, [r.id for r in layers])
    slugs = {m.id: m.slug for m in models}
    by_model: dict[int, list[LayerSummary]] = {m.id: [] for m in models}
    for r in layers:
        if r.model_id in by_model:
            by_model[r.model_id].append(LayerSummary(**_layer_summary(slugs[r.model_id], r, stages[r.id])))
    return [_model_summary(m, by_model[m.id]) for m in models]


def _model_summary(m: Any, layers: list[LayerSummary]) -> ModelSummary:
    units = sum(lyr.channels for lyr in layers)
    work = [(lyr.progress, lyr.channels) for lyr in layers]
    progress = (sum(p * c for p, c in work) / units) if units else 0.0
    return ModelSummary(
        slug=m.slug,
        name=m.name,
        description=m.description or "",
        input_size=m.input_size,
        num_layers=len(layers),
        num_units=units,
        status=_combine_status([lyr.status for lyr in layers]),  # type: ignore[arg-type]
        progress=progress,
        layers=layers,
    )


def get_model(session: Session, slug: str) -> ModelSummary:
    m = _model_row(session, slug)
    layers = session.execute(select(*_LAYER_COLS).where(Layer.model_id == m.id).order_by(Layer.position)).all()
    stages = _stages_by_layer(session, [r.id for r in layers])
    return _model_summary(m, [LayerSummary(**_layer_summary(m.slug, r, stages[r.id])) for r in layers])


def _model_row(session: Session, slug: str) -> Any:
    m = session.execute(
        select(Model.id, Model.slug, Model.name, Model.description, Model.input_size).where(Model.slug == slug)
    ).first()
    if m is None:
        raise _unknown_model(session, slug)
    return m


def _unknown_model(session: Session, slug: str) -> ApiError:
    slugs = list(session.scalars(select(Model.slug).order_by(Model.slug)))
    if not slugs:
        return not_found(
            f"No model '{slug}': no models have been computed yet. "
            f"Run: circuitscope compute --model {shlex.quote(slug)}",
            models=[],
        )
    return not_found(f"No model '{slug}'.{_suggest(slug, slugs)} Models: {_listing(slugs)}", models=slugs)


def _unknown_layer(session: Session, model_id: int, slug: str, name: str) -> ApiError:
    names = list(session.scalars(select(Layer.name).where(Layer.model_id == model_id).order_by(Layer.position)))
    return not_found(
        f"Model '{slug}' has no layer '{name}'.{_suggest(name, names)} Layers: {_listing(names) or '(none)'}",
        layers=names,
    )


# ----------------------------------------------------------------------------------------- layers
def _layer_row(session: Session, slug: str, name: str) -> Any:
    """Model + layer in one indexed query; on a miss, a second query finds which part is unknown."""
    row = session.execute(
        select(Model.id.label("model_id"), Model.slug, Model.name.label("model_name"), *_LAYER_COLS)
        .join(Layer, Layer.model_id == Model.id)
        .where(Model.slug == slug, Layer.name == name)
    ).first()
    if row is None:
        m = _model_row(session, slug)  # raises for an unknown model
        raise _unknown_layer(session, m.id, slug, name)
    return row


def _neighbours(session: Session, model_id: int, position: int) -> tuple[LayerNeighbour | None, LayerNeighbour | None]:
    prev_q = (
        select(Layer.name, Layer.channels, Layer.position)
        .where(Layer.model_id == model_id, Layer.position < position)
        .order_by(Layer.position.desc())
        .limit(1)
        .subquery()
    )
    next_q = (
        select(Layer.name, Layer.channels, Layer.position)
        .where(Layer.model_id == model_id, Layer.position > position)
        .order_by(Layer.position)
        .limit(1)
        .subquery()
    )
    rows = session.execute(union_all(select(prev_q), select(next_q))).all()
    prev = nxt = None
    for name, channels, pos in rows:
        if pos < position:
            prev = LayerNeighbour(name=name, channels=channels)
        else:
            nxt = LayerNeighbour(name=name, channels=channels)
    return prev, nxt


def _layer_context(session: Session, row: Any) -> dict[str, Any]:
    stages = _stages_by_layer(session, [row.id])[row.id]
    prev, nxt = _neighbours(session, row.model_id, row.position)
    return dict(**_layer_summary(row.slug, row, stages), model=row.slug, prev=prev, next=nxt)


def get_layer(session: Session, slug: str, name: str) -> LayerDetail:
    return LayerDetail(**_layer_context(session, _layer_row(session, slug, name)))


def list_layers(session: Session, slug: str) -> list[LayerSummary]:
    return get_model(session, slug).layers


_CHANNEL_FV = aliased(FeatureVis)


def _channel_fv_join(unit_id_col: Any):
    return and_(_CHANNEL_FV.unit_id == unit_id_col, _CHANNEL_FV.objective == "channel", _CHANNEL_FV.variant == 0)


def unit_page(session: Session, slug: str, name: str, offset: int, limit: int) -> UnitPage:
    row = _layer_row(session, slug, name)
    total = row.channels
    end = min(total, offset + limit)
    cells: dict[int, UnitCell] = {}
    if offset < end:
        rows = session.execute(
            select(Unit.index, Unit.id, Unit.top_activation, _CHANNEL_FV.image_hash)
            .outerjoin(_CHANNEL_FV, _channel_fv_join(Unit.id))
            .where(Unit.layer_id == row.id, Unit.index >= offset, Unit.index < end)
            .order_by(Unit.index)
        ).all()
        labels = consensus_labels(session, [r.id for r in rows])
        for idx, uid, top, digest in rows:
            cells[idx] = UnitCell(index=idx, id=uid, label=labels.get(uid), image=image_url(digest), top_activation=top)
    items = [cells.get(i) or UnitCell(index=i) for i in range(offset, end)]
    return UnitPage(model=row.slug, layer=row.name, total=total, offset=offset, limit=limit, items=items)


# ------------------------------------------------------------------------------------------- unit
def _histogram(h: Any) -> Histogram | None:
    if not isinstance(h, dict) or "edges" not in h or "counts" not in h:
        return None
    return Histogram(edges=list(h["edges"]), counts=list(h["counts"]))


def _connections(session: Session, unit_id: int, direction: str, limit: int) -> list[Any]:
    if direction == "in":
        mine, other = Connection.dst_unit_id, Connection.src_unit_id
    else:
        mine, other = Connection.src_unit_id, Connection.dst_unit_id
    return session.execute(
        select(
            Connection.kind,
            Connection.strength,
            Connection.l2,
            Connection.kernel,
            Unit.id.label("unit_id"),
            Unit.index,
            Layer.name.label("layer"),
            Model.slug.label("model"),
            _CHANNEL_FV.image_hash,
        )
        .join(Unit, Unit.id == other)
        .join(Layer, Layer.id == Unit.layer_id)
        .join(Model, Model.id == Layer.model_id)
        .outerjoin(_CHANNEL_FV, _channel_fv_join(Unit.id))
        .where(mine == unit_id)
        .order_by(Connection.l2.desc())
        .limit(limit)
    ).all()


def _connection_out(rows: list[Any], labels: dict[int, str]) -> list[ConnectionOut]:
    top = max((r.l2 for r in rows), default=0.0) or 0.0
    return [
        ConnectionOut(
            unit=UnitRef(
                id=r.unit_id, model=r.model, layer=r.layer, index=r.index,
                label=labels.get(r.unit_id), image=image_url(r.image_hash),
            ),
            kind=r.kind,
            strength=r.strength,
            l2=r.l2,
            relative=(r.l2 / top) if top > 0 else 0.0,
            kernel=list(r.kernel or []),
        )
        for r in rows
    ]


def _examples(session: Session, unit_id: int, limit: int) -> tuple[list[ExampleOut], list[ExampleOut]]:
    rows = session.execute(
        select(
            DatasetExample.kind,
            DatasetExample.rank,
            DatasetExample.activation,
            DatasetExample.y,
            DatasetExample.x,
            DatasetExample.box,
            DatasetExample.crop_hash,
            DatasetExample.heatmap_hash,
            DatasetImage.dataset_id,
            DatasetImage.index.label("dataset_index"),
            DatasetImage.ref,
            DatasetImage.label,
            DatasetImage.image_hash,
        )
        .join(DatasetImage, DatasetImage.id == DatasetExample.dataset_image_id)
        .where(DatasetExample.unit_id == unit_id, DatasetExample.rank < limit)
        .order_by(DatasetExample.kind, DatasetExample.rank)
    ).all()
    classes: dict[int, list[Any]] = {}
    ds_ids = {r.dataset_id for r in rows if r.label is not None}
    if ds_ids:
        for ds_id, names in session.execute(select(Dataset.id, Dataset.classes).where(Dataset.id.in_(ds_ids))):
            classes[ds_id] = list(names or [])
    top: list[ExampleOut] = []
    bottom: list[ExampleOut] = []
    for r in rows:
        names = classes.get(r.dataset_id, [])
        label = str(names[r.label]) if r.label is not None and 0 <= r.label < len(names) else (
            None if r.label is None else str(r.label)
        )
        ex = ExampleOut(
            kind=r.kind, rank=r.rank, activation=r.activation, y=r.y, x=r.x, box=list(r.box or []),
            crop=image_url(r.crop_hash), heatmap=image_url(r.heatmap_hash), image=image_url(r.image_hash),
            dataset_index=r.dataset_index, ref=r.ref, label=label,
        )
        (top if r.kind == "top" else bottom).append(ex)
    return top, bottom


def unit_detail(session: Session, slug: str, name: str, index: int, examples: int, connections: int) -> UnitDetail:
    row = _layer_row(session, slug, name)
    if not 0 <= index < row.channels:
        raise not_found(
            f"Layer '{row.name}' of model '{row.slug}' has {row.channels} units: "
            f"the index must be between 0 and {row.channels - 1}, not {index}.",
            channels=row.channels,
        )
    layer = LayerContext(**_layer_context(session, row))
    u = session.execute(
        select(
            Unit.id, Unit.mean, Unit.std, Unit.min, Unit.max, Unit.sparsity, Unit.quantiles,
            Unit.histogram, Unit.max_histogram, Unit.top_activation,
        ).where(Unit.layer_id == row.id, Unit.index == index)
    ).first()
    if u is None:  # a valid unit whose layer has not been computed (yet)
        return UnitDetail(
            id=None, model=row.slug, model_name=row.model_name, layer=layer, index=index, computed=False,
            stats=UnitStats(), feature_vis=[], top=[], bottom=[], incoming=[], outgoing=[],
        )
    fvs = session.execute(
        select(FeatureVis.objective, FeatureVis.variant, FeatureVis.image_hash, FeatureVis.activation, FeatureVis.params)
        .where(FeatureVis.unit_id == u.id)
    ).all()
    order = {"channel": 0, "neuron": 1, "negative": 2, "diversity": 3}
    feature_vis = [
        FeatureVisOut(objective=o, variant=v, image=image_url(h), activation=a, params=dict(p or {}))
        for o, v, h, a, p in sorted(fvs, key=lambda f: (order.get(f[0], 9), f[0], f[1]))
    ]
    top, bottom = _examples(session, u.id, examples)
    incoming = _connections(session, u.id, "in", connections)
    outgoing = _connections(session, u.id, "out", connections)
    labels = consensus_labels(session, [u.id, *(r.unit_id for r in incoming), *(r.unit_id for r in outgoing)])
    computed = bool(u.mean is not None or feature_vis or top or bottom or incoming or outgoing)
    stats = UnitStats(
        mean=u.mean, std=u.std, min=u.min, max=u.max, sparsity=u.sparsity, quantiles=u.quantiles,
        top_activation=u.top_activation, histogram=_histogram(u.histogram), max_histogram=_histogram(u.max_histogram),
    )
    return UnitDetail(
        id=u.id, model=row.slug, model_name=row.model_name, layer=layer, index=index, computed=computed,
        label=labels.get(u.id), stats=stats, feature_vis=feature_vis, top=top, bottom=bottom,
        incoming=_connection_out(incoming, labels), outgoing=_connection_out(outgoing, labels),
    )


def unit_ref(session: Session, unit_id: int) -> UnitRef:
    r = session.execute(
        select(Unit.id, Unit.index, Layer.name.label("layer"), Model.slug.label("model"), _CHANNEL_FV.image_hash)
        .join(Layer, Layer.id == Unit.layer_id)
        .join(Model, Model.id == Layer.model_id)
        .outerjoin(_CHANNEL_FV, _channel_fv_join(Unit.id))
        .where(Unit.id == unit_id)
    ).first()
    if r is None:
        raise not_found(f"No unit with id {unit_id}.")
    labels = consensus_labels(session, [r.id])
    return UnitRef(id=r.id, model=r.model, layer=r.layer, index=r.index, label=labels.get(r.id), image=image_url(r.image_hash))
