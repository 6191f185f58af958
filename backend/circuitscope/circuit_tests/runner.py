"""Run a circuit test for a stored circuit and store it as evidence (all or nothing).

`test_circuit` loads the model and dataset the circuit's layers were computed with, runs the engine,
and writes one `circuit_tests` row in one transaction at the end: a cancelled or failed test stores
nothing. Also: the verdict line, the suggested status, and the views the API and exports show.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..annotate.users import iso
from ..errors import NotFound
from ..settings import Settings
from ..store import Database
from ..store.tables.annotation import Circuit
from ..store.tables.circuit_tests import CircuitTest
from .plan import TestParams, TestPlan, build_plan

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


class TestFailed(RuntimeError):
    """The test could not run (model or dataset unavailable); the message names the path and the fix."""


def load_for_plan(plan: TestPlan, settings: Settings, device: str = "cpu"):
    from ..datasets import build_dataset
    from ..datasets.base import DatasetError
    from ..models.base import ModelLoadError
    from ..models.sources import load_model

    try:
        model = load_model(plan.model_source, settings.data_dir, device=device)
    except ModelLoadError as err:
        where = plan.model_source.get("path") or plan.model_source.get("weights_file") or plan.model_source
        raise TestFailed(f"model {plan.model_slug!r} cannot be loaded from {where}: {err}. Put the file back at "
                         "that path, or register the model again from its new place (circuitscope compute --model "
                         "...), then re-run the test.") from err
    try:
        dataset = build_dataset(plan.dataset_spec)
    except DatasetError as err:
        raise TestFailed(f"the dataset of run {plan.run_id} cannot be opened: {err}. Restore it at the path in "
                         "the run description, then re-run the test.") from err
    return model, dataset


def run_plan(plan: TestPlan, settings: Settings, progress: ProgressFn | None = None,
             should_cancel: Callable[[], bool] | None = None, device: str = "cpu") -> dict[str, Any]:
    """The result document of one test (the `--json` output)."""
    from .engine import TestInputs, run_test  # torch and the models: only when a test runs

    model, dataset = load_for_plan(plan, settings, device)
    p = plan.params
    inp = TestInputs(module=model.module, normalize=model.normalize, dataset=dataset, input_size=model.input_size,
                     target_layer=plan.target_layer, targets=plan.targets, members=plan.members,
                     channels=plan.channels, positions=plan.positions, edges=plan.edges, kinds=p.kinds,
                     random_sets=p.random_sets, images=p.images, context_images=p.context_images, seed=p.seed,
                     scan_limit=p.scan_limit, device=device)
    body = run_test(inp, progress, should_cancel)
    doc = {"circuit": plan.circuit_id, "version": plan.circuit_version, "model": plan.model_slug,
           # the dataset by kind only: its spec (in the run) may name server paths, and results are for readers
           "run": plan.run_id, "dataset": {"kind": plan.dataset_spec.get("kind")}, **body}
    verdict, status = verdict_and_status(doc)
    doc["verdict"], doc["suggested_status"] = verdict, status
    return doc


def _fmt_p(p: float | None, r: int) -> str:
    if p is None:
        return "p = ?"
    return f"p < {1 / r:.2g}" if p == 0 else f"p = {p:.2g}"


def _necessary(n: dict) -> bool:
    return n["drop"] is not None and n["drop"] > 0 and n["p"] is not None and n["p"] <= 0.05 and (
        n["z"] is None or n["z"] >= 2)


def verdict_and_status(doc: dict) -> tuple[str, str]:
    """One line ("necessary: z = 7.1, p < 0.01 (zero); sufficient: 86 % preserved (zero)") and a
    suggested status: supported when necessary under every kind and >= 50 % preserved under the
    first; refuted when necessary under none; otherwise proposed (mixed: the human decides)."""
    r, res = doc["random_sets"], doc["results"]
    nec, suf = [], []
    necessary = {}
    for kind, k in res.items():
        n, s = k["necessity"], k["sufficiency"]
        necessary[kind] = _necessary(n)
        z = "z = ∞" if n["z"] is None and n["drop"] else f"z = {n['z']:.1f}" if n["z"] is not None else "z = 0"
        nec.append(f"{z}, {_fmt_p(n['p'], r)} ({kind})")
        if s["preserved"] is not None:
            suf.append(f"{100 * s['preserved']:.0f} % preserved ({kind})")
    head = ("necessary" if all(necessary.values()) else "not necessary" if not any(necessary.values())
            else "necessary under " + "/".join(k for k, v in necessary.items() if v))
    first = next(iter(res.values()))["sufficiency"]["preserved"]
    sufficient = first is not None and first >= 0.5
    line = f"{head}: {'; '.join(nec)}; {'sufficient' if sufficient else 'not sufficient'}: {', '.join(suf)}"
    if all(necessary.values()) and sufficient:
        status = "supported"
    elif not any(necessary.values()):
        status = "refuted"
    else:
        status = "proposed"
    return line[:500], status


def store_result(session: Session, doc: dict, params: TestParams, job_id: int | None, user: str | None,
                 seconds: float) -> CircuitTest:
    row = CircuitTest(uid=str(uuid.uuid4()), circuit_id=doc["circuit"], circuit_version=doc["version"],
                      params=params.as_dict(), results=doc, verdict=doc["verdict"],
                      suggested_status=doc["suggested_status"], job_id=job_id, created_by=user,
                      seconds=round(seconds, 3))
    session.add(row)
    session.flush()
    return row


def run_circuit_test(db: Database, settings: Settings, circuit_id: int, params: TestParams, user: str | None = None,
                 job_id: int | None = None, progress: ProgressFn | None = None,
                 should_cancel: Callable[[], bool] | None = None, device: str = "cpu") -> tuple[int, dict]:
    """Plan (422 on bad input), run, store; returns (test id, document)."""
    with db.session() as s:
        plan = build_plan(s, circuit_id, params)
    t0 = time.perf_counter()
    doc = run_plan(plan, settings, progress, should_cancel, device)
    with db.session() as s:
        if s.get(Circuit, circuit_id) is None:
            raise NotFound(f"circuit {circuit_id} was deleted while it was being tested")
        row = store_result(s, doc, params, job_id, user, time.perf_counter() - t0)
        return row.id, doc


def test_view(row: CircuitTest, current_version: int | None) -> dict[str, Any]:
    return {"id": row.id, "uid": row.uid, "circuit_id": row.circuit_id, "circuit_version": row.circuit_version,
            "stale": current_version is not None and current_version != row.circuit_version,
            "params": row.params, "verdict": row.verdict, "suggested_status": row.suggested_status,
            "job_id": row.job_id, "created_by": row.created_by, "seconds": row.seconds,
            "created_at": iso(row.created_at), "results": row.results}


def tests_for(session: Session, circuit_id: int) -> list[CircuitTest]:
    return list(session.scalars(select(CircuitTest).where(CircuitTest.circuit_id == circuit_id)
                                .order_by(CircuitTest.created_at.desc(), CircuitTest.id.desc())))


def latest_test(session: Session, circuit_id: int) -> CircuitTest | None:
    rows = tests_for(session, circuit_id)
    return rows[0] if rows else None
