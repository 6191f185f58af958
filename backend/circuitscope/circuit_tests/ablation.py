"""Batched channel ablations: many ablated copies of the test images per forward pass.

A *config* says which channels of each member layer are ablated (replaced by zero, by the channel's
dataset mean per position, or by its activation on another image: "resample"). Every config is
evaluated on the same test images and measured on the target units the way the dataset examples
rank them: the spatial max of the target channel's layer output (and, beside it, the spatial mean).

Batched layout: the forward pass runs once per (image batch, chunk of configs); at the *first* member
layer (in execution order) the stored clean activations of the image batch are laid out as
configs x images along the batch and each copy gets its own channel mask; later member layers get a
``ChannelEdit`` with one mask row per copy; the forward stops at the target layer. Because the first
member layer's output is replaced wholesale, the network in front of it runs on a single dummy
image: the expensive prefix is computed once per test image, not once per config. Whether this is
valid for a given network (no branch from before the first member layer rejoins after it) is checked
on real images before use (``prefix_sharing_valid``); otherwise the images themselves are repeated.

``evaluate_naive`` is the reference: one ordinary forward per config. Tests check both agree.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from circuitscope.activations import ChannelEdit, Trace
from circuitscope.activations.trace import EditFn

KINDS = ("zero", "mean", "resample")


class Cancelled(Exception):
    """The caller asked to stop (nothing is stored)."""


@dataclass
class Config:
    """Ablated channels per member layer (layers absent: nothing ablated there)."""

    name: str
    ablate: dict[str, torch.Tensor]  # layer -> bool [C]


@dataclass
class AblationSetup:
    module: nn.Module
    target_layer: str
    targets: list[int]  # channels of the target layer; the measure is their mean
    layer_order: list[str]  # member layers in execution order
    channels: dict[str, int]  # channels per member layer
    means: dict[str, torch.Tensor]  # per-position dataset means per member layer ([C, H, W] or [C])
    device: torch.device = torch.device("cpu")
    # (layer feeding the target layer, fn computing only the target channels from it): target_slice.py
    shortcut: tuple[str, Callable[[torch.Tensor], torch.Tensor]] | None = None


def spatial_measures(out: torch.Tensor, targets: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(spatial max, spatial mean) of the target channels, averaged over the targets: [B] each."""
    t = out[:, list(targets)].float()
    if t.dim() > 2:
        flat = t.flatten(2)
        return flat.amax(2).mean(1), flat.mean(2).mean(1)
    return t.mean(1), t.mean(1)


def _values(kind: str, setup: AblationSetup, layer: str, donors: dict[str, torch.Tensor] | None,
            n_configs: int) -> torch.Tensor | None:
    if kind == "zero":
        return None
    if kind == "mean":
        return setup.means[layer]
    if kind == "resample":
        assert donors is not None, "resample ablation needs donor activations"
        d = donors[layer]
        return d.repeat((n_configs,) + (1,) * (d.dim() - 1))
    raise ValueError(f"unknown ablation kind {kind!r}; use one of {', '.join(KINDS)}")


def _mask_rows(configs: Sequence[Config], layer: str, channels: int, n_images: int) -> torch.Tensor:
    rows = [c.ablate.get(layer, torch.zeros(channels, dtype=torch.bool)) for c in configs]
    return torch.stack(rows).repeat_interleave(n_images, dim=0)  # config-major: row k*n + i


