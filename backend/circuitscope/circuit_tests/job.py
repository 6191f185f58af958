"""The `circuit-test` job kind: queued from the circuit page, run by `circuitscope worker`.

Progress goes to the job row (stage: selecting images / ablations / edge attributions); a cancel
request stops the test at the next chunk and nothing is stored (the result row is written only at
the end). A model that cannot be loaded fails the job with the path and the fix.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any

from sqlalchemy.orm import Session

from ..errors import DomainError
from ..jobs import queue
from ..settings import Settings
from ..store import Database
from ..store.tables.jobs import Job
from .ablation import Cancelled
from .plan import TestParams, build_plan
from .runner import TestFailed, run_circuit_test

log = logging.getLogger(__name__)
JOB_KIND = "circuit-test"
HEARTBEAT_EVERY = 5.0


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
    cancel = threading.Event()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_EVERY):
            try:
                with db.session() as s:
                    if queue.heartbeat(s, job_id):
                        cancel.set()
            except Exception:  # a transient DB error must not kill the job
                log.exception("heartbeat failed")

    last = [0.0]

    def progress(stage: str, n: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.3 and n < total:
            return
        last[0] = now
        with db.session() as s:
            queue.report_progress(s, job_id, stage, None, n, total)
            if queue.heartbeat(s, job_id):
                cancel.set()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        params = TestParams.from_dict(config.get("params") or {})
        test_id, doc = run_circuit_test(db, settings, int(config["circuit_id"]), params, user=created_by,
                                        job_id=job_id, progress=progress, should_cancel=cancel.is_set)
    except Cancelled:
        with db.session() as s:
            queue.finish(s, job_id, "cancelled", error="cancelled by request; nothing was stored")
    except (TestFailed, DomainError) as err:
        with db.session() as s:
            queue.finish(s, job_id, "failed", error=str(getattr(err, "detail", None) or err))
    except Exception as err:  # the job fails, the worker lives on
        log.error("job %s failed: %s", job_id, err)
        with db.session() as s:
            queue.finish(s, job_id, "failed", error=f"{type(err).__name__}: {err}",
                         summary={"traceback": traceback.format_exc()[-4000:]})
    else:
        with db.session() as s:
            queue.finish(s, job_id, "done", summary={"circuit_test_id": test_id, "circuit_id": doc["circuit"],
                                                     "verdict": doc["verdict"],
                                                     "suggested_status": doc["suggested_status"]})
    finally:
        done.set()
        thread.join(timeout=1)
