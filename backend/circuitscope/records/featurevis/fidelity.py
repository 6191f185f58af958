"""Fidelity: does a render excite its unit as much as the unit's best dataset example does?

A render's fidelity is its ``peak`` (the spatial max of the unit's map of the layer output on the
stored image, the quantity dataset examples are ranked by) divided by the unit's top dataset
example's activation. A unit's *best* fidelity is the largest over its positive renders (channel,
neuron, diversity; not negative). Renders below ``WEAK`` are flagged, with the reason when known.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

WEAK = 0.5  # renders below half the top example are flagged
POSITIVE_OBJECTIVES = ("channel", "neuron", "diversity")


def fidelity_ratio(peak: float | None, top_activation: float | None) -> float | None:
    """peak / top example; None when either is unknown or the top example is not positive."""
    if peak is None or top_activation is None or not math.isfinite(peak) or not math.isfinite(top_activation):
        return None
    if top_activation <= 0:
        return None
    return float(peak) / float(top_activation)


def weak_render_reason(objective: str, ratio: float | None, linear: bool | None, steps: int | None,
                       converged: bool | None) -> str | None:
    """Why a positive render is below ``WEAK`` of the top example, when the renderer knows; else None."""
    if ratio is None or objective not in POSITIVE_OBJECTIVES or ratio >= WEAK:
        return None
    if linear and objective in ("channel", "diversity"):
        return ("linear unit: its channel objective (mean over positions) barely depends on the image; "
                "see the neuron render")
    if converged is False:
        return f"not converged: the objective was still rising after {steps} steps (raise steps)"
    return None


@dataclass(frozen=True)
class UnitFidelity:
    layer: str
    channel: int
    best: float | None  # largest fidelity over the unit's positive renders
    best_objective: str | None


def best_per_unit(rows: Iterable[tuple[str, int, str, float | None]]) -> list[UnitFidelity]:
    """rows: (layer, channel, objective, fidelity) -> one UnitFidelity per (layer, channel)."""
    best: dict[tuple[str, int], tuple[float | None, str | None]] = {}
    for layer, channel, objective, fid in rows:
        key = (layer, channel)
        cur = best.setdefault(key, (None, None))
        if objective in POSITIVE_OBJECTIVES and fid is not None and (cur[0] is None or fid > cur[0]):
            best[key] = (fid, objective)
    return [UnitFidelity(layer, ch, f, o) for (layer, ch), (f, o) in best.items()]


def summarize(units: Iterable[UnitFidelity]) -> dict:
    """Per layer and overall: units, units with a known fidelity, share >= 1x and >= 0.5x, median, min."""
    by_layer: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for u in units:
        counts[u.layer] = counts.get(u.layer, 0) + 1
        if u.best is not None:
            by_layer.setdefault(u.layer, []).append(u.best)

    def stats(values: list[float], n: int) -> dict:
        k = len(values)
        return {
            "units": n, "measured": k,
            "at_least_1x": (sum(v >= 1.0 for v in values) / k) if k else None,
            "at_least_half": (sum(v >= WEAK for v in values) / k) if k else None,
            "median": statistics.median(values) if k else None,
            "min": min(values) if k else None,
        }

    layers = {layer: stats(by_layer.get(layer, []), n) for layer, n in counts.items()}
    every = [v for vs in by_layer.values() for v in vs]
    return {"overall": stats(every, sum(counts.values())), "layers": layers}


def format_summary(summary: dict) -> str:
    """A few lines for the end of ``circuitscope compute``."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.0f} %"

    def num(x):
        return "-" if x is None else f"{x:.2f}x"

    o = summary["overall"]
    lines = [f"Feature-vis fidelity (best render's peak / top dataset example), {o['measured']} of {o['units']} units "
             f"measured: >= 1x {pct(o['at_least_1x'])}, >= 0.5x {pct(o['at_least_half'])}, median {num(o['median'])}, "
             f"min {num(o['min'])}"]
    for layer, s in summary["layers"].items():
        lines.append(f"  {layer:<24} {s['measured']:>4}/{s['units']:<4} >= 1x {pct(s['at_least_1x']):>5}  "
                     f">= 0.5x {pct(s['at_least_half']):>5}  median {num(s['median']):>6}  min {num(s['min']):>6}")
    return "\n".join(lines)
