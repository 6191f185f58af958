"""Circuit tests through the database, the job queue, the API and the CLI, on the planted network
(tests/model_sources/circuit_test_models.py) computed by the real pipeline from a checkpoint file: results stored
against the circuit version (stale after an edit), CLI JSON equal to the stored evidence, roles,
and bad input (no target, member downstream of the target, uncomputed layer, too many random sets,
moved checkpoint, cancel) refused or failed with nothing stored."""
from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from support.paths import MODEL_SOURCES

sys.path.insert(0, str(MODEL_SOURCES))
from circuit_test_models import PlantedNet  # noqa: E402

from circuitscope.annotate import circuits as circuits_svc  # noqa: E402
from circuitscope.annotate import users as users_svc  # noqa: E402
from circuitscope.api.app import create_app  # noqa: E402
from circuitscope.compute.config import parse_run_config  # noqa: E402
from circuitscope.compute.pipeline import run_compute  # noqa: E402
from circuitscope.jobs.worker import JobRunner  # noqa: E402
from circuitscope.settings import Settings  # noqa: E402
from circuitscope.store import Database  # noqa: E402
from circuitscope.store.tables.circuit_tests import CircuitTest  # noqa: E402
from circuitscope.store.tables.jobs import Job  # noqa: E402
from circuitscope.store.tables.records import Layer, LayerStage  # noqa: E402

SMALL = {"kinds": ["zero", "mean"], "random_sets": 20, "images": 40, "context_images": 10, "seed": 0}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ct")
    ckpt = tmp / "models" / "planted.pt"
    ckpt.parent.mkdir()
    torch.save(PlantedNet().state_dict(), ckpt)
    settings = Settings(data_dir=tmp / "data", allowed_roots=[tmp], compute_role="annotator")
    db = Database(settings.sqlalchemy_url)
    config = parse_run_config({
        "model": {"kind": "checkpoint", "path": str(ckpt), "arch": f"{MODEL_SOURCES / 'circuit_test_models.py'}:PlantedNet",
                  "input_size": 16, "mean": [0.5] * 3, "std": [0.5] * 3},
        "model_slug": "planted", "dataset": {"kind": "concepts", "size": 120, "seed": 3},
        "layers": ["conv1", "conv2"], "examples": {"k": 3, "batch_size": 60},
        "featurevis": {"enabled": False}, "weights": {"top_n": 4},
    })
    run_compute(config, settings, db, show_progress_bars=False)
    with db.session() as s:
        alice = users_svc.identity(users_svc.create_user(s, "alice", "annotator"))
        users_svc.create_user(s, "vera", "viewer")
        planted = circuits_svc.create_circuit(s, alice, "planted", "planted pair",
                                              units=[("conv1", 5), ("conv1", 17), ("conv2", 0)]).id
        lonely = circuits_svc.create_circuit(s, alice, "planted", "one unit", units=[("conv2", 0)]).id
        tokens = {}
        for name in ("alice", "vera"):
            tokens[name] = users_svc.create_token(s, users_svc.require_user(s, name), "t")[1]
    multi = Settings(data_dir=settings.data_dir, allowed_roots=[tmp], local_user=None, compute_role="annotator")
    client = TestClient(create_app(multi, db=db))
    strict = TestClient(create_app(Settings(data_dir=settings.data_dir, allowed_roots=[tmp], local_user=None), db=db))
    yield {"settings": settings, "db": db, "client": client, "strict": strict, "tokens": tokens, "planted": planted,
           "lonely": lonely, "ckpt": ckpt, "tmp": tmp}
    db.dispose()


def hdr(env, who="alice"):
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def run_worker(env):
    return JobRunner(env["settings"], env["db"]).run_one()


def n_tests(env):
    with env["db"].session() as s:
        return s.scalar(select(func.count()).select_from(CircuitTest))


