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

import torch
import torch.nn.functional as F

from circuitscope.records.featurevis.record import OBJECTIVE_CODE


def unit_scores(
    acts: torch.Tensor, chan_idx: torch.Tensor, pos: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image b: (spatial mean, value at ``pos``) of channel chan_idx[b]; acts is [B,C,H,W].

    ``pos`` defaults to the centre position (H//2, W//2), lucent's neuron position.
    """
    sel = acts[torch.arange(acts.shape[0], device=acts.device), chan_idx]  # [B,H,W]
    h, w = sel.shape[1:]
    y, x = pos if pos is not None else (h // 2, w // 2)
    return sel.mean(dim=(1, 2)), sel[:, y, x]


def map_position(track: dict, image_hw: Sequence[int], map_hw: Sequence[int]) -> tuple[int, int]:
    """The layer-map position over the image point ``track`` (pixel-centre coordinates).

    For an untransformed image and its centre this is (H//2, W//2) of the map.
    """
    (ih, iw), (mh, mw) = image_hw, map_hw
    y = int(math.floor((track["v"] + 0.5) * mh / ih))
    x = int(math.floor((track["u"] + 0.5) * mw / iw))
    return min(max(y, 0), mh - 1), min(max(x, 0), mw - 1)


def objective_measure(kind: torch.Tensor, means: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The objective's own measure: centre for neuron, channel mean for the rest."""
    return torch.where(kind == OBJECTIVE_CODE["neuron"], centres, means)


def final_measures(
    acts: torch.Tensor, pre: torch.Tensor | None, chan_idx: torch.Tensor, kind: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (all [B,C,H,W] float): (the objective's reported measure, the unit's spatial peak).

    The measure is taken on the layer's output, except ``negative`` on a layer ending in a ReLU
    (``pre`` given): its pre-ReLU channel mean. The peak is the spatial max of the output map.
    """
    means, centres = unit_scores(acts, chan_idx)
    value = objective_measure(kind, means, centres)
    if pre is not None:
        pre_means, _ = unit_scores(pre, chan_idx)
        value = torch.where(kind == OBJECTIVE_CODE["negative"], pre_means, value)
    sel = acts[torch.arange(acts.shape[0], device=acts.device), chan_idx]
    return value, sel.amax(dim=(1, 2))


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
