"""One-call helpers on top of ``Trace``: capture named layers and stop after the last one."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from circuitscope.activations.trace import Trace

__all__ = ["capture_layers", "forward_until", "forward_until_pre_relu"]


@contextmanager
def capture_layers(
    module: nn.Module,
    names: Iterable[str],
    stop_after_last: bool = True,
    detach: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Hooks ``names`` while the block runs; yields a dict that fills with {name: output tensor}.

    With ``stop_after_last`` the hook of whichever requested layer completes the set raises
    ``StopForward`` (catch it, or use ``forward_until``). ``detach=False`` keeps the autograd graph.
    """
    with Trace(module, names, stop=stop_after_last, detach=detach) as trace:
        yield trace.output


def _run(trace: Trace, x: torch.Tensor) -> None:
    trace.forward(x)
    missing = trace.missing()
    if missing:
        raise RuntimeError(f"Layers did not run during the forward pass: {', '.join(missing)}")


def forward_until(
    module: nn.Module, x: torch.Tensor, names: Iterable[str], detach: bool = True
) -> dict[str, torch.Tensor]:
    """Run ``module(x)`` only as far as needed to produce every layer in ``names``; returns their outputs.

    Raises RuntimeError when a requested layer never ran (e.g. an unused auxiliary branch).
    """
    names = list(dict.fromkeys(names))
    with Trace(module, names, stop=True, detach=detach) as trace:
        _run(trace, x)
    return {n: trace.output[n] for n in names}


def forward_until_pre_relu(
    module: nn.Module, x: torch.Tensor, names: Iterable[str], pre_relu: Iterable[str] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
    """Like ``forward_until``, plus for every layer in ``pre_relu`` (default: all of ``names``) the
    input of its final ReLU, or None where it does not end in one. ReLU-like calls are only
    intercepted while such a layer's own forward runs."""
    names = list(dict.fromkeys(names))
    watch = set(names if pre_relu is None else pre_relu) & set(names)
    with Trace(module, names, stop=True, pre_relu=watch) as trace:
        _run(trace, x)
    return {n: trace.output[n] for n in names}, {n: trace.pre_relu.get(n) for n in watch}
