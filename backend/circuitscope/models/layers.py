"""Layer discovery: which named modules of a network hold units, and name/glob resolution.

`list_layers` runs ONE forward pass of a dummy input (zeros, batch 1, `input_size` square,
as many channels as `model.mean` has) with every named module traced (``activations.Trace``)
and records each module's output shape, its execution order and how often it ran.

The default list (``include_all=False``) keeps a module when
  * it ran exactly once in the forward pass (a module reused inside a block, such as the
    ``relu`` of torchvision's BasicBlock which runs twice, is ambiguous: its parent is the unit);
  * its output is a 4-D tensor ``(N, C, H, W)``, or a 2-D tensor ``(N, F)`` produced by an
    ``nn.Linear`` or by the module whose output is the network's output (the logits);
  * it is not a pure container (``nn.Sequential``/``ModuleList``/``ModuleDict``: their output is
    the output of their last child, which is listed instead), nor a no-op (``nn.Identity``,
    ``nn.Dropout*``: their output is their input);
  * its output tensor is not the very same tensor as its (non-container) parent's output. This
    drops e.g. ``inception3a.branch1.bn`` in torchvision's GoogLeNet (BasicConv2d applies an
    in-place ReLU to the BN output and returns it, so ``inception3a.branch1`` names that tensor)
    and ``layer1.0.bn2`` in ResNets (the block adds the skip in place to it).
The root module ('') is never listed. ``include_all=True`` lists every named module that ran,
with whatever output it had (``output_shape`` is None for non-tensor outputs).

``order`` is the completion order of a module's first call (a parent completes after its
children), i.e. the order in which the listed tensors become available.

``inplace_modified`` flags layers whose output tensor is modified in place later in the forward
pass (``nn.ReLU(inplace=True)`` after a conv, a residual ``+=``): whoever captures such a
layer's activations with a hook sees the post-modification values unless it clones.

TorchScript files loaded through models.sources (kind "torchscript") are turned into plain
Python module trees by `models.torchscript.make_hookable` (same names, same parameters, working
hooks), so everything here works on them. A raw ``torch.jit.ScriptModule`` does not run Python
forward hooks, so for one `list_layers` raises a ModelLoadError that says so (and why
make_hookable could not convert it, if it was tried); ``list_layers(model, static=True)`` returns
the static module tree (``output_shape``/``channels`` None, ``order`` = definition order), and
`resolve_layers` works on those names. `require_hooks` raises the same clear error for anything
that needs activations.
"""
from __future__ import annotations

import difflib
import fnmatch
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from circuitscope.activations import Trace

from .base import LoadedModel, ModelLoadError, UnknownLayerError

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_NOOPS = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class LayerInfo:
    name: str  # dotted module name, as in model.named_modules()
    module_type: str  # class name of the module
    output_shape: tuple[int, ...] | None  # output shape without the batch dimension
    channels: int | None  # units: dim 1 of the output (channels, or features of a 2-D output)
    order: int  # execution (completion) order of the module's first call
    has_weights: bool  # the module itself has parameters (not counting children)
    calls: int = 1  # how many times the module ran in one forward pass
    inplace_modified: bool = False  # its output tensor is changed in place later on

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        return d


def is_scripted(model: LoadedModel | nn.Module) -> bool:
    module = model.module if isinstance(model, LoadedModel) else model
    return isinstance(module, torch.jit.ScriptModule)


def require_hooks(model: LoadedModel | nn.Module, what: str = "reading intermediate layers") -> None:
    """Raise a clear ModelLoadError when the model cannot run Python forward hooks (TorchScript)."""
    if is_scripted(model):
        name = model.name if isinstance(model, LoadedModel) else type(model).__name__
        from .torchscript import unhookable_reason
        reason = unhookable_reason(model.module if isinstance(model, LoadedModel) else model)
        if reason:  # models.sources tried models.torchscript.make_hookable and it failed
            raise ModelLoadError(f"Model '{name}' is a TorchScript module: TorchScript does not run Python "
                                 f"forward hooks, so {what} is not possible. {reason}")
        raise ModelLoadError(
            f"Model '{name}' is a TorchScript module: TorchScript does not run Python forward hooks, "
            f"so {what} is not possible. Convert it with circuitscope.models.torchscript.make_hookable "
            f"(loading the file as model kind 'torchscript' does that), or load the original nn.Module "
            f"instead (model kind 'checkpoint' with an 'arch', or kind 'factory' pointing at the code "
            f"that builds it)."
        )


def dummy_input(model: LoadedModel, input_size: int | None = None) -> torch.Tensor:
    size = int(input_size or model.input_size)
    p = next(model.module.parameters(), None)
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    return torch.zeros(1, len(model.mean), size, size, device=model.device, dtype=dtype)


def _own_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _static_layers(model: LoadedModel) -> list[LayerInfo]:
    out = []
    for i, (name, mod) in enumerate(model.module.named_modules()):
        if not name:
            continue
        out.append(LayerInfo(name, getattr(mod, "original_name", type(mod).__name__), None, None,
                             i, _own_params(mod), 0, False))
    return out


