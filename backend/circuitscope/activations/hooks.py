"""Capture the outputs of named layers, and stop the forward pass once the last one has fired.

Layer names are dotted module paths as `model.named_modules()` reports them, e.g.
`inception4a.branch2.1` (torchvision GoogLeNet) or `layer1.0.conv2` (ResNet).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from circuitscope.models.base import UnknownLayerError

__all__ = ["StopForward", "get_module", "first_tensor", "capture_layers", "forward_until"]


class StopForward(Exception):
    """Raised inside a forward hook after the last requested layer fired; `forward_until` catches it."""


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


@contextmanager
def capture_layers(
    module: nn.Module,
    names: Iterable[str],
    stop_after_last: bool = True,
    detach: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Register forward hooks on `names`; yields a dict that fills with {name: output tensor}.

    A layer that runs more than once in one forward (a shared module) keeps its first output.
    With `stop_after_last`, the hook of whichever requested layer completes the set raises
    StopForward, so nothing after it is computed; call the model through `forward_until`
    (or catch StopForward yourself). `detach=False` keeps the autograd graph (for gradients).
    Hooks are removed on exit, also when the forward raised.
    """
    names = list(dict.fromkeys(names))  # unique, order kept
    store: dict[str, torch.Tensor] = {}
    wanted = set(names)
    handles = []

    def make_hook(name: str):
        def hook(_mod, _inp, out):
            if name in store:
                return None
            t = first_tensor(out)
            if t is None:
                raise TypeError(f"Layer '{name}' produced no tensor output (got {type(out).__name__}).")
            store[name] = t.detach() if detach else t
            if stop_after_last and len(store) == len(wanted):
                raise StopForward()
            return None

        return hook

    try:
        for name in names:
            handles.append(get_module(module, name).register_forward_hook(make_hook(name)))
        yield store
    finally:
        for h in handles:
            h.remove()


def forward_until(
    module: nn.Module, x: torch.Tensor, names: Iterable[str], detach: bool = True
) -> dict[str, torch.Tensor]:
    """Run `module(x)` only as far as needed to produce every layer in `names`; returns their outputs.

    Raises RuntimeError when a requested layer never ran (e.g. an unused auxiliary branch).
    """
    names = list(dict.fromkeys(names))
    with capture_layers(module, names, stop_after_last=True, detach=detach) as store:
        try:
            module(x)
        except StopForward:
            pass
    missing = [n for n in names if n not in store]
    if missing:
        raise RuntimeError(f"Layers did not run during the forward pass: {', '.join(missing)}")
    return {n: store[n] for n in names}
