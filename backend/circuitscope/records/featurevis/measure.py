"""Measuring images (renders, or any image) on a unit, without transforms: what records report."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from circuitscope.models.base import LoadedModel
from circuitscope.records.codec import decode_image
from circuitscope.records.featurevis.layer import as_bchw, forward_to_layer_pre_relu
from circuitscope.records.featurevis.objectives import final_measures
from circuitscope.records.featurevis.record import OBJECTIVE_CODE


def _measure_images(model: LoadedModel, layer: str, channels: Sequence[int], images01: torch.Tensor,
                    objectives: Sequence[str] | str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    device = images01.device
    objs = [objectives] * len(channels) if isinstance(objectives, str) else list(objectives)
    chan_idx = torch.as_tensor(list(channels), device=device, dtype=torch.long)
    kind = torch.as_tensor([OBJECTIVE_CODE[o] for o in objs], device=device)
    with torch.no_grad():
        out, pre = forward_to_layer_pre_relu(model.module, model.normalize(images01), layer, detach=True)
        acts = as_bchw(out, layer).float()
        pre = as_bchw(pre, layer).float() if pre is not None else None
        value, peak = final_measures(acts, pre, chan_idx, kind)
    return value.cpu(), peak.cpu(), pre is not None


def measure_activations(
    model: LoadedModel,
    layer: str,
    channels: Sequence[int],
    images01: torch.Tensor,
    objectives: Sequence[str] | str = "channel",
) -> torch.Tensor:
    """Measure images [B,3,H,W] in [0,1] (no transforms): per image the objective's measure of its channel.

    The same measure a render's ``activation`` records (``negative`` on a layer that ends in a
    ReLU: the pre-ReLU channel mean).
    """
    return _measure_images(model, layer, channels, images01, objectives)[0]


def measure_peaks(model: LoadedModel, layer: str, channels: Sequence[int], images01: torch.Tensor) -> torch.Tensor:
    """Per image [B,3,H,W] in [0,1]: the spatial max of its channel's map of the layer's output."""
    return _measure_images(model, layer, channels, images01, "channel")[1]


def measure_activation(
    model: LoadedModel, layer: str, channel: int, image01: torch.Tensor | bytes, objective: str = "channel"
) -> float:
    """One image ([3,H,W] or [1,3,H,W], values in [0,1], or encoded bytes): its measure for the unit."""
    if isinstance(image01, (bytes, bytearray)):
        image01 = decode_image(image01)
    if image01.dim() == 3:
        image01 = image01[None]
    image01 = image01.to(model.device, torch.float32)
    return float(measure_activations(model, layer, [channel], image01, [objective])[0])
