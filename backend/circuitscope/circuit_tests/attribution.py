"""Edge attributions: how much of a node's activation each incoming edge carries, on that node's images.

For an edge u -> v the attribution is gradient x activation: the sum over u's map of
d v / d a_u * a_u, where v is measured at its spatial max (the dataset-example measure), averaged
over v's own top images. For a linear step (v's pre-activation is a convolution of u's layer, as
in conv -> ReLU with the ReLU active) this is exactly the part of v contributed by u: weight x
activation summed over the kernel window. For longer paths it is the first-order estimate. Signed.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from circuitscope.activations import Trace


def _node(key: str) -> tuple[str, int]:
    layer, _, idx = key.rpartition(":")
    return layer, int(idx)


def edge_attributions(module: nn.Module, edges: Sequence[tuple[str, str]], positions: dict[str, int],
                      images_for: Callable[[str], torch.Tensor], batch_size: int = 64,
                      device: str | torch.device = "cpu") -> dict[tuple[str, str], float | None]:
    """{(source, target): attribution} for ``edges`` of "layer:index" keys; None where the source is
    not upstream of the target (same or later layer by ``positions``). ``images_for(target)`` gives
    the target node's test images (normalized model inputs)."""
    by_target: dict[str, list[str]] = defaultdict(list)
    out: dict[tuple[str, str], float | None] = {}
    for src, dst in edges:
        (sl, _), (dl, _) = _node(src), _node(dst)
        if positions.get(sl, 0) >= positions.get(dl, 0):
            out[(src, dst)] = None
        else:
            by_target[dst].append(src)
    for dst, sources in by_target.items():
        d_layer, d_idx = _node(dst)
        src_layers = list(dict.fromkeys(_node(s)[0] for s in sources))
        x_all = images_for(dst)
        totals = {s: 0.0 for s in sources}
        for i0 in range(0, len(x_all), batch_size):
            x = x_all[i0:i0 + batch_size].to(device).requires_grad_(True)
            with torch.enable_grad(), Trace(module, src_layers + [d_layer], stop=True, detach=False) as tr:
                tr.forward(x)
                v = tr.output[d_layer][:, d_idx]
                measure = (v.flatten(1).amax(1) if v.dim() > 1 else v).sum()
                acts = [tr.output[l] for l in src_layers]
                grads = torch.autograd.grad(measure, acts, allow_unused=True)
            for layer, a, g in zip(src_layers, acts, grads):
                for s in sources:
                    sl, si = _node(s)
                    if sl == layer and g is not None:
                        totals[s] += float((g[:, si] * a[:, si]).detach().double().sum())
        for s in sources:
            out[(s, dst)] = totals[s] / max(1, len(x_all))
    return out
