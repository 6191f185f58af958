"""The contract every model source produces: a network plus how to feed it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# defined with the layer lookup that raises it; activations/ depends on torch only, models/ on activations/
from circuitscope.activations.hooks import UnknownLayerError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "LoadedModel", "ModelLoadError", "UnknownLayerError"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelLoadError(RuntimeError):
    """A model could not be imported, built or loaded; the message names the source and the fix."""


@dataclass
class LoadedModel:
    """A network in eval mode whose raw input is normalized; `normalize` maps [0,1] RGB to that input."""

    name: str
    module: nn.Module
    input_size: int = 224  # square H = W the model is fed
    mean: tuple[float, ...] = IMAGENET_MEAN  # one value per input channel (3 for RGB)
    std: tuple[float, ...] = IMAGENET_STD
    class_names: list[str] | None = None
    # JSON-able description that reproduces this model (stored with the run).
    source: dict[str, Any] = field(default_factory=dict)

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=x01.device, dtype=x01.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x01.device, dtype=x01.dtype).view(1, -1, 1, 1)
        return (x01 - mean) / std

    @property
    def device(self) -> torch.device:
        p = next(self.module.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def to(self, device: str | torch.device) -> "LoadedModel":
        self.module.to(device)
        return self
