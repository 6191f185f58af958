"""Pass 1: one streaming pass over the dataset that folds every batch into each layer's tallies."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from circuitscope.activations.capture import forward_until, forward_until_pre_relu
from circuitscope.datasets.base import DatasetError, ImageDataset
from circuitscope.datasets.loader import SkippedImages, iterate_batches, model_transform
from circuitscope.models.base import LoadedModel
from circuitscope.records.examples.checkpoint import CHECKPOINT_FORMAT, fingerprint, load_checkpoint, save_checkpoint
from circuitscope.records.examples.skips import ForwardSkips
from circuitscope.records.examples.tally import LayerTallies
from circuitscope.records.stats import Scratch

log = logging.getLogger(__name__)

__all__ = ["compute_dataset_examples"]


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
    concepts: Any = None,
    quantile_sample: int | None = 100,
    quantile_seed: int = 0,
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
    concepts: a ConceptVocabulary (concepts/vocabulary.py): per-concept histograms of every channel's
      per-image spatial max are tallied too (LayerTallies.concepts), for AUC / mean-difference scores.
    quantile_sample: per channel, keep a seeded uniform sample of this many images (with their spatial
      max) for examples across the deciles (quantile_sample.py); None / 0 = none.
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
    fp = fingerprint(model, dataset, layers, k, hist_positions) + f"|range={lo}:{hi}"
    fp += f"|quantile_sample={quantile_sample or 0}:{quantile_seed}"
    if concepts is not None:
        fp += "|concepts=" + json.dumps(list(concepts.names))
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None

    tallies: dict[str, LayerTallies] = {}
    start, n_batches, images_ok = lo, 0, 0
    own_skipped = SkippedImages()
    state = load_checkpoint(ckpt, fp)
    if state is not None:
        start, n_batches = int(state["next_index"]), int(state["batches"])
        images_ok = int(state["images"])
        own_skipped.items = [tuple(x) for x in state["skipped"]]
        tallies = {name: LayerTallies.from_state_dict(st, device) for name, st in state["layers"].items()}
        log.info("resuming dataset examples at image %d of %d", start, hi)
    report_skips = ForwardSkips(own_skipped, skipped)
    report_skips()

    def save(next_index: int) -> None:
        if ckpt is None:
            return
        save_checkpoint(
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
                membership = None if concepts is None else concepts.membership(idx).to(device, non_blocking=True)
                with _intra_op_threads(tally_threads if device.type == "cpu" else None):
                    for name in layers:
                        act = acts[name]
                        pre = pres.get(name)
                        if name not in tallies:
                            hw = (act.shape[2], act.shape[3] if act.dim() == 4 else 1) if act.dim() > 2 else (1, 1)
                            tallies[name] = LayerTallies.create(
                                name, act.shape[1], hw, k, device, hist_positions,
                                bottom_measure="pre_relu" if pre is not None else "output",
                                concepts=None if concepts is None else concepts.names,
                                sample_size=quantile_sample, sample_seed=quantile_seed,
                            )
                        tallies[name].update(act, idx_dev, scratch, pre=pre, membership=membership)
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
