"""The job table: computations queued from the browser or CLI and run by `circuitscope worker`.

A worker claims a queued job with a conditional UPDATE (safe with several workers on SQLite or
PostgreSQL), keeps `heartbeat_at` fresh while it runs, and checks `cancel_requested`. A job whose
worker died (stale heartbeat) is claimed again and resumes: the pipeline skips finished stages.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ...enums import JobStatus, values
from ..base import Base, utcnow

JOB_STATUSES = values(JobStatus)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="compute")
    config: Mapped[dict[str, Any]]  # the run description (compute.config.RunConfig)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    stage: Mapped[str] = mapped_column(String(40), default="queued")
    layer: Mapped[str | None] = mapped_column(String(300))
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    stage_started_at: Mapped[datetime | None]  # for the ETA of the current stage
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    model_slug: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
