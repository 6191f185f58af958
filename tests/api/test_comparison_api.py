"""The blind human comparison through the API, on the Gabor net computed by the real pipeline: a sample spans
the unit's activation range (negative pre-ReLU values included), the task never reveals activations, answers
are kept per label version and annotator, results follow the documented arithmetic, and bad input is refused."""
from __future__ import annotations

import sys

import pytest
from fastapi.testclient import TestClient

from support.paths import MODEL_SOURCES

sys.path.insert(0, str(MODEL_SOURCES))
import evidence_models as em  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from circuitscope.api.app import create_app

    settings, db = em.compute_gabor_world(tmp_path_factory.mktemp("comparison"), images=120)
    client = TestClient(create_app(settings, db=db))
    r = client.put("/api/labels/gabor/1/0", json={"label": "edges at 30 degrees", "version": None})
    assert r.status_code == 200, r.text
    return client, r.json()["mine"]


def test_sample_task_answers_results(world):
    client, label = world
    r = client.post("/api/evidence/comparison/gabor/1/0/sample", json={"per_bin": 3, "bins": 6, "max_images": 120})
    assert r.status_code == 201, r.text
    sample = r.json()
    assert sample["measure"] == "pre_relu" and sample["scanned"] == 120 and 6 <= sample["items"] <= 18
    res = client.get("/api/evidence/comparison/gabor/1/0/results", params={"label_id": label["id"]}).json()
    assert res["scan_bins"]["counts"][0] > 0 and res["scan_bins"]["counts"][-1] > 0
    task = client.get("/api/evidence/comparison/gabor/1/0/task", params={"label_id": label["id"]}).json()
    assert len(task["items"]) == sample["items"] and task["label"]["version"] == label["version"]
    for item in task["items"]:  # blind: nothing that gives the activation away
        assert set(item) == {"id", "crop", "image", "box", "size", "ref"}
    # answer "fits" for the upper half of the range, "not" below: the weighted share must then be high
    from circuitscope.store.tables.evidence import ComparisonItem

    db = client.app.state.db
    with db.session() as s:
        bins = {it.id: it.bin for it in s.query(ComparisonItem).all()}
    for item in task["items"]:
        answer = "fits" if bins[item["id"]] >= 3 else "not"
        r = client.put("/api/evidence/comparison/gabor/1/0/answers",
                       json={"label_id": label["id"], "label_version": label["version"], "item_id": item["id"],
                             "answer": answer})
        assert r.status_code == 200, r.text
    assert r.json()["answered"] == sample["items"]
    res = client.get("/api/evidence/comparison/gabor/1/0/results", params={"label_id": label["id"]}).json()
    assert res["answers"] == sample["items"]
    weights = res["scan_bins"]["weights"]
    expected = sum(weights[3:]) / sum(w for k, w in enumerate(weights) if res["bins"][k]["answers"])
    assert res["label_share"] == pytest.approx(expected)
    assert all(b["share_fits"] == 1.0 for b in res["bins"][3:] if b["answers"])
    assert "demo" in res["annotators"]


def test_range_includes_negative_values_of_a_colour_unit(world):
    """The red-minus-others unit is negative before its ReLU on images without red: those get bins too."""
    client, _ = world
    red = len(em.ORIENTATIONS)
    r = client.put(f"/api/labels/gabor/1/{red}", json={"label": "red", "version": None})
    label = r.json()["mine"]
    r = client.post(f"/api/evidence/comparison/gabor/1/{red}/sample", json={"per_bin": 2, "bins": 5, "max_images": 120})
    assert r.status_code == 201, r.text
    res = client.get(f"/api/evidence/comparison/gabor/1/{red}/results", params={"label_id": label["id"]}).json()
    edges, counts = res["scan_bins"]["edges"], res["scan_bins"]["counts"]
    assert edges[0] < 0 < edges[-1] and counts[0] > 0
    assert res["scan_bins"]["weights"][0] == 0.0  # negative activations hold none of the expected activation
    from circuitscope.store.tables.evidence import ComparisonSample

    with client.app.state.db.session() as s:
        sample = s.query(ComparisonSample).filter_by(unit_index=red).one()
        assert min(it.activation for it in sample.items) < 0 < max(it.activation for it in sample.items)


def test_answers_are_per_label_version(world):
    client, label = world
    task = client.get("/api/evidence/comparison/gabor/1/0/task", params={"label_id": label["id"]}).json()
    item = task["items"][0]["id"]
    cur = client.get("/api/labels/gabor/1/0").json()["mine"]
    r = client.put("/api/labels/gabor/1/0", json={"label": "oriented stripes", "version": cur["version"]})
    assert r.status_code == 200
    stale = client.put("/api/evidence/comparison/gabor/1/0/answers",
                       json={"label_id": label["id"], "label_version": cur["version"], "item_id": item,
                             "answer": "fits"})
    assert stale.status_code == 409 and "version" in stale.json()["detail"]
    fresh = client.get("/api/evidence/comparison/gabor/1/0/task", params={"label_id": label["id"]}).json()
    assert fresh["answers"] == {}  # a new wording starts a new comparison
    old = client.get("/api/evidence/comparison/gabor/1/0/results",
                     params={"label_id": label["id"], "version": cur["version"]}).json()
    assert old["answers"] > 0 and old["label"]["text"] == "edges at 30 degrees"


def test_bad_input(world):
    client, label = world
    r = client.put("/api/evidence/comparison/gabor/1/0/answers",
                   json={"label_id": label["id"], "label_version": 1, "item_id": 1, "answer": "maybe"})
    assert r.status_code == 422 and "fits" in r.json()["detail"]
    r = client.post("/api/evidence/comparison/gabor/1/0/sample", json={"per_bin": 0})
    assert r.status_code == 422 and "per_bin" in r.json()["detail"]
    r = client.get("/api/evidence/comparison/gabor/1/1/task", params={"label_id": label["id"]})
    assert r.status_code == 404 and "No label" in r.json()["detail"]
    r = client.post("/api/evidence/comparison/gabor/nope/0/sample", json={})
    assert r.status_code == 404 and "Layers: 0, 1" in r.json()["detail"]
