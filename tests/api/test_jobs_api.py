"""Jobs and sources API: submit/list/get/cancel, paths confined to the allowed roots, clear 422s for bad run
descriptions, the file browser, Server-Sent Events, and layer discovery of a model file made by the test."""
from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
from fastapi.testclient import TestClient

from circuitscope.jobs import queue
from support.paths import TINY_MODELS


@pytest.fixture
def env(make_app):
    app = make_app(sample=False, allow_root=True)
    (app.root / "images").mkdir()
    client = app.client()
    yield client, app.root, app.db
    client.close()


def run_description(**extra) -> dict:
    return {"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 20}, "layers": ["conv1"], **extra}


def test_submit_list_get_and_cancel_a_queued_job(env):
    client, _, _ = env
    r = client.post("/api/jobs", json=run_description(model_slug="demo-a", featurevis={"steps": 8, "size": 32}))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued" and job["model_slug"] == "demo-a"
    # the stored run description is complete (defaults filled in) so the job page can show it
    assert job["config"]["featurevis"]["steps"] == 8 and job["config"]["examples"]["k"] == 10
    assert job["config"]["device"] == "cpu"

    second = client.post("/api/jobs", json=run_description()).json()
    listed = client.get("/api/jobs").json()
    assert [j["id"] for j in listed] == [second["id"], job["id"]]  # newest first
    assert client.get(f"/api/jobs/{job['id']}").json()["id"] == job["id"]

    r = client.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["finished_at"]
    assert client.get(f"/api/jobs/{second['id']}").json()["status"] == "queued"

    assert client.get("/api/jobs/9999").status_code == 404
    assert client.post("/api/jobs/9999/cancel").status_code == 404


def test_cancel_of_a_running_job_is_a_request(env):
    client, _, db = env
    job_id = client.post("/api/jobs", json=run_description()).json()["id"]
    with db.session() as s:
        assert queue.claim_next(s, "test-worker").id == job_id
    r = client.post(f"/api/jobs/{job_id}/cancel").json()
    assert r["status"] == "running" and r["cancel_requested"] is True


@pytest.mark.parametrize("body, what", [
    (run_description(model={"kind": "checkpoint", "path": "/etc/passwd"}), "model path"),
    (run_description(model={"kind": "torchscript", "path": "../outside.pt"}), "model path"),
    (run_description(model={"kind": "torchvision", "name": "resnet18", "weights_file": "/etc/w.pth"}),
     "model weights_file"),
    (run_description(model={"kind": "factory", "target": "/etc/evil.py:build"}), "model factory"),
    (run_description(model={"kind": "factory", "target": "os:system"}), "factory"),
    (run_description(dataset={"kind": "folder", "root": "/etc"}), "dataset"),
    (run_description(dataset={"kind": "folder", "root": "images/../../.."}), "dataset"),
])
def test_paths_outside_the_roots_are_refused(env, body, what):
    client, _, _ = env
    r = client.post("/api/jobs", json=body)
    assert r.status_code == 403, r.text
    assert what in r.json()["detail"]
    assert client.get("/api/jobs").json() == []  # nothing was queued


def test_browse_outside_the_roots_is_refused(env):
    client, root, _ = env
    for path in ("../..", "/etc", str(root / ".." / "data")):
        r = client.get("/api/sources/browse", params={"path": path})
        assert r.status_code == 403, (path, r.text)
        assert "outside the allowed folders" in r.json()["detail"]


def test_browse_lists_only_folders_and_image_or_model_files(env):
    client, root, _ = env
    (root / "images" / "cats").mkdir()
    for name in ("a.png", "b.JPG", "model.pt", "weights.pth", "net.py", "scripted.torchscript",
                 "notes.txt", "data.csv", ".hidden.png"):
        (root / name).write_bytes(b"x")
    (root / ".cache").mkdir()
    r = client.get("/api/sources/browse")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["path"] == str(root.resolve()) and out["roots"] == [str(root.resolve())]
    assert out["parent"] is None  # the root itself: no way up
    names = [(e["name"], e["kind"]) for e in out["entries"]]
    assert names == [("images", "dir"), ("a.png", "file"), ("b.JPG", "file"), ("model.pt", "file"),
                     ("net.py", "file"), ("scripted.torchscript", "file"), ("weights.pth", "file")]

    sub = client.get("/api/sources/browse", params={"path": str(root / "images")}).json()
    assert [e["name"] for e in sub["entries"]] == ["cats"]
    assert sub["parent"] == str(root.resolve())
    # relative paths are taken under the first root
    assert client.get("/api/sources/browse", params={"path": "images"}).json()["path"] == str((root / "images").resolve())
    r = client.get("/api/sources/browse", params={"path": str(root / "a.png")})
    assert r.status_code == 404 and "not a folder" in r.json()["detail"]


def test_unknown_key_and_bad_device_are_422_naming_the_problem(env):
    client, _, _ = env
    r = client.post("/api/jobs", json=run_description(layrs=["conv1"]))
    assert r.status_code == 422 and "unknown key 'layrs'" in r.json()["detail"]
    r = client.post("/api/jobs", json=run_description(featurevis={"stepz": 8}))
    assert r.status_code == 422 and "featurevis.stepz" in r.json()["detail"]
    r = client.post("/api/jobs", json=run_description(device="gpu"))
    assert r.status_code == 422 and "device" in r.json()["detail"] and "'gpu'" in r.json()["detail"]
    r = client.post("/api/jobs", json=run_description(layers=[]))
    assert r.status_code == 422 and "layers" in r.json()["detail"]
    r = client.post("/api/jobs", json=run_description(model_slug="Bad Slug!"))
    assert r.status_code == 422 and "model_slug" in r.json()["detail"]
    assert client.get("/api/jobs").json() == []


def _events(client: TestClient, job_id: int) -> list[dict]:
    states = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                states.append(json.loads(line[len("data: "):]))
    return states  # the loop ends only when the server closes the stream


def test_events_stream_a_cancelled_job_and_end(env):
    client, _, _ = env
    job_id = client.post("/api/jobs", json=run_description()).json()["id"]
    client.post(f"/api/jobs/{job_id}/cancel")
    states = _events(client, job_id)
    assert len(states) == 1 and states[0]["id"] == job_id and states[0]["status"] == "cancelled"
    assert client.get("/api/jobs/4242/events").status_code == 404


def test_events_follow_a_job_until_it_is_cancelled(env):
    client, _, db = env
    job_id = client.post("/api/jobs", json=run_description()).json()["id"]

    def later():
        time.sleep(0.8)
        with db.session() as s:
            queue.claim_next(s, "w")
        with db.session() as s:
            queue.report_progress(s, job_id, "featurevis", "conv1", 3, 8)
        time.sleep(0.8)
        with db.session() as s:
            queue.finish(s, job_id, "cancelled", error="cancelled by request; finished layers are kept")

    t = threading.Thread(target=later)
    t.start()
    start = time.monotonic()
    states = _events(client, job_id)
    t.join()
    assert time.monotonic() - start < 10
    assert states[0]["status"] == "queued" and states[-1]["status"] == "cancelled"
    assert any(s["stage"] == "featurevis" and s["done"] == 3 and s["total"] == 8 for s in states)


def test_discover_layers_of_a_factory_file(env):
    client, root, _ = env
    shutil.copy(TINY_MODELS, root / "tiny.py")
    r = client.post("/api/sources/layers", json={"model": {"kind": "factory", "target": f"{root}/tiny.py:build",
                                                           "input_size": 32}})
    assert r.status_code == 200, r.text
    out = r.json()
    layers = {l["name"]: l for l in out["layers"]}
    assert out["input_size"] == 32
    assert {"conv1", "conv2", "fc"} <= set(layers)
    assert layers["conv1"]["module_type"] == "Conv2d" and layers["conv1"]["channels"] == 4
    assert layers["conv2"]["output_shape"] == [6, 32, 32]
    assert layers["fc"]["channels"] == 3

    # relative to the first root, like the browser's paths
    assert client.post("/api/sources/layers", json={"model": {"kind": "factory", "target": "tiny.py:build"}}).status_code == 200


def test_discover_layers_errors_name_the_file_and_cause(env):
    client, root, _ = env
    shutil.copy(TINY_MODELS, root / "tiny.py")
    (root / "bad.pt").write_bytes(b"not a checkpoint")

    r = client.post("/api/sources/layers", json={"model": {"kind": "factory", "target": f"{root}/tiny.py:broken"}})
    assert r.status_code == 422 and "weights shape mismatch in layer conv9" in r.json()["detail"]
    r = client.post("/api/sources/layers", json={"model": {"kind": "factory", "target": f"{root}/tiny.py:biuld"}})
    assert r.status_code == 422 and "tiny.py" in r.json()["detail"] and "biuld" in r.json()["detail"]
    r = client.post("/api/sources/layers", json={"model": {"kind": "checkpoint", "path": str(root / "bad.pt")}})
    assert r.status_code == 422 and "bad.pt" in r.json()["detail"]
    r = client.post("/api/sources/layers", json={"model": {"kind": "checkpoint", "path": str(root / "missing.pt")}})
    assert r.status_code == 422 and "missing.pt" in r.json()["detail"] and "not found" in r.json()["detail"]
    r = client.post("/api/sources/layers", json={"model": {"kind": "checkpoint", "path": "/etc/passwd"}})
    assert r.status_code == 403
    r = client.post("/api/sources/layers", json={"model": {"kind": "factory", "target": "/tmp/x.py:build"}})
    assert r.status_code == 403 and "model factory" in r.json()["detail"]


def test_discover_layers_of_a_torchscript_file(env):
    torch = pytest.importorskip("torch")
    client, root, _ = env
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
    torch.jit.script(net).save(str(root / "net.torchscript"))
    r = client.post("/api/sources/layers", json={"model": {"kind": "torchscript", "path": str(root / "net.torchscript")}})
    assert r.status_code == 200, r.text
    layers = {l["name"]: l for l in r.json()["layers"]}
    assert {"0", "2"} <= set(layers)
    assert layers["2"]["channels"] == 2 and layers["2"]["output_shape"][0] == 2


def _has_folder_dataset() -> bool:
    try:
        from circuitscope.datasets import build_dataset  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_folder_dataset(), reason="circuitscope.datasets.build_dataset is not written yet")
def test_dataset_check_counts_images_and_lists_unreadable_files(env):
    from PIL import Image

    client, root, _ = env
    for cls in ("cats", "dogs"):
        (root / "images" / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / "images" / cls / f"{i}.png")
    (root / "images" / "dogs" / "broken.png").write_bytes(b"not a png")
    r = client.post("/api/sources/dataset", json={"dataset": {"kind": "folder", "root": str(root / "images")}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["classes"] == ["cats", "dogs"]
    assert out["num_images"] in (6, 7)
    assert [u["ref"] for u in out["unreadable"]] == ["dogs/broken.png"] and out["unreadable"][0]["reason"]
    r = client.post("/api/sources/dataset", json={"dataset": {"kind": "folder", "root": "/etc"}})
    assert r.status_code == 403
    r = client.post("/api/sources/dataset", json={"dataset": {"kind": "folder", "root": str(root / "nope")}})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
