"""A run: model + dataset + layers -> stored records, resumable and idempotent.

Stages per layer: examples (one streaming pass for all layers, checkpointed), weights (from the
previous selected layer), featurevis (chunks of channels, each chunk one transaction). A stage that is
done with the same parameters is skipped, so a killed run finishes where it stopped and a second run
changes nothing.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..settings import Settings
from ..store import BlobStore, Database, writer
from ..store.base import utcnow
from ..store.tables.records import Layer, Run
from .config import RunConfig, RunConfigError, params_digest
from .engine import open_engine

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, str | None, int, int], None]  # (stage, layer, done, total)


class Cancelled(Exception):
    """The run was asked to stop; everything finished so far is stored."""


@dataclass
class RunResult:
    run_id: int
    model_slug: str
    layers: list[str]
    skipped_images: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    stages_skipped: list[str] = field(default_factory=list)
    fidelity: dict[str, Any] | None = None  # feature-vis fidelity summary (records/featurevis/fidelity.py)


def default_model_slug(spec: dict[str, Any]) -> str:
    kind = spec.get("kind", "model")
    base = spec.get("name") or {
        "demo": "conceptnet",
        "lucent": "inceptionv1",
    }.get(kind) or Path(str(spec.get("path") or spec.get("target") or kind)).stem.split(":")[0]
    return re.sub(r"[^a-z0-9_.-]+", "-", str(base).lower()).strip("-")[:100] or "model"


def dataset_slug(spec: dict[str, Any]) -> str:
    kind = spec.get("kind", "dataset")
    return f"{kind}-{params_digest(spec)}"


def check_device(device: str) -> None:
    """Refuse a device this machine does not have, before any model is loaded (RunConfigError)."""
    import torch

    fix = 'set device = "cpu" in the run description (or --device cpu)'
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            why = ("this PyTorch was built without CUDA" if torch.version.cuda is None
                   else "no CUDA GPU/driver is available on this machine")
            raise RunConfigError(f"Device '{device}' was requested but {why} (torch.cuda.is_available() is "
                                 f"False); {fix}.")
        index = device.split(":", 1)[1] if ":" in device else "0"
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise RunConfigError(f"Device '{device}' was requested but this machine has "
                                 f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 ...); {fix} or a valid index.")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise RunConfigError(f"Device 'mps' was requested but Apple MPS is not available on this machine; {fix}.")


def _atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def run_compute(
    config: RunConfig,
    settings: Settings,
    db: Database | None = None,
    progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
    show_progress_bars: bool = True,
) -> RunResult:
    from ..datasets import build_dataset
    from ..models.layers import list_layers, resolve_layers
    from ..models.sources import load_model

    db = db or Database(settings.sqlalchemy_url)
    blobs = BlobStore(settings.blob_dir)
    report = progress or (lambda *a: None)
    cancel = should_cancel or (lambda: False)

    def check_cancel() -> None:
        if cancel():
            raise Cancelled("cancelled by request")

    t0 = time.perf_counter()
    engine = open_engine(config, settings)  # ray: the cluster is reached and its resources checked first
    try:
        if engine.name == "local":
            check_device(config.device)
        report("loading model", None, 0, 1)
        model = load_model(config.model, settings.data_dir, device=engine.driver_device)
    except BaseException:
        engine.close()
        raise
    infos = list_layers(model)
    layer_names = resolve_layers(model, config.layers)  # unknown names fail here, before any work
    order = {info.name: info.order for info in infos}
    layer_names.sort(key=lambda n: order.get(n, 0))
    dataset = build_dataset(config.dataset)
    from ..concepts.pipeline_stage import concept_setup

    concepts = concept_setup(config.examples, dataset) if config.examples.enabled else (None, {})  # bad tags CSV: fails here
    load_seconds = time.perf_counter() - t0

    slug = config.model_slug or default_model_slug(model.source or config.model)
    with db.session() as s:
        model_row = writer.get_or_create_model(
            s, slug, source=model.source or config.model, name=model.name, input_size=model.input_size,
            mean=list(model.mean), std=list(model.std), class_names=model.class_names,
        )
        if model_row.source != (model.source or config.model):
            raise RunConfigError(
                f"A model named '{slug}' already exists with another source ({model_row.source}). "
                "Set model_slug in the run description (or --model-slug) to store this one under a new name."
            )
        ds_row = writer.get_or_create_dataset(
            s, dataset_slug(dataset.describe()), dataset.describe(), len(dataset), list(dataset.classes or []) or None
        )
        layers = writer.sync_layers(s, model_row, infos)
        for i, name in enumerate(layer_names):
            writer.ensure_units(s, layers[name])
            # every stage this run will compute exists from the start ("pending" until it runs), so a layer
            # whose examples are done but whose renders are not reads "partial", never "done"
            planned = [("examples", config.examples.enabled), ("featurevis", config.featurevis.enabled),
                       ("weights", config.weights.enabled and i > 0)]  # weights: from the layer before
            for stage in (st for st, on in planned if on):
                writer.get_stage(s, layers[name], stage)
        run = Run(model_id=model_row.id, dataset_id=ds_row.id, config=config.model_dump(mode="json"), status="running")
        s.add(run)
        s.flush()
        run_id, model_id, ds_id = run.id, model_row.id, ds_row.id

    result = RunResult(run_id=run_id, model_slug=slug, layers=layer_names, timings={"load": load_seconds})
    try:
        if config.examples.enabled:
            _examples_stage(config, settings, db, blobs, model, dataset, model_id, ds_id, layer_names, run_id,
                            result, report, check_cancel, show_progress_bars, engine, concepts=concepts)
        if config.weights.enabled:  # cheap: before the long feature-vis stage, so circuits show early
            _weights_stage(config, db, model, model_id, layer_names, run_id, result, report, check_cancel)
        if config.featurevis.enabled:
            _featurevis_stage(config, db, blobs, model, model_id, layer_names, run_id, result, report,
                              check_cancel, show_progress_bars, engine, dataset=dataset, dataset_id=ds_id)
    except BaseException as err:
        engine.close()
        status = "cancelled" if isinstance(err, (Cancelled, KeyboardInterrupt)) else "failed"
        with db.session() as s:
            row = s.get(Run, run_id)
            assert row is not None  # created by this run before any work
            row.status, row.error, row.finished_at = status, f"{type(err).__name__}: {err}", utcnow()
            row.summary = run_summary(result)
        raise
    engine.close()
    result.timings["total"] = time.perf_counter() - t0
    with db.session() as s:
        row = s.get(Run, run_id)
        assert row is not None  # created by this run before any work
        row.status, row.finished_at, row.summary = "done", utcnow(), run_summary(result)
    return result


def run_summary(result: RunResult) -> dict[str, Any]:
    return {
        "layers": result.layers,
        "skipped_images": [{"ref": r, "reason": why} for r, why in result.skipped_images],
        "skipped_count": len(result.skipped_images),
        "stages_skipped": result.stages_skipped,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "fidelity": result.fidelity,
    }


def _layers_of(s, model_id: int, names: list[str]) -> dict[str, Layer]:
    return {l.name: l for l in s.scalars(select(Layer).where(Layer.model_id == model_id, Layer.name.in_(names)))}


def _examples_stage(config, settings, db, blobs, model, dataset, model_id, ds_id, layer_names, run_id,
                    result, report, check_cancel, bars, engine, concepts=(None, {})) -> None:
    from ..concepts.pipeline_stage import write_concept_scores
    from ..datasets.loader import SkippedImages

    # "bottom": bottom-k of a layer ending in a ReLU rank the pre-ReLU min (older runs recompute)
    params = {"dataset": dataset.describe(), "k": config.examples.k, "bottom": "pre_relu_if_final_relu"}
    vocab, concept_params = concepts  # concepts/pipeline_stage.py: concept_setup, before the run is stored
    params.update(concept_params)
    with db.session() as s:
        layers = _layers_of(s, model_id, layer_names)
        todo = [n for n in layer_names if not writer.stage_is_done(s, layers[n], "examples", params)]
    result.stages_skipped += [f"examples:{n}" for n in layer_names if n not in todo]
    if not todo:
        return
    t = time.perf_counter()
    # The checkpoint of the streaming pass is keyed by what it computes; a resumed run reuses it.
    ckpt_dir = settings.data_dir / "checkpoints" / f"model{model_id}-{params_digest(params)}"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    meta_path, ckpt = ckpt_dir / "layers.json", ckpt_dir / "examples.pt"
    if ckpt.exists():
        saved = json.loads(meta_path.read_text()) if meta_path.exists() else []
        if set(todo) <= set(saved):
            todo_pass = saved
        else:
            ckpt.unlink()
            todo_pass = todo
    else:
        todo_pass = todo
    _atomic_write_json(meta_path, todo_pass)
    skipped = SkippedImages()

    def on_batch(done: int, total: int) -> None:
        report("examples", None, done, total)
        check_cancel()

    tallies = engine.compute_dataset_examples(
        model, dataset, todo_pass, k=config.examples.k, batch_size=config.examples.batch_size,
        checkpoint_path=ckpt, skipped=skipped, progress=bars,
        on_batch=on_batch, num_workers=config.examples.num_workers, concepts=vocab,
    )
    result.skipped_images = list(skipped.items)
    if skipped.count:
        log.warning("%d unreadable images were skipped: %s", skipped.count,
                    ", ".join(f"{r} ({why})" for r, why in skipped.items[:10]))
    result.timings["examples_pass"] = time.perf_counter() - t
    t = time.perf_counter()  # "examples" is rendering and storing them, after the pass (the two used to overlap)
    report("examples", todo[0], 0, len(todo))
    for i, (name, records) in enumerate(engine.render_layer_examples(model, dataset, todo, tallies, check_cancel)):
        with db.session() as s:
            layer = _layers_of(s, model_id, [name])[name]
            units = writer.ensure_units(s, layer)
            ds = s.get(writer.Dataset, ds_id)
            stats = {c: tallies[name].stats(c) for c in range(layer.channels)}
            writer.write_layer_examples(s, blobs, ds, units, records, stats)
            write_concept_scores(s, config.examples, layer.id, ds_id, units, tallies[name], vocab)
            writer.mark_stage(s, layer, "examples", status="done", params=params, run_id=run_id,
                              units_done=layer.channels)
        report("examples", name, i + 1, len(todo))
    result.timings["examples"] = time.perf_counter() - t
    for path in (ckpt, meta_path):  # every layer is stored: the checkpoint has served its purpose
        path.unlink(missing_ok=True)


def _featurevis_stage(config, db, blobs, model, model_id, layer_names, run_id, result, report, check_cancel,
                      bars, engine, dataset=None, dataset_id=None) -> None:
    from .featurevis_stage import featurevis_stage

    featurevis_stage(config, db, blobs, model, model_id, layer_names, run_id, result, report, check_cancel, _layers_of,
                     engine, dataset=dataset, dataset_id=dataset_id)


def _weights_stage(config, db, model, model_id, layer_names, run_id, result, report, check_cancel) -> None:
    from ..records.weights import layer_connections

    t = time.perf_counter()
    pairs = list(zip(layer_names, layer_names[1:]))
    for i, (src, dst) in enumerate(pairs):
        params = {"src": src, "top_n": config.weights.top_n}
        with db.session() as s:
            if writer.stage_is_done(s, _layers_of(s, model_id, [dst])[dst], "weights", params):
                result.stages_skipped.append(f"weights:{dst}")
                continue
        check_cancel()
        report("weights", dst, i, len(pairs))
        conns = layer_connections(model, src, dst, top_n=config.weights.top_n)
        with db.session() as s:
            layers = _layers_of(s, model_id, [src, dst])
            writer.write_connections(s, writer.ensure_units(s, layers[src]), writer.ensure_units(s, layers[dst]),
                                     conns.all())
            writer.mark_stage(s, layers[dst], "weights", status="done", params=params, run_id=run_id,
                              units_done=layers[dst].channels)
        report("weights", dst, i + 1, len(pairs))
    _input_kernels_step(db, model, model_id, layer_names)
    result.timings["weights"] = time.perf_counter() - t


def _input_kernels_step(db, model, model_id, layer_names) -> None:
    """The first layer's weights on the image (RGB) channels, stored per unit (cheap: one short forward)."""
    from ..records.input_kernels import input_kernels

    for name in layer_names[:1]:  # only a layer before any other conv can have them: the first computed one
        kernels = input_kernels(model, name)
        if kernels is None:
            continue
        with db.session() as s:
            layer = _layers_of(s, model_id, [name])[name]
            writer.write_input_kernels(writer.ensure_units(s, layer), kernels)
