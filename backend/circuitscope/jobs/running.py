"""Running one claimed job, whatever its kind: the one place for heartbeats, cancel requests, progress and the
job's ending.

    with running_job(db, job_id, cancelled=(Cancelled,), cancelled_message="nothing was stored") as job:
        result = work(progress=lambda stage, n, total: job.report(stage, None, n, total),
                      should_cancel=job.cancelled)
        job.succeed(summary={...})

While the body runs, a daemon thread refreshes the job's heartbeat (so no other worker reclaims it) and picks up
a cancel request; progress reports (at most ~3 a second; the last one always) pick it up too. The body stops
by raising one of `cancelled`. The job row then ends as: cancelled (with `cancelled_message`), failed with the
message of an `expected` error (bad input the user can fix), failed with the error and its traceback (anything
else: the job fails, the worker lives on), or done with what the body passed to `succeed`.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..store import Database
from . import queue

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 5.0  # seconds; a job without a heartbeat for queue.STALE_AFTER is reclaimed
PROGRESS_EVERY = 0.3  # seconds between progress writes (the last report of a stage is always written)


def finish_job(db: Database, job_id: int, status: str, **fields: Any) -> None:
    """End a job in its own transaction (queue.finish's fields: error, summary, run_id, model_slug)."""
    with db.session() as s:
        queue.finish(s, job_id, status, **fields)


class RunningJob:
    """The body's handle on its job: `report` progress, poll `cancelled`, and `succeed` with a summary."""

    def __init__(self, db: Database, job_id: int):
        self.db, self.job_id = db, job_id
        self._cancel = threading.Event()
        self._last_report = 0.0
        self.outcome: dict[str, Any] = {}

    def cancelled(self) -> bool:
        """Whether cancellation was requested (a `should_cancel` callback)."""
        return self._cancel.is_set()

    def report(self, stage: str, layer: str | None, done: int, total: int) -> None:
        """Progress of the current stage; also refreshes the heartbeat and picks up a cancel request."""
        now = time.monotonic()
        if now - self._last_report < PROGRESS_EVERY and done < total:
            return
        self._last_report = now
        with self.db.session() as s:
            queue.report_progress(s, self.job_id, stage, layer, done, total)
            if queue.heartbeat(s, self.job_id):
                self._cancel.set()

    def succeed(self, summary: dict[str, Any] | None = None, **fields: Any) -> None:
        """What the job row keeps when it ends done (summary, and queue.finish's run_id / model_slug)."""
        self.outcome = {"summary": summary, **fields}

    def beat_until(self, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            try:
                with self.db.session() as s:
                    if queue.heartbeat(s, self.job_id):
                        self._cancel.set()
            except Exception:  # a transient DB error must not kill the job
                log.exception("heartbeat of job %s failed", self.job_id)


@contextmanager
def running_job(db: Database, job_id: int, *, cancelled: tuple[type[BaseException], ...], cancelled_message: str,
                expected: tuple[type[Exception], ...] = (), heartbeat_every: float = HEARTBEAT_EVERY,
                ) -> Iterator[RunningJob]:
    """Run the body as job `job_id` (see the module docstring); every ending is written to the job row."""
    job = RunningJob(db, job_id)
    stop = threading.Event()
    thread = threading.Thread(target=job.beat_until, args=(stop, heartbeat_every), daemon=True)
    thread.start()
    try:
        yield job
    except cancelled:
        finish_job(db, job_id, "cancelled", error=cancelled_message)
    except expected as err:
        finish_job(db, job_id, "failed", error=str(getattr(err, "detail", None) or err))
    except Exception as err:  # the job fails, the worker lives on
        log.error("job %s failed: %s", job_id, err)
        finish_job(db, job_id, "failed", error=f"{type(err).__name__}: {err}",
                   summary={"traceback": traceback.format_exc()[-4000:]})
    else:
        finish_job(db, job_id, "done", **job.outcome)
    finally:
        stop.set()
        thread.join(timeout=1)
