"""Operators the interpreter evaluates in Python rather than through ``torch.ops``: identity-sensitive
or cheap ones, in-place operators on lists/dicts, operators on generic lists/dicts, and the prim::
operators of TorchScript's optimisation passes that must be refused."""
from __future__ import annotations

import builtins
import re
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GENERIC", "INTERNAL_PRIM", "MUTATING", "NATIVE_BY_KIND", "NATIVE_BY_SCHEMA", "Future", "has_type_var",
           "op_function"]


class Future:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def op_function(overload: Any, name: str) -> Callable:
    """Call `overload`, dispatching ``__torch_function__`` (modes, tensor subclasses) under `name`."""
    has_tf = torch._C._has_torch_function
    handle = torch.overrides.handle_torch_function

    def fn(*args: Any, **kwargs: Any) -> Any:
        if has_tf(args):
            return handle(fn, args, *args, **kwargs)
        return overload(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    return fn


def _raise_exception(msg: Any, cls_name: Any = None) -> None:
    exc: type[BaseException] = RuntimeError
    if isinstance(cls_name, str) and cls_name.startswith("builtins."):
        cand = getattr(builtins, cls_name.split(".", 1)[1], None)
        if isinstance(cand, type) and issubclass(cand, Exception):
            exc = cand
    raise exc(msg)


def _sort(lst: list, reverse: bool = False) -> list:
    lst.sort(reverse=bool(reverse))
    return lst


def _pop(container: Any, *args: Any) -> Any:
    if isinstance(container, dict):
        return container.pop(*args)
    return container.pop(*args) if args else container.pop()


def _set_item(container: Any, key: Any, value: Any) -> Any:
    container[key] = value
    return container


# In-place operators on lists / dicts: the Python objects must change, which torch.ops (converting
# the arguments) would not do.
MUTATING: dict[str, Callable[..., Any]] = {
    "append": lambda l, x: (l.append(x), l)[1],
    "insert": lambda l, i, x: l.insert(i, x),
    "extend": lambda l, o: l.extend(o),
    "pop": _pop,
    "clear": lambda c: c.clear(),
    "_set_item": _set_item,
    "remove": lambda l, x: l.remove(x),
    "reverse": lambda l: l.reverse(),
    "sort": _sort,
    "update": lambda d, o: d.update(o),
    "setdefault": lambda d, k, v: d.setdefault(k, v),
    "popitem": lambda d: d.popitem(),
}

# Simple operators evaluated in Python (identity-sensitive or much cheaper than torch.ops).
NATIVE_BY_KIND: dict[str, Callable] = {
    "aten::__is__": lambda a, b: a is b,
    "aten::__isnot__": lambda a, b: a is not b,
    "aten::__not__": lambda a: not a,
    "prim::unchecked_cast": lambda a: a,
    "prim::RaiseException": _raise_exception,
    "prim::ListConstruct": lambda *a: list(a),
    "prim::TupleConstruct": lambda *a: tuple(a),
    "prim::DictConstruct": lambda *a: dict(zip(a[0::2], a[1::2])),
    "prim::TupleIndex": lambda t, i: t[i],
    "prim::StringIndex": lambda s, i: s[i],
    "prim::Uninitialized": lambda: None,
    "prim::Print": lambda *a: print(*a),
    "aten::wait": lambda f: f.value,
    "aten::warn": lambda msg, *a: warnings.warn(str(msg), stacklevel=2),
    "aten::format": lambda fmt, *a: fmt.format(*a),
    "prim::tolist": lambda t, *a: t.tolist(),
    "prim::ModuleContainerIndex": lambda c, i: c._modules[str(i)] if isinstance(i, int) else c._modules[i],
}

NATIVE_BY_SCHEMA: dict[str, Callable] = {
    "aten::__getitem__.t": lambda l, i: l[i],
    "aten::__getitem__.str": lambda s, i: s[i],
    "aten::__getitem__.Dict_str": lambda d, k: d[k],
    "aten::__getitem__.Dict_int": lambda d, k: d[k],
    "aten::__getitem__.Dict_bool": lambda d, k: d[k],
    "aten::__getitem__.Dict_float": lambda d, k: d[k],
    "aten::__getitem__.Dict_Tensor": lambda d, k: d[k],
    "aten::len.t": len,
    "aten::list.t": list,
}


# Operators on generic lists/dicts (schemas with type variables, ``t[]``, ``Dict(str, t)``):
# torch.ops cannot convert Python lists to a type variable, so they are evaluated in Python.
GENERIC: dict[str, Callable[..., Any]] = {
    "__getitem__": lambda a, b: a[b],
    "len": len,
    "list": list,
    "copy": lambda a: list(a) if isinstance(a, list) else dict(a) if isinstance(a, dict) else a,
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "slice": lambda l, start=None, end=None, step=1: l[start:end:step],
    "__contains__": lambda a, b: b in a,
    "keys": lambda d: list(d.keys()),
    "values": lambda d: list(d.values()),
    "items": lambda d: list(d.items()),
    "get": lambda d, k, default=None: d.get(k, default),
    "dict": lambda a=None: dict(a) if a is not None else {},
    "str": str,
    "sorted": sorted,
    "index": lambda l, x: l.index(x),
    "count": lambda l, x: l.count(x),
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


# prim:: operators that optimisation passes insert (MKLDNN layouts, fusion groups, profiling
# guards): calling them outside TorchScript's executor is unsafe (can crash the process).
INTERNAL_PRIM = re.compile(r"mkldnn|MKLDNN|Fusion|fusion|TensorExpr|DifferentiableGraph|profile|BailOut|"
                            r"TypeCheck|RequiresGradCheck|Guard|Static|Fused|oneDNN|onednn|llga|LlgaFusion")


def has_type_var(t: Any) -> bool:  # a torch._C.JitType
    try:
        return t.kind() == "VarType" or any(has_type_var(c) for c in t.containedTypes())
    except Exception:  # noqa: BLE001
        return False
