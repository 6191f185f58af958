"""The job queue on SQLite and PostgreSQL: one winner per job, stale claims resumed, cancel."""
from __future__ import annotations

from datetime import timedelta

from circuitscope.compute.config import parse_run_config
from circuitscope.jobs import queue
from circuitscope.store import Database
from circuitscope.store.base import utcnow
from circuitscope.store.tables.jobs import Job

CONFIG = parse_run_config({"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 10}, "layers": ["conv1"]})


def test_each_job_is_claimed_once_in_order(db_url):
    db = Database(db_url)
    with db.session() as s:
        ids = [queue.submit(s, CONFIG).id for _ in range(3)]
    claimed = []
    for worker in ["w1", "w2", "w1", "w2"]:
        with db.session() as s:
            job = queue.claim_next(s, worker)
            claimed.append(job.id if job else None)
    assert claimed == ids + [None]
    db.dispose()


def test_a_job_whose_worker_died_is_claimed_again(db_url):
    db = Database(db_url)
    with db.session() as s:
        job_id = queue.submit(s, CONFIG).id
    with db.session() as s:
        assert queue.claim_next(s, "dead-worker").id == job_id
    with db.session() as s:  # fresh heartbeat: nobody else may take it
        assert queue.claim_next(s, "w2") is None
    with db.session() as s:
        s.get(Job, job_id).heartbeat_at = utcnow() - queue.STALE_AFTER - timedelta(seconds=1)
    with db.session() as s:
        job = queue.claim_next(s, "w2")
        assert job.id == job_id and job.worker == "w2" and job.attempts == 2
    db.dispose()


def test_cancel_queued_and_running(db_url):
    db = Database(db_url)
    with db.session() as s:
        a, b = queue.submit(s, CONFIG).id, queue.submit(s, CONFIG).id
    with db.session() as s:
        assert queue.claim_next(s, "w").id == a
    with db.session() as s:
        assert queue.request_cancel(s, b).status == "cancelled"  # queued: cancelled at once
        running = queue.request_cancel(s, a)
        assert running.status == "running" and running.cancel_requested
    with db.session() as s:
        assert queue.heartbeat(s, a) is True  # the worker learns of it at its next heartbeat
        assert queue.claim_next(s, "w") is None
    db.dispose()


def test_progress_and_eta(db_url):
    db = Database(db_url)
    with db.session() as s:
        job_id = queue.submit(s, CONFIG).id
        queue.claim_next(s, "w")
    with db.session() as s:
        queue.report_progress(s, job_id, "featurevis", "conv1", 0, 10)
        job = s.get(Job, job_id)
        job.stage_started_at = utcnow() - timedelta(seconds=10)
        queue.report_progress(s, job_id, "featurevis", "conv1", 5, 10)
    with db.session() as s:
        eta = queue.eta_seconds(s.get(Job, job_id))
        assert eta is not None and 8 < eta < 12
    db.dispose()
