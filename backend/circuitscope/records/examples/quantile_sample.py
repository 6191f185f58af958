"""Examples across the distribution: per channel, a seeded uniform sample of images, split into deciles.

Top-k and bottom-k show only the tails; a unit's typical response (Microscope's successors, the
Curve Detectors article) needs examples from every part of the distribution of the per-image
spatial max. Pass 1 keeps, per channel, the `size` images with the smallest seeded hash of their
dataset index (bottom-k sampling: a uniform sample without replacement, independent of batch size,
order and sharding) together with each image's spatial max and its position. The key depends on the
image only, so the sample is one list of images shared by all channels: keeping it is one small sort
of keys per batch plus a gather of [channels, size] values (no per-channel sort), and shards merge
exactly (`merge`): (hash, index) is a strict total order.
At the end the sample is sorted by activation and cut into 10 equal rank groups (the sample's
deciles, an unbiased estimate of the dataset's); from each group the `per_decile` images with the
smallest hash are shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from circuitscope.records.topk import TopKEntry

__all__ = ["QuantileSample", "QuantilePick", "DECILES", "hash_keys"]

DECILES = 10
_P = 2147483647  # 2^31 - 1 (prime): every product below stays < 2^62, so int64 never overflows


def hash_keys(image_idx: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded pseudo-random int64 key in [0, 2^31 - 1) per dataset index, on the indices' device."""
    x = (image_idx.to(torch.int64) % _P * 1103515245 + (seed % _P) * 12345 + 1) % _P
    for mult in (747796405, 277803737):  # mix: xor-shift then multiply, twice (no lattice of indices)
        x = x ^ (x >> 13)
        x = (x * mult) % _P
    return x


@dataclass(frozen=True)
class QuantilePick:
    decile: int  # 0 = the lowest tenth of the sample's per-image maxima, 9 = the highest
    slot: int  # 0.. per_decile-1 within the decile
    entry: TopKEntry  # value = the image's spatial max of the channel, y/x = its position, tiebreak = its key


class QuantileSample:
    """A uniform sample of `size` images (shared by all channels) with every channel's spatial max and position."""

    def __init__(self, num_channels: int, size: int = 100, seed: int = 0, device: str | torch.device = "cpu"):
        if size < DECILES:
            raise ValueError(f"the sample needs at least {DECILES} images per channel, not {size}")
        self.num_channels, self.size, self.seed = int(num_channels), int(size), int(seed)
        dev = self.device = torch.device(device)
        self.keys = torch.empty(0, dtype=torch.int64, device=dev)  # ascending
        self.index = torch.empty(0, dtype=torch.int64, device=dev)
        self.values = torch.empty(self.num_channels, 0, dtype=torch.float32, device=dev)
        self.ys = torch.empty(self.num_channels, 0, dtype=torch.int32, device=dev)
        self.xs = torch.empty(self.num_channels, 0, dtype=torch.int32, device=dev)

    def candidates(self, image_idx: torch.Tensor) -> torch.Tensor | None:
        """Batch rows whose image can enter the sample (its key beats the worst kept one); None: all
        (the sample is not full yet). Reads the count back to the host: for CPU callers."""
        if self.keys.numel() < self.size:
            return None
        return (hash_keys(image_idx, self.seed) <= self.keys[-1]).nonzero().flatten()

    def update(self, x: torch.Tensor, vmax: torch.Tensor, image_idx: torch.Tensor, argmax: torch.Tensor | None,
               width: int, rows: torch.Tensor | None = None) -> None:
        """x: [B, C, L] maps; vmax: [B, C] spatial max; argmax: [B, C] positions or None (computed here,
        on CPU only for the images that can enter the sample). `rows` (from `candidates`, with
        `argmax` given): only these rows can enter, and `argmax` need only be right on them."""
        keys = hash_keys(image_idx, self.seed)
        if argmax is not None and rows is not None:
            if rows.numel() == 0:
                return
            vmax, keys, image_idx, argmax = vmax[rows], keys[rows], image_idx[rows], argmax[rows]
        elif argmax is None:  # CPU: only images whose key beats the worst kept one
            if self.keys.numel() >= self.size:
                cand = (keys <= self.keys[-1]).nonzero().flatten()
                if cand.numel() == 0:
                    return
                x, vmax, keys, image_idx = x[cand], vmax[cand], keys[cand], image_idx[cand]
            argmax = x.argmax(dim=2)
        self._absorb(keys, image_idx.to(torch.int64), vmax.t().float(), (argmax // width).t().int(),
                     (argmax % width).t().int())

    def _absorb(self, keys, idx, values, ys, xs, dedup: bool = False) -> None:
        k, i = torch.cat([self.keys, keys.to(self.device)]), torch.cat([self.index, idx.to(self.device)])
        perm = torch.argsort(i, stable=True)
        perm = perm[torch.argsort(k[perm], stable=True)]  # by key, ties by index
        if dedup:  # the same image in both (overlapping shards): keep one copy
            si = i[perm]
            keep = torch.ones_like(si, dtype=torch.bool)
            keep[1:] = si[1:] != si[:-1]
            perm = perm[keep]
        perm = perm[: self.size]
        self.keys, self.index = k[perm], i[perm]
        self.values = torch.cat([self.values, values.to(self.device)], dim=1)[:, perm]
        self.ys = torch.cat([self.ys, ys.to(self.device)], dim=1)[:, perm]
        self.xs = torch.cat([self.xs, xs.to(self.device)], dim=1)[:, perm]

    def merge(self, other: "QuantileSample") -> "QuantileSample":
        if (other.seed, other.size, other.num_channels) != (self.seed, self.size, self.num_channels):
            raise ValueError("cannot merge quantile samples of different seeds / sizes / channels")
        self._absorb(other.keys, other.index, other.values, other.ys, other.xs, dedup=True)
        return self

    def entries(self, channel: int) -> list[TopKEntry]:
        """The sample of one channel, by key: value = the image's spatial max, tiebreak = its key."""
        v, y, x = (a[channel].cpu().tolist() for a in (self.values, self.ys, self.xs))
        return [TopKEntry(float(v[j]), int(i), int(y[j]), int(x[j]), float(k))
                for j, (i, k) in enumerate(zip(self.index.cpu().tolist(), self.keys.cpu().tolist()))]

    def picks(self, channel: int, per_decile: int = 5) -> list[QuantilePick]:
        """Per decile of the sample (by activation, ties by index), its `per_decile` images of smallest key."""
        def act(e: TopKEntry) -> float:
            return e.value if e.value == e.value else float("-inf")  # NaN counts as the weakest

        sample = sorted(self.entries(channel), key=lambda e: (act(e), e.image_index))
        n = len(sample)
        out: list[QuantilePick] = []
        if n < DECILES:
            return out
        for d in range(DECILES):
            group = sample[d * n // DECILES: (d + 1) * n // DECILES]
            chosen = sorted(group, key=lambda e: (e.tiebreak, e.image_index))[:per_decile]
            for slot, e in enumerate(sorted(chosen, key=lambda e: (act(e), e.image_index))):
                out.append(QuantilePick(d, slot, e))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "size": self.size, "num_channels": self.num_channels,
                **{name: getattr(self, name).cpu() for name in ("keys", "index", "values", "ys", "xs")}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "QuantileSample":
        obj = cls(state["num_channels"], state["size"], state["seed"], device)
        for name in ("keys", "index", "values", "ys", "xs"):
            setattr(obj, name, state[name].to(obj.device))
        return obj
