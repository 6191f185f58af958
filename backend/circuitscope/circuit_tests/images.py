"""Which images a circuit is tested on, found with one streaming pass over the run's dataset.

The pass stops the forward at the target layer and records, per image, the target measure (spatial
max of the target channels' layer output, averaged over the targets; what the dataset examples rank
by) and the same measure of every circuit node (each edge's attribution is taken on its target
node's own top images), plus the per-position mean of every member layer (mean ablation). Ties go
to the lower image index, so the selection is deterministic. A seeded random sample of the other
images gives context images (the circuit's effect on ordinary inputs) and, for resample ablation,
a donor image for every test image.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from circuitscope.activations import Trace
from circuitscope.datasets.base import DatasetError
from circuitscope.datasets.loader import SkippedImages, iterate_batches, model_transform

from .ablation import Cancelled


@dataclass
class Selection:
    test: list[int]  # dataset indices of the test images (target's top images), best first
    context: list[int]  # random other images, for context
    donors: list[int]  # donor image per test image (resample ablation)
    context_donors: list[int]
    node_top: dict[str, list[int]]  # "layer:index" -> that unit's top images (edge attributions)
    means: dict[str, torch.Tensor]  # member layer -> per-position mean [C, H, W]
    scanned: int  # images the pass read
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _top(values: np.ndarray, indices: np.ndarray, n: int) -> list[int]:
    order = np.lexsort((indices, -values))  # highest value first, then lower index
    return [int(indices[i]) for i in order[:n]]


def select_images(module: nn.Module, normalize: Callable[[torch.Tensor], torch.Tensor], dataset, input_size: int,
                  target_layer: str, targets: Sequence[int], member_layers: Sequence[str],
                  nodes: dict[str, tuple[str, int]], n_test: int, n_context: int, seed: int,
                  batch_size: int = 128, scan_limit: int | None = None, device: str | torch.device = "cpu",
                  progress: Callable[[int, int], None] | None = None) -> Selection:
    """One pass over the dataset (the first ``scan_limit`` images, or all); see the module docstring."""
    n_all = len(dataset)
    scan = range(min(n_all, scan_limit) if scan_limit else n_all)
    layers = list(dict.fromkeys(list(member_layers) + [target_layer] + [l for l, _ in nodes.values()]))
    seen, target_vals = [], []
    node_vals: dict[str, list[np.ndarray]] = {k: [] for k in nodes}
    sums: dict[str, torch.Tensor] = {}
    count = 0
    skipped = SkippedImages()
    with torch.no_grad(), Trace(module, layers, stop=True) as tr:
        for idx, imgs in iterate_batches(dataset, model_transform(input_size), batch_size, skipped=skipped,
                                         indices=scan):
            tr.forward(normalize(imgs.to(device)))
            out = tr.output[target_layer][:, list(targets)].float()
            target_vals.append((out.flatten(2).amax(2) if out.dim() > 2 else out).mean(1).cpu().numpy())
            for key, (layer, c) in nodes.items():
                a = tr.output[layer][:, c].float()
                node_vals[key].append((a.flatten(1).amax(1) if a.dim() > 1 else a).cpu().numpy())
            for layer in member_layers:
                s = tr.output[layer].double().sum(0)
                sums[layer] = s if layer not in sums else sums[layer] + s
            count += len(idx)
            seen.append(idx.numpy())
            if progress is not None:
                progress(int(idx[-1]) + 1, len(scan))
    if count == 0:
        raise DatasetError(f"no readable images in the dataset ({skipped.summary()}); check the dataset path")
    indices = np.concatenate(seen)
    test = _top(np.concatenate(target_vals), indices, n_test)
    node_top = {k: _top(np.concatenate(v), indices, n_test) for k, v in node_vals.items()}
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(indices, np.array(test))
    context = (sorted(int(i) for i in rng.choice(rest, size=min(n_context, len(rest)), replace=False))
               if len(rest) else [])

    def donors_for(images: list[int]) -> list[int]:
        out = []
        for i in images:  # any other scanned image
            d = int(indices[rng.integers(len(indices))])
            while d == i and len(indices) > 1:
                d = int(indices[rng.integers(len(indices))])
            out.append(d)
        return out

    return Selection(test=test, context=context, donors=donors_for(test), context_donors=donors_for(context),
                     node_top=node_top, means={l: (s / count).float() for l, s in sums.items()},
                     scanned=count, skipped=list(skipped.items))


def load_images(dataset, input_size: int, normalize: Callable[[torch.Tensor], torch.Tensor],
                indices: Sequence[int], batch_size: int = 256) -> torch.Tensor:
    """The normalized model inputs of ``indices``, in that order (an unreadable one is an error now:
    it was readable during the scan)."""
    unique = list(dict.fromkeys(int(i) for i in indices))
    got: dict[int, torch.Tensor] = {}
    skipped = SkippedImages()
    for idx, imgs in iterate_batches(dataset, model_transform(input_size), batch_size, skipped=skipped,
                                     indices=unique):
        for i, img in zip(idx.tolist(), normalize(imgs)):
            got[i] = img
    if skipped:
        raise DatasetError(f"images became unreadable since the scan: {skipped.summary()}")
    return torch.stack([got[int(i)] for i in indices]) if indices else torch.empty(0)


def check_cancel(should_cancel: Callable[[], bool] | None) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled by request")
