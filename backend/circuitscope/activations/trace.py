"""One intervention primitive: capture named layers, edit their outputs, stop the forward pass.

In the spirit of baukit's ``nethook.Trace``/``TraceDict``: a context manager that hooks a set of
dotted layer names and, while it is active, for every forward pass

- **captures** each layer's output (and optionally its input, and the input of the layer's final
  ReLU: the pre-activation Lucid/Microscope use for ``..._pre_relu`` objectives),
- **edits** outputs: a callable ``edit(output, layer) -> tensor`` per layer (or
  ``edit(output, layer, inputs)``, which also receives the layer's positional inputs, e.g. to make
  a layer the identity), or a channel-wise ``ChannelEdit`` (zero / mean / replace the channels
  selected by a per-sample mask, so many ablated copies of one image batch run in one forward pass),
- **stops** the forward once every captured layer has fired (``stop=True``), so nothing after the
  deepest requested layer is computed,
- optionally puts the model in **eval mode** for its duration.

Every other package reaches model internals through this module; no other package registers hooks.
A layer whose module runs more than once in one forward (a shared module) is captured on its first
call only, so "the layer's output" means one tensor; it is edited on its first call only too, unless
``every_call=True`` (for edits that change what the module *is*, such as linearisation).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from circuitscope.activations.hooks import StopForward, first_tensor, get_module
from circuitscope.activations.relu import ReluRecorder, final_relu_input

__all__ = ["ChannelEdit", "EditFn", "Trace", "replace_first_tensor"]

EditFn = Callable[[torch.Tensor, str], torch.Tensor] | Callable[[torch.Tensor, str, tuple[Any, ...]], torch.Tensor]


def _wants_inputs(fn: Callable[..., Any]) -> bool:
    """Whether an edit function takes a third positional argument (the layer's inputs)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the two-argument form
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


def replace_first_tensor(output: Any, new: torch.Tensor) -> Any:
    """``output`` with its first tensor (see ``first_tensor``) replaced by ``new``; tuples, lists and
    dicts are rebuilt (namedtuples keep their type), so tuple-returning layers can be edited too."""
    if isinstance(output, torch.Tensor):
        return new
    if isinstance(output, dict):
        for key, value in output.items():
            if first_tensor(value) is not None:
                return {**output, key: replace_first_tensor(value, new)}
        return output
    if isinstance(output, (tuple, list)):
        items = list(output)
        for i, value in enumerate(items):
            if first_tensor(value) is not None:
                items[i] = replace_first_tensor(value, new)
                break
        if isinstance(output, tuple) and hasattr(output, "_fields"):  # namedtuple
            return type(output)(*items)
        return type(output)(items)
    return output


@dataclass
class ChannelEdit:
    """Replace the channels selected by ``mask`` with ``values`` (zero when ``values`` is None).

    ``mask``: bool ``[C]`` (every sample) or ``[B, C]`` (one row per sample of the batch: e.g. a batch
    laid out as sets x images, each set ablating different channels). ``values``: anything that
    broadcasts to the output ``[B, C, ...]`` — ``[C]`` per-channel means, ``[C, H, W]`` per-position
    means, or ``[B, C, H, W]`` resampled activations. The edit is exact: unselected channels keep
    their values bit for bit.
    """

    mask: torch.Tensor
    values: torch.Tensor | None = None

    def __call__(self, output: torch.Tensor, layer: str) -> torch.Tensor:
        c = output.shape[1]
        if self.mask.shape[-1] != c:
            raise ValueError(f"ChannelEdit for '{layer}': mask has {self.mask.shape[-1]} channels, the layer has {c}")
        extra = (None,) * (output.dim() - 2)
        per_channel = (None, slice(None), *extra)  # [C] -> [1, C, 1, ...]
        per_sample = (slice(None), slice(None), *extra)  # [B, C] -> [B, C, 1, ...]
        mask = self.mask.to(output.device)
        mask = mask[per_channel] if mask.dim() == 1 else mask[per_sample]
        if self.values is None:
            values = torch.zeros((), dtype=output.dtype, device=output.device)
        else:
            values = self.values.to(device=output.device, dtype=output.dtype)
            if values.dim() == 1:
                values = values[per_channel]
            elif values.dim() == output.dim() - 1:
                values = values[None]
        return torch.where(mask, values, output)


class Trace:
    """Hooks ``layers`` of ``module`` while the ``with`` block runs; see the module docstring.

    After a forward pass, ``trace.output[name]``, ``trace.input[name]`` (with ``retain_input``) and
    ``trace.pre_relu[name]`` (with ``pre_relu``; None where the layer does not end in a ReLU) hold the
    captured tensors, ``trace.version[name]`` the output's autograd version counter when it was
    captured (compare it with ``trace.output[name]._version`` afterwards to see whether something
    modified the tensor in place later, e.g. an in-place ReLU or a residual ``+=``; absent under
    ``torch.inference_mode``, whose tensors have no version counter), ``trace.calls[name]`` how often the
    layer ran and ``trace.order`` the order in which layers first fired. ``trace.forward(x)`` runs
    the model, swallowing ``StopForward``, and clears the previous pass's captures first.

    ``detach=False`` keeps the autograd graph of captured tensors (for gradients w.r.t. the input)
    and the identity of the captured objects (``trace.output[a] is trace.input[b][0]`` tells whether
    layer b consumes layer a's very tensor). ``edit`` maps layer names to edit functions (or is one
    function for every layer); an edited layer's captured output is the edited tensor.
    ``every_call`` applies edits on every call of a shared module, not only the first. ``prepend``
    runs these hooks before any others already on the modules. ``stop`` accepts a subset of names to
    stop after, or True for all. A traced layer whose output holds no tensor raises TypeError,
    unless ``require_tensor=False``: then it is only counted (``calls``/``order``), not captured or
    edited (for probing every module of a network, containers and odd layers included).
    """

    def __init__(
        self,
        module: nn.Module,
        layers: str | Iterable[str],
        *,
        retain_output: bool = True,
        retain_input: bool = False,
        pre_relu: bool | Iterable[str] = False,
        edit: EditFn | dict[str, EditFn] | None = None,
        stop: bool | Iterable[str] = False,
        detach: bool = True,
        eval_mode: bool = False,
        prepend: bool = False,
        every_call: bool = False,
        require_tensor: bool = True,
    ) -> None:
        self.module = module
        self.layers = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
        self.retain_output, self.retain_input, self.detach = retain_output, retain_input, detach
        self.pre_relu_layers = set(self.layers if pre_relu is True else () if pre_relu is False else pre_relu)
        self.edits: dict[str, EditFn] = (
            {} if edit is None else dict(edit) if isinstance(edit, dict) else {n: edit for n in self.layers}
        )
        unknown = set(self.edits) - set(self.layers)
        if unknown:
            raise ValueError(f"edit names layers that are not traced: {', '.join(sorted(unknown))}")
        self._edit_takes_inputs = {n: _wants_inputs(fn) for n, fn in self.edits.items()}
        self.stop_layers = set(self.layers if stop is True else () if stop is False else stop)
        unknown = self.stop_layers - set(self.layers)
        if unknown:
            raise ValueError(f"stop names layers that are not traced: {', '.join(sorted(unknown))}")
        self.eval_mode, self.prepend = eval_mode, prepend
        self.every_call, self.require_tensor = every_call, require_tensor
        self.modules = {n: get_module(module, n) for n in self.layers}  # UnknownLayerError lists valid names
        self.output: dict[str, torch.Tensor] = {}
        self.input: dict[str, tuple[Any, ...]] = {}
        self.pre_relu: dict[str, torch.Tensor | None] = {}
        self.version: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.order: list[str] = []
        self._handles: list[Any] = []
        self._was_training: bool | None = None
        self._recorder: ReluRecorder | None = None
        self._recording: dict[str, int] = {}  # layer -> index into recorder.calls where its forward began
        self._depth = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Trace:
        if self.eval_mode:
            self._was_training = self.module.training
            self.module.eval()
        try:
            for name, mod in self.modules.items():
                if name in self.pre_relu_layers:
                    self._handles.append(mod.register_forward_pre_hook(self._make_pre_hook(name), prepend=self.prepend))
                self._handles.append(mod.register_forward_hook(self._make_hook(name), prepend=self.prepend))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self._depth > 0:  # a layer's forward raised: leave the torch-function mode stack as it was
            self._leave()
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._was_training is not None:
            self.module.train(self._was_training)
            self._was_training = None

    def reset(self) -> None:
        """Forget the previous forward pass's captures (``forward`` does this itself)."""
        self.output.clear()
        self.input.clear()
        self.pre_relu.clear()
        self.version.clear()
        self.calls.clear()
        self.order.clear()
        self._recording.clear()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """``module(*args)``; returns its output, or None when the trace stopped the pass."""
        self.reset()
        try:
            return self.module(*args, **kwargs)
        except StopForward:
            return None

    def missing(self) -> list[str]:
        """Traced layers that did not run in the last forward pass (e.g. an unused auxiliary branch)."""
        return [n for n in self.layers if n not in self.calls]

    # -- hooks -------------------------------------------------------------------------------
    def _enter(self) -> None:
        if self._depth == 0:
            self._recorder = ReluRecorder()
            self._recorder.__enter__()  # type: ignore[no-untyped-call]  # untyped in torch
        self._depth += 1

    def _leave(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._recorder is not None:
            self._recorder.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # untyped in torch
            self._recorder = None

    def _make_pre_hook(self, name: str) -> Callable[..., None]:
        def pre_hook(_mod: nn.Module, _inputs: tuple[Any, ...]) -> None:
            if name in self.calls or name in self._recording:  # shared module: only the first run counts
                return
            self._enter()
            assert self._recorder is not None
            self._recording[name] = len(self._recorder.calls)

        return pre_hook

    def _edit(self, name: str, tensor: torch.Tensor, inputs: tuple[Any, ...]) -> torch.Tensor | None:
        """The edited tensor, or None when the edit left the output as it was."""
        fn: Callable[..., torch.Tensor] = self.edits[name]
        edited = fn(tensor, name, inputs) if self._edit_takes_inputs[name] else fn(tensor, name)
        return None if edited is tensor else edited

    def _make_hook(self, name: str) -> Callable[..., Any]:
        def hook(_mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            first = name not in self.calls
            self.calls[name] = self.calls.get(name, 0) + 1
            if not first:
                if self.every_call and name in self.edits:
                    tensor = first_tensor(output)
                    edited = None if tensor is None else self._edit(name, tensor, inputs)
                    return None if edited is None else replace_first_tensor(output, edited)
                return None
            self.order.append(name)
            tensor = first_tensor(output)
            if name in self._recording:
                start = self._recording.pop(name)
                assert self._recorder is not None
                pre = None if tensor is None else final_relu_input(self._recorder.calls[start:], tensor)
                self.pre_relu[name] = None if pre is None else (pre.detach() if self.detach else pre)
                self._leave()
            elif name in self.pre_relu_layers:
                self.pre_relu[name] = None
            replaced = None
            if tensor is not None:
                if name in self.edits:
                    edited = self._edit(name, tensor, inputs)
                    if edited is not None:
                        replaced = replace_first_tensor(output, edited)
                        tensor = edited
                if not tensor.is_inference():  # inference-mode tensors have no version counter
                    self.version[name] = tensor._version
                if self.retain_output:
                    self.output[name] = tensor.detach() if self.detach else tensor
            elif self.require_tensor:
                raise TypeError(f"Layer '{name}' produced no tensor output (got {type(output).__name__}).")
            if self.retain_input:
                self.input[name] = tuple(
                    i.detach() if self.detach and isinstance(i, torch.Tensor) else i for i in inputs
                )
            if self.stop_layers and self.stop_layers <= set(self.calls):
                raise StopForward()
            return replaced

        return hook
