"""A shared server under attack and under a busy team (issue 8): code execution through model specs, cross-site
and DNS-rebinding writes, races that used to be 500s, huge ids, hostile imports, sessions and sign-in limits.

Every attack test first shows the attack is real where that is possible (the command-line loader, which trusts
its operator, does run the code and creates the marker file), then that the server refuses it and writes
nothing."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from circuitscope.annotate import users as users_svc
from circuitscope.settings import Settings
from circuitscope.store import Database
from circuitscope.store.tables.annotation import ApiToken, Circuit, Family, Label, User
from circuitscope.store.tables.jobs import Job
from support.app import add_user

UNIT = "/api/labels/toy/conv1/0"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def multi(make_app):
    env = make_app(allow_root=True, local_user=None)
    app, db, root = env.app, env.db, env.root
    tokens = {n: add_user(db, n, r, "pw-" + n) for n, r in
              [("alice", "annotator"), ("vera", "viewer"), ("ada", "admin")]}
    client = TestClient(app)
    yield client, db, tokens, root
    client.close()
    db.dispose()


@pytest.fixture
def local(make_app):
    """Single-user mode (the default): requests without credentials act as the local admin."""
    env = make_app(allow_root=True)
    app, db, root = env.app, env.db, env.root
    client = TestClient(app)
    yield client, db, root
    client.close()
    db.dispose()


# --- 1. no code runs that an admin did not place ------------------------------------------------------

def _state_dict(root: Path) -> Path:
    torch = pytest.importorskip("torch")
    path = root / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    return path


def test_the_arch_attack_is_real_on_the_unconfined_loader(tmp_path):
    """The command line trusts its operator: this is what a request could do before the fix."""
    from circuitscope.models.base import ModelLoadError
    from circuitscope.models.sources import load_model

    marker = tmp_path / "pwned"
    spec = {"kind": "checkpoint", "path": str(_state_dict(tmp_path)), "arch": "subprocess:getoutput",
            "kwargs": {"cmd": f"touch {marker}"}}
    with pytest.raises(ModelLoadError):
        load_model(spec, tmp_path)
    assert marker.exists()


@pytest.mark.parametrize("route", ["/api/sources/layers", "/api/jobs"])
@pytest.mark.parametrize("spec_of", [
    lambda w, m, o: {"kind": "checkpoint", "path": str(w), "arch": "subprocess:getoutput",
                     "kwargs": {"cmd": f"touch {m}"}},
    lambda w, m, o: {"kind": "checkpoint", "path": str(w), "arch": "os:system", "kwargs": {"command": f"touch {m}"}},
    lambda w, m, o: {"kind": "checkpoint", "path": str(w), "arch": f"{o}:build"},
    lambda w, m, o: {"kind": "factory", "target": "subprocess:getoutput", "kwargs": {"cmd": f"touch {m}"}},
    lambda w, m, o: {"kind": "factory", "target": f"{o}:build"},
    lambda w, m, o: {"kind": "torchvision", "name": "resnet18", "arch": "subprocess:getoutput"},
    lambda w, m, o: {"kind": "checkpoint", "path": str(w), "arch": "subprocess.getoutput"},
], ids=["subprocess-getoutput", "os-system", "file-outside-roots", "factory-module", "factory-file-outside",
        "torchvision-arch-key", "dotted-name"])
def test_model_specs_cannot_run_code(multi, tmp_path, route, spec_of):
    client, db, t, root = multi
    marker = tmp_path / "pwned"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\ndef build():\n    return None\n")
    spec = spec_of(_state_dict(root), marker, outside / "evil.py")
    body = {"model": spec} if route.endswith("layers") else {
        "model": spec, "dataset": {"kind": "concepts", "size": 8}, "layers": ["conv1"]}
    for who in ("ada", "alice"):  # the admin is confined too; the annotator lacks the compute permission
        r = client.post(route, json=body, headers=auth(t[who]))
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        assert ("allowed folder" in detail or "compute" in detail), detail
        assert not marker.exists()
    r = client.post(route, json=body, headers=auth(t["ada"]))
    assert "arch" in r.json()["detail"] or "factory" in r.json()["detail"] or "target" in r.json()["detail"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_refusal_names_the_problem_and_the_fix(multi):
    client, _, t, root = multi
    spec = {"kind": "checkpoint", "path": str(_state_dict(root)), "arch": "subprocess:getoutput"}
    r = client.post("/api/sources/layers", json={"model": spec}, headers=auth(t["ada"]))
    assert r.status_code == 403
    assert r.json()["detail"] == ("arch must be a torchvision architecture name or a factory file under an allowed "
                                  "folder ('path/to/file.py:function'); 'subprocess:getoutput' is not. Module paths "
                                  "such as 'package.module:function' are for the command line only.")


def test_allowed_specs_still_work(multi):
    """A torchvision name and a factory file under the roots are what an admin may register."""
    client, _, t, root = multi
    (root / "tiny.py").write_text("from torch import nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 2, 3))\n")
    r = client.post("/api/sources/layers", json={"model": {"kind": "factory", "target": "tiny.py:build"}},
                    headers=auth(t["ada"]))
    assert r.status_code == 200, r.text
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)).state_dict(), root / "sd.pt")
    r = client.post("/api/sources/layers", json={"model": {"kind": "checkpoint", "path": "sd.pt",
                                                           "arch": "tiny.py:build"}}, headers=auth(t["ada"]))
    assert r.status_code == 200, r.text
    r = client.post("/api/sources/layers", json={"model": {"kind": "torchvision", "name": "resnet18", "weights": None}},
                    headers=auth(t["ada"]))
    assert r.status_code == 200, r.text


def test_compute_role_setting_lets_annotators_compute(make_app):
    env = make_app(allow_root=True, local_user=None, compute_role="annotator")
    app, db = env.app, env.db
    alice, vera = add_user(db, "alice", "annotator"), add_user(db, "vera", "viewer")
    client = TestClient(app)
    body = {"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 8}, "layers": ["conv1"]}
    assert client.post("/api/jobs", json=body, headers=auth(vera)).status_code == 403
    assert client.post("/api/jobs", json=body, headers=auth(alice)).status_code == 201
    db.dispose()


def _job_row(db: Database, model: dict, created_by: str | None) -> int:
    with db.session() as s:
        job = Job(kind="compute", status="queued", stage="queued", created_by=created_by, model_slug="x",
                  config={"model": model, "dataset": {"kind": "concepts", "size": 8}, "layers": ["conv1"],
                          "model_slug": "x"})
        s.add(job)
        s.flush()
        return job.id


def test_worker_refuses_a_job_row_written_around_the_api(multi, tmp_path):
    from circuitscope.jobs.worker import JobRunner

    client, db, t, root = multi
    marker = tmp_path / "pwned"
    spec = {"kind": "checkpoint", "path": str(_state_dict(root)), "arch": "subprocess:getoutput",
            "kwargs": {"cmd": f"touch {marker}"}}
    job_id = _job_row(db, spec, created_by="ada")
    runner = JobRunner(client.app.state.settings, db, name="w")
    assert runner.run_one() == job_id
    assert not marker.exists()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and job.error.startswith("Refused: arch must be")
    # a job queued by someone who has since lost the compute permission is refused too
    job_id = _job_row(db, {"kind": "demo"}, created_by="alice")
    assert runner.run_one() == job_id
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and "compute permission" in job.error and "annotator" in job.error


def test_job_configs_and_file_browser_need_the_compute_permission(multi):
    client, db, t, root = multi
    (root / "secret-model.py").write_text("def build():\n    pass\n")
    (root / "images").mkdir()
    body = {"model": {"kind": "factory", "target": "secret-model.py:build", "kwargs": {"key": "k"}},
            "dataset": {"kind": "folder", "root": "images"}, "layers": ["conv1"]}
    job = client.post("/api/jobs", json=body, headers=auth(t["ada"])).json()
    assert job["config"]["model"]["target"] == f"{root.resolve()}/secret-model.py:build"
    for headers in ({}, auth(t["vera"]), auth(t["alice"])):
        for shown in (client.get(f"/api/jobs/{job['id']}", headers=headers).json(),
                      client.get("/api/jobs", headers=headers).json()[0]):
            assert shown["config"]["model"] == {"kind": "factory"} and shown["config"]["dataset"] == {"kind": "folder"}
            assert shown["config"]["layers"] == ["conv1"] and str(root) not in json.dumps(shown)
            assert "secret-model.py" not in json.dumps(shown) and "kwargs" not in json.dumps(shown)
    assert client.get(f"/api/jobs/{job['id']}", headers=auth(t["ada"])).json()["config"]["model"]["kwargs"] == {"key": "k"}
    assert client.get("/api/sources/browse").status_code == 401
    r = client.get("/api/sources/browse", headers=auth(t["alice"]))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert client.get("/api/sources/browse", headers=auth(t["ada"])).status_code == 200


def test_dataset_walk_does_not_follow_links_out_of_the_roots(tmp_path):
    from PIL import Image

    from circuitscope.datasets.folder import ImageFolderDataset

    inside, outside = tmp_path / "root" / "images", tmp_path / "secret"
    (inside / "cats").mkdir(parents=True)
    outside.mkdir()
    Image.new("RGB", (8, 8)).save(inside / "cats" / "a.png")
    Image.new("RGB", (8, 8)).save(outside / "b.png")
    (inside / "leak").symlink_to(outside, target_is_directory=True)
    (inside / "cats" / "c.png").symlink_to(outside / "b.png")
    (inside / "cats" / "same").symlink_to(inside / "cats", target_is_directory=True)  # inside: harmless loop
    refs = ImageFolderDataset(inside).refs if hasattr(ImageFolderDataset(inside), "refs") else \
        [ImageFolderDataset(inside).ref(i) for i in range(len(ImageFolderDataset(inside)))]
    assert refs == ["cats/a.png"]


# --- 2. no cross-site or rebinding writes ---------------------------------------------------------------

def test_origin_null_and_foreign_origin_writes_are_refused(local):
    client, db, _ = local
    for headers in ({"Origin": "null"}, {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/x"},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = client.put(UNIT, json={"label": "x"}, headers=headers)
        assert r.status_code == 403 and "cross-site write refused" in r.json()["detail"], (headers, r.text)
    assert client.get(UNIT).json()["labels"] == []
    # this server's own page (and scripts that send JSON) still work
    assert client.put(UNIT, json={"label": "ok"}, headers={"Origin": "http://testserver"}).status_code == 200


def test_the_reported_import_attack_creates_no_admin(local):
    """`Origin: null` + text/plain body to the project import used to create an admin user."""
    client, db, _ = local
    doc = {"format": "circuitscope-project", "format_version": 1, "users": [
        {"name": "mallory", "display_name": "", "role": "admin"}], "labels": [], "families": [], "circuits": []}
    for headers in ({"Origin": "null", "Content-Type": "text/plain"}, {"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"}, {"Origin": "null",
                                                                           "Content-Type": "application/json"}):
        r = client.post("/api/import/project", content=json.dumps(doc), headers=headers)
        assert r.status_code in (403, 415), (headers, r.status_code, r.text)
        assert "detail" in r.json()
    with db.session() as s:
        assert users_svc.get_user(s, "mallory") is None


def test_cookie_writes_with_origin_null_are_refused(multi):
    client, _, _, _ = multi
    assert client.post("/api/auth/login", json={"name": "alice", "password": "pw-alice"}).status_code == 200
    r = client.put(UNIT, json={"label": "x"}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert client.put(UNIT, json={"label": "x"}).status_code == 200  # same-site fetch from the app


def test_foreign_host_is_refused_even_with_matching_origin(make_app):
    env = make_app(allow_root=True, allowed_hosts=["127.0.0.1", "localhost"])
    app, db = env.app, env.db
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    r = client.put(UNIT, json={"label": "x"}, headers={"Host": "rebind.example", "Origin": "http://rebind.example"})
    assert r.status_code == 400 and "CIRCUITSCOPE_ALLOWED_HOSTS" in r.json()["detail"]
    assert client.get(UNIT, headers={"Host": "rebind.example"}).status_code == 400  # reads too
    assert client.get(UNIT).json()["labels"] == []
    assert client.get(UNIT, headers={"Host": "localhost:8000"}).status_code == 200
    db.dispose()


def test_default_allowed_hosts_follow_the_bound_host():
    assert Settings(host="127.0.0.1", allowed_hosts=[]).trusted_hosts == ["localhost", "127.0.0.1", "::1"]
    assert Settings(host="lab.example", allowed_hosts=[]).trusted_hosts[0] == "lab.example"
    assert "0.0.0.0" not in Settings(host="0.0.0.0", allowed_hosts=[]).trusted_hosts
    assert Settings(allowed_hosts="a.example, b.example").trusted_hosts == ["a.example", "b.example"]


def test_json_routes_require_json_and_security_headers_are_set(local):
    client, _, _ = local
    r = client.put(UNIT, content='{"label": "x"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = client.get(UNIT)
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "same-origin"


# --- 3. no 500 for any client input --------------------------------------------------------------------

def test_double_clicked_label_save_is_idempotent_and_different_text_conflicts(make_app, db_url):
    env = make_app(allow_root=True, db_url=db_url, local_user=None)
    app, db = env.app, env.db
    token = add_user(db, "alice", "annotator")
    for round_, texts in enumerate([("same", "same"), ("one", "two")]):
        unit = f"/api/labels/toy/conv1/{round_}"
        barrier, codes, bodies = threading.Barrier(2), [], []

        # bound as defaults so each thread pair sees its own round's barrier and lists
        def click(text, barrier=barrier, unit=unit, codes=codes, bodies=bodies):
            c = TestClient(app)
            barrier.wait()
            r = c.put(unit, json={"label": text, "version": None}, headers=auth(token))
            codes.append(r.status_code)
            bodies.append(r.json())

        threads = [threading.Thread(target=click, args=(x,)) for x in texts]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if texts[0] == texts[1]:
            assert codes == [200, 200], bodies
        else:
            assert sorted(codes) == [200, 409], bodies
            conflict = next(b for b, c in zip(bodies, codes) if c == 409)
            assert conflict["current"]["label"] in texts
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Label).where(Label.unit_index == round_)) == 1
    db.dispose()


def test_concurrent_family_creation_with_one_name(make_app, db_url):
    env = make_app(allow_root=True, db_url=db_url, local_user=None)
    app, db = env.app, env.db
    token = add_user(db, "alice", "annotator")
    barrier, codes, bodies = threading.Barrier(4), [], []

    def create():
        c = TestClient(app)
        barrier.wait()
        r = c.post("/api/families", json={"model": "toy", "name": "curves"}, headers=auth(token))
        codes.append(r.status_code)
        bodies.append(r.json())

    threads = [threading.Thread(target=create) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(codes) == [201, 409, 409, 409], bodies
    assert all("curves" in b["detail"] for b, c in zip(bodies, codes) if c == 409)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Family)) == 1
    db.dispose()


@pytest.mark.parametrize("method, url", [
    ("get", "/api/circuits/99999999999999999999999"),
    ("get", "/api/families/9223372036854775808"),
    ("get", "/api/labels-by-id/99999999999999999999/history"),
    ("get", "/api/search?offset=9223372036854775808"),
    ("get", "/api/labels/toy/conv1/99999999999999999999999"),
    ("get", "/api/models/toy/layers/conv1/units?offset=9223372036854775808"),
    ("get", "/api/jobs/99999999999999999999"),
    ("get", "/api/units/-99999999999999999999"),
    ("delete", "/api/circuits/99999999999999999999?version=1"),
    ("get", "/api/circuits?model=toy&layer=conv1&index=99999999999999999999"),
])
def test_huge_ids_are_422_not_500(local, method, url):
    client, _, _ = local
    r = getattr(client, method)(url)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str)


def test_huge_numbers_in_bodies_are_422(local):
    client, _, _ = local
    r = client.put(UNIT, json={"label": "x", "version": 99999999999999999999999})
    assert r.status_code in (409, 422), r.text
    r = client.post("/api/families", json={"model": "toy", "name": "f", "units": [{"layer": "conv1",
                                                                                   "index": 2**70}]})
    assert r.status_code in (404, 422), r.text


def _graph(client) -> dict:
    cid = client.post("/api/circuits", json={"model": "toy", "name": "c",
                                             "units": [{"layer": "conv1", "index": 0},
                                                       {"layer": "conv2", "index": 1}]}).json()["id"]
    return client.get(f"/api/export/circuits/{cid}?format=graph-json").json()


def test_non_finite_numbers_are_refused_and_nothing_is_written(local):
    client, db, _ = local
    doc = _graph(client)
    doc["links"][0]["weight"] = 1e999  # json.dumps writes Infinity
    raw = json.dumps(doc)
    assert "Infinity" in raw
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(Circuit))
    r = client.post("/api/import/circuit", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "Infinity" in r.json()["detail"], r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Circuit)) == before
    # the same document read by the command line (json.load accepts Infinity) is refused by the importer
    from circuitscope.annotate.users import identity
    from circuitscope.errors import Invalid
    from circuitscope.export.graph_json import import_graph_circuit

    with pytest.raises(Invalid, match="finite"):
        with db.session() as s:
            import_graph_circuit(s, json.loads(raw), identity(users_svc.get_user(s, "demo")))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Circuit)) == before
    for bad in ("NaN", "-Infinity"):
        r = client.put(UNIT, content=f'{{"label": "x", "confidence": {bad}}}',
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and bad.lstrip("-") in r.json()["detail"]


def test_project_import_refuses_non_finite_huge_and_out_of_range_values(local):
    from circuitscope.export.project import import_project

    client, db, _ = local
    client.put(UNIT, json={"label": "x"})
    _graph(client)
    doc = client.get("/api/export/project").json()
    with db.session() as s:
        before = (s.scalar(select(func.count()).select_from(User)), s.scalar(select(func.count()).select_from(Circuit)))

    def refused(mutate, expect):
        d = json.loads(json.dumps(doc))
        d["users"].append({"name": "newbie", "display_name": "", "role": "admin"})
        mutate(d)
        from circuitscope.errors import Invalid

        with pytest.raises(Invalid) as err:  # answered 422 by the API
            with db.session() as s:
                import_project(s, d)
        assert expect in err.value.detail, err.value.detail
        with db.session() as s:
            assert (s.scalar(select(func.count()).select_from(User)),
                    s.scalar(select(func.count()).select_from(Circuit))) == before

    refused(lambda d: d["circuits"][0]["edges"][0].update(weight=float("inf")), "finite")
    refused(lambda d: d["circuits"][0]["history"][0]["snapshot"].update(junk="x" * 200_000), "snapshot")
    refused(lambda d: d["circuits"][0]["history"][0]["snapshot"].update(w=float("nan")), "NaN")
    refused(lambda d: d["labels"][0].update(created_at="0001-01-01T00:00:00+05:00"), "timestamp")
    refused(lambda d: d["labels"][0].update(index=2**64), "labels[0].index")


def test_deep_nul_and_oversized_inputs_get_json_errors(make_app):
    env = make_app(allow_root=True, max_body_bytes=100_000)
    app, db = env.app, env.db
    client = TestClient(app)
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post("/api/import/project", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"
    deep = "[" * 20_000 + "]" * 20_000
    r = client.post("/api/import/project", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "nested" in r.json()["detail"]
    r = client.put(UNIT, json={"label": "a\x00b"})
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    r = client.get("/api/sources/browse", params={"path": "a\x00b"})
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    r = client.get("/api/sources/browse", params={"path": "x" * 6000})
    assert r.status_code == 403 and "4096" in r.json()["detail"]
    r = client.get("/api/search", params={"q": "x" * 9000})
    assert r.status_code == 414 and r.json()["detail"]
    db.dispose()


def test_validation_errors_match_the_documented_shape(local):
    client, _, _ = local
    r = client.put(UNIT, json={"label": "x" * 500})
    body = r.json()
    assert r.status_code == 422 and isinstance(body["detail"], str) and "label" in body["errors"][0]
    doc = client.get("/openapi.json").json()
    shape = doc["components"]["schemas"]["ErrorOut"]
    assert shape["properties"]["detail"]["type"] == "string" and "HTTPValidationError" not in doc["components"]["schemas"]
    op = doc["paths"]["/api/labels/{model}/{layer}/{index}"]["put"]
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    export = doc["paths"]["/api/export/circuits/{circuit_id}"]["get"]["responses"]["200"]["content"]
    assert {"text/html", "application/graphml+xml", "application/json"} <= set(export)
    assert "text/csv" in doc["paths"]["/api/export/labels/{model}"]["get"]["responses"]["200"]["content"]


# --- 5. sessions and sign-in ----------------------------------------------------------------------------

def test_sessions_listed_revoked_and_killed_by_password_or_role_change(multi):
    client, db, t, _ = multi
    phone, laptop = TestClient(client.app), TestClient(client.app)
    for c in (phone, laptop):
        assert c.post("/api/auth/login", json={"name": "alice", "password": "pw-alice"}).status_code == 200
    listed = laptop.get("/api/auth/sessions").json()
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1 and all(s["kind"] == "session" for s in listed)
    assert all("token" not in s for s in listed)
    # sign the phone out from the laptop
    phone_id = next(s["id"] for s in listed if not s["current"])
    assert laptop.delete(f"/api/auth/sessions/{phone_id}").status_code == 200
    assert phone.get("/api/auth/me").json()["user"] is None
    assert laptop.get("/api/auth/me").json()["user"]["name"] == "alice"
    # someone else's session: 403; a token id is not a session: 404
    other = laptop.get("/api/auth/sessions").json()[0]["id"]
    assert client.delete(f"/api/auth/sessions/{other}", headers=auth(t["vera"])).status_code == 403
    # an admin's password change signs alice out everywhere; her API token keeps working
    r = client.patch("/api/users/alice", json={"password": "new-pw-alice"}, headers=auth(t["ada"]))
    assert r.status_code == 200
    assert laptop.get("/api/auth/me").json()["user"] is None
    assert client.get("/api/auth/me", headers=auth(t["alice"])).json()["user"]["name"] == "alice"
    # a role change too
    assert laptop.post("/api/auth/login", json={"name": "alice", "password": "new-pw-alice"}).status_code == 200
    assert client.patch("/api/users/alice", json={"role": "viewer"}, headers=auth(t["ada"])).status_code == 200
    assert laptop.get("/api/auth/me").json()["user"] is None
    # an unchanged role does not sign anyone out
    assert laptop.post("/api/auth/login", json={"name": "alice", "password": "new-pw-alice"}).status_code == 200
    assert client.patch("/api/users/alice", json={"role": "viewer"}, headers=auth(t["ada"])).status_code == 200
    assert laptop.get("/api/auth/me").json()["user"]["name"] == "alice"


def test_sign_in_is_rate_limited_per_user_and_per_address(make_app):
    env = make_app(allow_root=True, local_user=None, login_max_failures=5)
    app, db = env.app, env.db
    add_user(db, "alice", "annotator", "right")
    add_user(db, "bob", "annotator", "right")
    client = TestClient(app)
    for _ in range(5):
        assert client.post("/api/auth/login", json={"name": "alice", "password": "wrong"}).status_code == 401
    r = client.post("/api/auth/login", json={"name": "alice", "password": "right"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "alice" in r.json()["detail"]
    # the address has used up its attempts too: guessing another user's password from here is refused
    r = client.post("/api/auth/login", json={"name": "bob", "password": "right"})
    assert r.status_code == 429 and "address" in r.json()["detail"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.kind == "session")) == 0
    db.dispose()


def test_rate_limit_window_expires():
    from circuitscope.annotate.ratelimit import LoginLimiter
    from circuitscope.errors import TooManyAttempts

    now = [0.0]
    lim = LoginLimiter(2, 60, clock=lambda: now[0])
    lim.failed("a", "1.2.3.4")
    lim.failed("a", "1.2.3.4")
    with pytest.raises(TooManyAttempts):
        lim.check("a", "5.6.7.8")
    now[0] = 61
    lim.check("a", "1.2.3.4")


def test_serve_refuses_a_network_facing_local_admin(monkeypatch):
    from typer.testing import CliRunner

    from circuitscope import cli
    from circuitscope.settings import get_settings

    monkeypatch.setenv("CIRCUITSCOPE_LOCAL_USER", "demo")
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli.app, ["serve", "--host", "0.0.0.0", "--no-worker"])
        assert r.exit_code == 2 and "refusing to listen on 0.0.0.0" in r.output
        assert "CIRCUITSCOPE_LOCAL_USER=" in r.output
    finally:
        get_settings.cache_clear()
    assert cli.is_loopback("127.0.0.1") and cli.is_loopback("::1") and cli.is_loopback("localhost")
    assert not cli.is_loopback("0.0.0.0") and not cli.is_loopback("192.168.1.5")


def test_refusals_are_logged_with_the_user(multi, caplog):
    client, _, t, root = multi
    spec = {"kind": "checkpoint", "path": "w.pt", "arch": "subprocess:getoutput"}
    with caplog.at_level("INFO", logger="circuitscope.security"):
        client.post("/api/sources/layers", json={"model": spec}, headers=auth(t["ada"]))
        client.put(UNIT, json={"label": "x"}, headers=auth(t["vera"]))
    lines = [r.getMessage() for r in caplog.records if r.name == "circuitscope.security"]
    assert any("user ada" in m and "subprocess:getoutput" in m and "403" in m for m in lines), lines
    assert any("user vera" in m and "annotator" in m for m in lines), lines
