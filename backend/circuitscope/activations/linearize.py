"""Run a network linearised: ReLU-likes as the identity, max-pools as average pools.

Used by records.weights for expanded weights (the Circuits thread's "expanded weights": the
gradient of a later unit w.r.t. an earlier layer's map, with the non-linearities in between
removed). Inside ``linearized(module)``:

- ReLU-family calls (relu, relu6, leaky_relu, elu, gelu, silu, hardswish, mish, celu, selu, rrelu,
  in place or not) return their input, through a ``__torch_function__`` mode;
- leaf, parameter-free modules whose class name contains "relu" (e.g. lucent's RedirectedReLU,
  which computes through a custom autograd function the mode does not see) become the identity,
  through a ``Trace`` edit on every call, prepended so that a hook replacing such a module's
  output (a Trace entered before) still wins;
- ``max_pool2d`` becomes ``avg_pool2d`` with the same window (count_include_pad=False),
  ``adaptive_max_pool2d`` ``adaptive_avg_pool2d``, and ``F.pad`` with value -inf (lucent pads
  before max-pools) pads with 0.

With ``batch_fix``, concatenations that mix batch-1 tensors (computed before the replaced layer)
with batch-B tensors (derived from a batch-B replacement) expand the batch-1 ones, so that the part
of the network after the replaced layer can run on a real batch of B probes.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from circuitscope.activations.trace import Trace

__all__ = ["LinearizeMode", "linearized", "relu_modules"]

_RELU_LIKE = {"relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "gelu", "silu",
              "hardswish", "mish", "celu", "celu_", "selu", "selu_", "rrelu", "rrelu_"}


def _pool_args(args: Sequence[Any], kwargs: dict[str, Any], names: list[str], defaults: list[Any]) -> dict[str, Any]:
    vals = dict(zip(names, args))
    vals.update(kwargs)
    for n, d in zip(names, defaults):
        vals.setdefault(n, d)
    return vals


class LinearizeMode(TorchFunctionMode):
    """ReLU-likes -> identity, max-pool -> avg-pool, -inf padding -> 0 padding (and ``batch_fix``)."""

    def __init__(self, batch_fix: bool = False) -> None:
        super().__init__()
        self.batch_fix = batch_fix

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _RELU_LIKE and args and isinstance(args[0], torch.Tensor):
            return args[0]
        if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices") and args:
            v = _pool_args(args, kwargs, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                                          "return_indices"], [None, None, None, 0, 1, False, False])
            dil = v["dilation"]
            if not v["return_indices"] and (dil == 1 or (isinstance(dil, (list, tuple)) and all(d == 1 for d in dil))):
                stride = v["stride"] if v["stride"] not in (None, [], ()) else v["kernel_size"]
                return F.avg_pool2d(v["input"], v["kernel_size"], stride, v["padding"], v["ceil_mode"],
                                    count_include_pad=False)
        if name in ("adaptive_max_pool2d", "_adaptive_max_pool2d") and args:
            v = _pool_args(args, kwargs, ["input", "output_size", "return_indices"], [None, None, False])
            if not v["return_indices"]:
                return F.adaptive_avg_pool2d(v["input"], v["output_size"])
        if name == "pad" and args:
            v = _pool_args(args, kwargs, ["input", "pad", "mode", "value"], [None, None, "constant", None])
            if v["mode"] == "constant" and v["value"] is not None and math.isinf(float(v["value"])):
                return F.pad(v["input"], v["pad"], mode="constant", value=0.0)
        if self.batch_fix and name in ("cat", "concat", "concatenate", "stack") and args \
                and isinstance(args[0], (list, tuple)):
            ts = list(args[0])
            sizes = {t.shape[0] for t in ts if isinstance(t, torch.Tensor) and t.dim() > 0}
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            if len(sizes) == 2 and 1 in sizes and isinstance(dim, int) and dim % max(ts[0].dim(), 1) != 0:
                big = max(sizes)
                ts = [t.expand(big, *t.shape[1:]) if isinstance(t, torch.Tensor) and t.dim() > 0
                      and t.shape[0] == 1 else t for t in ts]
                return func(ts, *args[1:], **kwargs)
        return func(*args, **kwargs)


def relu_modules(module: nn.Module) -> list[str]:
    """Names of the leaf, parameter-free modules whose class name contains "relu".

    Leaf and parameter-free only: a "ConvReLU" block must not become the identity."""
    return [
        name for name, m in module.named_modules()
        if "relu" in type(m).__name__.lower()
        and not any(True for _ in m.children())
        and not any(True for _ in m.parameters(recurse=False))
    ]


def _pass_input_through(output: torch.Tensor, layer: str, inputs: tuple[Any, ...]) -> torch.Tensor:
    first = inputs[0] if inputs else None
    if isinstance(first, torch.Tensor) and first.shape == output.shape:
        return first
    return output


@contextmanager
def linearized(module: nn.Module, batch_fix: bool = False) -> Iterator[None]:
    """Run `module` with ReLUs as identity and max-pools as average pools (see the module docstring)."""
    with Trace(module, relu_modules(module), edit=_pass_input_through, every_call=True, retain_output=False,
               require_tensor=False, prepend=True), LinearizeMode(batch_fix):
        yield
