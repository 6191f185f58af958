"""Python classes for TorchScript types: the one resolver from a qualified TorchScript type name to
the class it was compiled from, and the stand-in classes built on it (module classes subclass the
original so ``isinstance`` checks keep working; NamedTuple outputs are rebuilt as their class)."""
from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from circuitscope.models.torchscript.module import InterpretedModule

__all__ = ["namedtuple_wrapper", "original_module_class", "python_class", "resolve_class"]

_MANGLE = re.compile(r"___torch_mangle_\d+\.?")
_IMPORTABLE_PREFIXES = ("torch.", "torchvision.")
_PACKAGE = "circuitscope.models.torchscript"  # where the stand-in classes say they live

_CLASS_CACHE: dict[tuple[str, type | None], type[InterpretedModule]] = {}


def resolve_class(qualified: str) -> type | None:
    """The Python class a TorchScript type (``__torch__.torchvision.models.resnet.BasicBlock``,
    mangled or not) was compiled from, if it is safely reachable: its module is already imported,
    or is part of torch/torchvision (imported on demand). Nothing else is ever imported."""
    name = _MANGLE.sub("", qualified)
    if name.startswith("__torch__."):
        name = name[len("__torch__."):]
    mod_name, _, cls_name = name.rpartition(".")
    if not mod_name or not cls_name.isidentifier():
        return None
    module = sys.modules.get(mod_name)
    if module is None and mod_name.startswith(_IMPORTABLE_PREFIXES):
        try:
            module = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001
            return None
    cls = getattr(module, cls_name, None) if module is not None else None
    return cls if isinstance(cls, type) else None


def original_module_class(qualified: str) -> type | None:
    """The eager ``nn.Module`` class a TorchScript module type was compiled from (see resolve_class)."""
    cls = resolve_class(qualified)
    if cls is not None and issubclass(cls, nn.Module) and not issubclass(cls, torch.jit.ScriptModule):
        return cls
    return None


def python_class(name: str, qualified: str) -> type[InterpretedModule]:
    """The stand-in class for a TorchScript module type: an InterpretedModule that subclasses the
    original class when it is known, named after it."""
    base = original_module_class(qualified)
    key = (name, base)
    cls = _CLASS_CACHE.get(key)
    if cls is None:
        bases = (InterpretedModule, base) if base is not None else (InterpretedModule,)
        try:
            cls = type(name, bases, {"__module__": _PACKAGE, "__qualname__": name})
        except TypeError:  # an incompatible layout / metaclass: fall back to the plain stand-in
            cls = type(name, (InterpretedModule,), {"__module__": _PACKAGE, "__qualname__": name})
        _CLASS_CACHE[key] = cls
    return cls


def namedtuple_wrapper(t: Any) -> Callable[[Any], Any] | None:  # t: a torch._C.JitType
    """A NamedTuple return type -> a function rebuilding its Python namedtuple class, when resolvable."""
    try:
        if t.kind() != "TupleType":
            return None
        cls = resolve_class(t.annotation_str)
    except Exception:  # noqa: BLE001
        return None
    n = len(t.elements())
    if not (isinstance(cls, type) and issubclass(cls, tuple) and len(getattr(cls, "_fields", ())) == n):
        return None
    return lambda out: cls(*out) if isinstance(out, tuple) and len(out) == n else out
