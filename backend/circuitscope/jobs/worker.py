"""`circuitscope worker`: runs queued jobs outside the web server, one at a time, until stopped."""
from __future__ import annotations

import logging
import threading

from ..compute.config import RunConfigError, parse_run_config
from ..compute.pipeline import Cancelled, run_compute, run_summary
from ..settings import Settings
from ..store import Database
from . import queue
from .running import HEARTBEAT_EVERY as _DEFAULT_HEARTBEAT
from .running import finish_job, running_job

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = _DEFAULT_HEARTBEAT  # read per job, so a test can shorten it here


class JobRunner:
    def __init__(self, settings: Settings, db: Database, name: str | None = None):
        self.settings, self.db = settings, db
        self.name = name or queue.worker_name()

    def run_forever(self, poll_interval: float = 1.0, stop: threading.Event | None = None,
                    max_jobs: int | None = None) -> int:
        stop = stop or threading.Event()
        ran = 0
        while not stop.is_set() and (max_jobs is None or ran < max_jobs):
            if self.run_one() is None:
                stop.wait(poll_interval)
            else:
                ran += 1
        return ran

    def refusal(self, config, created_by: str | None) -> str | None:
        """Re-check a job before anything is loaded, whoever wrote its row: the model and dataset specs must
        pass the same confinement as the API (models.spec_guard: files under the allowed roots, `arch` and
        `target` only torchvision names or factory files there), and a job created by a user needs that user
        to hold the compute permission now (not disabled, role at least settings.compute_role). Jobs whose
        creator names no account come from the command line (`circuitscope jobs submit`) and are confined
        all the same."""
        from ..models.spec_guard import SpecRefused, confine_dataset_spec, confine_model_spec

        try:
            confine_model_spec(config.model, self.settings.roots, self.settings.data_dir)
            if isinstance(config.dataset, dict):
                confine_dataset_spec(config.dataset, self.settings.roots)
        except SpecRefused as err:
            return str(err)
        return self.creator_refusal(created_by)

    def creator_refusal(self, created_by: str | None) -> str | None:
        """Why the job's creator may not run computations now (None: they may, or the job came from the CLI)."""
        from ..annotate.users import get_user, role_rank

        if created_by:
            with self.db.session() as s:
                user = get_user(s, created_by)
                if user is not None and (user.disabled or
                                         role_rank(user.role) < role_rank(self.settings.compute_role)):
                    state = "disabled" if user.disabled else f"a {user.role}"
                    return (f"{created_by!r} does not hold the compute permission (the {self.settings.compute_role} "
                            f"role) now: they are {state}. An admin may submit the job again.")
        return None

    def run_one(self) -> int | None:
        with self.db.session() as s:
            job = queue.claim_next(s, self.name)
            if job is None:
                return None
            job_id, config_data, attempt = job.id, job.config, job.attempts
            kind, created_by = job.kind, job.created_by
        log.info("job %s: starting (attempt %s)", job_id, attempt)
        if kind in ("circuit-test", "tuning-layer"):  # circuit_tests/job.py; evidence/layer_job.py (a layer's tuning)
            refusal = self.creator_refusal(created_by)
            if refusal is not None:
                log.warning("job %s (by %s) refused: %s", job_id, created_by, refusal)
                finish_job(self.db, job_id, "failed", error=f"Refused: {refusal}")
            elif kind == "circuit-test":
                from ..circuit_tests.job import run_test_job

                run_test_job(self.db, self.settings, job_id, config_data, created_by)
            else:
                from ..evidence.layer_job import run_layer_job

                run_layer_job(self.db, self.settings, job_id, config_data)
            return job_id
        try:
            config = parse_run_config(config_data, f"of job {job_id}")
            refusal = self.refusal(config, created_by)
        except RunConfigError as err:
            finish_job(self.db, job_id, "failed", error=str(err))
            return job_id
        if refusal is not None:
            log.warning("job %s (by %s) refused before loading anything: %s", job_id, created_by, refusal)
            finish_job(self.db, job_id, "failed", error=f"Refused: {refusal}")
            return job_id

        with running_job(self.db, job_id, cancelled=(Cancelled,), heartbeat_every=HEARTBEAT_EVERY,
                         cancelled_message="cancelled by request; finished layers are kept") as running:
            result = run_compute(config, self.settings, self.db, progress=running.report,
                                 should_cancel=running.cancelled, show_progress_bars=False)
            running.succeed(summary=run_summary(result), run_id=result.run_id, model_slug=result.model_slug)
        return job_id
