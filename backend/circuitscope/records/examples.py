"""Dataset examples: one streaming pass for all layers, then a short render pass over the winners.

Pass 1 (`compute_dataset_examples`): the dataset is read once, in index order, in batches; the
forward pass stops after the deepest requested layer. For every layer and channel it keeps
  * top-k: the images with the highest spatial MAX of the channel (position = argmax),
  * bottom-k: the images with the lowest spatial MIN (position = argmin) - the most negative
    response (Distill's "Feature Visualization" appendix). On a layer that ends in a ReLU (see
    activations/relu.py; detected on the first batch) that is the min of the final ReLU's *input*,
    the pre-activation (``bottom_measure == "pre_relu"``; the records' ``activation`` is then that
    negative value): the post-ReLU min is 0 for almost every image. Ties are broken by the lower
    spatial mean of the layer's output, then by the lower image index (top-k ties: higher spatial
    mean, then lower index),
  * RunningStats (count / mean / std / min / max / sparsity, quantile + histogram sketch, and a
    sketch of the per-image spatial max).
Everything per batch is a few vectorised reductions on the device; state is O(channels x k) plus
fixed-size sketches, independent of the dataset size. With `checkpoint_path` the tallies and the
position in the dataset are saved atomically every `checkpoint_every` batches (and at the end); a
later call with the same path continues from there and gives the same result as one uninterrupted
pass (batches are fixed index ranges, so even float sums are grouped identically).

Pass 2 (`render_examples` / `render_all_examples` / `iter_examples`): only the winning images are
loaded again, batched, each forwarded once for all requested layers; for every (layer, channel,
kind, rank) it produces an `ExampleRecord` with the receptive-field box, a crop, the full image
and a red/blue activation overlay.
"""
from __future__ import annotations

import json
import logging
import math
import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from circuitscope.activations.capture import forward_until, forward_until_pre_relu
from circuitscope.datasets.base import DatasetError, ImageDataset
from circuitscope.datasets.loader import SkippedImages, iterate_batches, model_transform
from circuitscope.models.base import LoadedModel
from circuitscope.records import overlays
from circuitscope.records.stats import RunningStats, Scratch, summarize
from circuitscope.records.topk import RunningTopK, TopKEntry

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "ExampleRecord",
    "LayerTallies",
    "ReceptiveField",
    "compute_dataset_examples",
    "iter_examples",
    "receptive_field",
    "render_all_examples",
    "render_examples",
]

CHECKPOINT_FORMAT = "circuitscope.examples/1"


