"""Per-channel activation statistics over every spatial position of every image, in bounded memory.

Exact (up to float rounding): count, mean and std (per-image Welford in float32, combined across
images, batches and shards with Chan's parallel formula in float64), min, max, the fractions of
positions that are > 0 ("sparsity" in the Curve Detectors sense: how often the unit fires), < 0
and == 0.

Approximate: quantiles and histograms come from `Float16Sketch`, a per-channel histogram over the
bit pattern of each value rounded to float16: sign, 5 exponent bits and the top `mantissa_bits`
(default 5) mantissa bits. That is a log-spaced histogram with 32 buckets per octave over
|x| in [6e-5, 65504] and linear buckets of width 2**-19 (~1.9e-6) below that; the bucket of zero
is read as exactly 0. It needs one float16 cast, one shift, one add and one bincount per value,
has a fixed size (C x 2**(6+m) int64 counts, 16 KiB per channel) and merges by addition.

Quantile error bound: for q in [0, 1], with f = floor(q * (n - 1)), the estimate lies within
    [x_(f) - d(x_(f)),  x_(f+1) + d(x_(f+1))],   d(v) = 2**-m * |v| + 2e-6   (~3.1% for m = 5)
where x_(i) are the exact order statistics (numpy's 'linear' quantile lies in [x_(f), x_(f+1)]).
The estimate interpolates linearly inside the bucket, which is usually far better than the bound,
and is clamped to the exact [min, max]. |values| >= 65520 saturate into the top bucket.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Float16Sketch", "MapSummary", "RunningStats", "Scratch", "DEFAULT_QUANTILES", "sample_stride", "summarize"]

DEFAULT_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.995)
_F16_MAX = 65504.0


def _as_bcl(x: torch.Tensor) -> torch.Tensor:
    """[B, C, ...] -> [B, C, L] (a [B, C] tensor becomes [B, C, 1])."""
    if x.dim() == 2:
        return x.unsqueeze(-1)
    return x.flatten(2)


class Float16Sketch:
    """Mergeable per-channel histogram of values bucketed by their float16 bit pattern (see module doc)."""

    _TENSORS = ("counts", "n", "min", "max")

    def __init__(self, num_channels: int, mantissa_bits: int = 5, device: str | torch.device = "cpu"):
        if not 0 <= mantissa_bits <= 10:
            raise ValueError("mantissa_bits must be in 0..10")
        self.num_channels, self.mantissa_bits = int(num_channels), int(mantissa_bits)
        self.device = torch.device(device)
        self.shift = 10 - self.mantissa_bits
        self.P = 1 << (5 + self.mantissa_bits)  # magnitude buckets per sign
        C, P = self.num_channels, self.P
        self.counts = torch.zeros(C * 2 * P, dtype=torch.int64, device=self.device)
        self.n = torch.zeros(C, dtype=torch.int64, device=self.device)
        self.min = torch.full((C,), float("inf"), dtype=torch.float32, device=self.device)
        self.max = torch.full((C,), float("-inf"), dtype=torch.float32, device=self.device)
        # signed key k = bits16 >> shift lies in [-P, P); bucket = k + P + channel * 2P
        self._offsets = (torch.arange(C, dtype=torch.int32, device=self.device) * (2 * P) + P).view(1, C, 1)

    # ---------------------------------------------------------------- updates
    def add(self, x: torch.Tensor, xmin: torch.Tensor | None = None, xmax: torch.Tensor | None = None) -> None:
        """Add values x [B, C, ...] (or [B, C]); per-channel min / max may be passed in if known."""
        x = _as_bcl(x)
        B, C, L = x.shape
        if xmin is None:
            xmin = x.amin(dim=(0, 2))
        if xmax is None:
            xmax = x.amax(dim=(0, 2))
        # int16 keys + int32 offsets: one pass that widens and offsets
        keys = torch.add(torch.bitwise_right_shift(x.to(torch.float16).view(torch.int16), self.shift), self._offsets)
        keys = keys.view(-1)
        if keys.device.type == "cpu" and keys.numel() >= self.counts.numel():
            self.counts += torch.bincount(keys, minlength=self.counts.numel())
        else:  # fewer values than buckets (e.g. the per-image maxima: B x C values for C x 2048 buckets):
            # scatter-adding them costs O(values), a full bincount O(buckets); on an accelerator,
            # bincount would also read max(keys) back to the host
            self.counts.index_add_(0, keys, torch.ones(1, dtype=torch.int64, device=keys.device).expand(keys.numel()))
        self.n += B * L
        self.min = torch.minimum(self.min, xmin.float())
        self.max = torch.maximum(self.max, xmax.float())

    def merge(self, other: "Float16Sketch") -> "Float16Sketch":
        if (other.num_channels, other.mantissa_bits) != (self.num_channels, self.mantissa_bits):
            raise ValueError("cannot merge sketches with different channels / mantissa bits")
        dev = self.device
        self.counts += other.counts.to(dev)
        self.n += other.n.to(dev)
        self.min = torch.minimum(self.min, other.min.to(dev))
        self.max = torch.maximum(self.max, other.max.to(dev))
        return self

    # ---------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {
            "num_channels": self.num_channels,
            "mantissa_bits": self.mantissa_bits,
            **{k: getattr(self, k).cpu() for k in self._TENSORS},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["num_channels"], state["mantissa_bits"]) != (self.num_channels, self.mantissa_bits):
            raise ValueError("state does not match this sketch")
        for k in self._TENSORS:
            setattr(self, k, state[k].to(self.device))

    # ---------------------------------------------------------------- read-out (numpy, host side)
    def _bucket_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """lo, hi magnitude of buckets p = 0..P-1 (as float64)."""
        P, s = self.P, self.shift
        bits = (np.arange(P + 1, dtype=np.int64) << s).clip(max=0x7FFF).astype(np.uint16)
        mags = bits.view(np.float16).astype(np.float64)
        lo, hi = mags[:P].copy(), mags[1:].copy()
        p_inf = 31 << self.mantissa_bits  # exponent all ones: inf / nan
        hi[p_inf - 1] = _F16_MAX
        lo[p_inf:] = _F16_MAX
        hi[p_inf:] = _F16_MAX
        return lo, hi

    def virtual_buckets(self, channels: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value-ordered buckets for the given channels: (lo [V], hi [V], counts [C', V]).

        Order: negative buckets (most negative first), zero (lo = hi = 0: exact zeros and the
        |x| < 2**-19 that share the float16 bucket of zero), positive buckets.
        """
        P = self.P
        chans = list(range(self.num_channels)) if channels is None else list(channels)
        counts = self.counts.view(self.num_channels, 2, P)[chans].cpu().numpy().astype(np.float64)
        neg, pos = counts[:, 0, :], counts[:, 1, :]
        lo, hi = self._bucket_edges()
        v_lo = np.concatenate([-hi[1:][::-1], [0.0], lo[1:]])
        v_hi = np.concatenate([-lo[1:][::-1], [0.0], hi[1:]])
        zero = neg[:, :1] + pos[:, :1]
        v_counts = np.concatenate([neg[:, 1:][:, ::-1], zero, pos[:, 1:]], axis=1)
        return v_lo, v_hi, v_counts

    def quantiles(self, qs=DEFAULT_QUANTILES, channels: list[int] | None = None) -> np.ndarray:
        """[C', len(qs)] estimated quantiles (NaN for a channel that saw no values)."""
        chans = list(range(self.num_channels)) if channels is None else list(channels)
        v_lo, v_hi, cnt = self.virtual_buckets(chans)
        n = cnt.sum(1)
        vmin = self.min[chans].cpu().numpy().astype(np.float64)
        vmax = self.max[chans].cpu().numpy().astype(np.float64)
        cum = np.cumsum(cnt, axis=1)
        out = np.full((len(chans), len(qs)), np.nan)
        rows = np.arange(len(chans))
        for j, q in enumerate(qs):
            r = q * np.maximum(n - 1, 0)
            f = np.floor(r)
            b = (cum > f[:, None]).argmax(axis=1)  # bucket holding order statistic f
            c_b = cnt[rows, b]
            start = cum[rows, b] - c_b
            frac = np.clip((r - start + 0.5) / np.maximum(c_b, 1), 0.0, 1.0)
            est = v_lo[b] + frac * (v_hi[b] - v_lo[b])
            est = np.clip(est, vmin, vmax)
            out[:, j] = np.where(n > 0, est, np.nan)
        return out

    def histogram(self, channel: int, bins: int = 50) -> dict[str, list]:
        """Display histogram: `bins` equal-width bins between the exact min and max.

        Each fine bucket's count is spread uniformly over the part of [lo, hi] inside [min, max];
        counts are rounded so that they still sum to the number of values.
        """
        n = int(self.n[channel])
        if n == 0:
            return {"edges": [], "counts": []}
        vmin, vmax = float(self.min[channel]), float(self.max[channel])
        if vmax <= vmin:
            return {"edges": [vmin, vmax], "counts": [n]}
        v_lo, v_hi, cnt = self.virtual_buckets([channel])
        cnt = cnt[0]
        keep = cnt > 0
        lo, hi, cnt = np.clip(v_lo[keep], vmin, vmax), np.clip(v_hi[keep], vmin, vmax), cnt[keep]
        edges = np.linspace(vmin, vmax, bins + 1)
        width = hi - lo
        point = width <= 0
        acc = np.zeros(bins)
        if point.any():
            pos = np.clip(np.searchsorted(edges, lo[point], side="right") - 1, 0, bins - 1)
            np.add.at(acc, pos, cnt[point])
        if (~point).any():
            l, h, c = lo[~point, None], hi[~point, None], cnt[~point, None]
            overlap = np.clip(np.minimum(h, edges[None, 1:]) - np.maximum(l, edges[None, :-1]), 0, None)
            acc += (overlap / (h - l) * c).sum(0)
        counts = np.diff(np.concatenate([[0.0], np.round(np.cumsum(acc))])).astype(np.int64)
        return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


