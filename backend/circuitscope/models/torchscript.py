"""Make a TorchScript module hookable: a plain Python nn.Module tree that interprets its graphs.

Python forward hooks never run on a loaded TorchScript module (``RecursiveScriptModule``), and
``torch.fx`` cannot trace one. `make_hookable` rebuilds the module tree in Python instead:

* every submodule becomes a Python ``nn.Module`` under the SAME dotted name, holding the script
  module's own ``Parameter`` and buffer tensors (a module loaded with ``torch.jit.load`` hands out
  plain tensors: they are wrapped in ``nn.Parameter`` objects sharing their storage), so
  ``module.weight`` is the file's weight. Attributes of the script module (``stride``,
  ``inplace``, ``aux1`` ...) are copied.
* its class is a subclass of the original class when that class is known -- every ``torch.nn``
  class (``Conv2d``, ``BatchNorm2d``, ``ReLU``, ``Linear``, ``Sequential`` ...) and classes of
  ``torchvision`` -- so ``isinstance(m, nn.Conv2d)`` and ``type(m).__name__`` match the eager model;
  other classes get a subclass of `InterpretedModule` named after the original class
  (``BasicBlock``). Conv hyper-parameters that ``torch.jit.trace`` does not keep as attributes
  (``groups``, ``stride`` ...) are read off the traced graph.
* ``forward`` (and every other method) interprets the module's own TorchScript graph (not
  inlined) node by node: ``aten::*``/``prim::*`` operators with a schema are called through
  ``torch.ops`` (exact overload), constants, lists, tuples, dicts, ``prim::If``, ``prim::Loop``,
  ``prim::GetAttr``/``SetAttr``, ``prim::RaiseException``, ``prim::fork``/``aten::wait`` are
  evaluated in Python, ``prim::CallFunction`` runs the called TorchScript function's graph (inlined
  into a graph of its own), and ``prim::CallMethod[name="forward"]`` on a submodule CALLS the Python
  submodule -- which is what runs its forward hooks. A hook's return value replaces the output, an
  exception raised in a hook stops the forward pass, exactly as in eager PyTorch.
  Traced modules called more than once have methods ``forward1``, ``forward2`` ...: these also go
  through the submodule's ``__call__`` (hooks fire on every call).
* Operators are presented to ``__torch_function__`` modes under their aten names (``relu_``,
  ``max_pool2d``, ``cat`` ...), so modes such as records.weights' linearisation see them.

The whole tree is compiled when `make_hookable` runs; an operator that cannot be interpreted
raises `TorchScriptUnsupportedError` (a ModelLoadError) naming the operator, the module and the
source line, instead of computing something wrong.

Unsupported: TorchScript classes (``prim::CreateObject``, methods called on script objects),
``with`` statements (``prim::Enter``/``prim::Exit``), ``isinstance`` checks left in the graph
(``prim::isinstance``), in-place operators on lists/dicts other than the usual Python ones
(append/insert/extend/pop/clear/remove/reverse/sort/update/setdefault/item assignment), operators
on generic lists/dicts beyond the common ones (indexing, len, copy, +, *, slicing, in, keys,
values, items, get, sorted, index, count, ==), and any operator not registered with this
process's ``torch.ops``. Frozen modules (``torch.jit.freeze``)
have their submodules inlined away: they run, but expose no named layers; the internal operators
of ``torch.jit.optimize_for_inference`` (``prim::mkldnn_convolution``, ``prim::ConstantMKLDNNTensor``)
and of the fusers are refused. Tensor attributes that are neither parameters nor buffers are copied as plain
attributes (they do not follow ``.to(device)``). NamedTuple outputs are returned as their namedtuple
class when it is importable (torch, torchvision, or already imported), as plain tuples otherwise.
The converted module is not picklable (its classes are made at runtime); save the TorchScript file.
Training mode works for scripted modules (BatchNorm statistics update the shared buffers); traced
modules keep the mode they were traced in, as TorchScript itself does.
"""
from __future__ import annotations

import builtins
import importlib
import re
import sys
import threading
import warnings
import weakref
from typing import Any, Callable

