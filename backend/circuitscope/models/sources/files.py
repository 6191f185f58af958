"""What the loaders share: reading files (paths tried as given, then under data_dir), checkpoints
(torch.load, weights only unless allowed), state dicts into architectures, and one-line failure causes."""
from __future__ import annotations

import json
import os
import traceback
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from ..base import LoadedModel, ModelLoadError


def cause(e: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()[-1]


def resolve_path(p: str | os.PathLike, data_dir: Path, what: str) -> Path:
    path = Path(os.path.expanduser(str(p)))
    if path.exists():
        return path
    if not path.is_absolute() and (data_dir / path).exists():
        return data_dir / path
    also = "" if path.is_absolute() else f" (also tried '{data_dir / path}')"
    raise ModelLoadError(f"{what}: file '{path}' not found{also}")


def triple(v: Any, key: str) -> tuple[float, ...]:
    try:
        if isinstance(v, (int, float)):
            return (float(v),) * 3
        t = tuple(float(x) for x in v)
    except (TypeError, ValueError) as e:
        raise ModelLoadError(f"Model spec '{key}' must be a number or a list of numbers, got {v!r}") from e
    if not t:
        raise ModelLoadError(f"Model spec '{key}' is empty")
    return t


def read_class_names(value: Any, data_dir: Path) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(x) for x in value]
    path = resolve_path(value, data_dir, "class_names")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict):  # {"0": "tench", ...}
            return [str(data[k]) for k in sorted(data, key=lambda k: int(k))]
        return [str(x) for x in data]
    return [line.strip() for line in text.splitlines() if line.strip()]


def wrap(module: nn.Module, name: str, **kw) -> LoadedModel:
    module.eval()
    return LoadedModel(name=name, module=module, **{k: v for k, v in kw.items() if v is not None})


def hub_checkpoint_path(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def torch_load(path: Path, allow_pickle: bool = True) -> Any:
    """torch.load with weights_only=True. Only a checkpoint that holds pickled Python objects (a whole
    nn.Module) is re-read with weights_only=False -- which runs code from the file, so only with
    files you trust; "allow_pickle": false refuses that."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        first = e
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001 - not a zip checkpoint at all
        unsafe = None
    if not unsafe:
        raise ModelLoadError(
            f"'{path}' is not a PyTorch checkpoint that torch.load can read: {cause(first)}") from first
    unsafe = sorted(unsafe)  # torch returns them in set order: sorted, the message (and its first five) is stable
    shown = ", ".join(unsafe[:5]) + (" ..." if len(unsafe) > 5 else "")
    if not allow_pickle:
        raise ModelLoadError(
            f"'{path}' contains pickled Python objects ({shown}), e.g. a whole nn.Module, which need "
            f"torch.load(weights_only=False); that runs code from the file. Set \"allow_pickle\": true if you "
            f"trust it, or save a state_dict instead.") from first
    warnings.warn(f"Loading '{path}' with torch.load(weights_only=False): it holds pickled objects ({shown}); "
                  f"only do this with files you trust.", stacklevel=3)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Could not unpickle '{path}' (the classes it references must be importable: "
                             f"{shown}): {cause(e)}") from e


_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "ema", "model_ema")


def extract_state(obj: Any, path: Path) -> nn.Module | dict[str, torch.Tensor]:
    """A checkpoint object -> an nn.Module or a flat state dict (DataParallel 'module.' stripped)."""
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd = obj
        else:
            for k in _STATE_KEYS:
                if k in obj and (isinstance(obj[k], nn.Module) or isinstance(obj[k], dict)):
                    return extract_state(obj[k], path)
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if not tensors:
                raise ModelLoadError(
                    f"'{path}' is a dict without tensors or any of the keys {list(_STATE_KEYS)}; keys: "
                    f"{list(obj)[:20]}. It does not look like a model checkpoint.")
            sd = tensors
        if sd and all(k.startswith("module.") for k in sd):
            sd = {k[len("module."):]: v for k, v in sd.items()}
        return sd
    raise ModelLoadError(f"'{path}' holds a {type(obj).__name__}, not a state dict or an nn.Module")


def load_state_into(module: nn.Module, sd: dict[str, torch.Tensor], where: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    mismatched = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        def summary(label, items):
            if not items:
                return ""
            shown = ", ".join(items[:5]) + (f", ... ({len(items)} in all)" if len(items) > 5 else "")
            return f" {label}: {shown}."
        raise ModelLoadError(
            f"The weights in {where} do not fit the architecture {type(module).__name__}."
            + summary("Missing keys", missing) + summary("Unexpected keys", unexpected)
            + summary("Shape mismatches (file vs model)", mismatched)
            + (" Set 'num_classes' if the classifier size differs." if mismatched else ""))
    module.load_state_dict(sd, strict=True)


def last_linear_name(module: nn.Module) -> str | None:
    last = None
    for n, m in module.named_modules():
        if isinstance(m, nn.Linear):
            last = n
    return last