def _candidate_positions(
    x: torch.Tensor, v: torch.Tensor, t: torch.Tensor, idx: torch.Tensor, kept: RunningTopK, largest: bool
) -> torch.Tensor:
    """argmax (argmin) over positions of the maps that would enter the list, i.e. whose (value,
    tiebreak, index) beats the k-th kept entry of their channel; 0 elsewhere (those are not kept)."""
    B, C, L = x.shape
    wv, wt, wi = kept.values[:, -1], kept.tiebreak[:, -1], kept.index[:, -1]
    i = idx.view(B, 1)
    if largest:
        mask = (v > wv) | ((v == wv) & ((t > wt) | ((t == wt) & (i < wi))))
    else:
        mask = (v < wv) | ((v == wv) & ((t < wt) | ((t == wt) & (i < wi))))
    nz = mask.nonzero()
    if nz.shape[0] * 4 >= B * C:  # most maps are candidates (first batches): one full pass
        return x.argmax(dim=2) if largest else x.argmin(dim=2)
    pos = torch.zeros((B, C), dtype=torch.int64, device=x.device)
    if nz.shape[0]:
        rows = x[nz[:, 0], nz[:, 1]]
        pos[nz[:, 0], nz[:, 1]] = rows.argmax(dim=1) if largest else rows.argmin(dim=1)
    return pos


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
@dataclass
class LayerTallies:
    """Everything pass 1 keeps for one layer. `top[c]` / `bottom[c]` are lists of TopKEntry, best first."""

    layer: str
    num_channels: int
    map_shape: tuple[int, int]  # (H, W) of the activation map; (1, 1) for a [B, C] output
    top: RunningTopK
    bottom: RunningTopK
    running: RunningStats
    bottom_measure: str = "output"  # what bottom-k ranks: the output's or ("pre_relu") the final ReLU input's min

    @classmethod
    def create(
        cls,
        layer: str,
        num_channels: int,
        map_shape: tuple[int, int],
        k: int,
        device: str | torch.device = "cpu",
        hist_positions: int | None = 64,
        bottom_measure: str = "output",
    ) -> "LayerTallies":
        if bottom_measure not in ("output", "pre_relu"):
            raise ValueError(f"bottom_measure must be 'output' or 'pre_relu', not {bottom_measure!r}")
        return cls(
            layer,
            int(num_channels),
            (int(map_shape[0]), int(map_shape[1])),
            RunningTopK(num_channels, k, largest=True, device=device),
            RunningTopK(num_channels, k, largest=False, device=device),
            RunningStats(num_channels, device=device, hist_positions=hist_positions),
            bottom_measure,
        )

    @property
    def k(self) -> int:
        return self.top.k

    @property
    def images(self) -> int:
        return int(self.running.images)

    def stats(self, channel: int) -> dict[str, Any]:
        """JSON-able statistics of one channel (see RunningStats.results for the keys)."""
        return self.running.result(channel)

    def all_stats(self) -> list[dict[str, Any]]:
        return self.running.results()

    def update(
        self, act: torch.Tensor, image_idx: torch.Tensor, scratch: Scratch | None = None,
        pre: torch.Tensor | None = None,
    ) -> None:
        """Fold in one batch of this layer's output [B, C, H, W] / [B, C, L] / [B, C]; with
        ``bottom_measure == "pre_relu"``, ``pre`` (the final ReLU's input, same shape) is required."""
        x = act.flatten(2) if act.dim() > 2 else act.unsqueeze(-1)
        if x.dtype != torch.float32:
            x = x.float()
        W = act.shape[3] if act.dim() == 4 else 1
        on_cpu = x.device.type == "cpu"
        xb = x  # what bottom-k ranks
        if self.bottom_measure == "pre_relu":
            if pre is None or pre.shape != act.shape:
                raise RuntimeError(f"Layer '{self.layer}' ended in a ReLU on the first batch but not on this one.")
            xb = pre.flatten(2) if pre.dim() > 2 else pre.unsqueeze(-1)
            if xb.dtype != torch.float32:
                xb = xb.float()
        # On accelerators argmax/argmin come with the max/min reduction (no host sync); on CPU they
        # cost a slow pass each, so they are computed only for maps that can enter a top/bottom list.
        s = summarize(x, self.running.sample_stride(act), scratch, positions=not on_cpu)
        if xb is x:
            bmin = s.min
        elif on_cpu:
            bmin = xb.amin(dim=2)  # the one extra reduction of a layer that ends in a ReLU
        else:
            bmin, bpos = xb.min(dim=2)
        if on_cpu:
            amax = _candidate_positions(x, s.max, s.mean, image_idx, self.top, largest=True)
            amin = _candidate_positions(xb, bmin, s.mean, image_idx, self.bottom, largest=False)
        else:
            amax, amin = s.argmax, (s.argmin if xb is x else bpos)
        self.top.update(s.max, image_idx, amax // W, amax % W, tiebreak=s.mean)
        self.bottom.update(bmin, image_idx, amin // W, amin % W, tiebreak=s.mean)
        self.running.update_from_summary(s)

    def merge(self, other: "LayerTallies") -> "LayerTallies":
        """Fold in another shard's tallies of the same layer (disjoint image sets)."""
        if (other.layer, other.num_channels) != (self.layer, self.num_channels):
            raise ValueError("cannot merge tallies of different layers")
        if other.bottom_measure != self.bottom_measure:
            raise ValueError("cannot merge tallies whose bottom-k rank different measures")
        self.top.merge(other.top)
        self.bottom.merge(other.bottom)
        self.running.merge(other.running)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "num_channels": self.num_channels,
            "map_shape": list(self.map_shape),
            "top": self.top.state_dict(),
            "bottom": self.bottom.state_dict(),
            "running": self.running.state_dict(),
            "bottom_measure": self.bottom_measure,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "LayerTallies":
        running = RunningStats(
            state["num_channels"], device=device, hist_positions=state["running"].get("hist_positions")
        )
        running.load_state_dict(state["running"])
        return cls(
            state["layer"],
            int(state["num_channels"]),
            tuple(state["map_shape"]),
            RunningTopK.from_state_dict(state["top"], device),
            RunningTopK.from_state_dict(state["bottom"], device),
            running,
            state.get("bottom_measure", "output"),
        )


@dataclass
class ExampleRecord:
    """One dataset example of one unit, ready to store."""

    layer: str
    channel: int
    kind: str  # "top" | "bottom"
    rank: int  # 0 = best
    image_index: int
    image_ref: str
    activation: float  # spatial max (top) / spatial min (bottom) of the channel on this image, of `measure`
    y: int  # position of that value in the activation map
    x: int
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) receptive field in input pixels, x1/y1 exclusive
    crop_webp: bytes  # the box cropped from the model-input image, upsampled to >= 64 px (lossy)
    image_webp: bytes  # the full model-input image (lossy); same bytes object for every record of an image
    heatmap_webp: bytes  # RGBA overlay of the channel's map (of `measure`) at image size (lossless): red +, blue -
    label: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # which map `activation`, (y, x) and the heatmap are of: the layer's "output", or ("pre_relu",
    # bottom examples of a layer that ends in a ReLU) the final ReLU's input
    measure: str = "output"


# ---------------------------------------------------------------------------------------------
# Loading (datasets/loader.py: index-ordered batches, unreadable images skipped and collected)
# ---------------------------------------------------------------------------------------------
class _Forward:
    """Hands what the loader's collector gained since the last call on to the caller's collector
    (an object with .add(ref, reason), e.g. SkippedImages, or a list of (ref, reason))."""

    def __init__(self, own: SkippedImages, target: Any):
        self.own, self.target, self.done = own, target, 0

    def __call__(self) -> None:
        new = self.own.items[self.done :]
        self.done += len(new)
        if self.target is None:
            return
        for ref, reason in new:
            if hasattr(self.target, "add"):
                self.target.add(ref, reason)
            else:
                self.target.append((ref, reason))


# ---------------------------------------------------------------------------------------------
# Pass 1: the streaming tallies
# ---------------------------------------------------------------------------------------------
@contextmanager
def _intra_op_threads(n: int | None):
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fingerprint(model: LoadedModel, dataset: ImageDataset, layers: list[str], k: int, hist_positions) -> str:
    try:
        desc = dataset.describe()
    except Exception:  # noqa: BLE001 - a dataset without describe() still checkpoints by name/length
        desc = getattr(dataset, "name", "")
    return json.dumps(
        {
            "model": model.name,
            "input_size": model.input_size,
            "dataset": desc,
            "num_images": len(dataset),
            "layers": list(layers),
            "k": k,
            "hist_positions": hist_positions,
            "bottom": "pre_relu_if_final_relu",
        },
        sort_keys=True,
        default=str,
    )


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path | None, fingerprint: str) -> dict[str, Any] | None:
    if path is None or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a torn/corrupt checkpoint is ignored, not fatal
        log.warning("ignoring unreadable checkpoint %s (%s); starting over", path, e)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
        log.warning("checkpoint %s was made for different settings; starting over", path)
        return None
    return state