import torch
from torch import nn

from .base import ModelLoadError

__all__ = ["make_hookable", "InterpretedModule", "TorchScriptUnsupportedError", "is_script_module",
           "remember_unhookable", "unhookable_reason"]

_MANGLE = re.compile(r"___torch_mangle_\d+\.?")
_IMPORTABLE_PREFIXES = ("torch.", "torchvision.")


class TorchScriptUnsupportedError(ModelLoadError):
    """The TorchScript graph uses something the Python interpreter of this module does not support."""


def is_script_module(module: Any) -> bool:
    return isinstance(module, torch.jit.ScriptModule)


_UNHOOKABLE: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()


def remember_unhookable(script_module: nn.Module, reason: str) -> None:
    """Record why `script_module` was left a ScriptModule (models.layers.require_hooks shows it)."""
    try:
        _UNHOOKABLE[script_module] = reason
    except TypeError:
        pass


def unhookable_reason(module: Any) -> str | None:
    try:
        return _UNHOOKABLE.get(module)
    except TypeError:
        return None


# ----------------------------------------------------------------------------- the Python modules

_TLS = threading.local()


class InterpretedModule(nn.Module):
    """A Python stand-in for one TorchScript module: its methods interpret the script graphs."""

    _cs_methods: dict  # method name -> _Program
    _cs_type: str  # TorchScript qualified type name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        pending = getattr(_TLS, "pending", None)
        name = "forward"
        if pending is not None and pending[0] is self:
            name = pending[1]
            _TLS.pending = None
        return self._cs_call_method(name, args, kwargs)

    def _cs_call_method(self, name: str, args: tuple, kwargs: dict | None = None) -> Any:
        prog = self._cs_methods.get(name)
        if prog is None:
            extra = (" (a traced module only has the methods that ran while it was traced)"
                     if name.startswith("forward") else "")
            raise RuntimeError(f"TorchScript module {type(self).__name__} ({self._cs_type}) has no method "
                               f"'{name}'{extra}; it has: {sorted(self._cs_methods) or 'none'}")
        if kwargs:
            args = prog.bind(args, kwargs)
        return prog.run((self, *args))

    def extra_repr(self) -> str:
        try:
            return super().extra_repr()
        except Exception:  # noqa: BLE001 - attributes a traced module does not keep
            return ""


_CLASS_CACHE: dict[tuple[str, type | None], type] = {}


def _original_class(qualified: str) -> type | None:
    """The Python class a TorchScript type was compiled from, if it is safely importable."""
    name = _MANGLE.sub("", qualified)
    if name.startswith("__torch__."):
        name = name[len("__torch__."):]
    mod_name, _, cls_name = name.rpartition(".")
    if not mod_name:
        return None
    module = sys.modules.get(mod_name)
    if module is None and mod_name.startswith(_IMPORTABLE_PREFIXES):
        try:
            module = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001
            return None
    cls = getattr(module, cls_name, None) if module is not None else None
    if isinstance(cls, type) and issubclass(cls, nn.Module) and not issubclass(cls, torch.jit.ScriptModule):
        return cls
    return None


def _python_class(name: str, qualified: str) -> type:
    base = _original_class(qualified)
    key = (name, base)
    cls = _CLASS_CACHE.get(key)
    if cls is None:
        bases = (InterpretedModule, base) if base is not None else (InterpretedModule,)
        try:
            cls = type(name, bases, {"__module__": __name__, "__qualname__": name})
        except TypeError:  # an incompatible layout / metaclass: fall back to the plain stand-in
            cls = type(name, (InterpretedModule,), {"__module__": __name__, "__qualname__": name})
        _CLASS_CACHE[key] = cls
    return cls


# ----------------------------------------------------------------------------- building the tree

