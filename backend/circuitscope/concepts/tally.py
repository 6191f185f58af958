"""Concept selectivity tallied in the streaming examples pass, in memory independent of the dataset.

For one layer, per channel, the per-image spatial max goes into a histogram of all images and one
histogram per concept (the images that have it). Bins are powers of two wide and aligned to
multiples of their width (bin g of width 2^e holds [g 2^e, (g+1) 2^e)); a channel whose values leave
its window of `bins` bins is re-binned to a coarser width, which only adds counts of adjacent bins,
so no image is ever dropped or clamped, and two shards' histograms merge exactly onto the coarser
grid. From the histograms:
  * AUC of "image has the concept" vs "does not", scored by the spatial max (Mann-Whitney U / (P N)),
    images in the same bin counted as half a win: exact up to the bin width, and `auc_err`, the most
    that ties inside bins can move it (0.5 * sum_b pos_b neg_b / (P N)), is reported with it;
  * the mean spatial max with minus without the concept (exact: kept as sums, not binned).
Memory: concepts x channels x bins int32 counts (bins chosen so a layer stays under `budget_bytes`).
"""
from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["ConceptTallies", "histogram_auc"]

FORMAT = "circuitscope.concept_tallies/1"


def _bins_for(concepts: int, channels: int, budget_bytes: int, max_bins: int = 256, min_bins: int = 32) -> int:
    fit = budget_bytes // max(1, 4 * concepts * channels)
    b = 1 << max(0, int(fit).bit_length() - 1)
    return int(min(max_bins, max(min_bins, b)))


