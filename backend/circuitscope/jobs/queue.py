"""Job queue operations on the `jobs` table: submit, claim, report progress, cancel."""
from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from ..compute.config import RunConfig
from ..store.base import utcnow
from ..store.tables.jobs import Job

STALE_AFTER = timedelta(seconds=30)  # a running job without heartbeat for this long lost its worker


class JobNotFound(LookupError):
    pass


def submit(session: Session, config: RunConfig, created_by: str | None = None) -> Job:
    from ..compute.pipeline import default_model_slug

    # Known up front, so the job page can link each layer's units as soon as they are stored.
    slug = config.model_slug or default_model_slug(config.model)
    job = Job(kind="compute", config=config.model_dump(mode="json"), status="queued", stage="queued",
              created_by=created_by, model_slug=slug)
    session.add(job)
    session.flush()
    return job


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


def claim_next(session: Session, worker: str, now: datetime | None = None) -> Job | None:
    """Take the oldest queued job, or a running one whose worker stopped sending heartbeats."""
    now = now or utcnow()
    candidates = session.scalars(
        select(Job)
        .where(or_(Job.status == "queued",
                   (Job.status == "running") & (Job.heartbeat_at < now - STALE_AFTER)))
        .order_by(Job.created_at, Job.id)
        .limit(5)
    ).all()
    for job in candidates:
        # Conditional update: only one worker wins a job even when several poll at once.
        won = cast(CursorResult, session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == job.status,
                   (Job.heartbeat_at == job.heartbeat_at) if job.heartbeat_at is not None else Job.heartbeat_at.is_(None))
            .values(status="running", worker=worker, heartbeat_at=now, attempts=Job.attempts + 1,
                    started_at=job.started_at or now, stage="starting")
            .execution_options(synchronize_session=False)
        )).rowcount
        if won:
            session.refresh(job)
            return job
    return None


def heartbeat(session: Session, job_id: int) -> bool:
    """Refresh the heartbeat; returns whether cancellation was requested."""
    session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow()))
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def report_progress(session: Session, job_id: int, stage: str, layer: str | None, done: int, total: int) -> None:
    job = session.get(Job, job_id)
    if job is None:
        return
    if job.stage != stage or job.layer != layer:
        job.stage_started_at = utcnow()
    job.stage, job.layer, job.done, job.total, job.heartbeat_at = stage, layer, done, total, utcnow()


def finish(session: Session, job_id: int, status: str, *, error: str | None = None,
           summary: dict[str, Any] | None = None, run_id: int | None = None, model_slug: str | None = None) -> None:
    job = session.get(Job, job_id)
    assert job is not None, f"job {job_id} vanished while it ran"
    job.status, job.error, job.finished_at = status, error, utcnow()
    job.stage = status
    if summary is not None:
        job.summary = summary
    if run_id is not None:
        job.run_id = run_id
    if model_slug is not None:
        job.model_slug = model_slug


def request_cancel(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.status == "queued":
        job.status, job.stage, job.finished_at = "cancelled", "cancelled", utcnow()
    elif job.status == "running":
        job.cancel_requested = True
    return job


def eta_seconds(job: Job, now: datetime | None = None) -> float | None:
    """Linear extrapolation of the current stage from its progress so far."""
    started = _aware(job.stage_started_at)
    if job.status != "running" or not started or job.done <= 0 or job.total <= job.done:
        return None
    elapsed = ((now or utcnow()) - started).total_seconds()
    return elapsed / job.done * (job.total - job.done)
