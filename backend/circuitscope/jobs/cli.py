"""CLI for jobs: `circuitscope worker`, `circuitscope jobs list|submit|cancel|watch`."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import typer

from ..settings import get_settings

jobs_app = typer.Typer(help="Queued computations (run by `circuitscope worker`).", no_args_is_help=True)


def worker_cmd(
    poll: float = typer.Option(1.0, help="seconds between polls of the job table"),
    once: bool = typer.Option(False, help="run at most one job, then exit"),
) -> None:
    """Run queued computations (started from the browser or `circuitscope jobs submit`)."""
    from ..store import Database
    from .worker import JobRunner

    logging.getLogger("circuitscope").setLevel(logging.INFO)
    settings = get_settings()
    runner = JobRunner(settings, Database(settings.sqlalchemy_url))
    typer.echo(f"worker {runner.name} waiting for jobs (Ctrl-C to stop; a running job resumes next time)")
    try:
        runner.run_forever(poll_interval=poll, max_jobs=1 if once else None)
    except KeyboardInterrupt:
        typer.echo("worker stopped")


@jobs_app.command("submit")
def submit_cmd(run_file: Path) -> None:
    """Queue a run description (.toml/.yaml) for the worker."""
    from ..compute.config import RunConfigError, load_run_file
    from ..store import Database
    from . import queue

    try:
        config = load_run_file(run_file)
    except RunConfigError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    with Database(get_settings().sqlalchemy_url).session() as s:
        job = queue.submit(s, config, created_by="cli")
        typer.echo(f"queued job {job.id}")


@jobs_app.command("list")
def list_cmd(limit: int = 20) -> None:
    from sqlalchemy import select

    from ..store import Database
    from ..store.tables.jobs import Job

    with Database(get_settings().sqlalchemy_url).session() as s:
        for job in s.scalars(select(Job).order_by(Job.id.desc()).limit(limit)):
            typer.echo(f"{job.id:5d} {job.status:10s} {job.stage:12s} {job.layer or '':20s} "
                       f"{job.done}/{job.total} {job.error or ''}")


@jobs_app.command("cancel")
def cancel_cmd(job_id: int) -> None:
    from ..store import Database
    from . import queue

    with Database(get_settings().sqlalchemy_url).session() as s:
        try:
            job = queue.request_cancel(s, job_id)
        except queue.JobNotFound:
            typer.secho(f"error: no job {job_id}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        typer.echo(f"job {job_id}: {job.status}{' (cancel requested)' if job.cancel_requested else ''}")


@jobs_app.command("watch")
def watch_cmd(job_id: int) -> None:
    """Follow a job's progress with a progress bar until it ends."""
    from tqdm import tqdm

    from ..store import Database
    from ..store.tables.jobs import Job

    db = Database(get_settings().sqlalchemy_url)
    bar, key = None, None
    while True:
        with db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                typer.secho(f"error: no job {job_id}", fg=typer.colors.RED, err=True)
                raise typer.Exit(2)
            if (job.stage, job.layer) != key:
                if bar:
                    bar.close()
                key = (job.stage, job.layer)
                bar = tqdm(total=max(job.total, 1), desc=f"{job.stage} {job.layer or ''}".strip())
            assert bar is not None  # made on the first pass: key starts as None
            bar.total, bar.n = max(job.total, 1), job.done
            bar.refresh()
            if job.status in ("done", "failed", "cancelled"):
                bar.close()
                typer.echo(f"job {job_id} {job.status}" + (f": {job.error}" if job.error else ""))
                return
        time.sleep(1)
