"""Feature-visualization fidelity: how strongly each render excites its unit, relative to the unit's top
dataset example (records/featurevis/fidelity.py). Read-only, guarded like the browse routes.

- ``/api/models/{model}/fidelity``: the model's summary, per layer and overall (best render per unit);
- ``/api/models/{model}/layers/{layer}/fidelity``: per unit of a layer (for the layer grid);
- ``/api/models/{model}/layers/{layer}/units/{index}/fidelity``: every render of one unit, its ratio and
  the reason when it is weak, and the objectives that could not be rendered.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...records.featurevis.fidelity import WEAK, best_per_unit, summarize
from ...store.tables.records import FeatureVis, FeatureVisFailure, Layer, Model, Unit
from ..auth import require_reader_inline
from ..deps import Tx
from ..errors import not_found

router = APIRouter(prefix="/api", tags=["fidelity"], dependencies=[Depends(require_reader_inline)])
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown model, layer or unit; the message lists what exists"}}


class FidelityStats(BaseModel):
    units: int
    measured: int = Field(description="units with a render and a top dataset example to compare with")
    at_least_1x: float | None = Field(None, description="share of measured units whose best render reaches >= 1x")
    at_least_half: float | None = Field(None, description="share reaching >= 0.5x")
    median: float | None = None
    min: float | None = None


class ModelFidelity(BaseModel):
    model: str
    weak_below: float = WEAK
    overall: FidelityStats
    layers: dict[str, FidelityStats]


class UnitFidelityRow(BaseModel):
    index: int
    best: float | None = Field(None, description="largest peak / top example over channel, neuron, diversity renders")
    best_objective: str | None = None
    channel: float | None = Field(None, description="the channel render's peak / top example")
    note: str | None = Field(None, description="why the channel render is weak, when known")
    failure: str | None = Field(None, description="why the unit could not be rendered, if it could not")


class LayerFidelity(BaseModel):
    model: str
    layer: str
    weak_below: float = WEAK
    units: list[UnitFidelityRow]


class RenderFidelity(BaseModel):
    objective: str
    variant: int
    peak: float | None = None
    fidelity: float | None = None
    note: str | None = None


class RenderFailure(BaseModel):
    objective: str
    reason: str


class UnitFidelity(BaseModel):
    model: str
    layer: str
    index: int
    weak_below: float = WEAK
    top_activation: float | None = None
    renders: list[RenderFidelity]
    failures: list[RenderFailure]


def _layer(session, model: str, layer: str) -> Layer:
    model_row = session.scalar(select(Model).where(Model.slug == model))
    if model_row is None:
        known = ", ".join(session.scalars(select(Model.slug)).all()) or "none yet"
        raise not_found(f"Unknown model '{model}' (models: {known}).")
    row = session.scalar(select(Layer).where(Layer.model_id == model_row.id, Layer.name == layer))
    if row is None:
        names = ", ".join(session.scalars(select(Layer.name).where(Layer.model_id == model_row.id)
                                          .order_by(Layer.position)).all())
        raise not_found(f"Model '{model}' has no computed layer '{layer}' (layers: {names}).")
    return row


@router.get("/models/{model}/fidelity", response_model=ModelFidelity, responses=_ERRORS,
            summary="Share of units whose best feature visualization reaches >= 1x / >= 0.5x their top example")
def model_fidelity(model: str, s: Session = Tx):
    model_row = s.scalar(select(Model).where(Model.slug == model))
    if model_row is None:
        known = ", ".join(s.scalars(select(Model.slug)).all()) or "none yet"
        raise not_found(f"Unknown model '{model}' (models: {known}).")
    rows = s.execute(
        select(Layer.name, Unit.index, FeatureVis.objective, FeatureVis.fidelity, Layer.position)
        .join(Unit, Unit.layer_id == Layer.id).join(FeatureVis, FeatureVis.unit_id == Unit.id)
        .where(Layer.model_id == model_row.id)
    ).all()
    order = {r[0]: r[4] for r in rows}
    units = sorted(best_per_unit((r[0], r[1], r[2], r[3]) for r in rows), key=lambda u: (order[u.layer], u.channel))
    return {"model": model, "weak_below": WEAK, **summarize(units)}


@router.get("/models/{model}/layers/{layer}/fidelity", response_model=LayerFidelity, responses=_ERRORS,
            summary="Per unit of a layer: best render's and channel render's peak / top example")
def layer_fidelity(model: str, layer: str, s: Session = Tx):
    row = _layer(s, model, layer)
    renders = s.execute(
        select(Unit.index, FeatureVis.objective, FeatureVis.variant, FeatureVis.fidelity, FeatureVis.note)
        .join(FeatureVis, FeatureVis.unit_id == Unit.id).where(Unit.layer_id == row.id)
    ).all()
    failures = s.execute(
        select(Unit.index, FeatureVisFailure.objective, FeatureVisFailure.reason)
        .join(FeatureVisFailure, FeatureVisFailure.unit_id == Unit.id).where(Unit.layer_id == row.id)
    ).all()
    best = {u.channel: u for u in best_per_unit((layer, r[0], r[1], r[3]) for r in renders)}
    channel = {r[0]: (r[3], r[4]) for r in renders if r[1] == "channel" and r[2] == 0}
    failure: dict[Any, Any] = {}
    for index, objective, reason in failures:
        failure.setdefault(index, f"{objective}: {reason}")
    indices = sorted(set(best) | set(failure))
    units = [{"index": i, "best": best[i].best if i in best else None,
              "best_objective": best[i].best_objective if i in best else None,
              "channel": channel.get(i, (None, None))[0], "note": channel.get(i, (None, None))[1],
              "failure": failure.get(i)} for i in indices]
    return {"model": model, "layer": layer, "weak_below": WEAK, "units": units}


@router.get("/models/{model}/layers/{layer}/units/{index}/fidelity", response_model=UnitFidelity, responses=_ERRORS,
            summary="Every render of one unit: peak, peak / top example, and why it is weak when known")
def unit_fidelity(model: str, layer: str, index: int, s: Session = Tx):
    row = _layer(s, model, layer)
    unit = s.scalar(select(Unit).where(Unit.layer_id == row.id, Unit.index == index))
    if unit is None:
        raise not_found(f"Layer '{layer}' has {row.channels} units (0..{row.channels - 1}); unit {index} "
                        "is not computed or does not exist.")
    renders = s.scalars(select(FeatureVis).where(FeatureVis.unit_id == unit.id)).all()
    failures = s.scalars(select(FeatureVisFailure).where(FeatureVisFailure.unit_id == unit.id)).all()
    return {
        "model": model, "layer": layer, "index": index, "weak_below": WEAK, "top_activation": unit.top_activation,
        "renders": [{"objective": r.objective, "variant": r.variant, "peak": r.peak, "fidelity": r.fidelity,
                     "note": r.note} for r in sorted(renders, key=lambda r: (r.objective, r.variant))],
        "failures": [{"objective": f.objective, "reason": f.reason} for f in failures],
    }
