"""Building the Python module tree: one stand-in per TorchScript submodule, same dotted names, the
file's own parameter and buffer tensors, copied attributes, conv/linear/batch-norm hyper-parameters
read off the graphs, and every method compiled by the interpreter."""
from __future__ import annotations

from typing import Any, TypeGuard, cast

import torch
from torch import nn

from circuitscope.models.torchscript.classes import original_module_class, python_class
from circuitscope.models.torchscript.errors import TorchScriptUnsupportedError
from circuitscope.models.torchscript.interpreter import Compiler

__all__ = ["is_script_module", "make_hookable"]


def is_script_module(module: Any) -> TypeGuard[torch.jit.ScriptModule]:
    return isinstance(module, torch.jit.ScriptModule)


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
    compiler = Compiler()
    root = _build(script_module, "", compiler)
    root.train(bool(getattr(script_module, "training", False)))
    return root


def _build(script: torch.jit.ScriptModule, path: str, compiler: Compiler) -> nn.Module:
    ctype = script._c._type()
    qualified = ctype.qualified_name()
    name = getattr(script, "original_name", None) or qualified.rsplit(".", 1)[-1]
    cls = python_class(name, qualified)
    m = cls.__new__(cls)
    nn.Module.__init__(m)
    object.__setattr__(m, "_cs_type", qualified)
    object.__setattr__(m, "_cs_methods", {})

    info = torch._C._jit_debug_module_iterators(script._c)  # type: ignore[attr-defined]  # not in torch's stubs
    params = dict(script.named_parameters(recurse=False))
    buffers = dict(script.named_buffers(recurse=False))
    for n, p in params.items():
        if not isinstance(p, nn.Parameter):  # torch.jit.load gives plain tensors: alias them
            p = nn.Parameter(p, requires_grad=p.requires_grad)
        m.register_parameter(n, p)
    for n, b in buffers.items():
        m.register_buffer(n, b)
    for n, child in script.named_children():
        m.add_module(n, _build(cast(torch.jit.ScriptModule, child), f"{path}.{n}" if path else n, compiler))
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

    base = original_module_class(qualified)
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
        ref: torch.Tensor | None = m._parameters.get("weight")
        if ref is None:
            ref = m._buffers.get("running_mean")
        if ref is not None and "num_features" not in m.__dict__:
            m.num_features = int(ref.shape[0])
