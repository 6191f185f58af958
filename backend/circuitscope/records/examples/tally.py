"""Pass 1's per-layer state: running top-k / bottom-k of each channel's spatial max / min, and statistics.

`LayerTallies` is mergeable (`.merge`) and serialisable (`state_dict`), so shards of the pass can
run anywhere and be combined.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from circuitscope.concepts.tally import ConceptTallies
from circuitscope.records.examples.quantile_sample import QuantileSample
from circuitscope.records.stats import RunningStats, Scratch, summarize
from circuitscope.records.topk import RunningTopK

__all__ = ["LayerTallies"]


_BLOCK = 64  # positions per block of the two-level arg-extreme below


def _arg_extreme(rows: torch.Tensor, largest: bool) -> torch.Tensor:
    """rows [..., L] -> argmax (argmin) over the last dim, the first occurrence as torch's (NaN
    counts as the extreme). On CPU, torch's argmax is a scalar loop (~6x slower than amax), so long
    rows go in two levels: the extreme of each block of 64 positions (a vectorised amax), the first
    block holding the row's extreme, then the arg-extreme inside that block only."""
    L = rows.shape[-1]
    if rows.device.type != "cpu" or L % _BLOCK or L < 4 * _BLOCK:
        return rows.argmax(dim=-1) if largest else rows.argmin(dim=-1)
    flat = rows.reshape(-1, L // _BLOCK, _BLOCK)
    blocks = flat.amax(dim=2) if largest else flat.amin(dim=2)
    j = blocks.argmax(dim=1) if largest else blocks.argmin(dim=1)
    inside = flat.gather(1, j.view(-1, 1, 1).expand(-1, 1, _BLOCK)).squeeze(1)
    pos = j * _BLOCK + (inside.argmax(dim=1) if largest else inside.argmin(dim=1))
    return pos.view(rows.shape[:-1])


def _candidate_positions(
    x: torch.Tensor, v: torch.Tensor, t: torch.Tensor, idx: torch.Tensor, kept: RunningTopK, largest: bool,
    also: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(positions, columns): argmax (argmin) over positions of the maps that would enter the list, i.e.
    whose (value, tiebreak, index) beats the k-th kept entry of their channel, and of every map of the
    images flagged in `also` (bool [B]); 0 elsewhere (those are not kept). `columns`: the batch rows
    holding at least one map that can enter the list (None: take all), so the merge can skip the rest."""
    B, C, L = x.shape
    wv, wt, wi = kept.values[:, -1], kept.tiebreak[:, -1], kept.index[:, -1]
    i = idx.view(B, 1)
    if largest:
        mask = (v > wv) | ((v == wv) & ((t > wt) | ((t == wt) & (i < wi))))
    else:
        mask = (v < wv) | ((v == wv) & ((t < wt) | ((t == wt) & (i < wi))))
    cols = mask.any(dim=1).nonzero().flatten()
    if also is not None:
        mask |= also.view(B, 1)
    nz = mask.nonzero()
    if nz.shape[0] * 4 >= B * C:  # most maps are candidates (first batches): one full pass
        return _arg_extreme(x, largest), None if cols.numel() == B else cols
    pos = torch.zeros((B, C), dtype=torch.int64, device=x.device)
    if nz.shape[0]:
        rows = x[nz[:, 0], nz[:, 1]]
        pos[nz[:, 0], nz[:, 1]] = _arg_extreme(rows, largest)
    return pos, cols


def _update_list(
    kept: RunningTopK, v: torch.Tensor, idx: torch.Tensor, pos: torch.Tensor, width: int, tiebreak: torch.Tensor,
    cols: torch.Tensor | None,
) -> None:
    """Merge the batch rows `cols` (None: all) into a top/bottom list: rows without a candidate map
    cannot change it (the merge is exact on any superset of the candidates)."""
    if cols is not None:
        if cols.numel() == 0:
            return
        v, idx, pos, tiebreak = v[cols], idx[cols], pos[cols], tiebreak[cols]
    kept.update(v, idx, pos // width, pos % width, tiebreak=tiebreak)


@dataclass
class LayerTallies:
    """Everything pass 1 keeps for one layer. `top[c]` / `bottom[c]` are lists of TopKEntry, best first."""

    layer: str
    num_channels: int
    map_shape: tuple[int, int]  # (H, W) of the activation map; (1, 1) for a [B, C] output
    top: RunningTopK
    bottom: RunningTopK
    running: RunningStats
    bottom_measure: str = "output"  # what bottom-k ranks: the output's or ("pre_relu") the final ReLU input's min
    # per-concept histograms of the per-image spatial max (concepts/tally.py); None: not tallied
    concepts: ConceptTallies | None = None
    # per channel, a seeded uniform sample of images for examples across the deciles; None: not kept
    sample: QuantileSample | None = None

    @classmethod
    def create(
        cls,
        layer: str,
        num_channels: int,
        map_shape: tuple[int, int],
        k: int,
        device: str | torch.device = "cpu",
        hist_positions: int | None = 64,
        bottom_measure: str = "output",
        concepts: list[str] | None = None,
        sample_size: int | None = 100,
        sample_seed: int = 0,
    ) -> "LayerTallies":
        if bottom_measure not in ("output", "pre_relu"):
            raise ValueError(f"bottom_measure must be 'output' or 'pre_relu', not {bottom_measure!r}")
        return cls(
            layer,
            int(num_channels),
            (int(map_shape[0]), int(map_shape[1])),
            RunningTopK(num_channels, k, largest=True, device=device),
            RunningTopK(num_channels, k, largest=False, device=device),
            RunningStats(num_channels, device=device, hist_positions=hist_positions),
            bottom_measure,
            ConceptTallies(concepts, num_channels, device=device) if concepts else None,
            QuantileSample(num_channels, sample_size, sample_seed, device) if sample_size else None,
        )

    @property
    def k(self) -> int:
        return self.top.k

    @property
    def images(self) -> int:
        return int(self.running.images)

    def stats(self, channel: int) -> dict[str, Any]:
        """JSON-able statistics of one channel (see RunningStats.results for the keys)."""
        return self.running.result(channel)

    def all_stats(self) -> list[dict[str, Any]]:
        return self.running.results()

    def update(
        self, act: torch.Tensor, image_idx: torch.Tensor, scratch: Scratch | None = None,
        pre: torch.Tensor | None = None, membership: torch.Tensor | None = None,
    ) -> None:
        """Fold in one batch of this layer's output [B, C, H, W] / [B, C, L] / [B, C]; with
        ``bottom_measure == "pre_relu"``, ``pre`` (the final ReLU's input, same shape) is required;
        ``membership`` (bool [B, K], the images' concepts) feeds the concept tallies, if any."""
        x = act.flatten(2) if act.dim() > 2 else act.unsqueeze(-1)
        if x.dtype != torch.float32:
            x = x.float()
        W = act.shape[3] if act.dim() == 4 else 1
        on_cpu = x.device.type == "cpu"
        xb = x  # what bottom-k ranks
        if self.bottom_measure == "pre_relu":
            if pre is None or pre.shape != act.shape:
                raise RuntimeError(f"Layer '{self.layer}' ended in a ReLU on the first batch but not on this one.")
            xb = pre.flatten(2) if pre.dim() > 2 else pre.unsqueeze(-1)
            if xb.dtype != torch.float32:
                xb = xb.float()
        # On accelerators argmax/argmin come with the max/min reduction (no host sync); on CPU they
        # cost a slow pass each, so they are computed only for maps that can enter a top/bottom list.
        stride = self.running.sample_stride(act)
        if xb is x:
            s = summarize(x, stride, scratch, positions=not on_cpu)
            bmin = s.min
        else:  # the output is the final ReLU of xb: its min and sign counts follow from xb's min
            if on_cpu:
                bmin = xb.amin(dim=2)
            else:
                bmin, bpos = xb.min(dim=2)
            s = summarize(x, stride, scratch, positions=not on_cpu, pre_min=bmin)
        top_cols = bottom_cols = sample_rows = None
        if on_cpu:
            # one argmax pass over the maps that can enter the top-k or the quantile sample
            sample_rows = self.sample.candidates(image_idx) if self.sample is not None else None
            also = None
            if sample_rows is not None:
                also = torch.zeros(image_idx.shape[0], dtype=torch.bool, device=x.device)
                also[sample_rows] = True
            elif self.sample is not None:  # not full yet: every image enters it
                also = torch.ones(image_idx.shape[0], dtype=torch.bool, device=x.device)
            amax, top_cols = _candidate_positions(x, s.max, s.mean, image_idx, self.top, True, also)
            amin, bottom_cols = _candidate_positions(xb, bmin, s.mean, image_idx, self.bottom, False)
        else:  # summarize(positions=True) returned the positions
            assert s.argmax is not None
            amax = s.argmax
            if xb is x:
                assert s.argmin is not None
                amin = s.argmin
            else:
                amin = bpos
        _update_list(self.top, s.max, image_idx, amax, W, s.mean, top_cols)
        _update_list(self.bottom, bmin, image_idx, amin, W, s.mean, bottom_cols)
        self.running.update_from_summary(s)
        if self.sample is not None:
            self.sample.update(x, s.max, image_idx, amax, W, rows=sample_rows)
        if self.concepts is not None:
            if membership is None:
                raise ValueError(f"Layer '{self.layer}' tallies concepts: pass the batch's concept membership")
            self.concepts.update(s.max, membership)

    def merge(self, other: "LayerTallies") -> "LayerTallies":
        """Fold in another shard's tallies of the same layer (disjoint image sets)."""
        if (other.layer, other.num_channels) != (self.layer, self.num_channels):
            raise ValueError("cannot merge tallies of different layers")
        if other.bottom_measure != self.bottom_measure:
            raise ValueError("cannot merge tallies whose bottom-k rank different measures")
        self.top.merge(other.top)
        self.bottom.merge(other.bottom)
        self.running.merge(other.running)
        if (self.concepts is None) != (other.concepts is None):
            raise ValueError("cannot merge tallies with and without concept scores")
        if self.concepts is not None:
            assert other.concepts is not None  # checked just above
            self.concepts.merge(other.concepts)
        if (self.sample is None) != (other.sample is None):
            raise ValueError("cannot merge tallies with and without a quantile sample")
        if self.sample is not None:
            assert other.sample is not None  # checked just above
            self.sample.merge(other.sample)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "num_channels": self.num_channels,
            "map_shape": list(self.map_shape),
            "top": self.top.state_dict(),
            "bottom": self.bottom.state_dict(),
            "running": self.running.state_dict(),
            "bottom_measure": self.bottom_measure,
            "concepts": None if self.concepts is None else self.concepts.state_dict(),
            "sample": None if self.sample is None else self.sample.state_dict(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "LayerTallies":
        running = RunningStats(
            state["num_channels"], device=device, hist_positions=state["running"].get("hist_positions")
        )
        running.load_state_dict(state["running"])
        return cls(
            state["layer"],
            int(state["num_channels"]),
            tuple(state["map_shape"]),
            RunningTopK.from_state_dict(state["top"], device),
            RunningTopK.from_state_dict(state["bottom"], device),
            running,
            state.get("bottom_measure", "output"),
            None if state.get("concepts") is None else ConceptTallies.from_state_dict(state["concepts"], device),
            None if state.get("sample") is None else QuantileSample.from_state_dict(state["sample"], device),
        )
