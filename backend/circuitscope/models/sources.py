"""Model sources: turn a JSON-able spec into a LoadedModel.

    load_model({"kind": "torchvision", "name": "googlenet", "weights": "IMAGENET1K_V1"}, data_dir)

Kinds (see MODEL_KINDS):
  demo         {"kind": "demo", "seed": 0}  -> models.demo.load_or_train_demo(data_dir, seed)
  torchvision  {"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1" | "DEFAULT" | None,
                "weights_file": optional local state dict, "kwargs": optional builder kwargs}
  lucent       {"kind": "lucent", "pretrained": true, "weights_file": optional}  (InceptionV1 from Lucid)
  checkpoint   {"kind": "checkpoint", "path": "model.pt", "arch": "resnet18" | "file.py:fn" (for state
                dicts), "num_classes": optional, "allow_pickle": true}
  torchscript  {"kind": "torchscript", "path": "model.ts"}  (made hookable by models.torchscript.make_hookable)
  factory      {"kind": "factory", "target": "path/to/file.py:build" | "package.module:build", "kwargs": {}}

Common optional keys: "name", "input_size", "mean", "std", "class_names" (a list, or a text file with
one name per line / a JSON list). Relative paths are tried as given, then under data_dir.

Every loader returns the module in eval mode with `source` = the spec. All failures are
ModelLoadError with a message naming the source, the cause and the fix. Pretrained weights are
never required: offline, a failed download says where torch looks for the file so it can be placed
there by hand (or passed as "weights_file").
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from .base import IMAGENET_MEAN, IMAGENET_STD, LoadedModel, ModelLoadError

Loader = Callable[[dict, Path], LoadedModel]
MODEL_KINDS: dict[str, Loader] = {}

# Lucid's InceptionV1 (inception5h) takes inputs in [-117, 138]: x01 * 255 - 117. With
# LoadedModel.normalize = (x - mean) / std that is mean = 117/255, std = 1/255.
LUCENT_MEAN = (117.0 / 255.0,) * 3
LUCENT_STD = (1.0 / 255.0,) * 3
LUCENT_WEIGHTS_URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"


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
    _apply_common(lm, spec, data_dir)
    lm.source = dict(spec)
    lm.module.eval()
    try:
        lm.to(device)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Could not move model '{lm.name}' to device '{device}': {_cause(e)}") from e
    return lm


# ----------------------------------------------------------------------------- helpers

def _cause(e: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()[-1]


def _resolve_path(p: str | os.PathLike, data_dir: Path, what: str) -> Path:
    path = Path(os.path.expanduser(str(p)))
    if path.exists():
        return path
    if not path.is_absolute() and (data_dir / path).exists():
        return data_dir / path
    also = "" if path.is_absolute() else f" (also tried '{data_dir / path}')"
    raise ModelLoadError(f"{what}: file '{path}' not found{also}")


def _triple(v: Any, key: str) -> tuple[float, ...]:
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
    path = _resolve_path(value, data_dir, "class_names")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict):  # {"0": "tench", ...}
            return [str(data[k]) for k in sorted(data, key=lambda k: int(k))]
        return [str(x) for x in data]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _apply_common(lm: LoadedModel, spec: dict, data_dir: Path) -> None:
    if spec.get("name"):
        lm.name = str(spec["name"])
    if spec.get("input_size") is not None:
        lm.input_size = int(spec["input_size"])
    if spec.get("mean") is not None:
        lm.mean = _triple(spec["mean"], "mean")
    if spec.get("std") is not None:
        lm.std = _triple(spec["std"], "std")
    if len(lm.mean) != len(lm.std):
        raise ModelLoadError(f"mean {lm.mean} and std {lm.std} have different lengths")
    if spec.get("class_names") is not None:
        lm.class_names = read_class_names(spec["class_names"], data_dir)


def _wrap(module: nn.Module, name: str, **kw) -> LoadedModel:
    module.eval()
    return LoadedModel(name=name, module=module, **{k: v for k, v in kw.items() if v is not None})


def _hub_checkpoint_path(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _torch_load(path: Path, allow_pickle: bool = True) -> Any:
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
            f"'{path}' is not a PyTorch checkpoint that torch.load can read: {_cause(first)}") from first
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
                             f"{shown}): {_cause(e)}") from e


_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "ema", "model_ema")


def _extract_state(obj: Any, path: Path) -> nn.Module | dict[str, torch.Tensor]:
    """A checkpoint object -> an nn.Module or a flat state dict (DataParallel 'module.' stripped)."""
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd = obj
        else:
            for k in _STATE_KEYS:
                if k in obj and (isinstance(obj[k], nn.Module) or isinstance(obj[k], dict)):
                    return _extract_state(obj[k], path)
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


def _load_state_into(module: nn.Module, sd: dict[str, torch.Tensor], where: str) -> None:
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


def _last_linear_name(module: nn.Module) -> str | None:
    last = None
    for n, m in module.named_modules():
        if isinstance(m, nn.Linear):
            last = n
    return last


# ----------------------------------------------------------------------------- demo

@register("demo")
def _load_demo(spec: dict, data_dir: Path) -> LoadedModel:
    try:
        from .demo import load_or_train_demo
    except ImportError as e:
        raise ModelLoadError(f"The demo model is not available (circuitscope.models.demo): {_cause(e)}") from e
    lm = load_or_train_demo(data_dir, seed=int(spec.get("seed", 0)))
    if not isinstance(lm, LoadedModel):
        raise ModelLoadError(f"load_or_train_demo returned {type(lm).__name__}, expected LoadedModel")
    return lm


# ----------------------------------------------------------------------------- torchvision

_AUX_ARCHS = {"googlenet", "inception_v3"}


def _tv_models():
    try:
        import torchvision
    except ImportError as e:
        raise ModelLoadError(f"torchvision is not installed: {_cause(e)}") from e
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
        raise ModelLoadError(f"torchvision model '{name}' has no pretrained weights: {_cause(e)}") from e
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
        raise ModelLoadError(f"Could not build torchvision '{name}' with {kw}: {_cause(e)}") from e
    if sd is not None and num_classes is None and "num_classes" not in kw:
        last = _last_linear_name(model)
        key = f"{last}.weight" if last else None
        if key and key in sd and tuple(sd[key].shape) != tuple(dict(model.named_parameters())[key].shape):
            kw["num_classes"] = int(sd[key].shape[0])
            model = tvm.get_model(name, weights=None, **kw)
    return model


def _drop_aux(model: nn.Module) -> None:
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
        path = _resolve_path(spec["weights_file"], data_dir, f"weights_file for torchvision '{arch}'")
        state = _extract_state(_torch_load(path, allow_pickle=bool(spec.get("allow_pickle", True))), path)
        if isinstance(state, nn.Module):
            model = state
        else:
            ncls = spec.get("num_classes", len(meta["class_names"]) if meta["class_names"] else None)
            # torchvision's pretrained GoogLeNet/Inception3 (ported from TF) need transform_input=True.
            ti = spec.get("transform_input", True if arch in _AUX_ARCHS else None)
            model = build_torchvision_arch(arch, state, num_classes=ncls, transform_input=ti, kwargs=kwargs)
            _load_state_into(model, state, f"'{path}'")
        if not kwargs.get("aux_logits"):
            _drop_aux(model)
    elif weights is not None:
        cached = _hub_checkpoint_path(weights.url)
        try:
            model = tvm.get_model(arch, weights=weights, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(
                f"Could not load pretrained weights {weights} for torchvision '{arch}': {_cause(e)}. "
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
            raise ModelLoadError(f"Could not build torchvision '{arch}' with {kwargs}: {_cause(e)}") from e
    return _wrap(model, str(spec.get("name") or arch), input_size=meta["input_size"], mean=meta["mean"],
                 std=meta["std"], class_names=meta["class_names"])


# ----------------------------------------------------------------------------- lucent

@register("lucent")
def _load_lucent(spec: dict, data_dir: Path) -> LoadedModel:
    arch = str(spec.get("arch", "inceptionv1")).lower()
    if arch not in ("inceptionv1", "inception_v1", "googlenet"):
        raise ModelLoadError(f"lucent model '{arch}' is not supported; lucent's modelzoo provides 'inceptionv1'")
    try:
        from lucent.modelzoo import inceptionv1
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Could not import lucent (pip install torch-lucent): {_cause(e)}") from e
    redirected = bool(spec.get("redirected_relu", True))
    cached = _hub_checkpoint_path(LUCENT_WEIGHTS_URL)
    if spec.get("weights_file"):
        path = _resolve_path(spec["weights_file"], data_dir, "weights_file for lucent InceptionV1")
        state = _extract_state(_torch_load(path, allow_pickle=bool(spec.get("allow_pickle", True))), path)
        if isinstance(state, nn.Module):
            model = state
        else:
            model = inceptionv1(pretrained=False, redirected_ReLU=redirected)
            _load_state_into(model, state, f"'{path}'")
    elif spec.get("pretrained", True):
        try:
            model = inceptionv1(pretrained=True, redirected_ReLU=redirected)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(
                f"Could not load lucent's pretrained InceptionV1: {_cause(e)}. lucent downloads "
                f"{LUCENT_WEIGHTS_URL} and caches it as '{cached}' (torch.hub.get_dir()/checkpoints). "
                f"Offline, copy inception5h.pth there, or set \"weights_file\": \"/path/to/inception5h.pth\", "
                f"or \"pretrained\": false for random weights.") from e
    else:
        model = inceptionv1(pretrained=False, redirected_ReLU=redirected)
    return _wrap(model, str(spec.get("name") or "inceptionv1"), input_size=224, mean=LUCENT_MEAN, std=LUCENT_STD)


# ----------------------------------------------------------------------------- checkpoint / torchscript

@register("checkpoint")
def _load_checkpoint(spec: dict, data_dir: Path) -> LoadedModel:
    if not spec.get("path"):
        raise ModelLoadError("A checkpoint model spec needs 'path'")
    path = _resolve_path(spec["path"], data_dir, "checkpoint")
    state = _extract_state(_torch_load(path, allow_pickle=bool(spec.get("allow_pickle", True))), path)
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
            built = _call_factory(str(arch), dict(spec.get("kwargs") or {}), data_dir)
            model = built.module if isinstance(built, LoadedModel) else built
        else:
            model = build_torchvision_arch(str(arch), state, num_classes=spec.get("num_classes"),
                                           transform_input=spec.get("transform_input"), kwargs=spec.get("kwargs"))
        _load_state_into(model, state, f"'{path}'")
        _drop_aux(model)
    return _wrap(model, str(spec.get("name") or path.stem))


@register("torchscript")
def _load_torchscript(spec: dict, data_dir: Path) -> LoadedModel:
    if not spec.get("path"):
        raise ModelLoadError("A torchscript model spec needs 'path'")
    path = _resolve_path(spec["path"], data_dir, "TorchScript model")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"'{path}' is not a TorchScript archive that torch.jit.load can read: {_cause(e)}") from e
    # A Python module tree interpreting the script graphs, so forward hooks work (models.torchscript).
    # If the graphs use something it cannot interpret, keep the ScriptModule: it still runs, its
    # layers are listed statically, and require_hooks reports why hooks are unavailable.
    from .torchscript import TorchScriptUnsupportedError, make_hookable, remember_unhookable
    try:
        model = make_hookable(model)
    except TorchScriptUnsupportedError as e:
        remember_unhookable(model, str(e))
    except Exception as e:  # noqa: BLE001 - a converter bug must not make the file unloadable
        remember_unhookable(model, f"Converting it to a hookable Python module failed: {_cause(e)}. Load the original "
                                   f"nn.Module instead (model kind 'checkpoint' with an 'arch', or 'factory').")
    return _wrap(model, str(spec.get("name") or path.stem))


# ----------------------------------------------------------------------------- factory

def _import_target(target: str, data_dir: Path) -> Callable[..., Any]:
    if ":" not in target:
        raise ModelLoadError(f"factory target '{target}' must look like 'path/to/file.py:function' or "
                             f"'package.module:function'")
    mod_part, fn_name = target.rsplit(":", 1)
    if mod_part.endswith(".py") or "/" in mod_part or os.sep in mod_part:
        path = _resolve_path(mod_part, data_dir, f"factory file for '{target}'").resolve()
        mod_name = f"_circuitscope_factory_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"Cannot import '{path}' as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # let the file import its siblings
        try:
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        except BaseException as e:  # noqa: BLE001 - includes SystemExit from scripts
            sys.modules.pop(mod_name, None)
            raise ModelLoadError(f"Importing factory file '{path}' failed: {_cause(e)}") from e
        finally:
            try:
                sys.path.remove(str(path.parent))
            except ValueError:
                pass
        where = str(path)
    else:
        try:
            module = importlib.import_module(mod_part)
        except BaseException as e:  # noqa: BLE001
            raise ModelLoadError(f"Importing factory module '{mod_part}' failed: {_cause(e)}") from e
        where = mod_part
    fn = getattr(module, fn_name, None)
    if fn is None or not callable(fn):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(fn_name, names, n=3)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        raise ModelLoadError(f"'{where}' has no callable '{fn_name}'.{hint}")
    return fn


def _call_factory(target: str, kwargs: dict, data_dir: Path) -> nn.Module | LoadedModel:
    fn = _import_target(target, data_dir)
    try:
        result = fn(**kwargs)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"Factory '{target}' raised while building the model: {_cause(e)}") from e
    if not isinstance(result, (nn.Module, LoadedModel)):
        raise ModelLoadError(f"Factory '{target}' returned {type(result).__name__}; it must return a torch "
                             f"nn.Module (or a circuitscope LoadedModel)")
    return result


@register("factory")
def _load_factory(spec: dict, data_dir: Path) -> LoadedModel:
    target = spec.get("target")
    if not target:
        raise ModelLoadError("A factory model spec needs 'target' ('path/to/file.py:function' or 'pkg.mod:function')")
    result = _call_factory(str(target), dict(spec.get("kwargs") or {}), data_dir)
    if isinstance(result, LoadedModel):
        result.module.eval()
        return result
    return _wrap(result, str(spec.get("name") or str(target).rsplit(":", 1)[-1]))
