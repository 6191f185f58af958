"""What the optimization maximises, and the measures a record reports.

Objectives (per image b of a batch, on the unit's map of the objective tensor ``acts``):
``channel`` / ``diversity``: the spatial mean; ``neuron``: the value at one position (the map
position over the image centre); ``negative``: minus the spatial mean. For a unit that is linear
in its input the spatial mean is degenerate (a zero-mean filter's mean response does not depend
on the image), so ``positive_part`` objectives use the mean of the unit's positive part instead
(see ``render``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from circuitscope.records.featurevis.record import OBJECTIVE_CODE


def unit_scores(
    acts: torch.Tensor, chan_idx: torch.Tensor, pos: tuple[int, int] | tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image b: (spatial mean, value at ``pos``) of channel chan_idx[b]; acts is [B,C,H,W].

    ``pos`` defaults to the centre position (H//2, W//2), lucent's neuron position; per-image
    positions are two [B] index tensors.
    """
    rows = torch.arange(acts.shape[0], device=acts.device)
    sel = acts[rows, chan_idx]  # [B,H,W]
    h, w = sel.shape[1:]
    y, x = pos if pos is not None else (h // 2, w // 2)
    if isinstance(y, torch.Tensor):
        return sel.mean(dim=(1, 2)), sel[rows, y, x]
    return sel.mean(dim=(1, 2)), sel[:, y, x]


def map_position(track: dict, image_hw: Sequence[int], map_hw: Sequence[int]) -> tuple[int, int]:
    """The layer-map position over the image point ``track`` (pixel-centre coordinates).

    For an untransformed image and its centre this is (H//2, W//2) of the map.
    """
    (ih, iw), (mh, mw) = image_hw, map_hw
    y = int(math.floor((track["v"] + 0.5) * mh / ih))
    x = int(math.floor((track["u"] + 0.5) * mw / iw))
    return min(max(y, 0), mh - 1), min(max(x, 0), mw - 1)


def map_positions(track: dict, image_hw: Sequence[int], map_hw: Sequence[int], device) -> tuple[torch.Tensor, torch.Tensor]:
    """``map_position`` for per-image points (``track`` holding arrays ``u``, ``v``): two [B] index tensors."""
    (ih, iw), (mh, mw) = image_hw, map_hw
    y = np.clip(np.floor((np.asarray(track["v"]) + 0.5) * mh / ih), 0, mh - 1).astype(np.int64)
    x = np.clip(np.floor((np.asarray(track["u"]) + 0.5) * mw / iw), 0, mw - 1).astype(np.int64)
    return torch.from_numpy(y).to(device), torch.from_numpy(x).to(device)


def objective_measure(kind: torch.Tensor, means: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The objective's own measure: the value at the tracked position for neuron and accentuation (there:
    where its start image peaks), the channel mean for the rest."""
    at_position = (kind == OBJECTIVE_CODE["neuron"]) | (kind == OBJECTIVE_CODE["accentuation"])
    return torch.where(at_position, centres, means)


def final_measures(
    acts: torch.Tensor, pre: torch.Tensor | None, chan_idx: torch.Tensor, kind: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (all [B,C,H,W] float): (the objective's reported measure, the unit's spatial peak).

    The measure is taken on the layer's output, except ``negative`` on a layer ending in a ReLU
    (``pre`` given): its pre-ReLU channel mean; for ``accentuation`` it is the peak, the spatial max of
    the output map.
    """
    means, centres = unit_scores(acts, chan_idx)
    value = objective_measure(kind, means, centres)
    if pre is not None:
        pre_means, _ = unit_scores(pre, chan_idx)
        value = torch.where(kind == OBJECTIVE_CODE["negative"], pre_means, value)
    sel = acts[torch.arange(acts.shape[0], device=acts.device), chan_idx]
    peak = sel.amax(dim=(1, 2))
    return torch.where(kind == OBJECTIVE_CODE["accentuation"], peak, value), peak


def diversity_penalty(d: torch.Tensor, n_div: int) -> torch.Tensor:
    """lucent's diversity(): per group of ``n_div`` consecutive images, the summed cosine (i != j)
    between their Frobenius-normalized Gram matrices over the layer's channels, weighted by the
    group's activation scale (std over its maps, no gradient) so one weight suits any model."""
    n_groups = d.shape[0] // n_div
    flat = d.reshape(d.shape[0], d.shape[1], -1)
    grams = F.normalize(torch.matmul(flat, flat.transpose(1, 2)).reshape(d.shape[0], -1), p=2, dim=1)
    g = grams.reshape(n_groups, n_div, -1)
    sims = torch.matmul(g, g.transpose(1, 2))
    pair_sum = sims.sum((1, 2)) - torch.diagonal(sims, dim1=1, dim2=2).sum(1)  # [groups]
    scale = d.detach().reshape(n_groups, -1).std(1)
    return (scale * pair_sum).sum() / (n_div - 1)
