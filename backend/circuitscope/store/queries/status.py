"""The status rules of a layer (from its stage rows) and of a model (from the layers some run asked for)."""
from __future__ import annotations

from typing import Any


def layer_status(stages: dict[str, dict[str, Any]]) -> tuple[str, float]:
    """(status, progress) of a layer from its stages: done | running | partial | not_computed."""
    if not stages:
        return "not_computed", 0.0
    done = sum(s["units_done"] for s in stages.values())
    total = sum(s["units_total"] for s in stages.values())
    statuses = {s["status"] for s in stages.values()}
    if statuses == {"done"}:
        return "done", 1.0
    progress = min(1.0, done / total) if total else 0.0
    if "running" in statuses:
        return "running", progress
    if "done" in statuses or done > 0:
        return "partial", progress
    return "not_computed", progress


def combined_status(statuses: list[str]) -> str:
    """A model's status from its layers' statuses."""
    s = set(statuses)
    if not s or s == {"not_computed"}:
        return "not_computed"
    if s == {"done"}:
        return "done"
    if "running" in s:
        return "running"
    return "partial"


def model_progress(layers: list[dict[str, Any]]) -> tuple[str, float]:
    """(status, progress) of a model from its layer summaries.

    Progress and status count the layers some run asked for (they have stage rows), not every module the
    model lists (sub-modules, pools, the classifier), which would read "partly computed" when all is done.
    """
    asked = [lyr for lyr in layers if lyr["stages"]]
    asked_units = sum(lyr["channels"] for lyr in asked)
    progress = (sum(lyr["progress"] * lyr["channels"] for lyr in asked) / asked_units) if asked_units else 0.0
    return combined_status([lyr["status"] for lyr in asked]), progress