def compute_dataset_examples(
    model: LoadedModel,
    dataset: ImageDataset,
    layers: list[str],
    k: int = 10,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    checkpoint_path: Path | str | None = None,
    checkpoint_every: int = 50,
    skipped: Any = None,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    num_workers: int = 0,
    hist_positions: int | None = 64,
    shard: tuple[int, int] | None = None,
    tally_threads: int | None = 1,
) -> dict[str, LayerTallies]:
    """One streaming pass over `dataset` for all `layers`; returns {layer: LayerTallies}.

    skipped: collector for unreadable images: an object with .add(ref, reason) (SkippedImages) or a
      list of (ref, reason); on resume the ones met before the checkpoint are reported again, once.
    on_batch(images_consumed, total): called after every batch (and after its checkpoint); an
      exception raised there aborts the pass, which a later call with the same checkpoint resumes.
    hist_positions: maps with more positions feed a fixed sample of about this many positions per
      image to the quantile/histogram sketch (all other statistics use every position); None = all.
    shard: (i, n) processes only the i-th of n contiguous index ranges; merge the shards' tallies
      with LayerTallies.merge (top/bottom-k exactly equal to one pass; stats equal to rounding).
    tally_threads: on CPU, torch intra-op threads for the per-batch tallies (the forward keeps
      torch's setting); None = torch's setting. The tallies are a dozen cheap memory-bound passes
      per layer; 1 thread avoids an OpenMP barrier per pass, which is what costs on a loaded
      machine (2x less overhead on the shared 2-core box). On an idle many-core CPU, None may be faster.
    """
    layers = list(dict.fromkeys(layers))
    if not layers:
        raise ValueError("no layers requested")
    device = torch.device(device)
    module = model.module.to(device).eval()
    n_all = len(dataset)
    lo, hi = 0, n_all
    if shard is not None:
        i_shard, n_shards = shard
        if not 0 <= i_shard < n_shards:
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, not {shard}")
        lo, hi = i_shard * n_all // n_shards, (i_shard + 1) * n_all // n_shards
    fp = _fingerprint(model, dataset, layers, k, hist_positions) + f"|range={lo}:{hi}"
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None

    tallies: dict[str, LayerTallies] = {}
    start, n_batches, images_ok = lo, 0, 0
    own_skipped = SkippedImages()
    state = _load_checkpoint(ckpt, fp)
    if state is not None:
        start, n_batches = int(state["next_index"]), int(state["batches"])
        images_ok = int(state["images"])
        own_skipped.items = [tuple(x) for x in state["skipped"]]
        tallies = {name: LayerTallies.from_state_dict(st, device) for name, st in state["layers"].items()}
        log.info("resuming dataset examples at image %d of %d", start, hi)
    report_skips = _Forward(own_skipped, skipped)
    report_skips()

    def save(next_index: int) -> None:
        if ckpt is None:
            return
        _save_checkpoint(
            ckpt,
            {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": fp,
                "next_index": next_index,
                "batches": n_batches,
                "images": images_ok,
                "skipped": [list(x) for x in own_skipped.items],
                "layers": {name: t.state_dict() for name, t in tallies.items()},
            },
        )

    # The loader cuts range(start, hi) into fixed chunks of batch_size (a chunk whose images all
    # failed is not yielded), so a batch's chunk, and the position after it, follow from its first index.
    batches = iterate_batches(
        dataset, model_transform(model.input_size), batch_size, num_workers, skipped=own_skipped,
        indices=range(start, hi),
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=hi - lo, initial=start - lo, unit="img", desc="dataset examples", leave=False)
    scratch = Scratch()
    position = start
    try:
        # no_grad rather than inference_mode: tallies created here must stay usable (merge,
        # load_state_dict) outside of it.
        with torch.no_grad():
            for idx, imgs in batches:
                report_skips()
                x = model.normalize(imgs.to(device, non_blocking=True))
                # The first batch finds out which layers end in a ReLU; afterwards only those are watched.
                watch = layers if not tallies else [n for n in layers if tallies[n].bottom_measure == "pre_relu"]
                if watch:
                    acts, pres = forward_until_pre_relu(module, x, layers, watch)
                else:
                    acts, pres = forward_until(module, x, layers), {}
                idx_dev = idx.to(device, non_blocking=True)
                with _intra_op_threads(tally_threads if device.type == "cpu" else None):
                    for name in layers:
                        act = acts[name]
                        pre = pres.get(name)
                        if name not in tallies:
                            hw = (act.shape[2], act.shape[3] if act.dim() == 4 else 1) if act.dim() > 2 else (1, 1)
                            tallies[name] = LayerTallies.create(
                                name, act.shape[1], hw, k, device, hist_positions,
                                bottom_measure="pre_relu" if pre is not None else "output",
                            )
                        tallies[name].update(act, idx_dev, scratch, pre=pre)
                images_ok += len(idx)
                n_batches += 1
                chunk = (int(idx[0]) - start) // batch_size
                next_index = min(start + (chunk + 1) * batch_size, hi)
                if ckpt is not None and n_batches % max(1, checkpoint_every) == 0:
                    save(next_index)
                if bar is not None:
                    bar.update(next_index - position)
                position = next_index
                if on_batch is not None:
                    on_batch(next_index - lo, hi - lo)
        report_skips()
    finally:
        if bar is not None:
            bar.close()
    if not tallies:
        raise DatasetError(
            f"No readable images in dataset '{getattr(dataset, 'name', '?')}' "
            f"({own_skipped.count} of {hi - lo} unreadable); check the images or the dataset path."
        )
    save(hi)
    return tallies


