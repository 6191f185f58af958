"""The `circuit-test` job kind: queued from the circuit page, run by `circuitscope worker`.

Progress goes to the job row (stage: selecting images / ablations / edge attributions); a cancel
request stops the test at the next chunk and nothing is stored (the result row is written only at
the end). A model that cannot be loaded fails the job with the path and the fix.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..errors import DomainError
from ..jobs.running import running_job
from ..settings import Settings
from ..store import Database
from ..store.tables.jobs import Job
from .ablation import Cancelled
from .plan import TestParams, build_plan
from .runner import TestFailed, run_circuit_test

JOB_KIND = "circuit-test"


def submit_test(session: Session, circuit_id: int, params: TestParams, created_by: str | None) -> Job:
    """Check everything now (422 on bad input), then queue."""
    plan = build_plan(session, circuit_id, params)
    layers = sorted(plan.members, key=lambda layer: plan.positions[layer]) + [plan.target_layer]
    # model / dataset / layers: what the jobs pages show for any job (they read these keys)
    job = Job(kind=JOB_KIND, config={"circuit_id": circuit_id, "circuit_version": plan.circuit_version,
                                     "params": params.as_dict(),
                                     "model": {"kind": "circuit test",
                                               "name": f"circuit {circuit_id} v{plan.circuit_version}"},
                                     "dataset": plan.dataset_spec,
                                     "layers": layers},
              status="queued", stage="queued", created_by=created_by, model_slug=plan.model_slug)
    session.add(job)
    session.flush()
    return job


def run_test_job(db: Database, settings: Settings, job_id: int, config: dict[str, Any],
                 created_by: str | None = None) -> None:
    with running_job(db, job_id, cancelled=(Cancelled,), cancelled_message="cancelled by request; nothing was stored",
                     expected=(TestFailed, DomainError)) as job:
        params = TestParams.from_dict(config.get("params") or {})
        test_id, doc = run_circuit_test(db, settings, int(config["circuit_id"]), params, user=created_by, job_id=job_id,
                                        progress=lambda stage, n, total: job.report(stage, None, n, total),
                                        should_cancel=job.cancelled)
        job.succeed(summary={"circuit_test_id": test_id, "circuit_id": doc["circuit"], "verdict": doc["verdict"],
                             "suggested_status": doc["suggested_status"]})
