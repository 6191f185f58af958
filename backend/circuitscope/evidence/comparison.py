"""The blind human comparison of a label (Curve Detectors): sample, blind task, answers, results.

1. **Sample** (`create_sample`): scan up to `max_images` images of the dataset the unit was computed on
   (seeded random subset), measure the unit's per-image spatial max - of the final ReLU's input when the
   layer ends in one, so silent images spread over negative values instead of piling up at 0 - cut the
   range into equal-width bins and draw `per_bin` images from each. Each item keeps its receptive-field crop
   and the full model-input image; the activation is stored but never sent with the task.
2. **Task** (`task`): the items in an order shuffled per annotator, without activation or bin.
3. **Answers** (`answer`): fits / partly / not, per item, label version and annotator (upserted).
4. **Results** (`label_results`): comparison_math.results over the label version's answers.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..activations import forward_until_pre_relu
from ..annotate.users import Identity
from ..datasets.loader import iterate_batches, model_transform
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..records import overlays
from ..store.blobs import BlobStore, image_url
from ..store.tables.annotation import Label, User
from ..store.tables.evidence import ANSWERS, ComparisonAnswer, ComparisonItem, ComparisonSample
from ..store.tables.records import Blob, Dataset, Run, Unit
from . import comparison_math as cm
from .unit_tuning import find_layer, load_stored_model

MAX_SCAN = 20000
MAX_PER_BIN = 50


def _put_blob(session: Session, blobs: BlobStore, data: bytes) -> str:
    stored = blobs.put(data)
    if session.get(Blob, stored.hash) is None:
        session.add(Blob(hash=stored.hash, size=stored.size, mime=stored.mime, width=stored.width,
                         height=stored.height))
        session.flush()
    return stored.hash


def _dataset_for(session: Session, model_id: int) -> Dataset:
    run = session.scalar(select(Run).where(Run.model_id == model_id).order_by(Run.id.desc()).limit(1))
    if run is None:
        raise Invalid("No run of this model is stored, so there is no dataset to sample images from.")
    ds = session.get(Dataset, run.dataset_id)
    if ds is None:
        raise Invalid("The dataset this model was computed on is no longer in the store.")
    return ds


@torch.no_grad()  # not inference_mode: the pre-ReLU recorder needs tensor version counters
def scan_unit(model, dataset, layer: str, channel: int, indices: list[int], batch_size: int = 64):
    """(dataset indices, per-image spatial max, (y, x) of it, measure) of one channel over `indices`."""
    out_idx: list[int] = []
    values: list[float] = []
    pos: list[tuple[int, int]] = []
    measure = "output"
    transform = model_transform(model.input_size)
    for idx, images in iterate_batches(dataset, transform, batch_size, indices=indices):
        outs, pres = forward_until_pre_relu(model.module, model.normalize(images.to(model.device)), [layer])
        act = pres.get(layer)
        if act is not None:
            measure = "pre_relu"
        else:
            act = outs[layer]
        a = act[:, channel].float()
        a = a.unsqueeze(-1).unsqueeze(-1) if a.dim() == 1 else (a.unsqueeze(-1) if a.dim() == 2 else a)
        flat = a.flatten(1)
        v, p = flat.max(dim=1)
        W = a.shape[-1]
        out_idx.extend(idx.tolist())
        values.extend(v.cpu().tolist())
        pos.extend((int(q) // W, int(q) % W) for q in p.cpu())
    return out_idx, np.asarray(values, dtype=np.float64), pos, measure


def create_sample(session: Session, data_dir, blobs: BlobStore, slug: str, layer: str, index: int,
                  who: Identity | None, per_bin: int = 8, bins: int = 10, max_images: int = 2000, seed: int = 0,
                  device: str = "cpu") -> ComparisonSample:
    """Scan, bin and sample (see the module docstring); one transaction writes the sample and its items."""
    from ..datasets import build_dataset
    from ..records.examples import receptive_field

    if not 1 <= per_bin <= MAX_PER_BIN:
        raise Invalid(f"per_bin must be from 1 to {MAX_PER_BIN} (got {per_bin}).")
    if not 2 <= bins <= 50:
        raise Invalid(f"bins must be from 2 to 50 (got {bins}).")
    if not 10 <= max_images <= MAX_SCAN:
        raise Invalid(f"max_images must be from 10 to {MAX_SCAN} (got {max_images}).")
    ref = find_layer(session, slug, layer, index)
    unit_id = session.scalar(select(Unit.id).where(Unit.layer_id == ref.layer.id, Unit.index == index))
    ds_row = _dataset_for(session, ref.model.id)
    try:
        dataset = build_dataset(dict(ds_row.spec))
    except Exception as err:  # noqa: BLE001 - a moved folder etc.: say which dataset and why
        raise Invalid(f"The dataset '{ds_row.slug}' this model was computed on cannot be opened: "
                                 f"{err}") from None
    model = load_stored_model(ref.model, data_dir, device)
    n = len(dataset)
    rng = np.random.default_rng(seed)
    indices = sorted(rng.choice(n, size=min(n, max_images), replace=False).tolist()) if n > max_images \
        else list(range(n))
    from .tuning import model_lock

    with model_lock(model):  # no traced forward of this model may overlap another (tuning requests)
        idx, values, pos, measure = scan_unit(model, dataset, layer, index, indices)
        rf = receptive_field(model, layer)
    if len(values) == 0:
        raise Invalid(f"No image of dataset '{ds_row.slug}' could be read; nothing was sampled.")
    summary = cm.bin_summary(values, bins)
    picked = cm.sample_per_bin(values, np.asarray(summary["edges"]), per_bin, seed)
    sample = ComparisonSample(unit_id=unit_id, model_slug=slug, layer_name=layer, unit_index=index,
                              dataset_id=ds_row.id, measure=measure, scanned=len(values), bins=summary,
                              params={"per_bin": per_bin, "bins": bins, "max_images": max_images, "seed": seed},
                              created_by=who.id if who else None)
    session.add(sample)
    session.flush()
    order = list(range(len(picked)))
    random.Random(seed).shuffle(order)  # stored order carries no hint of the bin
    transform = model_transform(model.input_size)
    bin_idx = cm.bin_of(values[picked], np.asarray(summary["edges"])) if picked else np.zeros(0, dtype=np.int64)
    for position, k in enumerate(order):
        j = picked[k]
        y, x = pos[j]
        image = overlays.to_pil(transform(dataset.load(idx[j])))
        box = rf.box(y, x)
        session.add(ComparisonItem(
            sample_id=sample.id, position=position, dataset_index=idx[j], ref=dataset.ref(idx[j]),
            activation=float(values[j]), bin=int(bin_idx[k]), y=y, x=x, box=list(box),
            crop_hash=_put_blob(session, blobs, overlays.encode_webp(overlays.crop_box(image, box, 96))),
            image_hash=_put_blob(session, blobs, overlays.encode_webp(image)),
        ))
    session.flush()
    return sample


# ----------------------------------------------------------------------------------------- reading
def latest_sample(session: Session, slug: str, layer: str, index: int) -> ComparisonSample | None:
    return session.scalar(
        select(ComparisonSample).where(ComparisonSample.model_slug == slug, ComparisonSample.layer_name == layer,
                                       ComparisonSample.unit_index == index)
        .order_by(ComparisonSample.id.desc()).limit(1))


def _label(session: Session, label_id: int, slug: str, layer: str, index: int) -> Label:
    label = session.get(Label, label_id)
    if label is None or (label.model_slug, label.layer_name, label.unit_index) != (slug, layer, index):
        raise NotFound(f"No label {label_id} on {slug} {layer}:{index}.")
    if label.deleted or not label.label.strip():
        raise Invalid(f"Label {label_id} is withdrawn or empty: there is nothing to compare against.")
    return label


def sample_dict(sample: ComparisonSample) -> dict[str, Any]:
    return {"id": sample.id, "measure": sample.measure, "scanned": sample.scanned, "items": len(sample.items),
            "params": sample.params, "created_at": sample.created_at.isoformat() if sample.created_at else None}


def task(session: Session, slug: str, layer: str, index: int, label_id: int, who: Identity | None) -> dict[str, Any]:
    """The blind task for one label: items (no activation, no bin) in this annotator's order + their answers."""
    label = _label(session, label_id, slug, layer, index)
    sample = latest_sample(session, slug, layer, index)
    base = {"label": {"id": label.id, "text": label.label, "version": label.version, "annotator": label.user.name,
                      "description": label.description}}
    if sample is None:
        return {**base, "sample": None, "items": [], "answers": {}}
    items = list(sample.items)
    random.Random(f"{sample.id}:{who.name if who else ''}").shuffle(items)
    from ..store.tables.records import Model

    size = session.scalar(select(Model.input_size).where(Model.slug == slug))
    mine: dict[int, str] = {}
    if who is not None:
        rows = session.execute(
            select(ComparisonAnswer.item_id, ComparisonAnswer.answer)
            .join(ComparisonItem, ComparisonItem.id == ComparisonAnswer.item_id)
            .where(ComparisonItem.sample_id == sample.id, ComparisonAnswer.label_id == label.id,
                   ComparisonAnswer.label_version == label.version, ComparisonAnswer.user_id == who.id))
        mine = {i: a for i, a in rows}
    return {**base, "sample": sample_dict(sample),
            "items": [{"id": it.id, "crop": image_url(it.crop_hash), "image": image_url(it.image_hash),
                       "box": it.box, "size": size, "ref": it.ref} for it in items],
            "answers": {str(k): v for k, v in mine.items()}}