def test_queued_test_stores_evidence_and_cli_json_matches(env, monkeypatch):
    c, cid = env["client"], env["planted"]
    r = c.post(f"/api/circuits/{cid}/tests", json=SMALL, headers=hdr(env))
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert run_worker(env) == job_id
    job = c.get(f"/api/jobs/{job_id}", headers=hdr(env)).json()
    assert job["status"] == "done", job
    latest = c.get(f"/api/circuits/{cid}/tests/latest", headers=hdr(env, "vera")).json()
    doc = latest["results"]
    assert latest["stale"] is False and latest["circuit_version"] == doc["version"]
    assert doc["targets"] == ["conv2:0"] and doc["members"] == ["conv1:5", "conv1:17"]
    zero = doc["results"]["zero"]
    assert zero["necessity"]["z"] >= 3 and zero["sufficiency"]["preserved"] >= 0.8
    assert latest["suggested_status"] == "supported" and latest["verdict"].startswith("necessary")
    assert {e["source"] for e in doc["edges"]} == {"conv1:5", "conv1:17"}
    assert all(e["attribution"] > 0 for e in doc["edges"])

    # the CLI, same parameters and seed: the same document, and it is stored too
    monkeypatch.setenv("CIRCUITSCOPE_DATA_DIR", str(env["settings"].data_dir))
    from circuitscope.cli import app

    res = CliRunner().invoke(app, ["circuits", "test", str(cid), "--kinds", "zero,mean", "--random-sets", "20",
                                   "--images", "40", "--context-images", "10", "--seed", "0", "--json"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout.strip().splitlines()[-1])
    assert printed == doc
    stored = c.get(f"/api/circuits/{cid}/tests/latest", headers=hdr(env)).json()["results"]
    assert stored == printed
    assert len(c.get(f"/api/circuits/{cid}/tests", headers=hdr(env)).json()) == 2

    # editing the circuit makes the evidence stale (kept as history)
    circuit = c.get(f"/api/circuits/{cid}", headers=hdr(env)).json()
    r = c.patch(f"/api/circuits/{cid}", json={"claim": "two colour units make it", "version": circuit["version"]},
                headers=hdr(env))
    assert r.status_code == 200, r.text
    assert c.get(f"/api/circuits/{cid}/tests/latest", headers=hdr(env)).json()["stale"] is True


def test_roles_viewer_reads_but_cannot_start(env):
    c, cid = env["client"], env["planted"]
    r = c.post(f"/api/circuits/{cid}/tests", json=SMALL, headers=hdr(env, "vera"))
    assert r.status_code == 403
    assert c.post(f"/api/circuits/{cid}/tests", json=SMALL).status_code == 401
    assert c.get(f"/api/circuits/{cid}/tests", headers=hdr(env, "vera")).status_code == 200
    # with the default compute permission (admin), an annotator may not start a test either
    r = env["strict"].post(f"/api/circuits/{cid}/tests", json=SMALL, headers=hdr(env))
    assert r.status_code == 403 and "compute permission" in r.json()["detail"]


@pytest.mark.parametrize("body,status,words", [
    ({"targets": ["conv1:5"]}, 422, ["conv1:17", "same layer"]),
    ({"random_sets": 5000}, 422, ["maximum is 1891"]),
    ({"kinds": ["noise"]}, 422, ["noise", "zero, mean, resample"]),
    ({"images": 0}, 422, ["images"]),
    ({"targets": ["conv9:1"]}, 422, ["conv9:1", "not a node"]),
])
def test_bad_parameters_are_refused_naming_the_problem(env, body, status, words):
    r = env["client"].post(f"/api/circuits/{env['planted']}/tests", json={**SMALL, **body}, headers=hdr(env))
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["detail"]
    if "random_sets" in body:
        assert r.json()["maximum"] == 1891


def test_circuit_without_target_and_uncomputed_layer(env):
    c = env["client"]
    r = c.post(f"/api/circuits/{env['lonely']}/tests", json=SMALL, headers=hdr(env))
    assert r.status_code == 422 and "target" in r.json()["detail"]
    db = env["db"]
    with db.session() as s:
        layer = s.scalar(select(Layer).where(Layer.name == "conv1"))
        s.execute(update(LayerStage).where(LayerStage.layer_id == layer.id, LayerStage.stage == "examples")
                  .values(status="running"))
    try:
        r = c.post(f"/api/circuits/{env['planted']}/tests", json=SMALL, headers=hdr(env))
        assert r.status_code == 422
        assert "conv1:5" in r.json()["detail"] and "circuitscope compute --layers conv1" in r.json()["detail"]
    finally:
        with db.session() as s:
            s.execute(update(LayerStage).where(LayerStage.layer_id == layer.id, LayerStage.stage == "examples")
                      .values(status="done"))


def test_cancel_leaves_no_evidence(env):
    c, db = env["client"], env["db"]
    before = n_tests(env)
    job_id = c.post(f"/api/circuits/{env['planted']}/tests", json=SMALL, headers=hdr(env)).json()["id"]
    with db.session() as s:  # as if cancel were pressed the moment it started
        s.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    run_worker(env)
    assert c.get(f"/api/jobs/{job_id}", headers=hdr(env)).json()["status"] == "cancelled"
    assert n_tests(env) == before


def test_moved_checkpoint_fails_the_job_naming_the_path(env):
    c = env["client"]
    before = n_tests(env)
    job_id = c.post(f"/api/circuits/{env['planted']}/tests", json=SMALL, headers=hdr(env)).json()["id"]
    moved = env["tmp"] / "elsewhere.pt"
    shutil.move(env["ckpt"], moved)
    try:
        run_worker(env)
    finally:
        shutil.move(moved, env["ckpt"])
    job = c.get(f"/api/jobs/{job_id}", headers=hdr(env)).json()
    assert job["status"] == "failed"
    assert str(env["ckpt"]) in job["error"] and "Put the file back" in job["error"]
    assert n_tests(env) == before


def test_exports_carry_the_test_and_project_round_trip_is_identical(env, db_url):
    from circuitscope.circuit_tests.plan import TestParams
    from circuitscope.circuit_tests.runner import run_circuit_test
    from circuitscope.export.graph_json import circuit_to_graph, validate_graph
    from circuitscope.export.html_report import circuit_report_html
    from circuitscope.export.project import export_project, import_project

    db, cid = env["db"], env["planted"]
    _, doc = run_circuit_test(db, env["settings"], cid, TestParams(**SMALL), user="alice")
    with db.session() as s:
        graph = circuit_to_graph(s, cid)
        report = circuit_report_html(s, cid, None)
        exported = export_project(s)
    validate_graph(graph)
    nodes = {f"{n['layer_name']}:{n['unit_index']}": n for n in graph["nodes"]}
    assert nodes["conv2:0"]["activation"] == doc["node_activation"]["conv2:0"] > 0
    drop = doc["results"]["zero"]["necessity"]["drop"]
    for m in doc["results"]["zero"]["members"]:
        assert nodes[m["unit"]]["influence"] == pytest.approx(m["drop"] / drop, abs=1e-6)
    with db.session() as s:
        weights = {(e.src.layer_name + f":{e.src.unit_index}", e.dst.layer_name + f":{e.dst.unit_index}"): e.weight
                   for e in circuits_svc.get_circuit(s, cid).edges}
    ids = {n["node_id"]: k for k, n in nodes.items()}
    attr = {(e["source"], e["target"]): e["attribution"] for e in doc["edges"]}
    for link in graph["links"]:
        pair = (ids[link["source"]], ids[link["target"]])
        assert link["weight"] == weights[pair] and link["attribution"] == attr[pair]
    assert graph["metadata"]["info"]["circuit_test"]["stale"] is False
    assert doc["verdict"].replace("<", "&lt;") in report and "random drops" in report and "<script" not in report

    circuit = next(c for c in exported["circuits"] if c["uid"] == doc_uid(env, cid))
    assert circuit["tests"] and circuit["tests"][-1]["results"] == doc
    target = Database(db_url)
    try:
        with target.session() as s:
            import_project(s, json.loads(json.dumps(exported)), allow_missing_units=True)
        with target.session() as s:
            again = export_project(s)
    finally:
        target.dispose()
    exported.pop("exported_at"), again.pop("exported_at")
    assert again == exported


def doc_uid(env, cid):
    with env["db"].session() as s:
        return circuits_svc.get_circuit(s, cid).uid
