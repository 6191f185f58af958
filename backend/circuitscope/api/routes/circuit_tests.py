"""Circuit tests: queue a test of a circuit (a computation: the role that submits jobs), read results
(like reading circuits), and the jobs of a circuit's tests (progress; cancel is POST /api/jobs/{id}/cancel)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...annotate.circuits import get_circuit
from ...annotate.users import Identity
from ...circuit_tests.ablation import KINDS
from ...circuit_tests.job import JOB_KIND, submit_test
from ...circuit_tests.plan import TestParams
from ...circuit_tests.runner import test_view, tests_for
from ...enums import CircuitStatus
from ...store.tables.circuit_tests import CircuitTest
from ...store.tables.jobs import Job
from ..auth import can_compute, require_compute, require_reader
from ..deps import Tx
from ..errors import not_found
from ..schemas.common import Out, UtcDatetime
from ..schemas.jobs import JobOut
from .jobs import job_out

router = APIRouter(prefix="/api", tags=["circuit tests"])
require_writer = require_compute  # a test is a computation: the permission that submits jobs (routes/jobs.py)


class CircuitTestIn(BaseModel):
    kinds: list[str] = Field(default_factory=lambda: list(KINDS), description="zero | mean | resample")
    random_sets: int = Field(100, description="random control sets of the circuit's size, same layers")
    images: int = Field(200, description="the targets' top images the test runs on")
    seed: int = 0
    targets: list[str] | None = Field(None, description="'layer:index' nodes; default: the deepest layer's nodes")
    context_images: int = Field(50, description="random other images, for context")
    scan_limit: int | None = Field(None, description="scan only the first N dataset images (default: all)")


class CircuitTestSummary(Out):
    id: int
    uid: str
    circuit_id: int
    circuit_version: int
    stale: bool
    params: dict[str, Any]
    verdict: str
    suggested_status: CircuitStatus
    job_id: int | None
    created_by: str | None
    seconds: float
    created_at: UtcDatetime | None


class CircuitTestOut(CircuitTestSummary):
    results: dict[str, Any]


def _summary(view: dict[str, Any]) -> CircuitTestSummary:
    return CircuitTestSummary(**{k: v for k, v in view.items() if k != "results"})


@router.post("/circuits/{circuit_id}/tests", response_model=JobOut, status_code=201)
def start_test(circuit_id: int, body: CircuitTestIn, session: Session = Tx,
               who: Identity = Depends(require_writer)):
    """Check the circuit and the parameters (422 naming the problem), then queue the test as a job."""
    params = TestParams(**body.model_dump())
    return job_out(submit_test(session, circuit_id, params, who.name))


@router.get("/circuits/{circuit_id}/tests", response_model=list[CircuitTestSummary],
            dependencies=[Depends(require_reader)])
def list_tests(circuit_id: int, session: Session = Tx):
    c = get_circuit(session, circuit_id)
    return [_summary(test_view(r, c.version)) for r in tests_for(session, circuit_id)]


@router.get("/circuits/{circuit_id}/tests/latest", response_model=CircuitTestOut | None,
            dependencies=[Depends(require_reader)])
def latest(circuit_id: int, session: Session = Tx):
    c = get_circuit(session, circuit_id)
    rows = tests_for(session, circuit_id)
    return CircuitTestOut(**test_view(rows[0], c.version)) if rows else None


@router.get("/circuits/{circuit_id}/tests/jobs", response_model=list[JobOut], dependencies=[Depends(require_reader)])
def test_jobs(request: Request, circuit_id: int, session: Session = Tx):
    """The circuit's test jobs that are queued or running (for progress and cancel); configs only for users
    with the compute permission, as on the jobs pages."""
    get_circuit(session, circuit_id)
    rows = session.scalars(select(Job).where(Job.kind == JOB_KIND, Job.status.in_(("queued", "running")))
                           .order_by(Job.id.desc()).limit(200))
    reveal = can_compute(request)
    return [job_out(j, reveal) for j in rows if (j.config or {}).get("circuit_id") == circuit_id]


@router.get("/circuit-tests/{test_id}", response_model=CircuitTestOut, dependencies=[Depends(require_reader)])
def get_test(test_id: int, session: Session = Tx):
    row = session.get(CircuitTest, test_id)
    if row is None:
        raise not_found(f"No circuit test {test_id}.")
    c = get_circuit(session, row.circuit_id)
    return CircuitTestOut(**test_view(row, c.version))



