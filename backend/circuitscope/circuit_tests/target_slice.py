"""Compute only the target channels of the target layer (a verified shortcut for the batched ablations).

Every ablated copy needs the target layer's output for the *target* channels only; the layer computes
all of them. When the target layer is a convolution / linear map (or a block of one such map followed by
per-channel batch norm and parameter-free steps such as ReLU), a copy with only the target output
channels gives those channels for a fraction of the cost. It is fed the output of the module whose
output is the target layer's input (found by running the model once). The shortcut is used only if it
reproduces the target channels bit for bit on the real test images; otherwise the full layer runs.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn

from circuitscope.activations import Trace, get_module

_FREE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.Identity, nn.Dropout)


def _slice_map(m: nn.Module, idx: list[int]) -> nn.Module | None:
    if not ((isinstance(m, nn.Conv2d) and m.groups == 1) or isinstance(m, nn.Linear)):
        return None
    out = copy.deepcopy(m)
    with torch.no_grad():
        out.weight = nn.Parameter(m.weight[idx].clone())
        if m.bias is not None:
            out.bias = nn.Parameter(m.bias[idx].clone())
    if isinstance(out, nn.Conv2d):
        out.out_channels = len(idx)
    else:
        out.out_features = len(idx)
    return out.eval()


def _slice_bn(m: nn.BatchNorm2d, idx: list[int]) -> nn.Module:
    out = copy.deepcopy(m)
    out.num_features = len(idx)
    with torch.no_grad():
        if m.weight is not None and m.bias is not None:
            out.weight = nn.Parameter(m.weight[idx].clone())
            out.bias = nn.Parameter(m.bias[idx].clone())
        if m.running_mean is not None and m.running_var is not None:
            out.running_mean = m.running_mean[idx].clone()
            out.running_var = m.running_var[idx].clone()
    return out.eval()


def sliced_module(mod: nn.Module, idx: list[int]) -> nn.Module | None:
    """A copy of ``mod`` computing only output channels ``idx``, or None where that is not known how."""
    direct = _slice_map(mod, idx)
    if direct is not None:
        return direct
    children = list(mod.named_children())
    if not children or list(mod.parameters(recurse=False)):
        return None
    out = copy.deepcopy(mod)
    mapped = False
    for name, child in children:
        has_params = any(True for _ in child.parameters())
        if not mapped:
            if not has_params and isinstance(child, _FREE):
                continue
            new = _slice_map(child, idx)
            if new is None:
                return None
            setattr(out, name, new)
            mapped = True
        elif isinstance(child, nn.BatchNorm2d):
            setattr(out, name, _slice_bn(child, idx))
        elif has_params or not isinstance(child, _FREE):
            return None
    return out.eval() if mapped else None


def find_target_shortcut(module: nn.Module, target_layer: str, targets: Sequence[int], member_layers: Sequence[str],
                         x: torch.Tensor, device: torch.device,
                         ) -> tuple[str, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(input layer, fn) with fn(input layer output) == target layer output[:, targets] exactly on ``x``;
    every member layer must finish before that input layer does."""
    sliced = sliced_module(get_module(module, target_layer), list(targets))
    if sliced is None:
        return None
    names = [n for n, _ in module.named_modules() if n and n != target_layer
             and not n.startswith(target_layer + ".") and not target_layer.startswith(n + ".")]
    x = x[:4].to(device)
    with torch.no_grad(), Trace(module, names + [target_layer], retain_input=True, stop=[target_layer]) as tr:
        tr.forward(x)
    t_inputs = tr.input.get(target_layer)
    if not t_inputs or not isinstance(t_inputs[0], torch.Tensor):
        return None
    t_in, t_out = tr.input[target_layer][0], tr.output[target_layer]
    before = tr.order[:tr.order.index(target_layer)] if target_layer in tr.order else []
    for name in reversed(before):
        out = tr.output.get(name)
        if out is not None and out.shape == t_in.shape and torch.equal(out, t_in):
            if any(m not in before or before.index(m) > before.index(name) for m in member_layers):
                return None
            try:
                with torch.no_grad():
                    got = sliced(out)
            except (RuntimeError, ValueError):
                return None
            if got.shape == t_out[:, list(targets)].shape and torch.equal(got, t_out[:, list(targets)]):
                return name, sliced
            return None
    return None
