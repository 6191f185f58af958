"""Stored circuit tests: one row per completed test, against the circuit version it tested.

A row is written only when a test finished (in one transaction), so a cancelled or failed test leaves
nothing. It is *stale* when the circuit's version moved on since (nodes, edges or claim changed);
the row is kept as history. `results` is the whole result document (`circuitscope circuits test --json`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, utcnow


class CircuitTest(Base):
    __tablename__ = "circuit_tests"
    __table_args__ = (Index("ix_circuit_tests_circuit_created", "circuit_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # stable across export/import
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"))
    circuit_version: Mapped[int] = mapped_column(Integer)  # the version that was tested
    params: Mapped[dict[str, Any]]  # targets, kinds, random_sets, images, seed, ...
    results: Mapped[dict[str, Any]]  # the result document
    verdict: Mapped[str] = mapped_column(String(500), default="")
    suggested_status: Mapped[str] = mapped_column(String(20), default="proposed")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    seconds: Mapped[float] = mapped_column(default=0.0)  # wall time of the test
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
