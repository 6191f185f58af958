"""Weights between units: how the channels of layer `src` feed the channels of a later layer `dst`.

Two kinds, decided at runtime from one recording forward pass (dummy input, ReLUs linearised):

direct
    `dst` is an ``nn.Conv2d`` (or ``nn.Linear``) whose input tensor IS `src`'s output tensor: the same
    object, unmodified (same autograd version counter). Element-wise ops that are the identity once
    ReLUs are linearised (ReLU modules or functional relu, ``nn.Identity``, eval-mode dropout) are
    absorbed because they hand the very same tensor on. Anything else in between (BatchNorm, padding
    by ``F.pad``, pooling, concatenation, a residual add) makes the connection `expanded`. The kernel
    is ``dst.weight[j, i]`` itself (grouped convs: zero outside a channel's group).

expanded
    Everything else (bottleneck branches, residual blocks, pooling or BatchNorm in between, a Linear
    after global pooling). The path from `src` to `dst` is linearised and the expanded kernel of
    (dst channel j, src channel i) is the gradient of dst channel j at its centre position (for a 2-D
    dst: of feature j) with respect to src's activation map channel i, cropped to the support of
    that gradient (the receptive field of the dst centre in src). Concretely: the full model runs on a
    dummy input with a hook on `src` that replaces its output by a leaf tensor of zeros that requires
    grad, and a hook on `dst` that captures its output and stops the forward pass; all dst channels'
    gradients are taken in batches with ``torch.autograd.grad(..., is_grads_batched=True)``.
    Linearisation (``activations.linearize.linearized``): ReLU-family activations (relu, relu6, leaky_relu,
    elu, gelu, silu, hardswish, mish, celu, selu, and modules whose class name contains "relu", e.g. lucent's
    RedirectedReLU) become the identity; max-pooling becomes average pooling with the same window
    (count_include_pad=False) and adaptive max-pooling adaptive average pooling; ``F.pad`` with
    value -inf (lucent pads before max-pools) pads with 0. BatchNorm in eval mode, convs, average
    pools, concatenations and additions are linear already. With that, the kernel does not depend on
    the input point; ops left non-linear (local response norm, sigmoid/tanh gates, softmax,
    layer norm) are linearised locally at the point "src = 0, image = zeros". Biases do not enter.
    Caveats: expanded weights add up all paths, so where paths cancel (or a non-linearity would
    gate one of them off) they can mislead -- the Circuits authors warn about exactly this; treating
    max-pools as average pools spreads weight over the whole window; kernels of dst centres whose
    receptive field reaches the border of src are truncated (``truncated`` is set).

Strength: ``strength`` = signed sum of the kernel, ``l2`` = its L2 norm (over the full support, also
when the stored kernel is cropped). Inputs/outputs are ranked by ``l2`` (as Circuits does), with
zero kernels left out. Direct kernels are kept in full (they are the conv weight); expanded kernels
are kept for all pairs when they fit in KEEP_ALL_FLOATS floats, else only for the pairs in some
top-n list (480 x 508 pairs of 9x9 kernels would be 79 MB). The full (dst x src) strength and l2
matrices are always kept.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from circuitscope.activations import Trace
from circuitscope.activations.linearize import linearized
from circuitscope.models.base import LoadedModel
from circuitscope.models.layers import dummy_input, require_hooks, resolve_layers

__all__ = ["DIRECT", "EXPANDED", "KEEP_ALL_FLOATS", "NONE", "Connection", "LayerConnections", "layer_connections",
           "linearized"]

DIRECT, EXPANDED, NONE = "direct", "expanded", "none"
KEEP_ALL_FLOATS = 4_000_000  # 16 MB of float32: e.g. 480 x 256 channel pairs with 5x5 kernels


@dataclass
class Connection:
    src_layer: str
    src_channel: int
    dst_layer: str
    dst_channel: int
    strength: float  # signed sum of the kernel
    l2: float  # L2 norm of the kernel
    kind: str  # "direct" | "expanded"
    kernel: list[list[float]]  # spatial kernel (src positions), [] when not stored

    def to_dict(self) -> dict[str, Any]:
        return {"src_layer": self.src_layer, "src_channel": self.src_channel, "dst_layer": self.dst_layer,
                "dst_channel": self.dst_channel, "strength": self.strength, "l2": self.l2,
                "kind": self.kind, "kernel": self.kernel}


@dataclass
class LayerConnections:
    """All weights from `src_layer` to `dst_layer`; index with channels, see `incoming`/`outgoing`."""

    src_layer: str
    dst_layer: str
    kind: str
    src_channels: int
    dst_channels: int
    top_n: int
    strength: np.ndarray  # (dst_channels, src_channels) float32, signed kernel sums
    l2: np.ndarray  # (dst_channels, src_channels) float32, kernel L2 norms
    top_incoming: list[np.ndarray]  # per dst channel: src channels ranked by l2 (zero kernels left out)
    top_outgoing: list[np.ndarray]  # per src channel: dst channels ranked by l2
    kernel_size: tuple[int, int]  # shape of the stored kernels
    support_size: tuple[int, int]  # full support of the kernels before cropping
    truncated: bool = False  # the dst centre's receptive field reached the border of src
    _pairs: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)  # (dst, src) -> row
    _kernels: np.ndarray | None = field(default=None, repr=False)  # (rows, kh, kw), or full (dst, src, kh, kw)

    # --- lookups
    def kernel(self, src_channel: int, dst_channel: int) -> np.ndarray | None:
        if self._kernels is None:
            return None
        if self._kernels.ndim == 4:
            return self._kernels[dst_channel, src_channel]
        row = self._pairs.get((dst_channel, src_channel))
        return None if row is None else self._kernels[row]

    def connection(self, src_channel: int, dst_channel: int) -> Connection:
        k = self.kernel(src_channel, dst_channel)
        return Connection(self.src_layer, int(src_channel), self.dst_layer, int(dst_channel),
                          float(self.strength[dst_channel, src_channel]), float(self.l2[dst_channel, src_channel]),
                          self.kind, k.tolist() if k is not None else [])

    def incoming(self, dst_channel: int, top_n: int | None = None) -> list[Connection]:
        """Strongest inputs of dst channel `dst_channel`, by kernel L2 norm."""
        idx = self.top_incoming[dst_channel][: top_n or self.top_n]
        return [self.connection(int(i), dst_channel) for i in idx]

    def outgoing(self, src_channel: int, top_n: int | None = None) -> list[Connection]:
        """Strongest outputs of src channel `src_channel`, by kernel L2 norm."""
        idx = self.top_outgoing[src_channel][: top_n or self.top_n]
        return [self.connection(src_channel, int(j)) for j in idx]

    def strong_inputs(self, dst_channel: int, fraction: float = 0.3) -> list[Connection]:
        """Inputs whose L2 norm is >= `fraction` of the strongest (the Circuits figures' cut-off)."""
        conns = self.incoming(dst_channel)
        if not conns:
            return []
        cut = fraction * conns[0].l2
        return [c for c in conns if c.l2 >= cut]

    def iter_connections(self) -> Iterator[Connection]:
        """Every (src, dst) pair that is in some top-n list, each once (for storage)."""
        seen: set[tuple[int, int]] = set()
        for j, idx in enumerate(self.top_incoming):
            for i in idx:
                seen.add((j, int(i)))
        for i, idx in enumerate(self.top_outgoing):
            for j in idx:
                seen.add((int(j), i))
        for j, i in sorted(seen):
            yield self.connection(i, j)

    def all(self) -> list[Connection]:
        """`iter_connections` as a list."""
        return list(self.iter_connections())

    def to_dict(self, with_kernels: bool = True) -> dict[str, Any]:
        conns = [c.to_dict() for c in self.iter_connections()]
        if not with_kernels:
            for c in conns:
                c.pop("kernel")
        return {"src_layer": self.src_layer, "dst_layer": self.dst_layer, "kind": self.kind,
                "src_channels": self.src_channels, "dst_channels": self.dst_channels, "top_n": self.top_n,
                "kernel_size": list(self.kernel_size), "support_size": list(self.support_size),
                "truncated": self.truncated,
                "incoming": {str(j): [int(i) for i in idx] for j, idx in enumerate(self.top_incoming)},
                "outgoing": {str(i): [int(j) for j in idx] for i, idx in enumerate(self.top_outgoing)},
                "connections": conns}


# ----------------------------------------------------------------------------- main entry

def _candidate_sizes(full: int) -> list[int]:
    return [s for s in (32, 48, 64, 96, 128, 160, 192) if s < full] + [full]


def layer_connections(model: LoadedModel, src: str, dst: str, top_n: int = 50, *, max_kernel: int = 9,
                      input_size: int | None = None, chunk: int | None = None,
                      keep_all_kernels: bool | None = None) -> LayerConnections:
    """Weights from every channel of layer `src` to every channel of the later layer `dst`.

    Expanded kernels are kept for every pair when they fit in KEEP_ALL_FLOATS floats (or when
    `keep_all_kernels` is True), otherwise only for the pairs in some top-n list.

    `max_kernel` caps the stored size of expanded kernels (centred crop; strength/l2 use the full
    support). Expanded weights of a 4-D dst are computed on the smallest dummy input (32, 48, 64, ...
    up to model.input_size) on which the dst centre's receptive field stays inside src -- the kernel
    of an interior position does not depend on the input size -- unless `input_size` fixes it; a
    2-D dst (logits after global pooling) always uses model.input_size. `chunk` = dst channels per
    batched backward pass.
    """
    require_hooks(model, "computing weights between layers")
    src, dst = resolve_layers(model, [src])[0], resolve_layers(model, [dst])[0]
    if src == dst:
        raise ValueError(f"src and dst are the same layer '{src}'")
    mods = dict(model.module.named_modules())
    sizes = [int(input_size)] if input_size else _candidate_sizes(int(model.input_size))
    last_err: Exception | None = None
    for k, size in enumerate(sizes):
        final = k == len(sizes) - 1
        x = dummy_input(model, size)
        try:
            rec = _record(model, x, src, dst, mods)
        except _ForwardFailed as e:  # too small an input for this model: try the next size
            last_err = e
            if final:
                raise ValueError(f"Model '{model.name}' failed on a dummy input of size {size}: {e}") from e
            continue
        s_out, d_out = rec["src_out"], rec["dst_out"]
        if s_out.dim() not in (2, 4) or d_out.dim() not in (2, 4):
            raise ValueError(f"Weights need 2-D or 4-D layer outputs; '{src}' gives {tuple(s_out.shape)}, "
                             f"'{dst}' gives {tuple(d_out.shape)}")
        if rec["direct"]:
            return _direct(mods[rec["dst"]], src, dst, int(s_out.shape[1]), top_n)
        if d_out.dim() == 2 and not final and not input_size:
            continue  # global pooling in between: the kernel depends on the input size
        result = _expanded(model, x, src, dst, mods, top_n, max_kernel, chunk, retry_if_truncated=not final,
                           keep_all=keep_all_kernels, channels=(int(s_out.shape[1]), int(d_out.shape[1])))
        if result is not None:
            return result
    raise ValueError(f"Could not compute weights {src} -> {dst}: {last_err}")


class _ForwardFailed(Exception):
    pass


class _Independent(ValueError):
    pass


def _empty(src: str, dst: str, top_n: int, c_src: int, c_dst: int) -> LayerConnections:
    """dst does not depend on src (e.g. two parallel branches): no connections, kind "none"."""
    z = np.zeros((c_dst, c_src), dtype=np.float32)
    none = np.zeros(0, dtype=np.int64)
    return LayerConnections(src, dst, NONE, c_src, c_dst, top_n, z, z.copy(), [none] * c_dst, [none] * c_src,
                            (0, 0), (0, 0), False, {}, np.zeros((0, 0, 0), dtype=np.float32))


def _record(model: LoadedModel, x: torch.Tensor, src: str, dst: str, mods: dict[str, nn.Module]) -> dict:
    """One linearised no-grad pass, stopped once both layers have run: call counts, order, and
    whether dst is fed by src's very tensor (direct)."""
    module = model.module
    # detach=False keeps the captured objects themselves: "direct" compares identities
    trace = Trace(module, [src, dst], retain_input=True, stop=True, detach=False, eval_mode=True)
    try:
        with torch.no_grad(), trace, linearized(module):
            trace.forward(x)
    except Exception as e:  # noqa: BLE001
        raise _ForwardFailed(f"{type(e).__name__}: {e}") from e
    for name in (src, dst):
        calls = trace.calls.get(name, 0)
        if calls == 0:
            raise ValueError(f"Layer '{name}' did not run in the forward pass")
        if calls > 1:
            raise ValueError(f"Layer '{name}' runs {calls} times per forward pass, so its "
                             f"output is ambiguous; pick a layer that runs once (e.g. its parent block)")
    if trace.order.index(src) > trace.order.index(dst):
        raise ValueError(f"'{src}' runs after '{dst}': src must be earlier than dst")
    s_out, d_inputs = trace.output[src], trace.input[dst]
    # the forward stopped at dst, so the versions now are those dst saw
    direct = isinstance(mods[dst], (nn.Conv2d, nn.Linear)) and bool(d_inputs) and d_inputs[0] is s_out \
        and s_out._version == trace.version[src]
    return {"src_out": s_out, "dst_out": trace.output[dst], "direct": direct, "dst": dst}


def _rank(l2: torch.Tensor, top_n: int) -> list[np.ndarray]:
    """Per row: column indices ranked by l2 descending, zero entries left out, at most top_n."""
    k = min(top_n, l2.shape[1])
    vals, idx = torch.topk(l2, k, dim=1)
    out = []
    for v, i in zip(vals, idx):
        out.append(i[v > 0].numpy().astype(np.int64))
    return out


def _direct(layer: nn.Module, src: str, dst: str, c_src: int, top_n: int) -> LayerConnections:
    assert isinstance(layer, (nn.Conv2d, nn.Linear))  # _record decides "direct" only for these
    w = layer.weight.detach().float().cpu()
    if isinstance(layer, nn.Linear):
        w = w[:, :, None, None]
    else:
        g = layer.groups
        if g > 1:
            full = torch.zeros(w.shape[0], c_src, *w.shape[2:])
            cin_g, cout_g = c_src // g, w.shape[0] // g
            for gi in range(g):
                full[gi * cout_g:(gi + 1) * cout_g, gi * cin_g:(gi + 1) * cin_g] = w[gi * cout_g:(gi + 1) * cout_g]
            w = full
    strength = w.sum(dim=(2, 3))
    l2 = w.flatten(2).norm(dim=2)
    return LayerConnections(
        src_layer=src, dst_layer=dst, kind=DIRECT, src_channels=w.shape[1], dst_channels=w.shape[0], top_n=top_n,
        strength=strength.numpy().astype(np.float32), l2=l2.numpy().astype(np.float32),
        top_incoming=_rank(l2, top_n), top_outgoing=_rank(l2.t().contiguous(), top_n),
        kernel_size=(w.shape[2], w.shape[3]), support_size=(w.shape[2], w.shape[3]),
        _kernels=w.numpy().astype(np.float32))


def _run_segment(model: LoadedModel, x: torch.Tensor, src: str, dst: str, mods: dict[str, nn.Module],
                 batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (linearised) with src's output replaced by a zero leaf of `batch` samples that requires
    grad; stop at dst. Returns (leaf, dst output)."""
    module = model.module
    leaves: list[torch.Tensor] = []

    def replace_with_leaf(t: torch.Tensor, layer: str) -> torch.Tensor:
        leaf = torch.zeros((batch, *t.shape[1:]), dtype=t.dtype, device=t.device).requires_grad_(True)
        leaves.append(leaf)
        return leaf.clone()  # a non-leaf: in-place ops downstream (+=, relu_) stay legal

    trace = Trace(module, [src, dst], edit={src: replace_with_leaf}, stop=[dst], detach=False, eval_mode=True)
    with torch.enable_grad(), trace, linearized(module, batch_fix=batch > 1):
        trace.forward(x)
    if dst not in trace.output or not leaves:
        raise ValueError(f"'{dst}' was not reached after '{src}'")
    out = trace.output[dst]
    if not out.requires_grad:
        raise _Independent(f"'{dst}' does not depend on '{src}'")
    if out.shape[0] != batch:
        raise ValueError(f"'{dst}' output has batch {out.shape[0]}, expected {batch}")
    return leaves[0], out


def _centre(out: torch.Tensor) -> torch.Tensor:
    """(B, C) values of dst: the centre position of a 4-D output, the features of a 2-D one."""
    return out[:, :, out.shape[2] // 2, out.shape[3] // 2] if out.dim() == 4 else out


def _as_maps(g: torch.Tensor) -> torch.Tensor:
    return g if g.dim() == 4 else g[:, :, None, None]


def _expanded(model: LoadedModel, x: torch.Tensor, src: str, dst: str, mods: dict[str, nn.Module],
              top_n: int, max_kernel: int, chunk: int | None, retry_if_truncated: bool,
              keep_all: bool | None = None, channels: tuple[int, int] = (0, 0)) -> LayerConnections | None:
    # 1. batch-1 pass and two random probes: the support of the dst centre's receptive field in src.
    try:
        leaf, out = _run_segment(model, x, src, dst, mods, 1)
    except _Independent:
        return _empty(src, dst, top_n, *channels)
    y = _centre(out)[0]
    c_dst = int(y.shape[0])
    maps = _as_maps(leaf)
    c_src, H, W = int(maps.shape[1]), int(maps.shape[2]), int(maps.shape[3])
    gen = torch.Generator(device="cpu").manual_seed(0)
    mask = torch.zeros(H, W, dtype=torch.bool)
    for _ in range(2):
        r = torch.randn(c_dst, generator=gen).to(device=y.device, dtype=y.dtype)
        (g,) = torch.autograd.grad(y, leaf, grad_outputs=r, retain_graph=True, allow_unused=True)
        if g is not None:
            mask |= (_as_maps(g)[0].abs().sum(0) > 0).cpu()
    if not mask.any():
        return _empty(src, dst, top_n, c_src, c_dst)
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    truncated = out.dim() == 4 and leaf.dim() == 4 and (r0 == 0 or c0 == 0 or r1 == H or c1 == W)
    if truncated and retry_if_truncated:
        return None
    bh, bw = r1 - r0, c1 - c0
    kh, kw = min(bh, max_kernel), min(bw, max_kernel)
    kr0, kc0 = (bh - kh) // 2, (bw - kw) // 2

    strength = torch.zeros(c_dst, c_src)
    l2 = torch.zeros(c_dst, c_src)
    kernels = torch.zeros(c_dst, c_src, kh, kw)

    def store(j: int, g: torch.Tensor) -> None:
        box = _as_maps(g)[:, :, r0:r1, c0:c1].detach().float().cpu()
        n = box.shape[0]
        strength[j:j + n] = box.sum(dim=(2, 3))
        l2[j:j + n] = box.flatten(2).norm(dim=2)
        kernels[j:j + n] = box[:, :, kr0:kr0 + kh, kc0:kc0 + kw]

    # 2. all dst channels: a real batch of B one-hot probes per forward/backward (efficient batched
    #    kernels); if the model cannot run the segment batched, one backward per channel.
    per = c_src * H * W
    step = chunk or max(1, min(128, int(1.5e7 // max(per, 1))))
    j = 0
    batched = step > 1
    while j < c_dst:
        n = min(step, c_dst - j)
        if batched:
            try:
                bleaf, bout = _run_segment(model, x, src, dst, mods, n)
                yb = _centre(bout)
                sel = yb[torch.arange(n), torch.arange(j, j + n)].sum()
                (g,) = torch.autograd.grad(sel, bleaf)
                store(j, g)
                j += n
                continue
            except Exception:  # noqa: BLE001 - e.g. a model that hard-codes batch 1
                batched = False
        for k in range(j, j + n):
            (g,) = torch.autograd.grad(y[k], leaf, retain_graph=True, allow_unused=True)
            store(k, torch.zeros_like(leaf) if g is None else g)
        j += n

    top_in = _rank(l2, top_n)
    top_out = _rank(l2.t().contiguous(), top_n)
    pairs: set[tuple[int, int]] = set()
    for jj, idx in enumerate(top_in):
        pairs.update((jj, int(i)) for i in idx)
    for ii, idx in enumerate(top_out):
        pairs.update((int(jj), ii) for jj in idx)
    if keep_all is None:
        keep_all = kernels.numel() <= KEEP_ALL_FLOATS
    ordered = sorted(pairs)
    if keep_all:
        kept = kernels.numpy().astype(np.float32)
        ordered = []
    elif ordered:
        jj_t = torch.tensor([p[0] for p in ordered])
        ii_t = torch.tensor([p[1] for p in ordered])
        kept = kernels[jj_t, ii_t].numpy().astype(np.float32)
    else:
        kept = np.zeros((0, kh, kw), dtype=np.float32)
    return LayerConnections(
        src_layer=src, dst_layer=dst, kind=EXPANDED, src_channels=c_src, dst_channels=c_dst, top_n=top_n,
        strength=strength.numpy().astype(np.float32), l2=l2.numpy().astype(np.float32),
        top_incoming=top_in, top_outgoing=top_out, kernel_size=(kh, kw), support_size=(bh, bw),
        truncated=bool(truncated), _pairs={p: k for k, p in enumerate(ordered)}, _kernels=kept)