def clean_pass(setup: AblationSetup, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Clean activations of the member layers and the target measures (max, mean) for images ``x``."""
    layers = list(dict.fromkeys(setup.layer_order + [setup.target_layer]))
    with torch.no_grad(), Trace(setup.module, layers, stop=True) as tr:
        tr.forward(x.to(setup.device))
    mx, mn = spatial_measures(tr.output[setup.target_layer], setup.targets)
    return {l: tr.output[l] for l in setup.layer_order}, mx, mn


def _expand_edit(kind: str, setup: AblationSetup, configs: Sequence[Config], first_out: torch.Tensor,
                 donors: dict[str, torch.Tensor] | None) -> Callable:
    """Edit for the first member layer: its stored clean output laid out as configs x images, each
    config's channels replaced, in one broadcast ``where`` (no intermediate copies)."""
    layer = setup.layer_order[0]
    k, n, c = len(configs), first_out.shape[0], first_out.shape[1]
    extra = (1,) * (first_out.dim() - 2)
    rows = torch.stack([cfg.ablate.get(layer, torch.zeros(c, dtype=torch.bool)) for cfg in configs])
    mask = rows.to(first_out.device).view(k, 1, c, *extra)
    if kind == "zero":
        values = torch.zeros((), dtype=first_out.dtype, device=first_out.device)
    elif kind == "mean":
        values = setup.means[layer].to(first_out.device, first_out.dtype)
    elif kind == "resample":
        assert donors is not None, "resample ablation needs donor activations"
        values = donors[layer].to(first_out.device, first_out.dtype)[None]
    else:
        raise ValueError(f"unknown ablation kind {kind!r}; use one of {', '.join(KINDS)}")

    def edit(_out: torch.Tensor, _name: str) -> torch.Tensor:
        return torch.where(mask, values, first_out[None]).reshape(k * n, *first_out.shape[1:])

    return edit


def _forward_configs(setup: AblationSetup, kind: str, configs: Sequence[Config], x: torch.Tensor,
                     first_out: torch.Tensor | None, donors: dict[str, torch.Tensor] | None,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward for len(configs) x len(x) copies; returns measures shaped [K, n]."""
    k, n = len(configs), len(x)
    first = setup.layer_order[0]
    edits: dict[str, EditFn] = {}
    for layer in setup.layer_order:
        if layer == first and first_out is not None:
            edits[layer] = _expand_edit(kind, setup, configs, first_out, donors)
            continue
        mask = _mask_rows(configs, layer, setup.channels[layer], n)
        edits[layer] = ChannelEdit(mask, _values(kind, setup, layer, donors, k))
    end = setup.shortcut[0] if setup.shortcut else setup.target_layer
    layers = list(dict.fromkeys(setup.layer_order + [end]))
    inp = x[:1] if first_out is not None else x.repeat((k,) + (1,) * (x.dim() - 1))
    with torch.no_grad(), Trace(setup.module, layers, edit=edits, stop=True) as tr:
        tr.forward(inp.to(setup.device))
        if setup.shortcut:  # only the target channels of the target layer
            out = setup.shortcut[1](tr.output[end])
            mx, mn = spatial_measures(out, range(out.shape[1]))
        else:
            mx, mn = spatial_measures(tr.output[setup.target_layer], setup.targets)
    return mx.view(k, n), mn.view(k, n)


def prefix_sharing_valid(setup: AblationSetup, x: torch.Tensor) -> bool:
    """Whether replacing the first member layer's output (with a dummy in front) reproduces the
    clean target exactly on these images: false where an earlier branch rejoins later."""
    x = x[:4]
    acts, mx, _ = clean_pass(setup, x)
    try:
        # a dummy input unlike the real images: a leak from the prefix would change the result
        dummy = torch.full_like(x[:1], 0.37)
        got, _ = _forward_configs(setup, "zero", [Config("clean", {}), Config("clean", {})],
                                  torch.cat([dummy, x[1:]]), acts[setup.layer_order[0]], None)
    except (RuntimeError, ValueError):  # batch sizes that do not broadcast: a branch rejoined
        return False
    return bool(torch.allclose(got, mx.expand_as(got), rtol=1e-5, atol=1e-6))


def evaluate(setup: AblationSetup, kind: str, configs: Sequence[Config], x: torch.Tensor,
             donors: dict[str, torch.Tensor] | None = None, max_batch: int = 2048, image_batch: int = 256,
             share_prefix: bool = True, on_chunk: Callable[[int], None] | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Target measures (spatial max, spatial mean) for every config and image: two [K, n] tensors.

    ``donors``: for resample, the member layers' clean activations on each test image's donor image.
    ``on_chunk(configs_done)`` is called after every forward (raise ``Cancelled`` there to stop).
    """
    out_max = torch.empty(len(configs), len(x))
    out_mean = torch.empty(len(configs), len(x))
    for i0 in range(0, len(x), image_batch):
        xb = x[i0:i0 + image_batch]
        nb = len(xb)
        first_out = clean_pass(setup, xb)[0][setup.layer_order[0]] if share_prefix else None
        db = {l: d[i0:i0 + nb].to(setup.device) for l, d in donors.items()} if donors else None
        per = max(1, max_batch // nb)
        for k0 in range(0, len(configs), per):
            chunk = configs[k0:k0 + per]
            mx, mn = _forward_configs(setup, kind, chunk, xb, first_out, db)
            out_max[k0:k0 + len(chunk), i0:i0 + nb] = mx.cpu()
            out_mean[k0:k0 + len(chunk), i0:i0 + nb] = mn.cpu()
            if on_chunk is not None:
                on_chunk(len(chunk) * nb)
    return out_max, out_mean


def evaluate_naive(setup: AblationSetup, kind: str, configs: Sequence[Config], x: torch.Tensor,
                   donors: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference loop: one forward over all images per config, channel masks shared by the batch."""
    out_max = torch.empty(len(configs), len(x))
    out_mean = torch.empty(len(configs), len(x))
    layers = list(dict.fromkeys(setup.layer_order + [setup.target_layer]))
    for k, config in enumerate(configs):
        edits: dict[str, EditFn] = {}
        for layer in setup.layer_order:
            mask = config.ablate.get(layer, torch.zeros(setup.channels[layer], dtype=torch.bool))
            edits[layer] = ChannelEdit(mask, _values(kind, setup, layer, donors, 1))
        with torch.no_grad(), Trace(setup.module, layers, edit=edits, stop=True) as tr:
            tr.forward(x.to(setup.device))
        mx, mn = spatial_measures(tr.output[setup.target_layer], setup.targets)
        out_max[k], out_mean[k] = mx.cpu(), mn.cpu()
    return out_max, out_mean
