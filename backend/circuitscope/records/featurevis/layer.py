"""Running a model up to one layer, through the one hook primitive (``activations.Trace``)."""
from __future__ import annotations

import torch
from torch import nn

from circuitscope.activations import Trace, get_module


def resolve_layer(module: nn.Module, layer: str) -> nn.Module:
    """The submodule named ``layer`` (dotted path); UnknownLayerError listing valid names if absent."""
    return get_module(module, layer)


def forward_to_layer_pre_relu(
    module: nn.Module, x: torch.Tensor, layer: str, detach: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``module(x)`` until ``layer`` has produced its output: (output, its final ReLU's input or None).

    The pre-activation comes back when the layer's output is the very tensor a ReLU-like call made
    inside the layer returned (see ``activations.relu``). Gradients flow through both unless ``detach``.
    """
    with Trace(module, layer, stop=True, detach=detach, pre_relu=True) as trace:
        trace.forward(x)
    if trace.missing():
        raise RuntimeError(f"Layer '{layer}' was not called during the forward pass of the model.")
    return trace.output[layer], trace.pre_relu.get(layer)


def forward_to_layer(module: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Run ``module(x)`` only until ``layer`` has produced its output, and return that output."""
    with Trace(module, layer, stop=True, detach=False) as trace:
        trace.forward(x)
    if trace.missing():
        raise RuntimeError(f"Layer '{layer}' was not called during the forward pass of the model.")
    return trace.output[layer]


def as_bchw(out: torch.Tensor, layer: str) -> torch.Tensor:
    """A layer output as [B,C,H,W] ([B,C] becomes [B,C,1,1]); anything else is refused, naming the shape."""
    if out.dim() == 4:
        return out
    if out.dim() == 2:
        return out[:, :, None, None]
    raise ValueError(
        f"Layer '{layer}' has output shape {list(out.shape)}; feature visualization needs a "
        "spatial [B,C,H,W] output (or [B,C] for the channel objective)."
    )