# ---------------------------------------------------------------------------------------------
# Receptive fields
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceptiveField:
    """Where a layer's map position falls in the input image (measured, see `receptive_field`)."""

    input_size: int
    map_h: int
    map_w: int
    half_h: float  # half extent of the receptive field (pixels)
    half_w: float
    stride_h: float  # input pixels per map step
    stride_w: float
    centre_y0: float  # image coordinate of the RF centre of map position (0, 0)
    centre_x0: float

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of an unclipped receptive field in pixels, capped at the image size."""
        return (min(self.input_size, round(2 * self.half_h)), min(self.input_size, round(2 * self.half_w)))

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in input pixels (x1, y1 exclusive), clipped to the image."""
        S = self.input_size
        cy = self.centre_y0 + y * self.stride_h
        cx = self.centre_x0 + x * self.stride_w
        y0, y1 = math.floor(cy - self.half_h + 0.5), math.floor(cy + self.half_h + 0.5)
        x0, x1 = math.floor(cx - self.half_w + 0.5), math.floor(cx + self.half_w + 0.5)
        y0, x0 = min(max(y0, 0), S - 1), min(max(x0, 0), S - 1)
        y1, x1 = max(min(y1, S), y0 + 1), max(min(x1, S), x0 + 1)
        return (x0, y0, x1, y1)


