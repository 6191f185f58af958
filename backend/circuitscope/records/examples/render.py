"""Pass 2: load only the winning images again and render each unit's examples (crop, image, overlay)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from circuitscope.activations.capture import forward_until, forward_until_pre_relu
from circuitscope.datasets.base import ImageDataset
from circuitscope.datasets.loader import SkippedImages, iterate_batches, model_transform
from circuitscope.models.base import LoadedModel
from circuitscope.records import overlays
from circuitscope.records.examples.receptive_field import receptive_field
from circuitscope.records.examples.record import QUANTILE_RANK_STRIDE, ExampleRecord
from circuitscope.records.examples.skips import ForwardSkips
from circuitscope.records.examples.tally import LayerTallies
from circuitscope.records.topk import TopKEntry

__all__ = ["iter_examples", "render_all_examples", "render_examples"]


def _channel_scales(t: LayerTallies) -> np.ndarray:
    """Per channel, the |activation| drawn at full overlay opacity: the largest |max| or |min| seen."""
    top1 = t.top.values[:, 0].abs().cpu().float().numpy()
    bot1 = t.bottom.values[:, 0].abs().cpu().float().numpy()
    s = np.maximum(np.where(np.isfinite(top1), top1, 0), np.where(np.isfinite(bot1), bot1, 0))
    return np.where(s > 0, s, 1.0)


def iter_examples(
    model: LoadedModel,
    dataset: ImageDataset,
    tallies: dict[str, LayerTallies],
    device: str | torch.device | None = None,
    batch_size: int = 32,
    channels: dict[str, list[int]] | None = None,
    kinds: tuple[str, ...] = ("top", "bottom", "quantile"),
    crop_min_size: int = 64,
    skipped: Any = None,
    per_decile: int = 5,
) -> Iterator[ExampleRecord]:
    """Yield ExampleRecords for the winners of every layer in `tallies`, image batch by image batch.

    Each winning image is loaded and forwarded once for all layers; its encoded image is shared by
    all its records. `channels` restricts the channels per layer (default: all). "quantile" records
    (tallies with a sample) are `per_decile` images per decile; rank = decile * QUANTILE_RANK_STRIDE + slot.
    """
    if device is not None:
        model.module.to(device)
    dev = model.device
    module = model.module.eval()
    layers = list(tallies)
    jobs: dict[int, list[tuple[str, int, str, int, TopKEntry]]] = {}
    for name, t in tallies.items():
        chans = range(t.num_channels) if channels is None or name not in channels else channels[name]
        lists = {"top": t.top.result(), "bottom": t.bottom.result()}
        for kind in kinds:
            for c in chans:
                if kind == "quantile":
                    if t.sample is not None:
                        for p in t.sample.picks(c, per_decile):
                            rank = p.decile * QUANTILE_RANK_STRIDE + p.slot
                            jobs.setdefault(p.entry.image_index, []).append((name, c, kind, rank, p.entry))
                    continue
                for rank, e in enumerate(lists[kind][c]):
                    jobs.setdefault(e.image_index, []).append((name, c, kind, rank, e))
    if not jobs:
        return
    rfs = {name: receptive_field(model, name) for name in layers}
    scales = {name: _channel_scales(t) for name, t in tallies.items()}
    order = sorted(jobs)
    S = model.input_size
    pre_layers = [n for n, t in tallies.items() if t.bottom_measure == "pre_relu" and "bottom" in kinds]
    own_skipped = SkippedImages()
    report_skips = ForwardSkips(own_skipped, skipped)
    for idx, imgs in iterate_batches(
        dataset, model_transform(S), batch_size, 0, skipped=own_skipped, indices=order
    ):
        report_skips()
        if pre_layers:  # no_grad: inference tensors have no version counter, which the ReLU check reads
            with torch.no_grad():
                acts, pres = forward_until_pre_relu(module, model.normalize(imgs.to(dev)), layers, pre_layers)
        else:
            with torch.inference_mode():
                acts, pres = forward_until(module, model.normalize(imgs.to(dev)), layers), {}
        for name in pre_layers:
            if pres.get(name) is None:
                raise RuntimeError(f"Layer '{name}' ended in a ReLU in the examples pass but not when rendering.")
        maps: dict[tuple[str, str], np.ndarray] = {}
        for key, a in [((n, "output"), a) for n, a in acts.items()] + [((n, "pre_relu"), pres[n]) for n in pre_layers]:
            assert a is not None  # a missing pre-ReLU map was refused above
            a = a.float()
            if a.dim() == 2:
                a = a[:, :, None, None]
            elif a.dim() == 3:
                a = a[..., None]
            maps[key] = a.cpu().numpy()
        for b, i in enumerate(idx.tolist()):
            pil = overlays.to_pil(imgs[b])
            image_webp = overlays.encode_webp(pil)
            ref = dataset.ref(i)
            label = dataset.label(i)
            attrs = dataset.attributes(i)
            heat_cache: dict[tuple[str, int, str], bytes] = {}
            for name, c, kind, rank, e in jobs[i]:
                box = rfs[name].box(e.y, e.x)
                measure = tallies[name].bottom_measure if kind == "bottom" else "output"
                hkey = (name, c, measure)
                if hkey not in heat_cache:
                    heat = overlays.heatmap_rgba(maps[(name, measure)][b, c], scales[name][c], pil.size)
                    heat_cache[hkey] = overlays.encode_webp(heat, lossless=True)
                yield ExampleRecord(
                    layer=name,
                    channel=c,
                    kind=kind,
                    rank=rank,
                    image_index=i,
                    image_ref=ref,
                    activation=e.value,
                    y=e.y,
                    x=e.x,
                    box=box,
                    crop_webp=overlays.encode_webp(overlays.crop_box(pil, box, crop_min_size)),
                    image_webp=image_webp,
                    heatmap_webp=heat_cache[hkey],
                    label=label,
                    attributes=attrs,
                    measure=measure,
                )
    report_skips()


def render_all_examples(
    model: LoadedModel,
    dataset: ImageDataset,
    tallies: dict[str, LayerTallies],
    **kwargs: Any,
) -> dict[str, dict[int, list[ExampleRecord]]]:
    """{layer: {channel: [records]}} for several layers in one pass; per channel top then bottom, by rank."""
    out: dict[str, dict[int, list[ExampleRecord]]] = {name: {} for name in tallies}
    for rec in iter_examples(model, dataset, tallies, **kwargs):
        out[rec.layer].setdefault(rec.channel, []).append(rec)
    kind_order = {"top": 0, "bottom": 1}
    for per_layer in out.values():
        for recs in per_layer.values():
            recs.sort(key=lambda r: (kind_order.get(r.kind, 2), r.rank))
    return out


def render_examples(
    model: LoadedModel,
    dataset: ImageDataset,
    layer: str,
    tallies: LayerTallies,
    device: str | torch.device | None = None,
    batch_size: int = 32,
    channels: list[int] | None = None,
    kinds: tuple[str, ...] = ("top", "bottom", "quantile"),
    crop_min_size: int = 64,
    skipped: Any = None,
    per_decile: int = 5,
) -> dict[int, list[ExampleRecord]]:
    """{channel: [records]} for one layer (top, bottom, then quantile, by rank)."""
    return render_all_examples(
        model,
        dataset,
        {layer: tallies},
        device=device,
        batch_size=batch_size,
        channels=None if channels is None else {layer: channels},
        kinds=kinds,
        crop_min_size=crop_min_size,
        skipped=skipped,
        per_decile=per_decile,
    )[layer]
