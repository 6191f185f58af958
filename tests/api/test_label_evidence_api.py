"""A label's evidence travels with it: claimed concepts with the unit's AUC, the blind human share, a weak flag,
in the evidence API, the labels CSV/JSON export, graph JSON nodes and the HTML report; bad claims are refused."""
from __future__ import annotations

import csv
import io
import sys

import pytest
from fastapi.testclient import TestClient

from support.paths import MODEL_SOURCES

sys.path.insert(0, str(MODEL_SOURCES))
import evidence_models as em  # noqa: E402

RED = len(em.ORIENTATIONS)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from circuitscope.api.app import create_app

    settings, db = em.compute_gabor_world(tmp_path_factory.mktemp("label-evidence"), images=110)
    c = TestClient(create_app(settings, db=db))
    for idx, text in ((RED, "red"), (0, "red things")):
        r = c.put(f"/api/labels/gabor/1/{idx}", json={"label": text, "version": None})
        assert r.status_code == 200
        claims = c.put(f"/api/evidence/claims/{r.json()['mine']['id']}", json={"concepts": ["colour=red"]})
        assert claims.status_code == 200
    return c


def _label(client, idx):
    return client.get(f"/api/labels/gabor/1/{idx}").json()["mine"]


def test_claims_carry_the_units_auc_and_weak_claims_are_flagged(client):
    ev = client.get(f"/api/evidence/labels/gabor/1/{RED}").json()
    mine = ev["labels"][0]
    assert mine["claims"][0]["concept"] == "colour=red" and mine["claims"][0]["auc"] >= 0.9
    assert mine["evidence"] == "supported" and not mine["weak"]
    other = client.get("/api/evidence/labels/gabor/1/0").json()["labels"][0]
    assert other["weak"] and other["evidence"] == "weak" and "colour=red" in other["reasons"][0]
    assert "colour=red" in ev["scored_concepts"]


def test_bad_claims_are_refused_and_nothing_changes(client):
    red = _label(client, RED)
    r = client.put(f"/api/evidence/claims/{red['id']}", json={"concepts": ["colour=redd"]})
    detail = r.json()["detail"]
    assert r.status_code == 422 and "colour=red" in detail and "Unknown concept 'colour=redd'" in detail
    r = client.put("/api/evidence/claims/99999", json={"concepts": []})
    assert r.status_code == 404
    ev = client.get(f"/api/evidence/labels/gabor/1/{RED}").json()["labels"][0]
    assert [c["concept"] for c in ev["claims"]] == ["colour=red"]


def test_exports_carry_the_evidence(client):
    text = client.get("/api/export/labels/gabor", params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    by_label = {r["label"]: r for r in rows}
    assert by_label["red"]["claimed_concepts"] == "colour=red" and float(by_label["red"]["concept_auc"]) >= 0.9
    assert by_label["red"]["evidence"] == "supported" and by_label["red"]["evidence_weak"] == "False"
    assert by_label["red things"]["evidence_weak"] == "True"
    doc = client.get("/api/export/labels/gabor", params={"format": "json"}).json()
    labels = {l["label"]: l for u in doc["units"] for l in u["labels"]}
    assert labels["red"]["evidence"]["claims"][0]["auc"] >= 0.9
    # a circuit with both units: graph JSON node properties and the HTML report
    r = client.post("/api/circuits", json={"model": "gabor", "name": "red", "units": [
        {"layer": "1", "index": RED}, {"layer": "1", "index": 0}]})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    graph = client.get(f"/api/export/circuits/{cid}", params={"format": "graph-json"}).json()
    nodes = {n["unit_index"]: n for n in graph["nodes"]}
    assert nodes[RED]["labels"][0]["evidence"]["evidence"] == "supported" and nodes[RED]["evidence_weak"] is False
    assert nodes[0]["evidence_weak"] is True
    html = client.get(f"/api/export/circuits/{cid}", params={"format": "html", "download": False}).text
    assert "colour=red (AUC 0.9" in html or "colour=red (AUC 1.00" in html
    assert "WEAK evidence" in html


def test_search_results_carry_each_labels_evidence(client):
    r = client.get("/api/search", params={"q": "red", "model": "gabor"})
    assert r.status_code == 200, r.text
    labels = {l["label"]: l for res in r.json()["results"] for l in res["labels"]}
    assert labels["red"]["evidence"]["evidence"] == "supported"
    assert labels["red things"]["evidence"]["weak"] is True


def test_project_export_and_import_keep_the_claims(client, make_app):
    from circuitscope.store.tables.evidence import LabelClaim

    doc = client.get("/api/export/project", params={"model": "gabor"}).json()
    claimed = {l["label"]: l["claims"] for l in doc["labels"]}
    assert claimed["red"] == ["colour=red"]
    target = make_app("fresh", sample=False)
    db, fresh = target.db, target.client()
    r = fresh.post("/api/import/project", params={"allow_missing_units": True}, json=doc)
    assert r.status_code == 200, r.text
    with db.session() as s:
        assert sorted(c.concept for c in s.query(LabelClaim).all()) == ["colour=red", "colour=red"]
    bad = dict(doc, labels=[dict(doc["labels"][0], claims=["x"] * 9)])
    r = make_app("fresh2", sample=False).client().post(
        "/api/import/project", params={"allow_missing_units": True}, json=bad)
    assert r.status_code == 422 and "claims" in r.json()["detail"]
