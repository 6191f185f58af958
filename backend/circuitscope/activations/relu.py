"""Which layers "end in a ReLU", and the input of that final ReLU (the pre-activation).

A layer ends in a ReLU when its output tensor is the very tensor a ReLU-like call made during the
layer's own forward returned, unmodified since (``nn.ReLU``/``nn.ReLU6`` modules,
``F.relu``/``torch.relu``/``.relu()``, ``F.relu6``, ``F.hardtanh`` with min 0, in place or not;
the layer may itself be the ReLU). That call's input is the layer's pre-ReLU map, which Lucid and
OpenAI Microscope use for "..._pre_relu" objectives and the most negative dataset examples.
Used by `Trace(pre_relu=...)` (trace.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["ReluRecorder", "final_relu_input", "relu_call"]

_RELU_FUNCS = {F.relu, torch.relu, torch.Tensor.relu, F.relu6}
_RELU_FUNCS_INPLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}
_HARDTANH_FUNCS = {F.hardtanh, F.hardtanh_}  # nn.ReLU6 calls F.hardtanh(x, 0., 6.)


def relu_call(func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[bool, bool]:
    """(is a ReLU-like call, is in place) for a torch function call."""
    if not args or not isinstance(args[0], torch.Tensor):
        return False, False
    if func in _RELU_FUNCS_INPLACE:
        return True, True
    if func in _RELU_FUNCS:  # F.relu(input, inplace=False), F.relu6(input, inplace=False)
        inplace = func in (F.relu, F.relu6) and bool(args[1] if len(args) > 1 else kwargs.get("inplace", False))
        return True, inplace
    if func in _HARDTANH_FUNCS:  # F.hardtanh(input, min_val=-1., max_val=1., inplace=False)
        min_val = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
        if not isinstance(min_val, (int, float)) or min_val != 0:
            return False, False
        inplace = func is F.hardtanh_ or bool(args[3] if len(args) > 3 else kwargs.get("inplace", False))
        return True, inplace
    return False, False


class ReluRecorder(TorchFunctionMode):
    """Records every ReLU-like call: (output tensor, its version right after, the input before)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, int, torch.Tensor]] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        is_relu, inplace = relu_call(func, args, kwargs)
        if not is_relu:
            return func(*args, **kwargs)
        pre = args[0].clone() if inplace else args[0]  # an in-place ReLU overwrites its input
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            self.calls.append((out, out._version, pre))
        return out


def final_relu_input(calls: Iterable[tuple[torch.Tensor, int, torch.Tensor]], out: torch.Tensor) -> torch.Tensor | None:
    """The input of the recorded call that returned ``out`` (same object, not modified since), else None.

    ``calls`` must be the calls recorded during the layer's own forward, in call order."""
    for o, version, inp in reversed(list(calls)):
        if o is out and o._version == version and inp.shape == out.shape:
            return inp
    return None