_RF_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _span(mask_1d: torch.Tensor) -> tuple[int, int] | None:
    nz = mask_1d.nonzero().flatten()
    return None if nz.numel() == 0 else (int(nz.min()), int(nz.max()) + 1)


def _extent(span: tuple[int, int] | None, S: int, nominal: float) -> tuple[float, float, bool]:
    """(centre, half extent, measured exactly) along one axis from the nonzero-gradient span."""
    if span is None:
        return nominal, float(S), False
    lo, hi = span
    if lo > 0 and hi < S:
        return (lo + hi) / 2, (hi - lo) / 2, True
    if lo == 0 and hi < S:  # clipped at the start: assume the nominal centre
        return nominal, max(hi - nominal, 0.5), False
    if hi == S and lo > 0:
        return nominal, max(nominal - lo, 0.5), False
    return nominal, float(S), False  # larger than the image


def receptive_field(model: LoadedModel, layer: str, samples: int = 4, seed: int = 0) -> ReceptiveField:
    """Measure a layer's receptive field, once per (model, layer, input size); cached.

    The RF is the set of input pixels with a nonzero gradient of the centre unit (summed over
    channels and over `samples` noise inputs); a second group of noise inputs does the same for the
    unit one step down-right, which gives the stride (S / map size where that is not measurable).
    """
    module = model.module
    S = model.input_size
    cache = _RF_CACHE.setdefault(module, {})
    key = (layer, S)
    if key in cache:
        return cache[key]
    dev = model.device
    was_training = module.training
    module.eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * samples, len(model.mean), S, S, generator=g).to(dev).requires_grad_(True)
    try:
        with torch.enable_grad():
            out = forward_until(module, x, [layer], detach=False)[layer]
            if out.dim() == 2:
                rf = ReceptiveField(S, 1, 1, S / 2, S / 2, S, S, S / 2, S / 2)
                cache[key] = rf
                return rf
            out4 = out if out.dim() == 4 else out.reshape(out.shape[0], out.shape[1], out.shape[2], 1)
            H, W = out4.shape[2], out4.shape[3]
            cy, cx = (H - 1) // 2, (W - 1) // 2
            cy2, cx2 = min(cy + 1, H - 1), min(cx + 1, W - 1)
            obj = out4[:samples, :, cy, cx].float().sum() + out4[samples:, :, cy2, cx2].float().sum()
            (grad,) = torch.autograd.grad(obj, x, allow_unused=True)
    finally:
        module.train(was_training)
    if grad is None:
        grad = torch.zeros_like(x)
    m1 = grad[:samples].abs().sum(dim=(0, 1)) > 0
    m2 = grad[samples:].abs().sum(dim=(0, 1)) > 0
    sh, sw = S / H, S / W
    c_y, half_h, ok_y = _extent(_span(m1.any(dim=1).cpu()), S, (cy + 0.5) * sh)
    c_x, half_w, ok_x = _extent(_span(m1.any(dim=0).cpu()), S, (cx + 0.5) * sw)
    c_y2, _, ok_y2 = _extent(_span(m2.any(dim=1).cpu()), S, (cy2 + 0.5) * sh)
    c_x2, _, ok_x2 = _extent(_span(m2.any(dim=0).cpu()), S, (cx2 + 0.5) * sw)
    if ok_y and ok_y2 and cy2 > cy and c_y2 > c_y:
        sh = (c_y2 - c_y) / (cy2 - cy)
    if ok_x and ok_x2 and cx2 > cx and c_x2 > c_x:
        sw = (c_x2 - c_x) / (cx2 - cx)
    rf = ReceptiveField(S, H, W, half_h, half_w, sh, sw, c_y - cy * sh, c_x - cx * sw)
    cache[key] = rf
    return rf


# ---------------------------------------------------------------------------------------------
# Pass 2: rendering the winners
# ---------------------------------------------------------------------------------------------
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
    kinds: tuple[str, ...] = ("top", "bottom"),
    crop_min_size: int = 64,
    skipped: Any = None,
) -> Iterator[ExampleRecord]:
    """Yield ExampleRecords for the winners of every layer in `tallies`, image batch by image batch.

    Each winning image is loaded and forwarded once for all layers; its encoded image is shared by
    all its records. `channels` restricts the channels per layer (default: all).
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
    report_skips = _Forward(own_skipped, skipped)
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
            heat_cache: dict[tuple[str, int], bytes] = {}
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
    kinds: tuple[str, ...] = ("top", "bottom"),
    crop_min_size: int = 64,
    skipped: Any = None,
) -> dict[int, list[ExampleRecord]]:
    """{channel: [records]} for one layer (top then bottom, by rank)."""
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
    )[layer]
