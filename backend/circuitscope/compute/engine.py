"""Where a run's heavy work happens: the local engine (this process) or a Ray cluster (engine_ray.py).

The pipeline asks an engine for three things and writes what comes back itself (one writer):
the dataset pass's tallies, the rendered dataset examples of each layer, and the feature
visualizations of chunks of channels. Both engines call the same public functions
(`compute_dataset_examples`, `render_examples`, `render_feature_vis`), so their results agree.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ..settings import Settings
from .config import RunConfig, resolve_precision


class Engine(Protocol):
    name: str
    driver_device: str  # where the driver's own copy of the model lives (weights, layer listing)

    def compute_dataset_examples(self, model, dataset, layers: list[str], *, k: int, batch_size: int,
                                 **kwargs: Any) -> dict[str, Any]: ...

    def render_layer_examples(self, model, dataset, layers: list[str], tallies: dict[str, Any],
                              check_cancel: Callable[[], None]) -> Iterator[tuple[str, dict]]: ...

    def render_feature_vis_chunks(self, model, layer: str, chunks: list[list[int]], options: dict[str, Any],
                                  check_cancel: Callable[[], None]) -> Iterator[tuple[list[int], list]]: ...

    def resolve_precision(self, precision: str, device: str) -> str: ...

    def close(self) -> None: ...


class LocalEngine:
    """Everything in this process, one step after the other (the default)."""

    name = "local"

    def __init__(self, config: RunConfig):
        self.device = self.driver_device = config.device

    def compute_dataset_examples(self, model, dataset, layers, **kwargs):
        from ..records.examples import compute_dataset_examples

        return compute_dataset_examples(model, dataset, layers, device=self.device, **kwargs)

    def render_layer_examples(self, model, dataset, layers, tallies, check_cancel):
        from ..records.examples import render_examples

        for name in layers:
            check_cancel()
            yield name, render_examples(model, dataset, name, tallies[name], device=self.device)

    def render_feature_vis_chunks(self, model, layer, chunks, options, check_cancel):
        from ..records.featurevis import render_feature_vis

        for chunk in chunks:
            check_cancel()
            yield chunk, list(render_feature_vis(
                model, layer, chunk, device=self.device, **options,
                progress=lambda _done, _total: check_cancel(),  # cancel within a chunk, not only between
            ))

    def resolve_precision(self, precision: str, device: str) -> str:
        return resolve_precision(precision, device)

    def close(self) -> None:
        pass


def open_engine(config: RunConfig, settings: Settings) -> Engine:
    """The engine a run asks for; a Ray cluster is reached and checked here, before any work."""
    if config.engine == "ray":
        from .engine_ray import RayEngine

        return RayEngine.connect(config, settings)
    return LocalEngine(config)
