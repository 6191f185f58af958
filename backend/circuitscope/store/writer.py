"""Write engine records into the store. Each function runs inside the caller's transaction, so a
layer's (or a chunk's) records appear all at once or not at all."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from .base import utcnow
from .blobs import BlobStore, StoredBlob
from .tables.records import (
    Blob,
    Connection,
    Dataset,
    DatasetExample,
    DatasetImage,
    FeatureVis,
    FeatureVisFailure,
    Layer,
    LayerStage,
    Model,
    Unit,
)


def finite(value: Any) -> Any:
    """JSON-safe copy: NaN and +-Infinity become None (PostgreSQL's JSON refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def store_blob(session: Session, blobs: BlobStore, data: bytes) -> str:
    """Put bytes in the blob store (file first, so a committed row never points at a missing file)."""
    stored: StoredBlob = blobs.put(data)
    known: set[str] = session.info.setdefault("blob_hashes", set())  # rows added in this session
    if stored.hash not in known:
        if session.get(Blob, stored.hash) is None:
            session.add(Blob(hash=stored.hash, size=stored.size, mime=stored.mime,
                             width=stored.width, height=stored.height))
        known.add(stored.hash)
    return stored.hash


def get_or_create_model(session: Session, slug: str, source: dict[str, Any], **fields: Any) -> Model:
    model = session.scalar(select(Model).where(Model.slug == slug))
    if model is None:
        model = Model(slug=slug, source=source, **fields)
        session.add(model)
        session.flush()
    return model


def get_or_create_dataset(session: Session, slug: str, spec: dict[str, Any], num_images: int, classes) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
    if dataset is None:
        dataset = Dataset(slug=slug, spec=spec, num_images=num_images, classes=classes)
        session.add(dataset)
        session.flush()
    return dataset


def sync_layers(session: Session, model: Model, infos: Sequence[Any]) -> dict[str, Layer]:
    """Create the model's layer rows from discovery (LayerInfo objects); existing rows are kept."""
    existing = {layer.name: layer for layer in session.scalars(select(Layer).where(Layer.model_id == model.id))}
    for info in infos:
        if info.name not in existing:
            layer = Layer(
                model_id=model.id,
                name=info.name,
                position=info.order,
                module_type=info.module_type,
                output_shape=list(info.output_shape),
                channels=int(info.channels),
            )
            session.add(layer)
            existing[info.name] = layer
    session.flush()
    return existing


def ensure_units(session: Session, layer: Layer) -> dict[int, Unit]:
    units = {u.index: u for u in session.scalars(select(Unit).where(Unit.layer_id == layer.id))}
    missing = [i for i in range(layer.channels) if i not in units]
    for i in missing:
        units[i] = Unit(layer_id=layer.id, index=i)
        session.add(units[i])
    if missing:
        session.flush()
    return units


def get_stage(session: Session, layer: Layer, stage: str) -> LayerStage:
    row = session.scalar(select(LayerStage).where(LayerStage.layer_id == layer.id, LayerStage.stage == stage))
    if row is None:
        row = LayerStage(layer_id=layer.id, stage=stage, status="pending", params={}, units_total=layer.channels)
        session.add(row)
        session.flush()
    return row


def stage_is_done(session: Session, layer: Layer, stage: str, params: dict[str, Any]) -> bool:
    row = session.scalar(select(LayerStage).where(LayerStage.layer_id == layer.id, LayerStage.stage == stage))
    return row is not None and row.status == "done" and row.params == params


def mark_stage(session: Session, layer: Layer, stage: str, *, status: str, params: dict[str, Any],
               run_id: int | None, units_done: int) -> None:
    row = get_stage(session, layer, stage)
    if row.params != params:  # different settings: earlier partial progress does not count
        row.units_done = 0
    row.status, row.params, row.run_id = status, params, run_id
    row.units_done, row.units_total, row.updated_at = units_done, layer.channels, utcnow()


def write_layer_examples(
    session: Session,
    blobs: BlobStore,
    dataset: Dataset,
    units: dict[int, Unit],
    examples: dict[int, list[Any]],
    stats: dict[int, dict[str, Any]],
) -> int:
    """Replace the dataset examples and statistics of a layer's units. Returns rows written."""
    unit_ids = [u.id for u in units.values()]
    session.execute(delete(DatasetExample).where(DatasetExample.unit_id.in_(unit_ids)))
    images: dict[int, DatasetImage] = {
        img.index: img
        for img in session.scalars(
            select(DatasetImage).where(
                DatasetImage.dataset_id == dataset.id,
                DatasetImage.index.in_({r.image_index for recs in examples.values() for r in recs}),
            )
        )
    }
    rows = 0
    for channel, records in examples.items():
        unit = units[channel]
        for rec in records:
            image = images.get(rec.image_index)
            if image is None:
                image = DatasetImage(
                    dataset_id=dataset.id,
                    index=rec.image_index,
                    ref=rec.image_ref,
                    label=getattr(rec, "label", None),
                    attributes=getattr(rec, "attributes", None) or {},
                    image_hash=store_blob(session, blobs, rec.image_webp),
                )
                session.add(image)
                session.flush()
                images[rec.image_index] = image
            session.add(
                DatasetExample(
                    unit_id=unit.id,
                    kind=rec.kind,
                    rank=rec.rank,
                    dataset_image_id=image.id,
                    activation=float(rec.activation),
                    y=int(rec.y),
                    x=int(rec.x),
                    box=[int(v) for v in rec.box],
                    crop_hash=store_blob(session, blobs, rec.crop_webp),
                    heatmap_hash=store_blob(session, blobs, rec.heatmap_webp),
                )
            )
            rows += 1
    for channel, s in stats.items():
        unit = units[channel]
        for key in ("mean", "std", "min", "max", "sparsity", "quantiles", "histogram", "max_histogram"):
            setattr(unit, key, finite(s.get(key)))
        tops = [r.activation for r in examples.get(channel, []) if r.kind == "top"]
        unit.top_activation = finite(float(max(tops)) if tops else s.get("max"))
    return rows


def write_featurevis(
    session: Session, blobs: BlobStore, units: dict[int, Unit], records: Iterable[Any], params: dict[str, Any],
    notes: dict[tuple[int, str, int], str | None] | None = None,
) -> int:
    """Store renders (replacing the unit's earlier image for the same objective and variant), each with
    its fidelity (peak / the unit's top dataset example) and the note the caller knows (``notes`` by
    (channel, objective, variant)). A record with ``failure`` is stored as a FeatureVisFailure, not an image.
    ``params`` maps an objective to the params stored with its rows (or is one dict for all)."""
    from ..records.featurevis.fidelity import fidelity_ratio

    written = 0
    for rec in records:
        unit = units[rec.channel]
        per_objective = params.get(rec.objective)
        p = per_objective if isinstance(per_objective, dict) else params
        failure = getattr(rec, "failure", None)
        if failure:
            session.execute(delete(FeatureVis).where(FeatureVis.unit_id == unit.id, FeatureVis.objective == rec.objective))
            session.execute(delete(FeatureVisFailure).where(FeatureVisFailure.unit_id == unit.id,
                                                           FeatureVisFailure.objective == rec.objective))
            session.flush()
            session.add(FeatureVisFailure(unit_id=unit.id, objective=rec.objective, reason=str(failure)[:500], params=p))
            written += 1
            continue
        session.execute(delete(FeatureVisFailure).where(FeatureVisFailure.unit_id == unit.id,
                                                       FeatureVisFailure.objective == rec.objective))
        session.execute(
            delete(FeatureVis).where(
                FeatureVis.unit_id == unit.id, FeatureVis.objective == rec.objective, FeatureVis.variant == rec.variant
            )
        )
        peak = None if getattr(rec, "peak", None) is None else finite(float(rec.peak))
        note = (notes or {}).get((rec.channel, rec.objective, rec.variant))
        session.add(
            FeatureVis(
                unit_id=unit.id,
                objective=rec.objective,
                variant=rec.variant,
                image_hash=store_blob(session, blobs, rec.image_webp),
                activation=float(rec.activation),
                peak=peak,
                fidelity=finite(fidelity_ratio(peak, unit.top_activation)),
                note=note[:300] if note else None,
                params=p,
            )
        )
        written += 1
    return written


def featurevis_done(session: Session, units: dict[int, Unit], row_params: dict[str, dict[str, Any]],
                    variants: dict[str, int]) -> dict[int, set[str]]:
    """Per channel, the objectives whose renders (``variants[o]`` images) or failure are all stored with
    ``row_params[o]``: what a resumed or re-configured run can skip. A changed setting of one objective
    re-renders only that objective."""
    by_id = {u.id: idx for idx, u in units.items()}
    ids = list(by_id)
    counts: dict[tuple[int, str], int] = {}
    for unit_id, objective, p in session.execute(
            select(FeatureVis.unit_id, FeatureVis.objective, FeatureVis.params).where(FeatureVis.unit_id.in_(ids))):
        if objective in row_params and p == row_params[objective]:
            counts[(unit_id, objective)] = counts.get((unit_id, objective), 0) + 1
    for unit_id, objective, p in session.execute(
            select(FeatureVisFailure.unit_id, FeatureVisFailure.objective, FeatureVisFailure.params)
            .where(FeatureVisFailure.unit_id.in_(ids))):
        if objective in row_params and p == row_params[objective]:
            counts[(unit_id, objective)] = variants[objective]
    done: dict[int, set[str]] = {}
    for (unit_id, objective), n in counts.items():
        if n >= variants[objective]:
            done.setdefault(by_id[unit_id], set()).add(objective)
    return done


def units_with_featurevis(session: Session, units: dict[int, Unit], expected: int, params: dict[str, Any]) -> set[int]:
    """Channels whose renders are all present with these params (one params dict for every objective)."""
    by_id = {u.id: idx for idx, u in units.items()}
    counts: dict[int, int] = {}
    for unit_id, p in session.execute(select(FeatureVis.unit_id, FeatureVis.params).where(FeatureVis.unit_id.in_(list(by_id)))):
        if p == params:
            counts[unit_id] = counts.get(unit_id, 0) + 1
    return {by_id[uid] for uid, n in counts.items() if n >= expected}


def write_connections(
    session: Session, src_units: dict[int, Unit], dst_units: dict[int, Unit], connections: Iterable[Any]
) -> int:
    """Replace all connections from the src layer's units into the dst layer's units."""
    session.execute(
        delete(Connection).where(
            Connection.src_unit_id.in_([u.id for u in src_units.values()]),
            Connection.dst_unit_id.in_([u.id for u in dst_units.values()]),
        )
    )
    seen: set[tuple[int, int]] = set()
    rows = []
    for c in connections:
        key = (c.src_channel, c.dst_channel)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            dict(
                src_unit_id=src_units[c.src_channel].id,
                dst_unit_id=dst_units[c.dst_channel].id,
                kind=c.kind,
                strength=float(c.strength),
                l2=float(c.l2),
                kernel=finite(c.kernel),
            )
        )
    if rows:
        session.execute(cast(Table, Connection.__table__).insert(), rows)
    return len(rows)


def write_input_kernels(units: dict[int, Unit], kernels: Any) -> int:
    """Store each unit's weights on the image channels ([units, channels, kh, kw] array). Returns units written."""
    for channel, unit in units.items():
        unit.input_kernel = [[[float(v) for v in row] for row in ch] for ch in kernels[channel]]
    return len(units)
