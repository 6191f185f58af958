"""Where a layer's map position falls in the input image, measured from input gradients."""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from circuitscope.activations.capture import forward_until
from circuitscope.models.base import LoadedModel

__all__ = ["ReceptiveField", "receptive_field"]


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
