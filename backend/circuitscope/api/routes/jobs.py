"""Jobs and sources: register a model and a dataset (paths only under the configured roots), discover
layers, queue a computation, watch it (polling or Server-Sent Events) and cancel it."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...annotate.users import Identity
from ...compute.config import RunConfig
from ...jobs import queue
from ...settings import Settings
from ...store.tables.jobs import Job
from ..auth import can_compute, require_compute, require_compute_reader, require_reader
from ..bounds import MAX_ID
from ..deps import Tx, get_settings_dep
from ..errors import ApiError, not_found
from ..schemas.jobs import (
    BrowseEntry,
    BrowseOut,
    DatasetCheckIn,
    DatasetCheckOut,
    DiscoverIn,
    DiscoverOut,
    JobOut,
    LayerOut,
)

router = APIRouter(prefix="/api", tags=["jobs"])
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
MODEL_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".py", ".jit", ".torchscript"}


# Starting computations needs the compute permission (settings.compute_role, admin by default).
require_writer = require_compute


def check_path(settings: Settings, raw: str, what: str) -> FsPath:
    """Resolve a user-given path and refuse it unless it lies under a configured root."""
    from ...models.spec_guard import SpecRefused, confine_path

    try:
        return confine_path(settings.roots, raw, what)
    except SpecRefused as err:
        raise ApiError(403, str(err)) from None


def checked_spec(settings: Settings, model: dict[str, Any] | None = None,
                 dataset: dict[str, Any] | None = None) -> None:
    """Confine a model or dataset spec from a request (models.spec_guard), in place: paths under the allowed
    roots made absolute, `arch`/`target` only torchvision names or factory files under the roots."""
    from ...models.spec_guard import SpecRefused, confine_dataset_spec, confine_model_spec

    try:
        if model:
            confined = confine_model_spec(model, settings.roots, settings.data_dir)
            model.clear()
            model.update(confined)
        if dataset:
            confined = confine_dataset_spec(dataset, settings.roots)
            dataset.clear()
            dataset.update(confined)
    except SpecRefused as err:
        raise ApiError(403, str(err)) from None


_PUBLIC_MODEL_KEYS = ("kind", "name", "weights", "pretrained", "input_size")
_PUBLIC_DATASET_KEYS = ("kind", "size", "seed", "max_images")


def redacted_config(config: dict[str, Any]) -> dict[str, Any]:
    """A run description without what names server files or code (paths, factory targets, arch, kwargs)."""
    out = dict(config)
    if isinstance(config.get("model"), dict):
        out["model"] = {k: v for k, v in config["model"].items() if k in _PUBLIC_MODEL_KEYS}
    if isinstance(config.get("dataset"), dict):
        out["dataset"] = {k: v for k, v in config["dataset"].items() if k in _PUBLIC_DATASET_KEYS}
    return out


def job_out(job: Job, reveal: bool = True) -> JobOut:
    """A job as the API shows it; without `reveal` (no compute permission) its config and traceback, which
    name server paths and factory code, are left out."""
    if not reveal:
        out = job_out(job)
        return out.model_copy(update={"config": redacted_config(out.config),
                                      "summary": {k: v for k, v in out.summary.items() if k != "traceback"}})
    out = JobOut.model_validate(job)
    out.eta_seconds = queue.eta_seconds(job)
    return out


@router.get("/jobs", response_model=list[JobOut], dependencies=[Depends(require_reader)])
def list_jobs(request: Request, limit: int = Query(50, ge=1, le=500),
              session: Session = Tx):
    reveal = can_compute(request)
    return [job_out(j, reveal) for j in session.scalars(select(Job).order_by(Job.id.desc()).limit(limit))]


@router.get("/jobs/{job_id}", response_model=JobOut, dependencies=[Depends(require_reader)])
def get_job(request: Request, job_id: int = Path(ge=1, le=MAX_ID),
            session: Session = Tx):
    job = session.get(Job, job_id)
    if job is None:
        raise not_found(f"No job {job_id}.")
    return job_out(job, can_compute(request))


@router.post("/jobs", response_model=JobOut, status_code=201)
def create_job(config: RunConfig, session: Session = Tx, settings: Settings = Depends(get_settings_dep),
               who: Identity = Depends(require_writer)):
    """Queue a run description (same keys as a run file; a malformed one is a 422 naming the field); the worker
    picks it up. Paths and code the description names are confined to the allowed folders first (403)."""
    checked_spec(settings, config.model, config.dataset)  # in place
    if config.examples.concept_tags is not None:  # a file the worker will read
        config.examples.concept_tags = str(check_path(settings, config.examples.concept_tags, "concept tags CSV"))
        from ...concepts.tags_csv import TagsCsvError, read_tags_csv

        try:  # the format now; the image names against the dataset when the worker builds it
            read_tags_csv(config.examples.concept_tags, None)
        except TagsCsvError as err:
            raise ApiError(422, f"examples.concept_tags: {err}") from None
    if config.ray_address and config.ray_address != settings.ray_address:  # the worker would run code there
        raise ApiError(422, "A job from the browser may not name a Ray cluster (ray_address); jobs with "
                            "engine = 'ray' run on the server's cluster, CIRCUITSCOPE_RAY_ADDRESS, set by an admin.")
    return job_out(queue.submit(session, config, created_by=who.name))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: int = Path(ge=1, le=MAX_ID), session: Session = Tx, _=Depends(require_writer)):
    try:
        return job_out(queue.request_cancel(session, job_id))
    except queue.JobNotFound:
        raise not_found(f"No job {job_id}.") from None


@router.get("/jobs/{job_id}/events", dependencies=[Depends(require_reader)])
async def job_events(request: Request, job_id: int = Path(ge=1, le=MAX_ID)):
    """Server-Sent Events: the job's state whenever it changes, until it ends."""
    db = request.app.state.db
    reveal = can_compute(request)

    def snapshot() -> dict | None:
        with db.session() as s:
            job = s.get(Job, job_id)
            return None if job is None else json.loads(job_out(job, reveal).model_dump_json())

    first = await run_in_threadpool(snapshot)
    if first is None:
        raise not_found(f"No job {job_id}.")

    async def stream():
        last, state = None, first
        while True:
            if state != last:
                yield f"data: {json.dumps(state)}\n\n"
                last = state
            if state["status"] in ("done", "failed", "cancelled") or await request.is_disconnected():
                return
            await asyncio.sleep(0.5)
            now = await run_in_threadpool(snapshot)
            if now is None:  # the job was deleted while it was being watched: say so and end the stream
                yield f"data: {json.dumps({'id': job_id, 'status': 'failed', 'error': f'Job {job_id} was deleted.'})}\n\n"
                return
            state = now

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/sources/browse", response_model=BrowseOut, dependencies=[Depends(require_compute_reader)])
def browse_files(path: str | None = None, settings: Settings = Depends(get_settings_dep)):
    """List folders and model/image files under the allowed roots (nothing outside them)."""
    folder = check_path(settings, path, "browse") if path else settings.roots[0]
    if not folder.is_dir():
        raise not_found(f"{folder} is not a folder.")
    entries = []
    for child in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))[:500]:
        if child.name.startswith("."):
            continue
        if child.is_dir():
            entries.append(BrowseEntry(name=child.name, path=str(child), kind="dir"))
        elif child.suffix.lower() in IMAGE_SUFFIXES | MODEL_SUFFIXES:
            entries.append(BrowseEntry(name=child.name, path=str(child), kind="file"))
    parent = folder.parent if any(root in folder.parents for root in settings.roots) else None
    return BrowseOut(path=str(folder), parent=str(parent) if parent else None, entries=entries,
                     roots=[str(r) for r in settings.roots])


