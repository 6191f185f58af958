"""Jobs end to end with the real worker: done, cancelled mid-run, a SIGKILLed worker's job resumed by
another worker, a failing job that does not stop the worker. Tiny factory model, few images."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, update

from circuitscope.compute.config import parse_run_config
from circuitscope.jobs import queue, worker
from circuitscope.jobs.worker import JobRunner
from circuitscope.settings import Settings
from circuitscope.store import Database
from circuitscope.store.base import utcnow
from circuitscope.store.tables.jobs import Job
from circuitscope.store.tables.records import DatasetExample, FeatureVis, Layer, LayerStage, Run, Unit
from support.paths import TINY_MODELS

# top-k and bottom-k rows (the examples across the distribution are counted separately: kind "quantile")
TOP_BOTTOM = DatasetExample.kind.in_(("top", "bottom"))

BYO = TINY_MODELS
UNITS = {"conv1": 6, "conv2": 8}


def job_config(featurevis: dict | None = None, **over):
    data = {
        "model": {"kind": "factory", "target": f"{BYO}:small_cnn", "input_size": 32},
        "model_slug": "byo-worker",
        "dataset": {"kind": "concepts", "size": 24, "seed": 1},
        "layers": ["conv1", "conv2"],
        "examples": {"k": 3, "batch_size": 16},
        "featurevis": {"steps": 2, "size": 32, "objectives": ["channel", "neuron"], "batch_channels": 4,
                       **(featurevis or {})},
        "weights": {"top_n": 3},
    }
    data.update(over)
    return parse_run_config(data)


def get_job(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def renders(db: Database, layer: str | None = None) -> dict[int, tuple[int, str]]:
    """{FeatureVis id: (unit index, objective)}, optionally of one layer."""
    with db.session() as s:
        q = select(FeatureVis.id, Unit.index, FeatureVis.objective).join(Unit).join(Layer)
        if layer:
            q = q.where(Layer.name == layer)
        return {fid: (idx, obj) for fid, idx, obj in s.execute(q)}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_a_job_runs_to_done_with_summary_and_run(db_url, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    db = Database(db_url)
    with db.session() as s:
        job_id = queue.submit(s, job_config(), created_by="test").id
    got: list = []
    t = threading.Thread(target=lambda: got.append(JobRunner(settings, db, name="w-test").run_one()))
    t.start()
    t.join(timeout=240)
    assert not t.is_alive() and got == [job_id]

    job = get_job(db, job_id)
    assert (job.status, job.stage, job.error, job.attempts, job.worker) == ("done", "done", None, 1, "w-test")
    assert job.finished_at is not None and job.heartbeat_at is not None and job.model_slug == "byo-worker"
    assert job.summary["layers"] == ["conv1", "conv2"] and job.summary["skipped_count"] == 0
    assert job.summary["stages_skipped"] == [] and job.summary["timings"]["total"] > 0
    with db.session() as s:
        run = s.get(Run, job.run_id)
        assert run.status == "done" and run.summary == job.summary
        assert s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM)) == sum(UNITS.values()) * 3 * 2
    assert len(renders(db)) == sum(UNITS.values()) * 2
    with db.session() as s:  # nothing else is left to claim
        assert queue.claim_next(s, "w2") is None
    db.dispose()


def test_cancel_while_running_keeps_finished_layers(settings, monkeypatch):
    monkeypatch.setattr(worker, "HEARTBEAT_EVERY", 0.1)  # the worker learns of the cancel request quickly
    db = Database(settings.sqlalchemy_url)
    with db.session() as s:
        job_id = queue.submit(s, job_config({"steps": 60, "batch_channels": 1})).id
    t = threading.Thread(target=JobRunner(settings, db).run_one)
    t.start()
    try:
        # the first layer's renders are done and the second layer's are under way
        def conv2_started() -> bool:
            job = get_job(db, job_id)
            return (job.stage, job.layer) == ("featurevis", "conv2") or job.status not in ("queued", "running")
        wait_for(conv2_started, 180, "feature vis of conv2 to start")
        with db.session() as s:
            assert queue.request_cancel(s, job_id).cancel_requested
    finally:
        t.join(timeout=120)
    assert not t.is_alive()
    job = get_job(db, job_id)
    assert job.status == "cancelled" and "finished layers are kept" in job.error
    conv1, conv2 = renders(db, "conv1"), renders(db, "conv2")
    assert sorted(conv1.values()) == sorted((u, o) for u in range(6) for o in ("channel", "neuron"))
    assert len(conv2) < 8 * 2  # stopped part-way through conv2
    with db.session() as s:
        run = s.scalars(select(Run).order_by(Run.id.desc())).first()
        assert run.status == "cancelled" and "Cancelled" in run.error
        stages = {(st.stage, name): st.status for st, name in
                  s.execute(select(LayerStage, Layer.name).join(Layer, Layer.id == LayerStage.layer_id))}
        assert stages[("examples", "conv1")] == stages[("examples", "conv2")] == "done"
        assert stages[("featurevis", "conv1")] == "done" and stages[("featurevis", "conv2")] == "running"
        assert stages[("weights", "conv2")] == "done"  # weights run before the long feature-vis stage
        assert s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM)) == 14 * 3 * 2
    db.dispose()


def test_a_killed_workers_job_is_resumed_by_the_next_worker(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "CIRCUITSCOPE_DATA_DIR": str(data)}
    env.pop("CIRCUITSCOPE_DATABASE_URL", None)
    settings = Settings(data_dir=data)
    db = Database(settings.sqlalchemy_url)  # creates the schema before any worker starts
    with db.session() as s:
        job_id = queue.submit(s, job_config({"steps": 50, "batch_channels": 2})).id
    cmd = [sys.executable, "-m", "circuitscope.cli", "worker", "--poll", "0.2"]
    log1 = (tmp_path / "worker1.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log1, stderr=subprocess.STDOUT)
    try:
        # some renders are stored (all of conv1 and part of conv2), the rest is being computed
        wait_for(lambda: len(renders(db)) >= 12 + 4, 240, "renders to be stored", interval=0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log1.close()
    before = renders(db)
    assert 12 <= len(before) < 28, (tmp_path / "worker1.log").read_text()[-2000:]
    job = get_job(db, job_id)
    assert job.status == "running" and job.attempts == 1  # nobody knows yet that the worker is dead
    with db.session() as s:  # as if STALE_AFTER had passed since its last heartbeat
        s.execute(update(Job).where(Job.id == job_id)
                  .values(heartbeat_at=utcnow() - queue.STALE_AFTER - timedelta(seconds=1)))

    second = subprocess.run([*cmd, "--once"], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    job = get_job(db, job_id)
    assert job.status == "done" and job.attempts == 2 and job.error is None, job.error
    after = renders(db)
    assert len(after) == 28
    assert {fid: after.get(fid) for fid in before} == before  # earlier renders kept, ids unchanged
    skipped = job.summary["stages_skipped"]
    assert {"examples:conv1", "examples:conv2", "featurevis:conv1"} <= set(skipped)
    assert "featurevis:conv2" not in skipped  # it was resumed, not redone and not skipped whole
    with db.session() as s:
        runs = s.execute(select(Run.id, Run.status).order_by(Run.id)).all()
        assert len(runs) == 2 and runs[-1] == (job.run_id, "done")
        assert s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM)) == 14 * 3 * 2
    db.dispose()


def test_a_failing_job_fails_with_the_cause_and_the_worker_goes_on(db_url, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    db = Database(db_url)
    bad_model = {"kind": "factory", "target": f"{BYO}:failing_factory"}
    with db.session() as s:
        bad = queue.submit(s, job_config(model=bad_model, model_slug="byo-broken")).id
        good = queue.submit(s, job_config(featurevis={"enabled": False})).id
    stop = threading.Event()
    ran: list[int] = []
    t = threading.Thread(target=lambda: ran.append(JobRunner(settings, db).run_forever(
        poll_interval=0.05, stop=stop, max_jobs=2)))
    t.start()
    t.join(timeout=240)
    stop.set()
    assert not t.is_alive() and ran == [2]

    failed = get_job(db, bad)
    assert failed.status == "failed" and failed.run_id is None
    assert "ModelLoadError" in failed.error and str(BYO) in failed.error and "failing_factory" in failed.error
    assert "ValueError: byo-test: weights shard 3 of 4 is missing" in failed.error
    assert "Traceback" in failed.summary["traceback"]
    done = get_job(db, good)
    assert done.status == "done" and done.run_id is not None and done.error is None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM)) == 14 * 3 * 2
    db.dispose()