def make_hookable(script_module: nn.Module) -> nn.Module:
    """A plain Python nn.Module computing what `script_module` computes, with the same dotted
    submodule names, the same parameter tensors, and working Python forward hooks.

    A module that is not a TorchScript module is returned as it is. Raises
    TorchScriptUnsupportedError when the graphs use an operator that cannot be interpreted."""
    if not is_script_module(script_module):
        return script_module
    if not isinstance(getattr(script_module, "_c", None), torch._C.ScriptModule):
        raise TorchScriptUnsupportedError(
            f"{type(script_module).__name__} is not a TorchScript module with a module tree "
            f"(torch.jit.load / torch.jit.script / torch.jit.trace of an nn.Module)")
    compiler = _Compiler()
    root = _build(script_module, "", compiler)
    root.train(bool(getattr(script_module, "training", False)))
    return root


def _build(script: torch.jit.ScriptModule, path: str, compiler: "_Compiler") -> nn.Module:
    ctype = script._c._type()
    qualified = ctype.qualified_name()
    name = getattr(script, "original_name", None) or qualified.rsplit(".", 1)[-1]
    cls = _python_class(name, qualified)
    m = cls.__new__(cls)
    nn.Module.__init__(m)
    object.__setattr__(m, "_cs_type", qualified)
    object.__setattr__(m, "_cs_methods", {})

    info = torch._C._jit_debug_module_iterators(script._c)
    params = dict(script.named_parameters(recurse=False))
    buffers = dict(script.named_buffers(recurse=False))
    for n, p in params.items():
        if not isinstance(p, nn.Parameter):  # torch.jit.load gives plain tensors: alias them
            p = nn.Parameter(p, requires_grad=p.requires_grad)
        m.register_parameter(n, p)
    for n, b in buffers.items():
        m.register_buffer(n, b)
    for n, child in script.named_children():
        m.add_module(n, _build(child, f"{path}.{n}" if path else n, compiler))
    m.training = bool(getattr(script, "training", False))  # frozen modules drop the attribute
    taken = set(params) | set(buffers) | set(m._modules)
    for item in info.get("named_attributes", []):
        attr = item[0] if isinstance(item, tuple) else item
        if not isinstance(attr, str) or attr in taken or attr == "training" or hasattr(nn.Module, attr) \
                or attr.startswith("_is_full_backward"):
            continue
        try:
            value = script._c.getattr(attr)
        except Exception:  # noqa: BLE001
            continue
        if isinstance(value, (torch._C.ScriptObject, torch._C.ScriptModule)):
            continue  # script objects / modules are reached as children or are unsupported
        if value is None and attr in ("bias", "weight"):  # as eager nn.Conv2d(bias=False) has
            m.register_parameter(attr, None)
            continue
        try:
            setattr(m, attr, value)
        except Exception:  # noqa: BLE001 - e.g. a read-only property of the original class
            pass

    base = _original_class(qualified)
    for attr in getattr(base, "__constants__", ()) if base is not None else ():
        # module constants (Conv2d.stride, padding_mode ...) are inlined into the graphs, but
        # the script module still answers them
        if isinstance(attr, str) and attr not in m.__dict__ and attr not in taken:
            try:
                setattr(m, attr, getattr(script, attr))
            except Exception:  # noqa: BLE001
                pass

    where = path or "<root>"
    for method in script._c._method_names():
        graph = script._c._get_method(method).graph
        arg_names = [a.name for a in script._c._get_method(method).schema.arguments][1:]
        m._cs_methods[method] = compiler.compile(graph, f"{where} ({name}).{method}", arg_names)
    _fill_hyperparameters(m, script)
    return m


def _static(v: torch._C.Value) -> Any:
    n = v.node()
    k = n.kind()
    if k == "prim::Constant":
        return v.toIValue()
    if k in ("prim::ListConstruct", "prim::TupleConstruct"):
        vals = [_static(i) for i in n.inputs()]
        return vals if k == "prim::ListConstruct" else tuple(vals)
    raise ValueError("not static")


_CONV_KINDS = {"aten::_convolution", "aten::convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d",
               "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d"}


