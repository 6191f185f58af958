"""Models and their layers, each layer with its stages, status and compute command."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..tables.records import Layer, LayerStage, Model
from .hints import placeholder_command, unknown_model, with_commands
from .sql import columns, json_value, rows, source
from .status import layer_status, model_progress

MODEL_COLS = columns(Model, "m", "id", "slug", "name", "description", "input_size", prefix="model_")
LAYER_COLS = columns(Layer, "l", "id", "name", "position", "module_type", "output_shape", "channels", prefix="layer_")
STAGE_COLS = columns(LayerStage, "s", "stage", "status", "units_done", "units_total", prefix="stage_")
SQL_MODELS = f"SELECT {MODEL_COLS} FROM {source(Model, 'm')} ORDER BY m.slug"
SQL_MODEL = f"SELECT {MODEL_COLS} FROM {source(Model, 'm')} WHERE m.slug = :slug"
_LAYERS_WITH_STAGES = (
    f"SELECT {columns(Layer, 'l', 'model_id', prefix='layer_')}, {LAYER_COLS}, {STAGE_COLS} FROM {source(Layer, 'l')} "
    f"LEFT JOIN {source(LayerStage, 's')} ON s.layer_id = l.id {{where}} ORDER BY l.model_id, l.position, s.stage"
)
SQL_ALL_LAYERS = _LAYERS_WITH_STAGES.format(where="")
SQL_MODEL_LAYERS = _LAYERS_WITH_STAGES.format(where="WHERE l.model_id = :mid")


def stage_of(row: Any) -> dict[str, Any]:
    """A stage's progress from a row with the STAGE_COLS fields."""
    return {"status": row.stage_status, "units_done": row.stage_units_done or 0,
            "units_total": row.stage_units_total or 0}


def layer_summary(slug: str, layer: Any, stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """LayerSummary from a row with the LAYER_COLS fields and the layer's stages."""
    status, progress = layer_status(stages)
    return {
        "name": layer.layer_name,
        "position": layer.layer_position,
        "module_type": layer.layer_module_type,
        "output_shape": list(json_value(layer.layer_output_shape) or []),
        "channels": layer.layer_channels,
        "status": status,
        "progress": progress,
        "stages": stages,
        "compute_command": placeholder_command(slug, layer.layer_name),
    }


def _layers_with_stages(layer_rows: list[Any]) -> dict[int, list[tuple[Any, dict[str, dict[str, Any]]]]]:
    """Rows of SQL_*LAYERS (one per layer and stage) -> {model_id: [(layer row, {stage: progress})]}."""
    out: dict[int, list[tuple[Any, dict[str, dict[str, Any]]]]] = {}
    last_id = None
    for row in layer_rows:
        if row.layer_id != last_id:
            out.setdefault(row.layer_model_id, []).append((row, {}))
            last_id = row.layer_id
        if row.stage_stage is not None:
            out[row.layer_model_id][-1][1][row.stage_stage] = stage_of(row)
    return out


def _model_summary(m: Any, layers: list[dict[str, Any]]) -> dict[str, Any]:
    status, progress = model_progress(layers)
    return {
        "slug": m.model_slug,
        "name": m.model_name,
        "description": m.model_description or "",
        "input_size": m.model_input_size,
        "num_layers": len(layers),
        "num_units": sum(lyr["channels"] for lyr in layers),
        "status": status,
        "progress": progress,
        "layers": layers,
    }


def list_models(session: Session) -> list[dict[str, Any]]:
    """[ModelSummary]: every model with its layers and their progress."""
    models = rows(session, SQL_MODELS)
    layers = _layers_with_stages(rows(session, SQL_ALL_LAYERS))
    out = [
        _model_summary(m, [layer_summary(m.model_slug, lyr, st) for lyr, st in layers.get(m.model_id, [])])
        for m in models
    ]
    with_commands(session, {m["slug"]: m["layers"] for m in out})
    return out


def model_row(session: Session, slug: str) -> Any:
    """The MODEL_COLS row of a model; the error lists the models that exist."""
    found = rows(session, SQL_MODEL, slug=slug)
    if not found:
        raise unknown_model(session, slug)
    return found[0]


def get_model(session: Session, slug: str) -> dict[str, Any]:
    """ModelSummary of one model."""
    m = model_row(session, slug)
    layers = _layers_with_stages(rows(session, SQL_MODEL_LAYERS, mid=m.model_id)).get(m.model_id, [])
    out = _model_summary(m, [layer_summary(m.model_slug, lyr, st) for lyr, st in layers])
    with_commands(session, {out["slug"]: out["layers"]})
    return out


def list_layers(session: Session, slug: str) -> list[dict[str, Any]]:
    return get_model(session, slug)["layers"]
