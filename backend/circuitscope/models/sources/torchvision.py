"""{"kind": "torchvision", "name": ..., "weights": ...}: torchvision architectures, pretrained or not, or
shaped to take a local state dict."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..base import IMAGENET_MEAN, IMAGENET_STD, LoadedModel, ModelLoadError
from .files import cause, extract_state, hub_checkpoint_path, last_linear_name, load_state_into, resolve_path, torch_load, wrap
from .registry import register

_AUX_ARCHS = {"googlenet", "inception_v3"}


def _tv_models():
    try:
        import torchvision
    except ImportError as e:
        raise ModelLoadError(f"torchvision is not installed: {cause(e)}") from e
    return torchvision.models


def _tv_check_name(name: str) -> str:
    tvm = _tv_models()
    names = tvm.list_models()
    if name in names:
        return name
    if name.lower() in names:
        return name.lower()
    close = difflib.get_close_matches(name.lower(), names, n=5, cutoff=0.5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise ModelLoadError(f"torchvision has no model '{name}'.{hint} See torchvision.models.list_models() "
                         f"({len(names)} models).")


def _tv_weights(name: str, weights: Any):
    if weights in (None, False, "", "none", "None"):
        return None
    tvm = _tv_models()
    try:
        enum = tvm.get_model_weights(name)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"torchvision model '{name}' has no pretrained weights: {cause(e)}") from e
    try:
        return enum.verify(weights)
    except Exception as e:  # noqa: BLE001
        valid = [w for w in enum.__members__]
        raise ModelLoadError(f"Unknown weights '{weights}' for torchvision '{name}'. Valid: {', '.join(valid)} "
                             f"(or null for random weights).") from e


def _tv_meta(weights) -> dict[str, Any]:
    meta: dict[str, Any] = {"input_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "class_names": None}
    if weights is None:
        return meta
    cats = weights.meta.get("categories")
    if cats:
        meta["class_names"] = list(cats)
    try:
        t = weights.transforms()
        crop = getattr(t, "crop_size", None)
        if crop:
            meta["input_size"] = int(crop[0] if isinstance(crop, (list, tuple)) else crop)
        if getattr(t, "mean", None) is not None:
            meta["mean"] = tuple(float(x) for x in t.mean)
        if getattr(t, "std", None) is not None:
            meta["std"] = tuple(float(x) for x in t.std)
    except Exception:  # noqa: BLE001 - meta is best effort
        pass
    return meta


def build_torchvision_arch(name: str, sd: dict[str, torch.Tensor] | None = None, *, num_classes: int | None = None,
                           transform_input: bool | None = None, kwargs: dict | None = None) -> nn.Module:
    """A torchvision architecture with random weights shaped to take `sd` (aux heads, classifier size)."""
    tvm = _tv_models()
    name = _tv_check_name(name)
    kw = dict(kwargs or {})
    if name in _AUX_ARCHS:
        kw.setdefault("init_weights", False)
        has_aux = sd is not None and any(k.startswith(("aux1.", "aux2.", "AuxLogits.")) for k in sd)
        kw.setdefault("aux_logits", has_aux)
        if transform_input is not None:
            kw.setdefault("transform_input", transform_input)
    if num_classes is not None:
        kw["num_classes"] = int(num_classes)
    try:
        model = tvm.get_model(name, weights=None, **kw)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Could not build torchvision '{name}' with {kw}: {cause(e)}") from e
    if sd is not None and num_classes is None and "num_classes" not in kw:
        last = last_linear_name(model)
        key = f"{last}.weight" if last else None
        if key and key in sd and tuple(sd[key].shape) != tuple(dict(model.named_parameters())[key].shape):
            kw["num_classes"] = int(sd[key].shape[0])
            model = tvm.get_model(name, weights=None, **kw)
    return model


def drop_aux(model: nn.Module) -> None:
    if getattr(model, "aux_logits", False):
        setattr(model, "aux_logits", False)  # noqa: B010 - a plain attribute, not a submodule
        for attr in ("aux1", "aux2", "AuxLogits"):
            if hasattr(model, attr):
                setattr(model, attr, None)


@register("torchvision")
def _load_torchvision(spec: dict, data_dir: Path) -> LoadedModel:
    arch = spec.get("arch") or spec.get("name")
    if not arch:
        raise ModelLoadError("A torchvision model spec needs 'name' (e.g. \"googlenet\")")
    arch = _tv_check_name(str(arch))
    weights = _tv_weights(arch, spec.get("weights"))
    meta = _tv_meta(weights)
    kwargs = dict(spec.get("kwargs") or {})
    tvm = _tv_models()

    if spec.get("weights_file"):
        path = resolve_path(spec["weights_file"], data_dir, f"weights_file for torchvision '{arch}'")
        state = extract_state(torch_load(path, allow_pickle=bool(spec.get("allow_pickle", True))), path)
        if isinstance(state, nn.Module):
            model = state
        else:
            ncls = spec.get("num_classes", len(meta["class_names"]) if meta["class_names"] else None)
            # torchvision's pretrained GoogLeNet/Inception3 (ported from TF) need transform_input=True.
            ti = spec.get("transform_input", True if arch in _AUX_ARCHS else None)
            model = build_torchvision_arch(arch, state, num_classes=ncls, transform_input=ti, kwargs=kwargs)
            load_state_into(model, state, f"'{path}'")
        if not kwargs.get("aux_logits"):
            drop_aux(model)
    elif weights is not None:
        cached = hub_checkpoint_path(weights.url)
        try:
            model = tvm.get_model(arch, weights=weights, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(
                f"Could not load pretrained weights {weights} for torchvision '{arch}': {cause(e)}. "
                f"torchvision downloads {weights.url} and caches it as '{cached}' "
                f"(torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it). Offline, copy that file "
                f"there by hand, or give a local copy with \"weights_file\": \"/path/to/{cached.name}\", "
                f"or use \"weights\": null for random weights.") from e
    else:
        if arch in _AUX_ARCHS:
            kwargs.setdefault("init_weights", False)
            kwargs.setdefault("aux_logits", False)
        try:
            model = tvm.get_model(arch, weights=None, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"Could not build torchvision '{arch}' with {kwargs}: {cause(e)}") from e
    return wrap(model, str(spec.get("name") or arch), input_size=meta["input_size"], mean=meta["mean"],
                 std=meta["std"], class_names=meta["class_names"])