@dataclass
class MapSummary:
    """Per-image, per-channel reductions of one batch of activation maps x [B, C, L] (all [B, C])."""

    L: int  # positions per map
    max: torch.Tensor
    min: torch.Tensor
    sum: torch.Tensor  # sum over the map (float32)
    mean: torch.Tensor  # sum / L
    sumsq: torch.Tensor  # sum of squares over the map (float32)
    npos: torch.Tensor  # positions > 0 (float32; exact below 2**24 positions per map)
    nneg: torch.Tensor  # positions < 0
    sample: torch.Tensor  # [B, C, S] the positions fed to the histogram sketch (S = L when not sampled)
    argmax: torch.Tensor | None = None  # flat position in the map (int64), when asked for
    argmin: torch.Tensor | None = None


def sample_stride(L: int, W: int, max_positions: int | None) -> int:
    """Stride of the fixed position sample of an L-position map W wide: 1 (every position) when
    L <= max_positions, else the smallest stride >= L / max_positions that is coprime with W, so
    that the sample walks diagonally over the map instead of repeating the same columns."""
    if max_positions is None or L <= max_positions:
        return 1
    s = -(-L // max_positions)
    while math.gcd(s, W) != 1:
        s += 1
    return s


class Scratch:
    """A reusable buffer for elementwise temporaries: re-allocating an activation-sized tensor every
    batch costs more (page faults) than the arithmetic itself on CPU."""

    def __init__(self) -> None:
        self._buf: torch.Tensor | None = None

    def like(self, x: torch.Tensor) -> torch.Tensor:
        b = self._buf
        if b is None or b.numel() < x.numel() or b.dtype != x.dtype or b.device != x.device:
            b = self._buf = torch.empty(x.numel(), dtype=x.dtype, device=x.device)
        return b[: x.numel()].view(x.shape)


_CACHE_CHUNK_BYTES = 1 << 20  # slices of a batch that stay in a core's L2 cache between passes


def summarize(
    x: torch.Tensor,
    sample_stride: int = 1,
    scratch: Scratch | None = None,
    positions: bool = False,
    pre_min: torch.Tensor | None = None,
) -> MapSummary:
    """One set of reductions per batch (a few vectorised passes over x, no host sync).

    With `positions`, also the argmax / argmin of every map (an extra pass each on CPU).
    `pre_min` [B, C]: x is the output of a ReLU-like clamp (relu, relu6, hardtanh(0, M)) of a map
    whose spatial min is `pre_min`. Then x >= 0, its min is min(max(pre_min, 0), max x) (the clamp
    is monotone) and it has no negatives: the min pass and one of the sign passes are skipped.
    """
    x = _as_bcl(x)
    if x.dtype != torch.float32:
        x = x.float()
    B, C, L = x.shape
    rows = max(1, _CACHE_CHUNK_BYTES // max(1, C * L * x.element_size()))
    if x.device.type == "cpu" and B > 2 * rows:
        # Large maps (the first layers): the passes below each stream the whole batch from memory; run
        # them on slices of images that fit in cache instead, so that only the first pass misses.
        parts = [summarize(x[i : i + rows], 1, scratch, positions, None if pre_min is None else pre_min[i : i + rows])
                 for i in range(0, B, rows)]

        def cat(field: str) -> torch.Tensor:
            return torch.cat([getattr(q, field) for q in parts])

        def cat_positions(field: str) -> torch.Tensor | None:  # argmax / argmin: None unless asked for
            got = [getattr(q, field) for q in parts]
            return None if got[0] is None else torch.cat(got)

        sample = x if sample_stride == 1 else x[:, :, sample_stride // 2 :: sample_stride]
        return MapSummary(L, cat("max"), cat("min"), cat("sum"), cat("mean"), cat("sumsq"), cat("npos"),
                          cat("nneg"), sample, cat_positions("argmax"), cat_positions("argmin"))
    if pre_min is not None:
        amax = None
        if positions:
            vmax, amax = x.max(dim=2)
        else:
            vmax = x.amax(dim=2)
        vmin = torch.minimum(pre_min.clamp(min=0), vmax)
        total = x.sum(dim=2)
        sumsq = torch.linalg.vector_norm(x, dim=2).square()
        # x >= 0: sign is 0 or 1 and its sum counts the positives (count_nonzero and bool sums over a
        # dim are ~15x slower than this float pass on CPU)
        npos = (torch.sign(x, out=scratch.like(x)) if scratch is not None else torch.sign(x)).sum(dim=2)
        sample = x if sample_stride == 1 else x[:, :, sample_stride // 2 :: sample_stride]
        return MapSummary(L, vmax, vmin, total, total / L, sumsq, npos, torch.zeros_like(npos), sample, amax, None)
    if positions:
        vmax, amax = x.max(dim=2)
        vmin, amin = x.min(dim=2)
    else:
        vmax, vmin, amax, amin = x.amax(dim=2), x.amin(dim=2), None, None
    total = x.sum(dim=2)
    mean = total / L
    sumsq = torch.linalg.vector_norm(x, dim=2).square()
    sign = torch.sign(x, out=scratch.like(x)) if scratch is not None else torch.sign(x)
    diff = sign.sum(dim=2)  # npos - nneg
    both = torch.linalg.vector_norm(sign, dim=2).square()  # npos + nneg (float, rounded when summed)
    npos, nneg = (both + diff) * 0.5, (both - diff) * 0.5
    sample = x if sample_stride == 1 else x[:, :, sample_stride // 2 :: sample_stride]
    return MapSummary(L, vmax, vmin, total, mean, sumsq, npos, nneg, sample, amax, amin)


class RunningStats:
    """Per-channel statistics of one layer over all positions of all images seen (see module doc).

    count, mean, std, min, max and the >0 / <0 / ==0 fractions use every position. The quantile /
    histogram sketch uses every position of maps with at most `hist_positions` positions, and for
    larger maps a fixed sample of about that many positions per map: every s-th position of the
    flattened map, s coprime with the map width (see `sample_stride`); None: always every position.
    A second sketch holds the per-image spatial maximum of each channel (the distribution the Curve
    Detectors paper plots), over every image.
    """

    def __init__(
        self,
        num_channels: int,
        device: str | torch.device = "cpu",
        mantissa_bits: int = 5,
        hist_positions: int | None = None,
    ):
        self.num_channels = int(num_channels)
        self.device = torch.device(device)
        self.hist_positions = hist_positions
        C = self.num_channels
        self.images = torch.zeros((), dtype=torch.int64, device=self.device)
        self.n = torch.zeros(C, dtype=torch.int64, device=self.device)
        self.npos = torch.zeros(C, dtype=torch.int64, device=self.device)
        self.nneg = torch.zeros(C, dtype=torch.int64, device=self.device)
        self.min = torch.full((C,), float("inf"), dtype=torch.float32, device=self.device)
        self.max = torch.full((C,), float("-inf"), dtype=torch.float32, device=self.device)
        self.mean = torch.zeros(C, dtype=torch.float64, device=self.device)
        self.m2 = torch.zeros(C, dtype=torch.float64, device=self.device)
        self.positions = Float16Sketch(C, mantissa_bits, self.device)  # all or sampled positions
        self.spatial_max = Float16Sketch(C, mantissa_bits, self.device)  # one value per image

    @property
    def count(self) -> torch.Tensor:
        return self.n

    def sample_stride(self, acts: torch.Tensor) -> int:
        """Stride of the histogram's position sample for maps shaped like acts [B, C, H, W] / [B, C, L]."""
        L = math.prod(acts.shape[2:]) if acts.dim() > 2 else 1
        W = acts.shape[3] if acts.dim() == 4 else 1
        return sample_stride(L, W, self.hist_positions)

    def update(self, acts: torch.Tensor) -> MapSummary:
        """Add a batch of activations [B, C, ...] (or [B, C]); returns the per-image summary."""
        s = summarize(_as_bcl(acts), self.sample_stride(acts))
        self.update_from_summary(s)
        return s

    def update_from_summary(self, s: MapSummary) -> None:
        B, C = s.max.shape
        if B == 0:
            return
        L = s.L
        # Chan: the batch's B maps of L positions each, then the batch with the running totals.
        mean_i = s.sum.double() / L
        m2_i = (s.sumsq.double() - mean_i.square() * L).clamp(min=0)  # per image sum of squared deviations
        n_a = self.n.double()
        n_b = float(B * L)
        mean_b = mean_i.mean(0)
        m2_b = m2_i.sum(0) + (mean_i - mean_b).square().sum(0) * L
        self._chan(n_a, mean_b, m2_b, n_b)
        self.n += B * L
        self.npos += s.npos.sum(0).round().long()
        self.nneg += s.nneg.sum(0).round().long()
        bmin, bmax = s.min.amin(0), s.max.amax(0)
        self.min = torch.minimum(self.min, bmin)
        self.max = torch.maximum(self.max, bmax)
        self.positions.add(s.sample, xmin=bmin, xmax=bmax)
        self.spatial_max.add(s.max, xmin=s.max.amin(0), xmax=bmax)
        self.images += B

    def _chan(self, n_a, mean_b, m2_b, n_b) -> None:
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (n_a * n_b / n)

    def merge(self, other: "RunningStats") -> "RunningStats":
        """Fold another shard's statistics into this one (in place; returns self)."""
        if other.num_channels != self.num_channels:
            raise ValueError("cannot merge RunningStats with different channel counts")
        dev = self.device
        n_a = self.n.double()
        n_b = other.n.to(dev).double()
        n = n_a + n_b
        safe = torch.where(n > 0, n, torch.ones_like(n))
        delta = other.mean.to(dev) - self.mean
        self.mean = self.mean + delta * n_b / safe
        self.m2 = self.m2 + other.m2.to(dev) + delta.square() * n_a * n_b / safe
        self.n += other.n.to(dev)
        self.npos += other.npos.to(dev)
        self.nneg += other.nneg.to(dev)
        self.min = torch.minimum(self.min, other.min.to(dev))
        self.max = torch.maximum(self.max, other.max.to(dev))
        self.positions.merge(other.positions)
        self.spatial_max.merge(other.spatial_max)
        self.images += other.images.to(dev)
        return self

    # ---------------------------------------------------------------- checkpointing
    _TENSORS = ("images", "n", "npos", "nneg", "min", "max", "mean", "m2")

    def state_dict(self) -> dict[str, Any]:
        return {
            "num_channels": self.num_channels,
            "hist_positions": self.hist_positions,
            **{k: getattr(self, k).cpu() for k in self._TENSORS},
            "positions": self.positions.state_dict(),
            "spatial_max": self.spatial_max.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_channels"] != self.num_channels or state.get("hist_positions") != self.hist_positions:
            raise ValueError("state does not match this RunningStats (channels / hist_positions)")
        for k in self._TENSORS:
            setattr(self, k, state[k].to(self.device))
        self.positions.load_state_dict(state["positions"])
        self.spatial_max.load_state_dict(state["spatial_max"])

    # ---------------------------------------------------------------- read-out
    def std(self) -> torch.Tensor:
        """Population standard deviation per channel (float64)."""
        n = self.n.double()
        return torch.sqrt(self.m2.clamp(min=0) / n.clamp(min=1))

    def quantiles(self, qs=DEFAULT_QUANTILES) -> np.ndarray:
        """[C, len(qs)] estimated quantiles over positions (see the module doc for the error bound)."""
        return self.positions.quantiles(qs)

    def result(self, channel: int, quantiles=DEFAULT_QUANTILES, bins: int = 50) -> dict[str, Any]:
        """JSON-able summary of one channel."""
        return self.results([channel], quantiles, bins)[0]

    def results(self, channels: list[int] | None = None, quantiles=DEFAULT_QUANTILES, bins: int = 50) -> list[dict]:
        """JSON-able summaries: images, count, mean, std, min, max, sparsity (fraction > 0),
        frac_negative, frac_zero, quantiles {q: v}, histogram {edges, counts}, max_quantiles,
        max_histogram (of per-image spatial maxima), hist_sampled_fraction."""
        chans = list(range(self.num_channels)) if channels is None else list(channels)
        if not chans:
            return []
        n = self.n.cpu().numpy()
        npos, nneg = self.npos.cpu().numpy(), self.nneg.cpu().numpy()
        mean, std = self.mean.cpu().numpy(), self.std().cpu().numpy()
        vmin, vmax = self.min.cpu().numpy(), self.max.cpu().numpy()
        n_sketch = self.positions.n.cpu().numpy()
        q_pos = self.positions.quantiles(quantiles, chans)
        q_max = self.spatial_max.quantiles(quantiles, chans)
        images = int(self.images)

        def num(v) -> float | None:
            v = float(v)
            return v if np.isfinite(v) else None

        out = []
        for i, c in enumerate(chans):
            cnt = int(n[c])
            d = max(cnt, 1)
            hist = self.positions.histogram(c, bins)
            frac = float(n_sketch[c]) / d
            if cnt and frac < 1:  # sampled: scale counts to the number of positions, keeping the total
                acc = np.cumsum(np.asarray(hist["counts"], dtype=np.float64)) * (cnt / max(float(n_sketch[c]), 1.0))
                hist["counts"] = [int(v) for v in np.diff(np.concatenate([[0.0], np.round(acc)]))]
            out.append(
                {
                    "images": images,
                    "count": cnt,
                    "mean": num(mean[c]) if cnt else None,
                    "std": num(std[c]) if cnt else None,
                    "min": num(vmin[c]),
                    "max": num(vmax[c]),
                    "sparsity": int(npos[c]) / d,  # fraction of positions > 0 (how often the unit fires)
                    "frac_negative": int(nneg[c]) / d,
                    "frac_zero": (cnt - int(npos[c]) - int(nneg[c])) / d if cnt else 0.0,
                    "quantiles": {str(q): num(q_pos[i, j]) for j, q in enumerate(quantiles)},
                    "histogram": hist,
                    "max_quantiles": {str(q): num(q_max[i, j]) for j, q in enumerate(quantiles)},
                    "max_histogram": self.spatial_max.histogram(c, bins),
                    "hist_sampled_fraction": min(frac, 1.0),
                }
            )
        return out
