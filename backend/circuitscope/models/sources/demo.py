"""{"kind": "demo", "seed": 0}: the built-in concept CNN (models/demo.py), trained on first use."""
from __future__ import annotations

from pathlib import Path

from ..base import LoadedModel, ModelLoadError
from .files import cause
from .registry import register


@register("demo")
def _load_demo(spec: dict, data_dir: Path) -> LoadedModel:
    try:
        from ..demo import load_or_train_demo
    except ImportError as e:
        raise ModelLoadError(f"The demo model is not available (circuitscope.models.demo): {cause(e)}") from e
    lm = load_or_train_demo(data_dir, seed=int(spec.get("seed", 0)))
    if not isinstance(lm, LoadedModel):
        raise ModelLoadError(f"load_or_train_demo returned {type(lm).__name__}, expected LoadedModel")
    return lm