_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def list_layers(model: LoadedModel, include_all: bool = False, input_size: int | None = None,
                static: bool = False) -> list[LayerInfo]:
    """Layers of `model` in execution order (see the module docstring for which are listed).

    TorchScript models raise ModelLoadError unless `static` (names and types only)."""
    size = int(input_size or model.input_size)
    key = (size, bool(include_all))
    cache = _CACHE.setdefault(model.module, {})
    if key in cache:
        return list(cache[key])
    if is_scripted(model):
        if not static:
            require_hooks(model, "discovering its layers' output shapes")
        return _static_layers(model)

    module = model.module
    named = [(n, m) for n, m in module.named_modules()]
    # detach=False: the captured objects themselves, so "same tensor as the parent's output" and
    # "modified in place later" (version counter) can be told
    trace = Trace(module, [n for n, _ in named], detach=False, eval_mode=True, require_tensor=False)
    try:
        with torch.no_grad(), trace:
            trace.forward(dummy_input(model, size))
    except Exception as e:  # noqa: BLE001 - report the cause with the model's name
        raise ModelLoadError(
            f"Model '{model.name}' failed on a dummy input of shape "
            f"(1, {len(model.mean)}, {size}, {size}): {type(e).__name__}: {e}. "
            f"Check the model's input_size/channels."
        ) from e
    order = {n: i for i, n in enumerate(trace.order)}
    records: dict[str, dict[str, Any]] = {
        n: {"order": order[n], "calls": c, "out": trace.output.get(n), "version": trace.version.get(n, 0)}
        for n, c in trace.calls.items()
    }

    root_out = records.get("", {}).get("out")
    modules = dict(named)
    infos: list[LayerInfo] = []
    for name, mod in named:
        rec = records.get(name)
        if not name or rec is None:
            continue
        t = rec["out"]
        shape = tuple(t.shape[1:]) if t is not None and t.dim() >= 1 else None
        channels = int(t.shape[1]) if t is not None and t.dim() >= 2 else None
        info = LayerInfo(name, type(mod).__name__, shape, channels, rec["order"], _own_params(mod),
                         rec["calls"], bool(t is not None and t._version != rec["version"]))
        if include_all or _default_keep(name, mod, rec, records, root_out, modules):
            infos.append(info)
    infos.sort(key=lambda i: i.order)
    cache[key] = infos
    return list(infos)


def _default_keep(name, mod, rec, records, root_out, modules) -> bool:
    t = rec["out"]
    if t is None or rec["calls"] != 1:
        return False
    if isinstance(mod, _CONTAINERS) or isinstance(mod, _NOOPS):
        return False
    if t.dim() == 4:
        pass
    elif t.dim() == 2:
        if not (isinstance(mod, nn.Linear) or t is root_out):
            return False
    else:
        return False
    parent = name.rsplit(".", 1)[0] if "." in name else None
    if parent is not None:
        prec = records.get(parent)
        pmod = modules.get(parent)
        if prec is not None and prec["out"] is t and not isinstance(pmod, _CONTAINERS):
            return False
    return True


def layer_names(model: LoadedModel, include_all: bool = False) -> list[str]:
    return [i.name for i in list_layers(model, include_all=include_all, static=True)]


def get_layer(model: LoadedModel, name: str) -> LayerInfo:
    """The LayerInfo of one (exactly named) layer; UnknownLayerError if there is no such module."""
    resolve_layers(model, [name])
    for info in list_layers(model, include_all=True):
        if info.name == name:
            return info
    for info in _static_layers(model):  # a module that exists but did not run
        if info.name == name:
            return info
    raise UnknownLayerError(name, layer_names(model))


def _suggest(name: str, candidates: list[str]) -> str | None:
    stripped = "".join(c for c in name if c not in _GLOB_CHARS) or name
    hits = difflib.get_close_matches(stripped, candidates, n=1, cutoff=0.5)
    return hits[0] if hits else None


def resolve_layers(model: LoadedModel, names_or_patterns: list[str] | str) -> list[str]:
    """Exact module names and glob patterns -> module names, in the order given (deduplicated).

    Exact names are checked against every named module (no forward pass needed). A glob pattern
    (``*``, ``?``, ``[...]``; ``*`` also matches dots) is matched against the default layer list,
    and if it matches nothing there, against all module names; pattern matches come in execution
    order. A name or pattern matching nothing raises UnknownLayerError with a close match; all
    items are validated before anything is returned.
    """
    if isinstance(names_or_patterns, str):
        names_or_patterns = [names_or_patterns]
    all_names = [n for n, _ in model.module.named_modules() if n]
    all_set = set(all_names)
    result: list[str] = []
    seen: set[str] = set()

    def add(n: str) -> None:
        if n not in seen:
            seen.add(n)
            result.append(n)

    # First pass: exact names only, so a typo fails before any forward pass.
    for item in names_or_patterns:
        if not isinstance(item, str) or not item:
            raise UnknownLayerError(str(item), all_names, None)
        if item not in all_set and not (_GLOB_CHARS & set(item)):
            raise UnknownLayerError(item, _valid_for_error(model, all_names), _suggest(item, all_names))
    for item in names_or_patterns:
        if item in all_set:
            add(item)
            continue
        default = layer_names(model)
        hits = fnmatch.filter(default, item)
        if not hits:
            hits = [n for n in all_names if fnmatch.fnmatchcase(n, item)]
        if not hits:
            raise UnknownLayerError(item, default, _suggest(item, default or all_names))
        for h in hits:
            add(h)
    return result


def _valid_for_error(model: LoadedModel, all_names: list[str]) -> list[str]:
    cache = _CACHE.get(model.module, {})
    for (_size, inc), infos in cache.items():
        if not inc:
            return [i.name for i in infos]
    return all_names
