"""The `tuning-layer` job kind: every tuning curve of every unit of a layer, queued and run by the worker.

Stimulus sets are shared by the whole layer (one forward pass answers for every channel; LayerProber caches
each set), so a layer costs far less than its units one by one. The result is one JSON file per layer,
data_dir/evidence/tuning/<model>/<layer>.json, written atomically at the end (a cancelled job leaves none);
the tuning route answers from it when it matches the model's recorded source.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import DomainError, Invalid
from ..jobs.running import running_job
from ..settings import Settings
from ..store import BlobStore, Database
from ..store.tables.jobs import Job
from ..store.tables.records import Unit
from .stimuli import PARAMS
from .unit_tuning import LayerRef, find_layer, prober_for, top_example

JOB_KIND = "tuning-layer"


class Cancelled(Exception):
    pass


def _fingerprint(ref: LayerRef) -> str:
    return hashlib.sha256(json.dumps([ref.model.slug, ref.model.source, ref.layer.name, ref.layer.channels],
                                     sort_keys=True, default=str).encode()).hexdigest()[:16]


def result_path(data_dir: Path, slug: str, layer: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in layer)
    return Path(data_dir) / "evidence" / "tuning" / slug / f"{safe}.json"


def stored_curve(data_dir: Path, ref: LayerRef, index: int, param: str) -> dict[str, Any] | None:
    """A precomputed curve (from a finished layer job) when it matches the model and layer as stored now."""
    path = result_path(data_dir, ref.model.slug, ref.layer.name)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if doc.get("fingerprint") != _fingerprint(ref):
        return None
    curve = (doc.get("units") or {}).get(str(index), {}).get(param)
    return {**curve, "precomputed": doc.get("finished_at")} if curve else None


def submit_layer_tuning(session: Session, slug: str, layer: str, params: list[str], created_by: str | None) -> Job:
    """Check now (404/422 naming the choices), then queue."""
    bad = [p for p in params if p not in PARAMS]
    if bad or not params:
        raise Invalid(f"Unknown tuning parameter '{bad[0] if bad else ''}'. Valid parameters: "
                                 f"{', '.join(PARAMS)}.")
    find_layer(session, slug, layer)
    # Shaped like a run description where the jobs pages read one (model, layers, dataset).
    config = {"model": {"kind": "tuning curves", "name": slug}, "model_slug": slug, "layers": [layer],
              "dataset": {"kind": "synthetic stimuli"}, "params": list(dict.fromkeys(params))}
    job = Job(kind=JOB_KIND, config=config,
              status="queued", stage="queued", created_by=created_by, model_slug=slug)
    session.add(job)
    session.flush()
    return job


def compute_layer(db: Database, settings: Settings, slug: str, layer: str, params: list[str],
                  progress: Callable[[int, int], None] = lambda n, t: None,
                  should_cancel: Callable[[], bool] = lambda: False) -> Path:
    from .tuning import tuning_curve

    blobs = BlobStore(settings.blob_dir)
    with db.session() as s:
        ref = find_layer(s, slug, layer)
        s.expunge(ref.model)
        s.expunge(ref.layer)
        unit_ids = dict(s.execute(select(Unit.index, Unit.id).where(Unit.layer_id == ref.layer.id)).all())
        examples = {i: top_example(s, blobs, uid) for i, uid in unit_ids.items()} if "rotation" in params else {}
    prober = prober_for(ref, settings.data_dir, settings.device)
    channels = ref.layer.channels
    units: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for index in range(channels):
        if should_cancel():
            raise Cancelled()
        curves = {}
        for param in params:
            ex = examples.get(index)
            if param == "rotation" and ex is None:
                continue
            curves[param] = tuning_curve(prober, index, param, "auto", ex[:3] if ex else None)
        units[str(index)] = curves
        progress(index + 1, channels)
    doc = {"format": "circuitscope.tuning-layer/1", "model": slug, "layer": layer, "fingerprint": _fingerprint(ref),
           "params": params, "channels": channels, "seconds": round(time.perf_counter() - t0, 2),
           "images_forwarded": prober.forwarded, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "units": units}
    path = result_path(settings.data_dir, slug, layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
    return path


def run_layer_job(db: Database, settings: Settings, job_id: int, config: dict[str, Any]) -> None:
    layer = config["layers"][0]
    with running_job(db, job_id, cancelled=(Cancelled,), cancelled_message="cancelled by request; nothing was stored",
                     expected=(DomainError,)) as job:
        params = list(config.get("params") or PARAMS)
        path = compute_layer(db, settings, config["model_slug"], layer, params,
                             lambda n, total: job.report("tuning", layer, n, total), job.cancelled)
        job.succeed(summary={"tuning_file": str(path), "layers": config["layers"]})
