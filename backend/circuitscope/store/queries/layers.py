"""One layer: the layer with its model, neighbours and stages in one query, and its page of grid cells."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..blobs import image_url
from ..tables.records import FeatureVis, Layer, LayerStage, Model, Unit
from .hints import unknown_layer, with_commands
from .labels import consensus_labels
from .models import LAYER_COLS, STAGE_COLS, layer_summary, model_row, stage_of
from .sql import columns, finite, rows, source

# The layer's neighbours in execution order: any layer, and the nearest with records (a stage done or begun).
_NEIGHBOUR = (
    "(SELECT x.{col} FROM " + source(Layer, "x") + " WHERE x.model_id = l.model_id AND x.position {op} l.position"
    "{cond} ORDER BY x.position {order} LIMIT 1) AS {label}"
)
_HAS_RECORDS = (
    f" AND EXISTS (SELECT 1 FROM {source(LayerStage, 'st')} WHERE st.layer_id = x.id "
    "AND (st.status = 'done' OR st.units_done > 0))"
)
NEIGHBOURS = ("prev", "next", "prev_computed", "next_computed")
SQL_LAYER = (  # model + layer + neighbours + stages (one row per stage), in one query
    f"SELECT {columns(Model, 'm', 'id', 'slug', 'name', 'input_size', prefix='model_')}, {LAYER_COLS}, "
    + ", ".join(_NEIGHBOUR.format(col=col, op=op, order=order, cond=cond, label=f"{side}{suffix}_{col}")
                for cond, suffix in (("", ""), (_HAS_RECORDS, "_computed"))
                for op, order, side in (("<", "DESC", "prev"), (">", "ASC", "next"))
                for col in ("name", "channels"))
    + f", {STAGE_COLS} FROM {source(Model, 'm')} JOIN {source(Layer, 'l')} ON l.model_id = m.id "
    f"LEFT JOIN {source(LayerStage, 's')} ON s.layer_id = l.id WHERE m.slug = :slug AND l.name = :name "
    "ORDER BY s.stage"
)
# the channel render of a unit, for thumbnails
CHANNEL_RENDER = "f.unit_id = u.id AND f.objective = 'channel' AND f.variant = 0"
SQL_GRID = (
    f"SELECT {columns(Unit, 'u', 'index', 'id', 'top_activation', prefix='unit_')}, "
    f"{columns(FeatureVis, 'f', 'image_hash')} FROM {source(Unit, 'u')} "
    f"LEFT JOIN {source(FeatureVis, 'f')} ON {CHANNEL_RENDER} "
    'WHERE u.layer_id = :lid AND u."index" >= :lo AND u."index" < :hi ORDER BY u."index"'
)


class LayerRow:
    """Model + layer + neighbours + stages, from one query (SQL_LAYER)."""

    __slots__ = ("model_id", "slug", "model_name", "input_size", "id", "name", "position", "channels", "context")

    def __init__(self, layer_rows: list[Any]):
        r = layer_rows[0]
        self.model_id, self.slug, self.model_name, self.input_size = (r.model_id, r.model_slug, r.model_name,
                                                                      r.model_input_size)
        self.id, self.name, self.position, self.channels = r.layer_id, r.layer_name, r.layer_position, r.layer_channels
        stages = {row.stage_stage: stage_of(row) for row in layer_rows if row.stage_stage is not None}

        def ref(side: str) -> dict[str, Any] | None:
            name = getattr(r, f"{side}_name")
            return {"name": name, "channels": getattr(r, f"{side}_channels")} if name is not None else None

        self.context = {**layer_summary(self.slug, r, stages), "model": self.slug,
                        **{side: ref(side) for side in NEIGHBOURS}}


def layer_row(session: Session, slug: str, name: str) -> LayerRow:
    """One indexed query; on a miss, a second query finds which part is unknown (the error lists what exists)."""
    found = rows(session, SQL_LAYER, slug=slug, name=name)
    if not found:
        m = model_row(session, slug)  # raises for an unknown model
        raise unknown_layer(session, m.model_id, slug, name)
    return LayerRow(found)


def get_layer(session: Session, slug: str, name: str) -> dict[str, Any]:
    """LayerDetail: the layer, its stages and status, its neighbours."""
    context = layer_row(session, slug, name).context
    with_commands(session, {slug: [context]})
    return context


def unit_page(session: Session, slug: str, name: str, offset: int, limit: int) -> dict[str, Any]:
    """UnitPage: the cells [offset, offset + limit) of a layer grid; uncomputed units are bare cells."""
    row = layer_row(session, slug, name)
    total = row.channels
    end = min(total, offset + limit)
    cells: dict[int, dict[str, Any]] = {}
    if offset < end:
        grid = rows(session, SQL_GRID, lid=row.id, lo=offset, hi=end)
        labels = consensus_labels(session, [r.unit_id for r in grid])
        for r in grid:
            cells[r.unit_index] = {"index": r.unit_index, "id": r.unit_id, "label": labels.get(r.unit_id),
                                   "image": image_url(r.image_hash), "top_activation": finite(r.unit_top_activation)}
    items = [
        cells.get(i) or {"index": i, "id": None, "label": None, "image": None, "top_activation": None}
        for i in range(offset, end)
    ]
    return {"model": row.slug, "layer": row.name, "total": total, "offset": offset, "limit": limit, "items": items}
