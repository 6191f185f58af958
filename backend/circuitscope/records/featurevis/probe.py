"""What a renderer needs to know about a layer before optimizing: one probe per (layer, size).

- its number of channels and whether its output is spatial;
- whether it ends in a ReLU (the objectives then use the ReLU's input, see ``render``);
- the memory format the network accepts (channels-last is markedly faster with oneDNN / cuDNN,
  kept only if the network up to the layer accepts it: code calling ``.view()`` on it would not);
- the receptive field of a centre unit, measured as the span of input pixels with a nonzero
  gradient (it scales the transforms, and bounds the render size from below);
- which units are linear (affine) in the input: f(a) + f(b) - f(c) == f(a + b - c) on random
  inputs, per channel, on the tensor the objectives use.

A render size outside what the layer allows is refused with the valid range.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from circuitscope.activations import Trace
from circuitscope.models.base import LoadedModel
from circuitscope.records.featurevis.layer import as_bchw

MAX_RENDER_SIZE = 1024  # the run description's limit as well


@dataclass
class LayerProbe:
    channels: int
    spatial: bool
    ends_in_relu: bool
    memory_format: torch.memory_format
    rf: float | None  # receptive field (px, the larger side) of a centre unit; None: no gradient reaches the input
    linear: list[bool] | None  # per channel; None when not checked


def _run(model: LoadedModel, layer: str, x01: torch.Tensor, memory_format, grad: bool = False):
    x = model.normalize(x01).contiguous(memory_format=memory_format)
    with Trace(model.module, layer, stop=True, detach=not grad, pre_relu=True) as trace:
        trace.forward(x)
    if trace.missing():
        raise RuntimeError(f"Layer '{layer}' was not called during the forward pass of the model.")
    out = trace.output[layer]
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"Layer '{layer}' returns {type(out).__name__}, not a tensor; pick a layer whose output "
                         "is a [B,C,H,W] (or [B,C]) tensor.")
    return out, trace.pre_relu.get(layer)


def _size_range(model: LoadedModel, rf: float | None) -> str:
    low = int(min(rf or 1, model.input_size))
    return f"valid render sizes for this layer: {low}..{model.input_size} px (the receptive field up to the model's input size)"


def probe_layer(model: LoadedModel, layer: str, size: int, device: torch.device, need_linearity: bool = False,
                pad_of=None) -> LayerProbe:
    """``pad_of(rf)``: how many pixels the transforms add on each side (checked to fit the model too)."""
    in_ch = len(model.mean)
    if size > MAX_RENDER_SIZE:
        raise ValueError(f"Render size {size} px is larger than the renderer allows ({MAX_RENDER_SIZE} px).")
    grey = torch.full((1, in_ch, size, size), 0.5, device=device)
    memory_format = torch.channels_last
    with torch.no_grad():
        try:
            try:
                out, pre = _run(model, layer, grey, torch.channels_last)
            except RuntimeError:
                memory_format = torch.contiguous_format
                out, pre = _run(model, layer, grey, memory_format)
        except RuntimeError as e:
            if size == model.input_size:
                raise
            raise ValueError(f"Render size {size} px is not accepted by the model up to layer '{layer}' "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); {_size_range(model, None)}.") from e
    out4 = as_bchw(out, layer)
    channels, spatial = int(out.shape[1]), out.dim() == 4
    rf = _receptive_field(model, layer, device, memory_format, spatial)
    if spatial and rf is not None and size < min(rf, model.input_size):
        raise ValueError(f"Render size {size} px is smaller than the receptive field of layer '{layer}' "
                         f"({rf:.0f} px): its units would not see a whole pattern; {_size_range(model, rf)}.")
    pad = int(pad_of(rf)) if pad_of is not None else 0
    if pad:
        padded = torch.full((1, in_ch, size + 2 * pad, size + 2 * pad), 0.5, device=device)
        try:
            with torch.no_grad():
                _run(model, layer, padded, memory_format)
        except RuntimeError as e:
            raise ValueError(f"The model up to layer '{layer}' accepts {size} px but not the {size + 2 * pad} px the "
                             f"transforms make of it (pad {pad} px per side; {type(e).__name__}: "
                             f"{str(e).splitlines()[0][:160]}): it needs a fixed input size, which feature "
                             "visualization with transforms cannot give it.") from e
    linear = _linear_units(model, layer, device, memory_format, pre is not None, channels) if need_linearity else None
    del out4
    return LayerProbe(channels=channels, spatial=spatial, ends_in_relu=pre is not None, memory_format=memory_format,
                      rf=rf, linear=linear)


def _receptive_field(model: LoadedModel, layer: str, device, memory_format, spatial: bool) -> float | None:
    S = model.input_size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, len(model.mean), S, S, generator=g).to(device).requires_grad_(True)
    with torch.enable_grad():
        out, pre = _run(model, layer, x, memory_format, grad=True)
        acts = as_bchw(pre if pre is not None else out, layer).float()
        if not acts.requires_grad:
            return None
        h, w = acts.shape[2:]
        (grad,) = torch.autograd.grad(acts[:, :, h // 2, w // 2].sum(), x, allow_unused=True)
    if grad is None or not bool((grad != 0).any()):
        return None
    if not spatial:
        return float(S)
    hit = (grad != 0).any(dim=0).any(dim=0)
    rows, cols = hit.any(dim=1).nonzero().flatten(), hit.any(dim=0).nonzero().flatten()
    return float(max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1))


def _linear_units(model: LoadedModel, layer: str, device, memory_format, pre_relu: bool, channels: int) -> list[bool]:
    S = model.input_size
    g = torch.Generator().manual_seed(1)
    a, b, c = (torch.rand(2, len(model.mean), S, S, generator=g).to(device) for _ in range(3))
    # the objective tensor as a function of the *normalized* input (normalization is affine)
    with torch.no_grad():
        def f(x01):
            out, pre = _run(model, layer, x01, memory_format)
            return as_bchw(pre if pre_relu and pre is not None else out, layer).double()

        # a + b - c leaves [0, 1]: evaluate on raw tensors, the network does not care
        fa, fb, fc, fabc = f(a), f(b), f(c), f(a + b - c)
    dev = (fa + fb - fc - fabc).abs().amax(dim=(0, 2, 3))
    scale = torch.stack([fa, fb, fc]).abs().amax(dim=(0, 1, 3, 4))
    return [bool(d <= 1e-4 * s + 1e-7) and bool(s > 0) for d, s in zip(dev.tolist(), scale.tolist())]
