"""{"kind": "demo", "seed": 0}: the built-in concept CNN (models/demo.py), trained on first use."""
from __future__ import annotations

from pathlib import Path

from ..base import LoadedModel
from .registry import register


@register("demo")
def _load_demo(spec: dict, data_dir: Path) -> LoadedModel:
    from ..demo import load_or_train_demo  # imports the concept dataset: only when the demo is asked for

    return load_or_train_demo(data_dir, seed=int(spec.get("seed", 0)))
