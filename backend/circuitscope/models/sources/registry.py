"""The registry of model sources: `@register("kind")` loaders and `load_model(spec)`, which applies the
spec's common keys (name, input_size, mean, std, class_names) to whatever the loader built."""
from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import torch

from ..base import LoadedModel, ModelLoadError
from .files import cause, read_class_names, triple

Loader = Callable[[dict, Path], LoadedModel]
MODEL_KINDS: dict[str, Loader] = {}


def register(kind: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        MODEL_KINDS[kind] = fn
        return fn
    return deco


def load_model(spec: dict, data_dir: Path | str, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the model described by `spec` (see the module docstring), in eval mode on `device`."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ModelLoadError(f"A model spec must be a dict with a 'kind' (one of {sorted(MODEL_KINDS)}); got {spec!r}")
    kind = spec["kind"]
    loader = MODEL_KINDS.get(kind)
    if loader is None:
        close = difflib.get_close_matches(str(kind), list(MODEL_KINDS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ModelLoadError(f"Unknown model kind '{kind}'.{hint} Known kinds: {', '.join(sorted(MODEL_KINDS))}")
    data_dir = Path(data_dir)
    lm = loader(spec, data_dir)
    apply_common(lm, spec, data_dir)
    lm.source = dict(spec)
    lm.module.eval()
    try:
        lm.to(device)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Could not move model '{lm.name}' to device '{device}': {cause(e)}") from e
    return lm


def apply_common(lm: LoadedModel, spec: dict, data_dir: Path) -> None:
    if spec.get("name"):
        lm.name = str(spec["name"])
    if spec.get("input_size") is not None:
        lm.input_size = int(spec["input_size"])
    if spec.get("mean") is not None:
        lm.mean = triple(spec["mean"], "mean")
    if spec.get("std") is not None:
        lm.std = triple(spec["std"], "std")
    if len(lm.mean) != len(lm.std):
        raise ModelLoadError(f"mean {lm.mean} and std {lm.std} have different lengths")
    if spec.get("class_names") is not None:
        lm.class_names = read_class_names(spec["class_names"], data_dir)