def _fill_hyperparameters(m: nn.Module, script: torch.jit.ScriptModule) -> None:
    """Attributes that eager code reads (conv groups/stride/..., linear features) but a traced
    module does not keep: from parameter shapes and the constant arguments of the forward graph."""
    w = m._parameters.get("weight")
    if isinstance(m, nn.modules.conv._ConvNd) and w is not None:
        found: dict[str, Any] = {}
        pad_mode, pad = None, None
        if "forward" in script._c._method_names():
            for node in script._c._get_method("forward").graph.nodes():
                if node.kind() == "aten::pad" and pad_mode is None:  # traced padding_mode != 'zeros'
                    try:
                        pad, pad_mode = _static(node.inputsAt(1)), _static(node.inputsAt(2))
                    except ValueError:
                        pass
                if node.kind() in _CONV_KINDS:
                    try:
                        names = [a.name for a in torch._C.parse_schema(node.schema()).arguments]
                    except Exception:  # noqa: BLE001
                        continue
                    for a, v in zip(names, node.inputs()):
                        try:
                            found[a] = _static(v)
                        except ValueError:
                            pass
                    break
        transposed = bool(found.get("transposed", isinstance(m, nn.modules.conv._ConvTransposeNd)))
        groups = found.get("groups", getattr(m, "groups", 1)) or 1
        defaults = {
            "stride": found.get("stride"), "padding": found.get("padding"), "dilation": found.get("dilation"),
            "groups": groups, "transposed": transposed, "output_padding": found.get("output_padding"),
            "kernel_size": tuple(w.shape[2:]),
            "out_channels": w.shape[1] * groups if transposed else w.shape[0],
            "in_channels": w.shape[0] if transposed else w.shape[1] * groups,
            "padding_mode": pad_mode if isinstance(pad_mode, str) else "zeros",
        }
        if isinstance(pad_mode, str) and isinstance(pad, list) and not any(found.get("padding") or [0]):
            defaults["padding"] = tuple(pad[::-2])  # F.pad's (left, right, top, bottom) -> (top, left)
        for k, v in defaults.items():
            if v is None or k in m.__dict__:
                continue
            if isinstance(v, list):
                v = tuple(v)
            try:
                setattr(m, k, v)
            except Exception:  # noqa: BLE001
                pass
    elif isinstance(m, nn.Linear) and w is not None and w.dim() == 2:
        for k, v in (("in_features", int(w.shape[1])), ("out_features", int(w.shape[0]))):
            if k not in m.__dict__:
                setattr(m, k, v)
    elif isinstance(m, nn.modules.batchnorm._NormBase):
        ref = m._parameters.get("weight")
        if ref is None:
            ref = m._buffers.get("running_mean")
        if ref is not None and "num_features" not in m.__dict__:
            m.num_features = int(ref.shape[0])


# ----------------------------------------------------------------------------- the interpreter

class _Future:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class _Program:
    """A compiled graph: constants pre-filled, then a list of steps over an env {value id: object}."""

    __slots__ = ("name", "consts", "inputs", "steps", "outputs", "arg_names", "wrap_output")

    def __init__(self, name: str):
        self.name = name
        self.consts: dict[int, Any] = {}
        self.inputs: list[int] = []
        self.steps: list[Callable[[dict], None]] = []
        self.outputs: list[int] = []
        self.arg_names: list[str] = []
        self.wrap_output: Callable[[Any], Any] | None = None

    def bind(self, args: tuple, kwargs: dict) -> tuple:
        names = self.arg_names
        vals = list(args)
        for n in names[len(vals):]:
            if n not in kwargs:
                raise TypeError(f"{self.name}: missing argument '{n}'")
            vals.append(kwargs.pop(n))
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword arguments {sorted(kwargs)}")
        return tuple(vals)

    def run(self, args: tuple) -> Any:
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs) - 1} arguments "
                            f"({', '.join(self.arg_names)}), got {len(args) - 1}")
        env = dict(self.consts)
        for i, a in zip(self.inputs, args):
            env[i] = a
        for step in self.steps:
            step(env)
        if len(self.outputs) == 1:
            out = env[self.outputs[0]]
        else:
            out = tuple(env[o] for o in self.outputs)
        return self.wrap_output(out) if self.wrap_output is not None else out


class _Unsupported(Exception):
    pass


