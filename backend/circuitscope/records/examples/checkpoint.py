"""Checkpoints of pass 1: what settings they belong to (fingerprint), atomic save, tolerant load."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from circuitscope.datasets.base import ImageDataset
from circuitscope.models.base import LoadedModel

log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_FORMAT", "fingerprint", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "circuitscope.examples/1"


def fingerprint(model: LoadedModel, dataset: ImageDataset, layers: list[str], k: int, hist_positions) -> str:
    desc: Any
    try:
        desc = dataset.describe()
    except Exception:  # noqa: BLE001 - a dataset without describe() still checkpoints by name/length
        desc = getattr(dataset, "name", "")
    return json.dumps(
        {
            "model": model.name,
            "input_size": model.input_size,
            "dataset": desc,
            "num_images": len(dataset),
            "layers": list(layers),
            "k": k,
            "hist_positions": hist_positions,
            "bottom": "pre_relu_if_final_relu",
        },
        sort_keys=True,
        default=str,
    )


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path | None, expected_fingerprint: str) -> dict[str, Any] | None:
    if path is None or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a torn/corrupt checkpoint is ignored, not fatal
        log.warning("ignoring unreadable checkpoint %s (%s); starting over", path, e)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != expected_fingerprint:
        log.warning("checkpoint %s was made for different settings; starting over", path)
        return None
    return state
