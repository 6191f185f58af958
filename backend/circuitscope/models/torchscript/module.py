"""The Python stand-in for one TorchScript module, and how interpreted graphs call into the tree.

A submodule's ``forward`` is reached through ``nn.Module.__call__`` (`call_method`), which is what
runs Python forward hooks on it."""
from __future__ import annotations

import threading
from typing import Any

from torch import nn

from circuitscope.models.torchscript.errors import TorchScriptUnsupportedError

__all__ = ["InterpretedModule", "call_method", "get_attr"]

_TLS = threading.local()


class InterpretedModule(nn.Module):
    """A Python stand-in for one TorchScript module: its methods interpret the script graphs."""

    _cs_methods: dict[str, Any]  # method name -> interpreter.Program
    _cs_type: str  # TorchScript qualified type name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        pending = getattr(_TLS, "pending", None)
        name = "forward"
        if pending is not None and pending[0] is self:
            name = pending[1]
            _TLS.pending = None
        return self._cs_call_method(name, args, kwargs)

    def _cs_call_method(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Any:
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


def call_method(obj: Any, name: str, args: tuple[Any, ...]) -> Any:
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


def get_attr(obj: Any, name: str) -> Any:
    if isinstance(obj, nn.Module):
        d = obj.__dict__
        if name in d:
            return d[name]
        for store in ("_parameters", "_buffers", "_modules"):
            s = d[store]
            if name in s:
                return s[name]
    return getattr(obj, name)
