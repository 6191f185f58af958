"""The first layer's kernels in colour: the weights from the image's channels (RGB) into each unit.

The image channels have no unit rows, so these kernels are not connections; they are kept per unit
(`Unit.input_kernel`). A layer gets them when its output is the output of a Conv2d that reads the
image itself (in_channels == the model's input channels), up to ops that are the identity once ReLUs
are linearised (the conv's own ReLU, a Sequential wrapper): checked on a random input, so a
BatchNorm, a pool or a second conv in between (where the conv weight is no longer the whole kernel)
gives none.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from circuitscope.activations import forward_until
from circuitscope.activations.linearize import linearized
from circuitscope.models.base import LoadedModel

__all__ = ["input_kernels", "image_conv"]


def image_conv(model: LoadedModel) -> tuple[str, nn.Conv2d] | None:
    """The first Conv2d (in module order) that reads the image's channels, ungrouped; None if there is none."""
    channels = len(model.mean)
    for name, mod in model.module.named_modules():
        if isinstance(mod, nn.Conv2d):
            if mod.in_channels == channels and mod.groups == 1:
                return name, mod
            return None  # the first conv reads something else: no image kernels to show
    return None


def input_kernels(model: LoadedModel, layer: str) -> np.ndarray | None:
    """[units, image channels, kh, kw] float32 weights of `layer`'s units on the image, or None when the
    layer's output is not (a ReLU of) the image conv's output."""
    found = image_conv(model)
    if found is None:
        return None
    conv_name, conv = found
    weight = conv.weight.detach().float().cpu().numpy()
    if layer == conv_name:
        return weight
    module = model.module.eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, len(model.mean), model.input_size, model.input_size, generator=gen).to(model.device)
    with torch.no_grad(), linearized(module):
        acts = forward_until(module, x, [conv_name, layer])
    a, b = acts[layer], acts[conv_name]
    if a.shape != b.shape or not torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6):
        return None
    return weight
