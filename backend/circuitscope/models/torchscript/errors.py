"""Why a TorchScript module could not be made hookable: the error, and a note kept per module."""
from __future__ import annotations

import weakref
from typing import Any

from torch import nn

from circuitscope.models.base import ModelLoadError

__all__ = ["TorchScriptUnsupportedError", "remember_unhookable", "unhookable_reason"]


class TorchScriptUnsupportedError(ModelLoadError):
    """The TorchScript graph uses something the Python interpreter of this module does not support."""


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