def answer(session: Session, slug: str, layer: str, index: int, label_id: int, label_version: int, item_id: int,
           value: str, who: Identity) -> dict[str, Any]:
    if not who.has_role("annotator"):
        raise Forbidden(f"user {who.name!r} has role {who.role!r}; answering needs annotator or admin")
    if value not in ANSWERS:
        raise Invalid(f"answer must be one of {', '.join(ANSWERS)} (got {value!r}).")
    label = _label(session, label_id, slug, layer, index)
    if label.version != label_version:
        raise Conflict(f"The label changed since you loaded it (now version {label.version}: "
                                 f"'{label.label}'; you answered for version {label_version}). Answers are kept per "
                                 "label version: reload to compare the current wording.", version=label.version)
    item = session.get(ComparisonItem, item_id)
    sample = latest_sample(session, slug, layer, index)
    if item is None or sample is None or item.sample_id != sample.id:
        raise NotFound(f"Item {item_id} is not in the current comparison sample of {layer}:{index}.")
    session.execute(delete(ComparisonAnswer).where(
        ComparisonAnswer.item_id == item_id, ComparisonAnswer.label_id == label.id,
        ComparisonAnswer.label_version == label.version, ComparisonAnswer.user_id == who.id))
    session.add(ComparisonAnswer(item_id=item_id, label_id=label.id, label_version=label.version,
                                 label_text=label.label, user_id=who.id, answer=value))
    session.flush()
    done = session.scalar(
        select(func.count()).select_from(ComparisonAnswer)
        .join(ComparisonItem, ComparisonItem.id == ComparisonAnswer.item_id)
        .where(ComparisonItem.sample_id == sample.id, ComparisonAnswer.label_id == label.id,
               ComparisonAnswer.label_version == label.version, ComparisonAnswer.user_id == who.id))
    return {"item_id": item_id, "answer": value, "answered": int(done or 0), "items": len(sample.items)}


