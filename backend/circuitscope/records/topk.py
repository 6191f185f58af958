"""Per-channel running top-k / bottom-k of per-image scores, with positions; mergeable and checkpointable.

Each entry is (value, tiebreak, image index, y, x). Ordering, best first:
  1. value            (higher first when `largest`, lower first otherwise)
  2. tiebreak         (same direction as value; the dataset pass feeds the image's spatial mean,
                       so among post-ReLU images whose minimum is 0, the quietest come first)
  3. image index      (lower first) - makes every result independent of batch size, order and sharding.
The order is a strict total order on distinct images, so the top-k of a union equals the top-k of
the shards' top-ks (`merge`), bit for bit. NaN values count as the worst possible value.

All state lives on the tensors' device; `update`/`merge` are a few sorts over [C, k + B]
with no host synchronisation and no Python loop over channels or images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = ["TopKEntry", "RunningTopK", "EMPTY_INDEX"]

EMPTY_INDEX = torch.iinfo(torch.int64).max  # marks an unused slot (sorts after every real image)


@dataclass(frozen=True)
class TopKEntry:
    value: float  # the score (spatial max for top-k, spatial min for bottom-k)
    image_index: int  # index into the dataset
    y: int  # position of the score in the activation map
    x: int
    tiebreak: float  # secondary key (the image's spatial mean of the channel)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunningTopK:
    def __init__(self, num_channels: int, k: int, largest: bool = True, device: str | torch.device = "cpu"):
        if k < 1:
            raise ValueError("k must be >= 1")
        self.num_channels, self.k, self.largest = int(num_channels), int(k), bool(largest)
        self.device = torch.device(device)
        worst = float("-inf") if self.largest else float("inf")
        shape = (self.num_channels, self.k)
        self.values = torch.full(shape, worst, dtype=torch.float32, device=self.device)
        self.tiebreak = torch.full(shape, worst, dtype=torch.float32, device=self.device)
        self.index = torch.full(shape, EMPTY_INDEX, dtype=torch.int64, device=self.device)
        self.ys = torch.zeros(shape, dtype=torch.int32, device=self.device)
        self.xs = torch.zeros(shape, dtype=torch.int32, device=self.device)
        self._cpu_cache: list[list[TopKEntry]] | None = None

    # ------------------------------------------------------------------ updates
    def update(
        self,
        values: torch.Tensor,
        image_idx: torch.Tensor,
        ys: torch.Tensor,
        xs: torch.Tensor,
        tiebreak: torch.Tensor | None = None,
    ) -> None:
        """Add one batch: values/ys/xs/tiebreak are [B, C]; image_idx is [B] (dataset indices)."""
        B, C = values.shape
        if C != self.num_channels:
            raise ValueError(f"expected {self.num_channels} channels, got {C}")
        dev = self.device
        idx = torch.as_tensor(image_idx, dtype=torch.int64).to(dev, non_blocking=True)
        if tiebreak is None:
            tiebreak = torch.zeros_like(values)
        self._absorb(
            values.to(dev, torch.float32).t(),
            tiebreak.to(dev, torch.float32).t(),
            idx.view(1, B).expand(C, B),
            ys.to(dev, torch.int32).t(),
            xs.to(dev, torch.int32).t(),
        )

    def merge(self, other: "RunningTopK") -> "RunningTopK":
        """Fold another shard's tallies into this one (in place; returns self).

        An image present in both (overlapping shards) is kept once.
        """
        if (other.num_channels, other.k, other.largest) != (self.num_channels, self.k, self.largest):
            raise ValueError("cannot merge RunningTopK with different channels / k / direction")
        dev = self.device
        self._absorb(
            other.values.to(dev),
            other.tiebreak.to(dev),
            other.index.to(dev),
            other.ys.to(dev),
            other.xs.to(dev),
            dedup=True,
        )
        return self

    def _absorb(self, v, t, idx, ys, xs, dedup: bool = False) -> None:
        worst = float("-inf") if self.largest else float("inf")
        v = torch.cat([self.values, v.masked_fill(v.isnan(), worst)], dim=1)
        t = torch.cat([self.tiebreak, t.masked_fill(t.isnan(), worst)], dim=1)
        idx = torch.cat([self.index, idx], dim=1)
        # Lexicographic order by three stable sorts, least significant key first; the permutations
        # are composed so that the payload columns are gathered only once.
        perm = torch.argsort(idx, dim=1, stable=True)
        if dedup:  # the same image twice (overlapping merge): keep one copy
            si = idx.gather(1, perm)
            dup = torch.zeros_like(si, dtype=torch.bool)
            dup[:, 1:] = (si[:, 1:] == si[:, :-1]) & (si[:, 1:] != EMPTY_INDEX)
            v = v.scatter(1, perm, v.gather(1, perm).masked_fill(dup, worst))
            t = t.scatter(1, perm, t.gather(1, perm).masked_fill(dup, worst))
            idx = idx.scatter(1, perm, si.masked_fill(dup, EMPTY_INDEX))
        perm = perm.gather(1, torch.argsort(t.gather(1, perm), dim=1, descending=self.largest, stable=True))
        perm = perm.gather(1, torch.argsort(v.gather(1, perm), dim=1, descending=self.largest, stable=True))
        perm = perm[:, : self.k]
        self.values, self.tiebreak, self.index = v.gather(1, perm), t.gather(1, perm), idx.gather(1, perm)
        self.ys = torch.cat([self.ys, ys], dim=1).gather(1, perm)
        self.xs = torch.cat([self.xs, xs], dim=1).gather(1, perm)
        self._cpu_cache = None

    # ------------------------------------------------------------------ results
    def counts(self) -> torch.Tensor:
        """Number of filled slots per channel ([C], int64)."""
        return (self.index != EMPTY_INDEX).sum(dim=1)

    def result(self) -> list[list[TopKEntry]]:
        """Per channel, its entries best first (fewer than k while fewer images were seen)."""
        if self._cpu_cache is None:
            v, t, idx, ys, xs = (a.cpu().tolist() for a in (self.values, self.tiebreak, self.index, self.ys, self.xs))
            self._cpu_cache = [
                [
                    TopKEntry(float(v[c][j]), int(idx[c][j]), int(ys[c][j]), int(xs[c][j]), float(t[c][j]))
                    for j in range(self.k)
                    if idx[c][j] != EMPTY_INDEX
                ]
                for c in range(self.num_channels)
            ]
        return self._cpu_cache

    def __getitem__(self, channel: int) -> list[TopKEntry]:
        return self.result()[channel]

    def __len__(self) -> int:
        return self.num_channels

    def image_indices(self) -> set[int]:
        """Every dataset index that appears in any channel's list."""
        idx = self.index[self.index != EMPTY_INDEX]
        return set(torch.unique(idx).cpu().tolist())

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {
            "num_channels": self.num_channels,
            "k": self.k,
            "largest": self.largest,
            "values": self.values.cpu(),
            "tiebreak": self.tiebreak.cpu(),
            "index": self.index.cpu(),
            "ys": self.ys.cpu(),
            "xs": self.xs.cpu(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state["num_channels"], state["k"], state["largest"]) != (self.num_channels, self.k, self.largest):
            raise ValueError("state does not match this RunningTopK (channels / k / direction)")
        dev = self.device
        self.values = state["values"].to(dev, torch.float32)
        self.tiebreak = state["tiebreak"].to(dev, torch.float32)
        self.index = state["index"].to(dev, torch.int64)
        self.ys = state["ys"].to(dev, torch.int32)
        self.xs = state["xs"].to(dev, torch.int32)
        self._cpu_cache = None

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "RunningTopK":
        obj = cls(state["num_channels"], state["k"], state["largest"], device=device)
        obj.load_state_dict(state)
        return obj
