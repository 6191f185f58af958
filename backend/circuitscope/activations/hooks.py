"""The basics every hook needs: find a layer by name, take its output tensor, stop the forward pass.

The hooks themselves live in trace.py (`Trace`); capture.py has the one-call helpers.

Layer names are dotted module paths as `model.named_modules()` reports them, e.g.
`inception4a.branch2.1` (torchvision GoogLeNet) or `layer1.0.conv2` (ResNet).
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["StopForward", "UnknownLayerError", "first_tensor", "get_module"]


class UnknownLayerError(ValueError):
    """A layer name that the model does not have; the message lists valid names and a close match.

    Also importable as ``circuitscope.models.base.UnknownLayerError`` (its historical home)."""

    def __init__(self, name: str, valid: list[str], suggestion: str | None = None) -> None:
        self.name, self.valid, self.suggestion = name, valid, suggestion
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        shown = ", ".join(valid[:60]) + (" ..." if len(valid) > 60 else "")
        super().__init__(f"Unknown layer '{name}'.{hint} Valid layers: {shown}")


class StopForward(Exception):
    """Raised inside a forward hook after the last requested layer fired; `Trace.forward` catches it."""


def get_module(model: nn.Module, dotted_name: str) -> nn.Module:
    """The submodule at `dotted_name` (`""` is the model itself); UnknownLayerError lists valid names."""
    if dotted_name == "":
        return model
    try:
        return model.get_submodule(dotted_name)
    except AttributeError:
        valid = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(dotted_name, valid, n=1)
        raise UnknownLayerError(dotted_name, valid, close[0] if close else None) from None


def first_tensor(output: Any) -> torch.Tensor | None:
    """The tensor a layer "outputs": itself, or the first tensor in a tuple/namedtuple/list/dict."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            t = first_tensor(item)
            if t is not None:
                return t
    return None
