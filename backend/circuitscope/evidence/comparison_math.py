"""The arithmetic of the blind human comparison (Curve Detectors), kept free of the database so it is testable.

Inputs: a scan of the unit's per-image activation (spatial max) over many dataset images, cut into
equal-width bins over its whole range (so zero and negative values get bins of their own); a few images
sampled from every bin; and blind answers (fits / partly / not) for those images.

* **share per bin**: for each answer, the fraction of the bin's answered items that got it (an item answered
  by several annotators counts each answer; pooled over annotators, or per annotator).
* **expected-activation weight of a bin**: (1/N) * sum over the scanned images in the bin of max(0, a), i.e.
  activation x frequency: the bin's part of the unit's expected (positive) activation.
* **activation-weighted share**: sum_b weight_b * share_b / sum_b weight_b over the bins that have answers;
  ``coverage`` says how much of the expected activation those bins hold. The headline ``label_share`` counts
  "fits" as 1 and "partly" as 1/2 ("the label accounts for 74 % of the unit's expected activation").
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ANSWERS = ("fits", "partly", "not")
ANSWER_VALUE = {"fits": 1.0, "partly": 0.5, "not": 0.0}


def bin_edges(values: np.ndarray, bins: int) -> np.ndarray:
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


def bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value; the last bin includes its upper edge."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def bin_summary(values: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """{"edges", "counts", "weights"} of a scan (weights = expected positive activation per bin)."""
    values = np.asarray(values, dtype=np.float64)
    edges = bin_edges(values, bins)
    b = bin_of(values, edges)
    counts = np.bincount(b, minlength=bins)
    weights = np.bincount(b, weights=np.maximum(values, 0.0), minlength=bins) / max(1, len(values))
    return {"edges": edges.tolist(), "counts": counts.tolist(), "weights": weights.tolist()}


def sample_per_bin(values: np.ndarray, edges: np.ndarray, per_bin: int, seed: int) -> list[int]:
    """Positions (into `values`) of up to `per_bin` images drawn at random from every bin, bins in order."""
    rng = np.random.default_rng(seed)
    b = bin_of(np.asarray(values, dtype=np.float64), edges)
    out: list[int] = []
    for k in range(len(edges) - 1):
        members = np.flatnonzero(b == k)
        if len(members):
            out.extend(int(i) for i in rng.choice(members, size=min(per_bin, len(members)), replace=False))
    return out


@dataclass(frozen=True)
class Answer:
    bin: int
    answer: str
    annotator: str


def results(bins: dict[str, Sequence[float]], answers: Iterable[Answer]) -> dict[str, Any]:
    """Per-bin answer shares and activation-weighted shares, pooled and per annotator (module docstring)."""
    answers = list(answers)
    pooled = _one(bins, answers)
    by_user: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_user[a.annotator].append(a)
    return {**pooled, "annotators": {name: _one(bins, own) for name, own in sorted(by_user.items())}}


def _one(bins: dict[str, Sequence[float]], answers: list[Answer]) -> dict[str, Any]:
    weights = list(bins["weights"])
    n_bins = len(weights)
    tallies = [dict.fromkeys(ANSWERS, 0) for _ in range(n_bins)]
    for a in answers:
        if a.answer not in ANSWER_VALUE:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, not {a.answer!r}")
        if not 0 <= a.bin < n_bins:
            raise ValueError(f"bin {a.bin} outside 0..{n_bins - 1}")
        tallies[a.bin][a.answer] += 1
    per_bin = []
    weighted = dict.fromkeys(ANSWERS, 0.0)
    answered_weight = 0.0
    for k, t in enumerate(tallies):
        n = sum(t.values())
        shares = {ans: (t[ans] / n if n else None) for ans in ANSWERS}
        per_bin.append({"bin": k, "lo": bins["edges"][k], "hi": bins["edges"][k + 1], "answers": n,
                        "weight": weights[k], **{f"share_{ans}": shares[ans] for ans in ANSWERS}})
        if n:
            answered_weight += weights[k]
            for ans in ANSWERS:
                weighted[ans] += weights[k] * t[ans] / n
    total_weight = float(sum(weights))
    w: dict[str, float | None] = dict.fromkeys(ANSWERS, None)
    label_share: float | None = None
    if answered_weight > 0:
        w = {ans: weighted[ans] / answered_weight for ans in ANSWERS}
        label_share = weighted["fits"] / answered_weight + 0.5 * weighted["partly"] / answered_weight
    return {
        "answers": len(answers),
        "bins": per_bin,
        "weighted": w,
        "label_share": label_share,
        "coverage": (answered_weight / total_weight) if total_weight > 0 else None,
    }