def _results_for(session: Session, sample: ComparisonSample, label_id: int, version: int) -> dict[str, Any]:
    rows = session.execute(
        select(ComparisonItem.bin, ComparisonAnswer.answer, User.name)
        .join(ComparisonAnswer, ComparisonAnswer.item_id == ComparisonItem.id)
        .join(User, User.id == ComparisonAnswer.user_id)
        .where(ComparisonItem.sample_id == sample.id, ComparisonAnswer.label_id == label_id,
               ComparisonAnswer.label_version == version))
    return cm.results(sample.bins, [cm.Answer(b, a, u) for b, a, u in rows])


def label_results(session: Session, slug: str, layer: str, index: int, label_id: int,
                  version: int | None = None) -> dict[str, Any]:
    """Results of a label version (default: its current one) on the unit's current sample."""
    label = _label(session, label_id, slug, layer, index)
    version = version or label.version
    sample = latest_sample(session, slug, layer, index)
    if sample is None:
        raise NotFound(f"No comparison sample for {layer}:{index} yet: create one first.")
    out = _results_for(session, sample, label.id, version)
    text = session.scalar(select(ComparisonAnswer.label_text).where(
        ComparisonAnswer.label_id == label.id, ComparisonAnswer.label_version == version).limit(1))
    return {"label": {"id": label.id, "version": version, "text": text or label.label,
                      "current_version": label.version},
            "sample": sample_dict(sample), "measure": sample.measure, "scan_bins": sample.bins, **out}


def share_by_label(session: Session, label_ids: list[int]) -> dict[int, dict[str, Any]]:
    """label id -> {"human_share", "human_answers", "human_coverage", "human_version"} for the label's
    current version on its unit's latest sample (absent: no answers for that version)."""
    out: dict[int, dict[str, Any]] = {}
    if not label_ids:
        return out
    labels = list(session.scalars(select(Label).where(Label.id.in_(label_ids))))
    answered = {r[0] for r in session.execute(
        select(ComparisonAnswer.label_id).where(ComparisonAnswer.label_id.in_(label_ids)).distinct())}
    for label in labels:
        if label.id not in answered:
            continue
        sample = latest_sample(session, label.model_slug, label.layer_name, label.unit_index)
        if sample is None:
            continue
        res = _results_for(session, sample, label.id, label.version)
        if res["answers"]:
            out[label.id] = {"human_share": res["label_share"], "human_answers": res["answers"],
                             "human_coverage": res["coverage"], "human_version": label.version,
                             "human_annotators": len(res["annotators"])}
    return out
