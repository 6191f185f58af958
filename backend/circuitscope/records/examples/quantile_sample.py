"""Examples across the distribution: per channel, a seeded uniform sample of images, split into deciles.

Top-k and bottom-k show only the tails; a unit's typical response (Microscope's successors, the
Curve Detectors article) needs examples from every part of the distribution of the per-image
spatial max. Pass 1 keeps, per channel, the `size` images with the smallest seeded hash of their
dataset index (bottom-k sampling: a uniform sample without replacement, independent of batch size,
order and sharding) together with each image's spatial max and its position. Because the key is a
strict total order (hash, then activation, then index), shards merge exactly (`merge`), bit for bit.
At the end the sample is sorted by activation and cut into 10 equal rank groups (the sample's
deciles, an unbiased estimate of the dataset's); from each group the `per_decile` images with the
smallest hash are shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from circuitscope.records.topk import RunningTopK, TopKEntry

__all__ = ["QuantileSample", "QuantilePick", "DECILES", "hash_keys"]

DECILES = 10
_P = 2147483647  # 2^31 - 1 (prime): every product below stays < 2^62, so int64 never overflows


def hash_keys(image_idx: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded pseudo-random key in [0, 1) per dataset index (float32), on the indices' device."""
    x = (image_idx.to(torch.int64) % _P * 1103515245 + (seed % _P) * 12345 + 1) % _P
    for mult in (747796405, 277803737):  # mix: xor-shift then multiply, twice (no lattice of indices)
        x = x ^ (x >> 13)
        x = (x * mult) % _P
    return x.to(torch.float64).div(_P).to(torch.float32)


@dataclass(frozen=True)
class QuantilePick:
    decile: int  # 0 = the lowest tenth of the sample's per-image maxima, 9 = the highest
    slot: int  # 0.. per_decile-1 within the decile
    entry: TopKEntry  # value = the image's spatial max of the channel, y/x = its position


class QuantileSample:
    """Per channel: a uniform sample of `size` images with their spatial max (mergeable, checkpointable)."""

    def __init__(self, num_channels: int, size: int = 100, seed: int = 0, device: str | torch.device = "cpu"):
        if size < DECILES:
            raise ValueError(f"the sample needs at least {DECILES} images per channel, not {size}")
        self.seed = int(seed)
        # value = hash key (smallest kept), tiebreak = the image's spatial max
        self.kept = RunningTopK(num_channels, size, largest=False, device=device)

    @property
    def size(self) -> int:
        return self.kept.k

    def update(self, x: torch.Tensor, vmax: torch.Tensor, image_idx: torch.Tensor, argmax: torch.Tensor | None,
               width: int) -> None:
        """x: [B, C, L] maps; vmax: [B, C] spatial max; argmax: [B, C] positions or None (computed here,
        on CPU only for the images that can enter the sample)."""
        B, C = vmax.shape
        keys = hash_keys(image_idx, self.seed)
        if argmax is None:  # CPU: only images whose key beats some channel's worst kept key
            worst = self.kept.values[:, -1].max()
            cand = (keys <= worst).nonzero().flatten()
            if cand.numel() == 0:
                return
            if cand.numel() < B:
                x, vmax, keys, image_idx = x[cand], vmax[cand], keys[cand], image_idx[cand]
            argmax = x.argmax(dim=2)
        b = keys.shape[0]
        self.kept.update(keys.view(b, 1).expand(b, C), image_idx, argmax // width, argmax % width, tiebreak=vmax)

    def merge(self, other: "QuantileSample") -> "QuantileSample":
        if other.seed != self.seed:
            raise ValueError("cannot merge quantile samples drawn with different seeds")
        self.kept.merge(other.kept)
        return self

    def picks(self, channel: int, per_decile: int = 5) -> list[QuantilePick]:
        """Per decile of the sample (by activation, ties by index), its `per_decile` images of smallest key."""
        sample = sorted(self.kept[channel], key=lambda e: (e.tiebreak, e.image_index))
        n = len(sample)
        out: list[QuantilePick] = []
        if n < DECILES:
            return out
        for d in range(DECILES):
            group = sample[d * n // DECILES: (d + 1) * n // DECILES]
            chosen = sorted(group, key=lambda e: (e.value, e.image_index))[:per_decile]
            for slot, e in enumerate(sorted(chosen, key=lambda e: (e.tiebreak, e.image_index))):
                out.append(QuantilePick(d, slot, TopKEntry(e.tiebreak, e.image_index, e.y, e.x, e.value)))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "kept": self.kept.state_dict()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "QuantileSample":
        obj = cls.__new__(cls)
        obj.seed = int(state["seed"])
        obj.kept = RunningTopK.from_state_dict(state["kept"], device)
        return obj