@router.post("/sources/layers", response_model=DiscoverOut)
async def discover_layers(body: DiscoverIn, settings: Settings = Depends(get_settings_dep),
                          _=Depends(require_writer)):
    """Load the model (in a thread) and list its layers, so the browser can pick them."""
    from ...models.base import ModelLoadError
    from ...models.layers import list_layers
    from ...models.sources import load_model

    spec = dict(body.model)
    checked_spec(settings, model=spec)

    def work():
        model = load_model(spec, settings.data_dir)
        return model, list_layers(model)

    try:
        model, infos = await run_in_threadpool(work)
    except ModelLoadError as err:
        raise ApiError(422, str(err)) from None
    return DiscoverOut(
        name=model.name, input_size=model.input_size,
        class_count=len(model.class_names) if model.class_names else None,
        layers=[LayerOut(name=i.name, module_type=i.module_type, output_shape=list(i.output_shape),
                         channels=i.channels) for i in infos],
    )


@router.post("/sources/dataset", response_model=DatasetCheckOut)
async def check_dataset(body: DatasetCheckIn, settings: Settings = Depends(get_settings_dep),
                        _=Depends(require_writer)):
    """Open a dataset spec and report its size, classes and unreadable files before any work."""
    from ...datasets import build_dataset
    from ...datasets.base import DatasetError

    spec = dict(body.dataset)
    checked_spec(settings, dataset=spec)

    def work():
        ds = build_dataset(spec)
        bad = ds.verify() if hasattr(ds, "verify") else []
        return ds, bad

    try:
        ds, bad = await run_in_threadpool(work)
    except DatasetError as err:
        raise ApiError(422, str(err)) from None
    return DatasetCheckOut(
        num_images=len(ds), classes=list(ds.classes or []),
        unreadable=[{"ref": getattr(b, "ref", b[0] if isinstance(b, tuple) else str(b)),
                     "reason": getattr(b, "reason", b[1] if isinstance(b, tuple) else "")} for b in bad][:100],
        sample_refs=[ds.ref(i) for i in range(min(8, len(ds)))],
    )