def _op_function(overload: Any, name: str) -> Callable:
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
_MUTATING = {
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
_NATIVE_BY_KIND: dict[str, Callable] = {
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

_NATIVE_BY_SCHEMA: dict[str, Callable] = {
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
_GENERIC = {
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
_INTERNAL_PRIM = re.compile(r"mkldnn|MKLDNN|Fusion|fusion|TensorExpr|DifferentiableGraph|profile|BailOut|"
                            r"TypeCheck|RequiresGradCheck|Guard|Static|Fused|oneDNN|onednn|llga|LlgaFusion")


def _has_type_var(t: torch._C.Type) -> bool:
    try:
        return t.kind() == "VarType" or any(_has_type_var(c) for c in t.containedTypes())
    except Exception:  # noqa: BLE001
        return False


def _call_method(obj: Any, name: str, args: tuple) -> Any:
    if not isinstance(obj, InterpretedModule):
        raise TorchScriptUnsupportedError(
            f"prim::CallMethod '{name}' on a {type(obj).__name__}: methods of TorchScript class objects "
            f"are not supported")
    if name == "forward" or (name.startswith("forward") and name[7:].isdigit()):
        _TLS.pending = (obj, name)
        try:
            return obj(*args)  # nn.Module.__call__: runs the Python hooks
        finally:
            _TLS.pending = None
    return obj._cs_call_method(name, args)


def _get_attr(obj: Any, name: str) -> Any:
    if isinstance(obj, nn.Module):
        d = obj.__dict__
        if name in d:
            return d[name]
        for store in ("_parameters", "_buffers", "_modules"):
            s = d[store]
            if name in s:
                return s[name]
    return getattr(obj, name)


def _namedtuple_wrapper(t: torch._C.Type) -> Callable[[Any], Any] | None:
    """A NamedTuple return type -> its Python namedtuple class when importable (as _original_class)."""
    try:
        if t.kind() != "TupleType":
            return None
        name = _MANGLE.sub("", t.annotation_str)
    except Exception:  # noqa: BLE001
        return None
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
    cls = getattr(module, cls_name, None)
    n = len(t.elements())
    if not (isinstance(cls, type) and issubclass(cls, tuple) and len(getattr(cls, "_fields", ())) == n):
        return None
    return lambda out: cls(*out) if isinstance(out, tuple) and len(out) == n else out


class _Compiler:
    def __init__(self) -> None:
        self.functions: dict[str, _Program] = {}
        self.ops: dict[str, Callable] = {}

    # --- entry points
    def compile(self, graph: torch._C.Graph, name: str, arg_names: list[str] | None = None) -> _Program:
        prog = _Program(name)
        prog.inputs = [v.unique() for v in graph.inputs()]
        prog.arg_names = list(arg_names or [])
        prog.steps = self._block(graph.nodes(), prog)
        outs = list(graph.outputs())
        prog.outputs = [v.unique() for v in outs]
        if len(outs) == 1:
            prog.wrap_output = _namedtuple_wrapper(outs[0].type())
        return prog

    def _function(self, call: torch._C.Node, where: str) -> _Program:
        fnode = call.inputsAt(0).node()
        qual = str(fnode.output().type())
        prog = self.functions.get(qual)
        if prog is not None:
            return prog
        g = torch._C.Graph()
        args = []
        for v in list(call.inputs())[1:]:
            nv = g.addInput()
            nv.setType(v.type())
            args.append(nv)
        fc = g.createClone(fnode, lambda v: v)
        g.insertNode(fc)
        c2 = g.create("prim::CallFunction", [fc.output(), *args], call.outputsSize())
        g.insertNode(c2)
        for o, orig in zip(c2.outputs(), call.outputs()):
            o.setType(orig.type())
            g.registerOutput(o)
        torch._C._jit_pass_inline(g)
        placeholder = _Program(qual)
        self.functions[qual] = placeholder  # recursion guard (TorchScript has no recursion anyway)
        try:
            prog = self.compile(g, f"function {qual} (called from {where})")
        except BaseException:
            del self.functions[qual]
            raise
        self.functions[qual] = prog
        return prog

    # --- blocks and nodes
    def _block(self, nodes: Any, prog: _Program) -> list[Callable[[dict], None]]:
        steps = []
        for node in nodes:
            try:
                step = self._node(node, prog)
            except _Unsupported as e:
                raise TorchScriptUnsupportedError(self._message(node, prog, str(e))) from None
            if step is not None:
                steps.append(step)
        return steps

    @staticmethod
    def _message(node: torch._C.Node, prog: _Program, why: str) -> str:
        src = ""
        try:
            rng = node.sourceRange().strip().splitlines()
            src = f" (at {rng[0].strip()})" if rng else ""
        except Exception:  # noqa: BLE001
            pass
        return (f"Cannot make this TorchScript model hookable: operator '{node.kind()}' in {prog.name}{src} "
                f"is not supported: {why}. Load the original nn.Module instead (model kind 'checkpoint' with "
                f"an 'arch', or 'factory').")

    def _node(self, node: torch._C.Node, prog: _Program) -> Callable[[dict], None] | None:
        kind = node.kind()
        ins = [v.unique() for v in node.inputs()]
        outs = [v.unique() for v in node.outputs()]

        if kind == "prim::Constant":
            out = node.output()
            if out.type().kind() == "FunctionType":
                return None  # only used by prim::CallFunction, resolved at compile time
            prog.consts[outs[0]] = out.toIValue() if node.hasAttributes() else None
            return None
        if kind == "prim::GetAttr":
            attr = node.s("name")
            src, dst = ins[0], outs[0]

            def get_attr(env: dict) -> None:
                env[dst] = _get_attr(env[src], attr)
            return get_attr
        if kind == "prim::SetAttr":
            attr = node.s("name")
            obj_i, val_i = ins

            def set_attr(env: dict) -> None:
                setattr(env[obj_i], attr, env[val_i])
            return set_attr
        if kind == "prim::CallMethod":
            mname = node.s("name")
            obj_i, arg_is = ins[0], ins[1:]
            out_i = outs[0] if outs else None

            def call_method(env: dict) -> None:
                r = _call_method(env[obj_i], mname, tuple(env[i] for i in arg_is))
                if out_i is not None:
                    env[out_i] = r
            return call_method
        if kind == "prim::CallFunction":
            fprog = self._function(node, prog.name)
            arg_is = ins[1:]
            n_out = len(outs)

            def call_function(env: dict) -> None:
                r = fprog.run(tuple(env[i] for i in arg_is))
                if n_out == 1:
                    env[outs[0]] = r
                elif n_out > 1:
                    for o, v in zip(outs, r):
                        env[o] = v
            return call_function
        if kind == "prim::If":
            then_b, else_b = list(node.blocks())
            then_steps, else_steps = self._block(then_b.nodes(), prog), self._block(else_b.nodes(), prog)
            then_outs = [v.unique() for v in then_b.outputs()]
            else_outs = [v.unique() for v in else_b.outputs()]
            cond_i = ins[0]

            def if_(env: dict) -> None:
                if env[cond_i]:
                    steps, bouts = then_steps, then_outs
                else:
                    steps, bouts = else_steps, else_outs
                for s in steps:
                    s(env)
                vals = [env[b] for b in bouts]
                for o, v in zip(outs, vals):
                    env[o] = v
            return if_
        if kind == "prim::Loop":
            (body,) = list(node.blocks())
            body_steps = self._block(body.nodes(), prog)
            b_ins = [v.unique() for v in body.inputs()]
            b_outs = [v.unique() for v in body.outputs()]
            trip_i, cond_i, init_is = ins[0], ins[1], ins[2:]

            def loop(env: dict) -> None:
                trips, cond = env[trip_i], env[cond_i]
                vals = [env[i] for i in init_is]
                i = 0
                while cond and i < trips:
                    env[b_ins[0]] = i
                    for slot, v in zip(b_ins[1:], vals):
                        env[slot] = v
                    for s in body_steps:
                        s(env)
                    cond = env[b_outs[0]]
                    vals = [env[b] for b in b_outs[1:]]
                    i += 1
                for o, v in zip(outs, vals):
                    env[o] = v
            return loop
        if kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            src = ins[0]

            def unpack(env: dict) -> None:
                seq = env[src]
                if len(seq) != len(outs):
                    raise ValueError(f"{kind}: expected {len(outs)} values, got {len(seq)}")
                for o, v in zip(outs, seq):
                    env[o] = v
            return unpack
        if kind == "prim::TupleSlice":
            beg, end = node.i("beg"), node.i("end")
            return self._simple(lambda t: t[beg:end], ins, outs)
        if kind == "prim::fork":
            sub = self.compile(node.g("Subgraph"), f"{prog.name} (forked)")
            return self._simple(lambda *a: _Future(sub.run(a)), ins, outs)
        if kind in _NATIVE_BY_KIND:
            return self._simple(_NATIVE_BY_KIND[kind], ins, outs)
        return self._schema_op(node, ins, outs)

    @staticmethod
    def _simple(fn: Callable, ins: list[int], outs: list[int]) -> Callable[[dict], None]:
        n_out = len(outs)
        if n_out == 1:
            o = outs[0]

            def step(env: dict) -> None:
                env[o] = fn(*[env[i] for i in ins])
        elif n_out == 0:
            def step(env: dict) -> None:
                fn(*[env[i] for i in ins])
        else:
            def step(env: dict) -> None:
                r = fn(*[env[i] for i in ins])
                for oo, v in zip(outs, r):
                    env[oo] = v
        return step

    def _schema_op(self, node: torch._C.Node, ins: list[int], outs: list[int]) -> Callable[[dict], None]:
        kind = node.kind()
        if kind.startswith("prim::") and _INTERNAL_PRIM.search(kind):
            raise _Unsupported("it is an internal operator of TorchScript's optimisation passes "
                               "(torch.jit.optimize_for_inference / fusers), not callable from Python; "
                               "save the module before optimising it")
        try:
            text = node.schema()
        except Exception:  # noqa: BLE001
            text = "(no schema)"
        if text == "(no schema)":
            raise _Unsupported("it has no operator schema and no Python equivalent here")
        schema = torch._C.parse_schema(text)
        full = f"{schema.name}.{schema.overload_name}" if schema.overload_name else schema.name
        if full in _NATIVE_BY_SCHEMA:
            return self._simple(_NATIVE_BY_SCHEMA[full], ins, outs)
        ns, _, base = schema.name.partition("::")
        for a in schema.arguments:
            info = a.alias_info
            if info is not None and info.is_write and a.type.kind() in ("ListType", "DictType"):
                if base in _MUTATING:
                    return self._simple(_MUTATING[base], ins, outs)
                raise _Unsupported(f"in-place operator '{full}' on a list/dict is not supported")
        if any(_has_type_var(a.type) for a in schema.arguments):
            if base in _GENERIC:
                return self._simple(_GENERIC[base], ins, outs)
            raise _Unsupported(f"operator '{full}' on generic lists/dicts ({text}) has no Python equivalent here")
        fn = self.ops.get(full)
        if fn is None:
            try:
                packet = getattr(getattr(torch.ops, ns), base)
                overload = getattr(packet, schema.overload_name or "default")
            except Exception as e:  # noqa: BLE001
                raise _Unsupported(f"torch.ops has no operator '{full}' ({type(e).__name__})") from None
            fn = _op_function(overload, base)
            self.ops[full] = fn
        kw_names = [a.name for a in schema.arguments if a.kwarg_only]
        n_pos = len(schema.arguments) - len(kw_names)
        if kw_names and len(ins) != len(schema.arguments):
            raise _Unsupported(f"node has {len(ins)} inputs for schema {text}")
        if kw_names:
            pos_is, kw_is = ins[:n_pos], list(zip(kw_names, ins[n_pos:]))
            n_out = len(outs)

            def op_kw(env: dict) -> None:
                r = fn(*[env[i] for i in pos_is], **{k: env[i] for k, i in kw_is})
                if n_out == 1:
                    env[outs[0]] = r
                elif n_out > 1:
                    for o, v in zip(outs, r):
                        env[o] = v
            return op_kw
        return self._simple(fn, ins, outs)
