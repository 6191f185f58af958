"""Files saved by torch: {"kind": "checkpoint"} (a state dict into an architecture, or a pickled module) and
{"kind": "torchscript"} (made hookable by models.torchscript)."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ..base import LoadedModel, ModelLoadError
from .factory import call_factory
from .files import cause, extract_state, load_state_into, resolve_path, torch_load, wrap
from .registry import register
from .torchvision import build_torchvision_arch, drop_aux


@register("checkpoint")
def _load_checkpoint(spec: dict, data_dir: Path) -> LoadedModel:
    if not spec.get("path"):
        raise ModelLoadError("A checkpoint model spec needs 'path'")
    path = resolve_path(spec["path"], data_dir, "checkpoint")
    state = extract_state(torch_load(path, allow_pickle=bool(spec.get("allow_pickle", True))), path)
    if isinstance(state, nn.Module):
        model = state
    else:
        arch = spec.get("arch")
        if not arch:
            raise ModelLoadError(
                f"'{path}' holds a state dict ({len(state)} tensors, e.g. {list(state)[:3]}) but the spec has "
                f"no 'arch' to load it into: add \"arch\": \"<torchvision model name>\" or "
                f"\"arch\": \"path/to/file.py:build_fn\".")
        if ":" in str(arch):
            built = call_factory(str(arch), dict(spec.get("kwargs") or {}), data_dir)
            model = built.module if isinstance(built, LoadedModel) else built
        else:
            model = build_torchvision_arch(str(arch), state, num_classes=spec.get("num_classes"),
                                           transform_input=spec.get("transform_input"), kwargs=spec.get("kwargs"))
        load_state_into(model, state, f"'{path}'")
        drop_aux(model)
    return wrap(model, str(spec.get("name") or path.stem))


@register("torchscript")
def _load_torchscript(spec: dict, data_dir: Path) -> LoadedModel:
    if not spec.get("path"):
        raise ModelLoadError("A torchscript model spec needs 'path'")
    path = resolve_path(spec["path"], data_dir, "TorchScript model")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"'{path}' is not a TorchScript archive that torch.jit.load can read: {cause(e)}") from e
    # A Python module tree interpreting the script graphs, so forward hooks work (models.torchscript).
    # If the graphs use something it cannot interpret, keep the ScriptModule: it still runs, its
    # layers are listed statically, and require_hooks reports why hooks are unavailable.
    from ..torchscript import TorchScriptUnsupportedError, make_hookable, remember_unhookable
    try:
        model = make_hookable(model)
    except TorchScriptUnsupportedError as e:
        remember_unhookable(model, str(e))
    except Exception as e:  # noqa: BLE001 - a converter bug must not make the file unloadable
        remember_unhookable(model, f"Converting it to a hookable Python module failed: {cause(e)}. Load the original "
                                   f"nn.Module instead (model kind 'checkpoint' with an 'arch', or 'factory').")
    return wrap(model, str(spec.get("name") or path.stem))
