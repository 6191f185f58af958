"""Tuning curves of stored units: find the model and layer in the store, load the model once, cache probers.

Shared by the API route, the CLI and the layer job. Errors are domain errors (``errors.NotFound``, ``errors.Invalid``) naming the
problem and the valid choices; the routes answer them as they are.
"""
from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Invalid, NotFound
from ..models.base import LoadedModel, ModelLoadError
from ..store.blobs import BlobStore
from ..store.tables.records import DatasetExample, DatasetImage, Layer, LayerStage, Model, Unit
from .stimuli import StimulusError
from .tuning import LayerProber, TuningError, tuning_curve


@dataclass
class LayerRef:
    model: Model
    layer: Layer


def computed_layers(session: Session, model: Model) -> list[str]:
    """Layers whose dataset examples are stored (what 'computed' means for evidence)."""
    rows = session.execute(
        select(Layer.name).join(LayerStage, LayerStage.layer_id == Layer.id)
        .where(Layer.model_id == model.id, LayerStage.stage == "examples", LayerStage.status == "done")
        .order_by(Layer.position)
    )
    return [r[0] for r in rows]


def find_layer(session: Session, slug: str, layer: str, index: int | None = None) -> LayerRef:
    """The model and layer rows, or 404 (unknown) / 422 (not computed) naming the valid choices."""
    model = session.scalar(select(Model).where(Model.slug == slug))
    if model is None:
        slugs = list(session.scalars(select(Model.slug).order_by(Model.slug)))
        raise NotFound(f"No model '{slug}'. Models: {', '.join(slugs) or '(none computed yet)'}",
                            models=slugs)
    row = session.scalar(select(Layer).where(Layer.model_id == model.id, Layer.name == layer))
    done = computed_layers(session, model)
    if row is None:
        names = list(session.scalars(select(Layer.name).where(Layer.model_id == model.id).order_by(Layer.position)))
        raise NotFound(f"Model '{slug}' has no layer '{layer}'. Layers: {', '.join(names)}", layers=names)
    if layer not in done:
        raise Invalid(f"Layer '{layer}' of model '{slug}' is not computed (its dataset examples are not "
                                 f"stored), so it has no evidence yet. Computed layers: "
                                 f"{', '.join(done) or '(none)'}. Compute it with: circuitscope compute --model "
                                 f"{slug} --layers {layer}", computed_layers=done)
    if index is not None and not 0 <= index < row.channels:
        raise NotFound(f"Layer '{layer}' has {row.channels} units: the index must be between 0 and "
                                 f"{row.channels - 1}, not {index}.", channels=row.channels)
    return LayerRef(model, row)


# ------------------------------------------------------------------------------------------- models
_MODELS: OrderedDict[str, LoadedModel] = OrderedDict()
_PROBERS: OrderedDict[tuple[str, str], LayerProber] = OrderedDict()
_LOCK = threading.Lock()
MAX_MODELS, MAX_PROBERS = 2, 16


def load_stored_model(model: Model, data_dir: Path, device: str = "cpu") -> LoadedModel:
    """The network a stored model was computed from (its recorded source), cached (at most MAX_MODELS)."""
    from ..models.sources import load_model

    key = json.dumps([model.slug, model.source, device], sort_keys=True, default=str)
    with _LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    try:
        loaded = load_model(dict(model.source or {}), data_dir, device=device)
    except ModelLoadError as err:
        raise Invalid(f"Model '{model.slug}' cannot be loaded to run stimuli through it: {err}") from None
    except Exception as err:  # noqa: BLE001 - any failure to rebuild a stored model is the user's to fix
        raise Invalid(f"Model '{model.slug}' cannot be loaded from its recorded source "
                                 f"{model.source!r}: {type(err).__name__}: {err}") from None
    with _LOCK:
        _MODELS[key] = loaded
        while len(_MODELS) > MAX_MODELS:
            _MODELS.popitem(last=False)
    return loaded


def prober_for(ref: LayerRef, data_dir: Path, device: str = "cpu") -> LayerProber:
    loaded = load_stored_model(ref.model, data_dir, device)
    key = (json.dumps([ref.model.slug, ref.model.source, device], sort_keys=True, default=str), ref.layer.name)
    with _LOCK:
        prober = _PROBERS.get(key)
        if prober is not None and prober.model is loaded:
            _PROBERS.move_to_end(key)
            return prober
        prober = _PROBERS[key] = LayerProber(loaded, ref.layer.name)
        while len(_PROBERS) > MAX_PROBERS:
            _PROBERS.popitem(last=False)
    return prober


TopExample = tuple[Image.Image, tuple[float, float], str, float]


def top_example(session: Session, blobs: BlobStore, unit_id: int | None) -> TopExample | None:
    """(model-input image, receptive-field centre, dataset ref, stored activation) of the unit's best example."""
    if unit_id is None:
        return None
    row = session.execute(
        select(DatasetExample.box, DatasetExample.activation, DatasetImage.image_hash, DatasetImage.ref)
        .join(DatasetImage, DatasetImage.id == DatasetExample.dataset_image_id)
        .where(DatasetExample.unit_id == unit_id, DatasetExample.kind == "top").order_by(DatasetExample.rank).limit(1)
    ).first()
    if row is None:
        return None
    box, activation, digest, ref = row
    try:
        image = Image.open(io.BytesIO(blobs.path(digest).read_bytes()))
        image.load()
    except (FileNotFoundError, ValueError, OSError):
        return None
    x0, y0, x1, y1 = box
    return image, ((x0 + x1) / 2, (y0 + y1) / 2), ref, float(activation)


def unit_tuning(session: Session, data_dir: Path, blobs: BlobStore, slug: str, layer: str, index: int, param: str,
                stimulus: str = "auto", device: str = "cpu") -> dict[str, Any]:
    """One tuning curve of a stored unit (see tuning.tuning_curve), with the stored top activation for scale."""
    from .stimuli import check_kind

    try:
        check_kind(param, stimulus)
    except StimulusError as err:
        raise Invalid(str(err)) from None
    ref = find_layer(session, slug, layer, index)
    unit_id = session.scalar(select(Unit.id).where(Unit.layer_id == ref.layer.id, Unit.index == index))
    top = session.scalar(select(Unit.top_activation).where(Unit.id == unit_id)) if unit_id else None
    if stimulus == "auto":
        from .layer_job import stored_curve

        stored = stored_curve(data_dir, ref, index, param)
        if stored is not None:
            return {**stored, "model": slug, "top_activation": top}
    example = top_example(session, blobs, unit_id) if param == "rotation" else None
    prober = prober_for(ref, data_dir, device)
    try:
        out = tuning_curve(prober, index, param, stimulus, example[:3] if example else None)
    except (StimulusError, TuningError) as err:
        raise Invalid(str(err)) from None
    out.update(model=slug, top_activation=top)
    if example is not None:
        out["stimulus"]["stored_activation"] = example[3]
    return out
