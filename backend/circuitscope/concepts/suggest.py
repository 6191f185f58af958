"""A label suggested by concept selectivity, where a unit is clearly selective for one concept."""
from __future__ import annotations

from typing import Any

from circuitscope.concepts.vocabulary import display_name

__all__ = ["SUGGEST_AUC", "suggestion"]

SUGGEST_AUC = 0.9  # a unit whose best concept reaches this AUC gets a suggested label


def suggestion(ranked: list[dict[str, Any]], threshold: float = SUGGEST_AUC) -> dict[str, Any] | None:
    """{"label", "concepts", "auc", "description"} from a unit's ranked scores (best first), or None.

    The label names every concept of a *different kind* that also clears the threshold (a red,
    45-degree unit is "red, orientation ≈ 45°"), at most two; same-kind runners-up (two colours)
    are left to the annotator."""
    if not ranked or ranked[0]["auc"] < threshold:
        return None
    picked: list[dict[str, Any]] = []
    kinds: set[str] = set()
    for r in ranked:
        if r["auc"] < threshold or len(picked) == 2:
            break
        kind = r["concept"].split("=", 1)[0]
        if kind in kinds:
            continue
        kinds.add(kind)
        picked.append(r)
    label = ", ".join(display_name(r["concept"]) for r in picked)
    why = "; ".join(f"{r['concept']} AUC {r['auc']:.2f} (mean max {r['diff']:+.3g} vs without)" for r in picked)
    return {"label": label, "concepts": [r["concept"] for r in picked], "auc": picked[0]["auc"],
            "description": f"Suggested from concept selectivity: {why}."}
