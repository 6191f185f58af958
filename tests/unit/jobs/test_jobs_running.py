"""jobs/running.py, the one scaffolding every job kind runs in: heartbeats, cancel requests, throttled progress,
and each way a job can end written to its row."""
from __future__ import annotations

import time

import pytest

from circuitscope.compute.config import parse_run_config
from circuitscope.jobs import queue, running
from circuitscope.jobs.running import running_job
from circuitscope.store import Database
from circuitscope.store.tables.jobs import Job

CONFIG = parse_run_config({"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 10}, "layers": ["conv1"]})


class Stop(Exception):
    pass


class UserMistake(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@pytest.fixture()
def claimed(db_url):
    db = Database(db_url)
    with db.session() as s:
        job_id = queue.submit(s, CONFIG).id
    with db.session() as s:
        assert queue.claim_next(s, "w").id == job_id
    yield db, job_id
    db.dispose()


def _job(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_done_with_its_summary_and_progress_written(claimed, monkeypatch):
    monkeypatch.setattr(running, "PROGRESS_EVERY", 60.0)  # a loaded machine must not make the throttle flaky
    db, job_id = claimed
    with running_job(db, job_id, cancelled=(Stop,), cancelled_message="stopped") as job:
        job.report("examples", "conv1", 1, 4)
        job.report("examples", "conv1", 2, 4)  # within the throttle window: not written
        seen = _job(db, job_id)
        assert (seen.stage, seen.layer, seen.done, seen.total) == ("examples", "conv1", 1, 4)
        job.report("examples", "conv1", 4, 4)  # the last report of a stage is always written
        assert _job(db, job_id).done == 4
        job.succeed(summary={"units": 4}, model_slug="tiny")
    job_row = _job(db, job_id)
    assert (job_row.status, job_row.summary, job_row.model_slug, job_row.error) == ("done", {"units": 4}, "tiny", None)


def test_a_cancel_request_reaches_the_body_through_progress_and_heartbeat(claimed):
    db, job_id = claimed
    with running_job(db, job_id, cancelled=(Stop,), cancelled_message="stopped; nothing stored") as job:
        with db.session() as s:
            queue.request_cancel(s, job_id)
        assert not job.cancelled()
        job.report("ablations", None, 5, 5)  # a progress report picks the request up at once
        assert job.cancelled()
        raise Stop()
    job_row = _job(db, job_id)
    assert (job_row.status, job_row.error) == ("cancelled", "stopped; nothing stored")


def test_the_heartbeat_thread_picks_up_a_cancel_without_progress(claimed):
    db, job_id = claimed
    with running_job(db, job_id, cancelled=(Stop,), cancelled_message="stopped", heartbeat_every=0.05) as job:
        with db.session() as s:
            queue.request_cancel(s, job_id)
        deadline = time.monotonic() + 30
        while not job.cancelled():
            assert time.monotonic() < deadline, "the heartbeat never saw the cancel request"
            time.sleep(0.02)
        raise Stop()
    assert _job(db, job_id).status == "cancelled"


def test_an_expected_error_fails_with_its_message_and_any_other_with_its_traceback(db_url):
    db = Database(db_url)
    with db.session() as s:
        first, second = queue.submit(s, CONFIG).id, queue.submit(s, CONFIG).id
    with running_job(db, first, cancelled=(Stop,), cancelled_message="-", expected=(UserMistake,)):
        raise UserMistake("Layer 'conv9' does not exist; layers: conv1, conv2")
    with running_job(db, second, cancelled=(Stop,), cancelled_message="-", expected=(UserMistake,)):
        raise RuntimeError("out of memory")
    one, two = _job(db, first), _job(db, second)
    assert (one.status, one.error) == ("failed", "Layer 'conv9' does not exist; layers: conv1, conv2")
    assert "traceback" not in (one.summary or {})  # a mistake the user can fix is not a crash
    assert (two.status, two.error) == ("failed", "RuntimeError: out of memory")
    assert "Traceback" in two.summary["traceback"] and "out of memory" in two.summary["traceback"]
    db.dispose()