def histogram_auc(pos: torch.Tensor, total: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(auc, max tie error) from per-bin counts: pos [..., NB] of positives, total [..., NB] of all
    images (bins in increasing value order). NaN where a side is empty."""
    pos = pos.double()
    neg = total.double() - pos
    p, n = pos.sum(-1), neg.sum(-1)
    below = neg.cumsum(-1) - neg
    u = (pos * (below + 0.5 * neg)).sum(-1)
    ties = (pos * neg).sum(-1)
    denom = p * n
    nan = torch.full_like(u, math.nan)
    ok = denom > 0
    auc = torch.where(ok, u / denom.clamp(min=1), nan)
    err = torch.where(ok, 0.5 * ties / denom.clamp(min=1), nan)
    return auc, err


class ConceptTallies:
    """Per-concept histograms of one layer's per-image spatial max (see module docstring)."""

    def __init__(self, concepts: list[str], channels: int, bins: int | None = None,
                 device: str | torch.device = "cpu", budget_bytes: int = 32 << 20):
        self.concepts = list(concepts)
        self.channels = int(channels)
        K, C = len(self.concepts), self.channels
        self.bins = int(bins or _bins_for(K, C, budget_bytes))
        dev = torch.device(device)
        self.exp = torch.zeros(C, dtype=torch.int64, device=dev)  # bin width 2^exp
        self.off = torch.zeros(C, dtype=torch.int64, device=dev)  # global bin index of local bin 0
        self.initialised = False
        self.hist_with = torch.zeros((K, C, self.bins), dtype=torch.int32, device=dev)
        self.hist_all = torch.zeros((C, self.bins), dtype=torch.int64, device=dev)
        self.sum_with = torch.zeros((K, C), dtype=torch.float64, device=dev)
        self.sum_all = torch.zeros(C, dtype=torch.float64, device=dev)
        self.n_with = torch.zeros(K, dtype=torch.int64, device=dev)
        self.n_all = 0

    @property
    def device(self) -> torch.device:
        return self.hist_all.device

    # -- binning -------------------------------------------------------------------------------
    def _global(self, v: torch.Tensor, exp: torch.Tensor) -> torch.Tensor:
        """Global bin index floor(v / 2^exp) per [B, C] value (exact: scaling by a power of two)."""
        return torch.floor(torch.ldexp(v.double(), -exp)).to(torch.int64)

    def _init_grid(self, v: torch.Tensor) -> None:
        lo, hi = v.amin(0).double(), v.amax(0).double()
        span = torch.maximum(hi - lo, torch.maximum(hi.abs(), lo.abs()) * 1e-3).clamp(min=1e-6)
        # the first batch fills at most half the window, centred: room to grow before re-binning
        self.exp = torch.ceil(torch.log2(span / (self.bins // 2))).to(torch.int64)
        g_lo = self._global(lo[None], self.exp)[0]
        self.off = g_lo - self.bins // 4
        self.initialised = True

    def _regrid(self, new_exp: torch.Tensor, new_off: torch.Tensor) -> None:
        """Move every channel onto (new_exp >= exp, new_off); counts are summed into coarser bins."""
        d = new_exp - self.exp
        if bool((d < 0).any()):
            raise ValueError("regrid can only coarsen")
        j = torch.arange(self.bins, device=self.device)
        g = self.off[:, None] + j[None, :]  # [C, NB] global index of each old bin
        idx = torch.div(g, (1 << d)[:, None], rounding_mode="floor") - new_off[:, None]
        occupied = self.hist_all > 0
        if bool(((idx < 0) | (idx >= self.bins))[occupied].any()):
            raise AssertionError("regrid would drop counts")
        idx = idx.clamp(0, self.bins - 1)
        new_all = torch.zeros_like(self.hist_all).scatter_add_(1, idx, self.hist_all)
        K = len(self.concepts)
        new_with = torch.zeros_like(self.hist_with).scatter_add_(2, idx[None].expand(K, -1, -1), self.hist_with)
        self.hist_all, self.hist_with, self.exp, self.off = new_all, new_with, new_exp, new_off

    def _fit(self, g_lo: torch.Tensor, g_hi: torch.Tensor, exp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The finest (exp' >= exp, off') whose window holds global indices [g_lo, g_hi] (at `exp`)
        and every occupied bin; the data are centred in the window."""
        j = torch.arange(self.bins, device=self.device)
        occ = self.hist_all > 0
        big = torch.iinfo(torch.int64).max // 4
        occ_lo = torch.where(occ, self.off[:, None] + j, torch.full_like(self.hist_all, big)).amin(1)
        occ_hi = torch.where(occ, self.off[:, None] + j, torch.full_like(self.hist_all, -big)).amax(1)
        lo, hi = torch.minimum(g_lo, occ_lo), torch.maximum(g_hi, occ_hi)
        d = torch.zeros_like(exp)
        while True:
            step = 1 << d
            lo_d = torch.div(lo, step, rounding_mode="floor")
            hi_d = torch.div(hi, step, rounding_mode="floor")
            wide = (hi_d - lo_d) >= self.bins
            if not bool(wide.any()):
                break
            d = d + wide.to(torch.int64)
        new_off = lo_d - (self.bins - 1 - (hi_d - lo_d)) // 2
        return exp + d, new_off

    # -- tallying --------------------------------------------------------------------------------
    def update(self, vmax: torch.Tensor, membership: torch.Tensor) -> None:
        """Fold in one batch: vmax [B, C] per-image spatial max, membership bool [B, K]."""
        if vmax.shape[1] != self.channels or membership.shape[1] != len(self.concepts):
            raise ValueError("concept tally got a batch of the wrong shape")
        if vmax.shape[0] == 0:
            return
        v = vmax.to(self.device)
        m = membership.to(self.device)
        if not self.initialised:
            self._init_grid(v)
        g = self._global(v, self.exp)
        local = g - self.off
        out = (local < 0) | (local >= self.bins)
        if bool(out.any()):
            ch = out.any(0)
            new_exp, new_off = self._fit(g.amin(0), g.amax(0), self.exp)
            self._regrid(torch.where(ch, new_exp, self.exp), torch.where(ch, new_off, self.off))
            local = self._global(v, self.exp) - self.off
        C, NB = self.channels, self.bins
        flat = (torch.arange(C, device=self.device) * NB)[None, :] + local  # [B, C]
        self.hist_all.view(-1).index_add_(0, flat.reshape(-1), torch.ones(flat.numel(), dtype=torch.int64,
                                                                            device=self.device))
        nz = m.nonzero()  # (b, k) pairs
        if nz.shape[0]:
            cells = nz[:, 1:2] * (C * NB) + flat[nz[:, 0]]  # [P, C]
            self.hist_with.view(-1).index_add_(0, cells.reshape(-1), torch.ones(cells.numel(), dtype=torch.int32,
                                                                                 device=self.device))
        vd = v.double()
        self.sum_with += m.double().T @ vd
        self.sum_all += vd.sum(0)
        self.n_with += m.sum(0)
        self.n_all += int(v.shape[0])

    def merge(self, other: "ConceptTallies") -> "ConceptTallies":
        """Fold in another shard's tallies (disjoint images, same concepts and channels)."""
        if other.concepts != self.concepts or other.channels != self.channels or other.bins != self.bins:
            raise ValueError("cannot merge concept tallies of different concepts, channels or bin counts")
        if not other.initialised:
            return self
        o = other.to(self.device)
        if not self.initialised:
            self.__dict__.update({k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in o.__dict__.items()})
            return self
        exp = torch.maximum(self.exp, o.exp)
        j = torch.arange(self.bins, device=self.device)

        def occupied_range(t: ConceptTallies) -> tuple[torch.Tensor, torch.Tensor]:
            occ = t.hist_all > 0
            g = t.off[:, None] + j
            big = torch.iinfo(torch.int64).max // 4
            lo = torch.where(occ, g, torch.full_like(g, big)).amin(1)
            hi = torch.where(occ, g, torch.full_like(g, -big)).amax(1)
            sh = exp - t.exp
            return torch.div(lo, 1 << sh, rounding_mode="floor"), torch.div(hi, 1 << sh, rounding_mode="floor")

        lo_o, hi_o = occupied_range(o)
        lo_s, hi_s = occupied_range(self)
        # both onto a common grid: the coarser width, widened further until both ranges fit
        saved = self.hist_all
        self.hist_all = torch.zeros_like(saved)  # _fit looks at occupied bins; the ranges are passed in
        new_exp, new_off = self._fit(torch.minimum(lo_o, lo_s), torch.maximum(hi_o, hi_s), exp)
        self.hist_all = saved
        self._regrid(new_exp, new_off)
        o._regrid(new_exp, new_off)
        self.hist_all += o.hist_all
        self.hist_with += o.hist_with
        self.sum_with += o.sum_with
        self.sum_all += o.sum_all
        self.n_with += o.n_with
        self.n_all += o.n_all
        return self

    def to(self, device: str | torch.device) -> "ConceptTallies":
        """A copy on `device` (always a copy, so merging never mutates the other shard)."""
        out = ConceptTallies.__new__(ConceptTallies)
        out.__dict__.update({k: (v.to(device, copy=True) if isinstance(v, torch.Tensor) else v)
                             for k, v in self.__dict__.items()})
        out.concepts = list(self.concepts)
        return out

    # -- results ---------------------------------------------------------------------------------
    def scores(self) -> dict[str, Any]:
        """{"auc", "auc_err", "diff": [K, C] (NaN where a side is empty), "n_with": [K], "n_all"}."""
        auc, err = histogram_auc(self.hist_with, self.hist_all[None].expand_as(self.hist_with))
        n_with = self.n_with.double()[:, None]
        n_wo = self.n_all - n_with
        mean_with = self.sum_with / n_with.clamp(min=1)
        mean_wo = (self.sum_all[None] - self.sum_with) / n_wo.clamp(min=1)
        diff = torch.where((n_with > 0) & (n_wo > 0), mean_with - mean_wo, torch.full_like(mean_with, math.nan))
        return {"auc": auc.cpu(), "auc_err": err.cpu(), "diff": diff.cpu(), "n_with": self.n_with.cpu(),
                "n_all": self.n_all}

    def ranked(self, channel: int, limit: int | None = None) -> list[dict[str, Any]]:
        """The channel's concepts, highest AUC first: [{"concept", "auc", "auc_err", "diff", "n_with"}]."""
        s = self.scores()
        return ranked_from_scores(self.concepts, s, channel, limit)

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.__dict__.values() if isinstance(t, torch.Tensor))

    def state_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "concepts": list(self.concepts), "channels": self.channels, "bins": self.bins,
                "initialised": self.initialised, "n_all": self.n_all,
                **{k: getattr(self, k).cpu() for k in ("exp", "off", "hist_with", "hist_all", "sum_with",
                                                        "sum_all", "n_with")}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "ConceptTallies":
        if state.get("format") != FORMAT:
            raise ValueError(f"not a concept tally state (format {state.get('format')!r})")
        t = cls(state["concepts"], state["channels"], bins=state["bins"], device=device)
        t.initialised, t.n_all = bool(state["initialised"]), int(state["n_all"])
        for k in ("exp", "off", "hist_with", "hist_all", "sum_with", "sum_all", "n_with"):
            setattr(t, k, state[k].to(device))
        return t


def ranked_from_scores(concepts: list[str], s: dict[str, Any], channel: int, limit: int | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k, name in enumerate(concepts):
        auc = float(s["auc"][k, channel])
        if math.isnan(auc):
            continue
        rows.append({"concept": name, "auc": auc, "auc_err": float(s["auc_err"][k, channel]),
                     "diff": float(s["diff"][k, channel]), "n_with": int(s["n_with"][k])})
    rows.sort(key=lambda r: (-r["auc"], r["concept"]))
    return rows if limit is None else rows[:limit]
