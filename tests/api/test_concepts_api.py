"""Concept scores through the pipeline and the API: stored per unit, ranked in the unit JSON, a layer's
best concepts and summary, search by concept and AUC, adopting a suggested label (recorded as an
accepted suggestion), and the bad inputs: a dataset without concepts says so, a bad tags CSV is
refused with its first problem and nothing is stored."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from circuitscope.annotate import users as users_svc
from circuitscope.annotate.sample import build_sample
from circuitscope.api.app import create_app
from circuitscope.compute.config import RunConfigError, parse_run_config
from circuitscope.compute.pipeline import run_compute
from circuitscope.concepts.store import write_layer_concepts, write_no_concepts
from circuitscope.concepts.tags_csv import TagsCsvError, parse_tags_csv
from circuitscope.concepts.tally import ConceptTallies
from circuitscope.settings import Settings
from circuitscope.store import BlobStore, Database
from circuitscope.store.tables.annotation import LabelRevision
from circuitscope.store.tables.concepts import LayerConcepts, UnitConcept
from circuitscope.store.tables.records import Layer, Run, Unit
from support.paths import TINY_MODELS

FACTORY = {"kind": "factory", "target": f"{TINY_MODELS}:tiny_cnn", "input_size": 32}


def run_config(**over):
    base = {"model": FACTORY, "model_slug": "tiny", "dataset": {"kind": "concepts", "size": 64, "seed": 3},
            "layers": ["0", "2"], "examples": {"k": 2, "batch_size": 32},
            "featurevis": {"enabled": False}, "weights": {"enabled": False}}
    base.update(over)
    return parse_run_config(base)


# ---------------------------------------------------------------------------------------- pipeline
def test_pipeline_stores_ranked_concepts_and_the_unit_json_carries_them(settings):
    db = Database(settings.sqlalchemy_url)
    run_compute(run_config(), settings, db, show_progress_bars=False)
    with db.session() as s:
        n_units = s.scalar(select(func.count()).select_from(Unit))
        rows = s.scalar(select(func.count()).select_from(UnitConcept))
        lc = s.scalars(select(LayerConcepts)).all()
    assert n_units > 0 and rows > 0
    assert {row.status for row in lc} == {"scored"} and all(row.images == 64 for row in lc)
    client = TestClient(create_app(settings, db=db))
    unit = client.get("/api/models/tiny/layers/0/units/0").json()
    concepts = unit["concepts"]
    assert concepts and [c["auc"] for c in concepts] == sorted((c["auc"] for c in concepts), reverse=True)
    assert {"concept", "auc", "diff", "auc_err", "n_with"} <= set(concepts[0])
    assert unit["concept_status"]["status"] == "scored" and unit["concept_status"]["source"] == "attributes"
    layer = client.get("/api/models/tiny/layers/0/concepts").json()
    assert len(layer["units"]) == layer["channels"] and layer["concept_status"]["status"] == "scored"
    db.dispose()


def test_a_dataset_without_attributes_or_classes_says_so(settings, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(12):  # images at the root: no class subfolders, no attributes
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    db = Database(settings.sqlalchemy_url)
    run_compute(run_config(dataset={"kind": "folder", "root": str(root)}), settings, db, show_progress_bars=False)
    client = TestClient(create_app(settings, db=db))
    unit = client.get("/api/models/tiny/layers/0/units/0").json()
    assert unit["concepts"] is None  # not an empty list that would read as "selective for nothing"
    assert unit["concept_status"]["status"] == "none"
    assert "no concepts" in unit["concept_status"]["reason"] and "tags CSV" in unit["concept_status"]["reason"]
    layer = client.get("/api/models/tiny/layers/0/concepts").json()
    assert layer["concept_status"]["status"] == "none" and layer["units"] == []
    db.dispose()


def test_class_subfolders_and_a_tags_csv_become_concepts(settings, tmp_path):
    root = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            arr = np.random.default_rng(i + (cls == "dog") * 100).integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i}.png")
    tags = tmp_path / "tags.csv"
    tags.write_text("image,tags\ncat/0.png,striped;indoor\ndog/3.png,indoor\n")
    db = Database(settings.sqlalchemy_url)
    run_compute(run_config(dataset={"kind": "folder", "root": str(root)}, examples={"k": 2, "concept_tags": str(tags)}),
                settings, db, show_progress_bars=False)
    with db.session() as s:
        row = s.scalars(select(LayerConcepts)).first()
        names = {c["concept"]: c["n_with"] for c in row.concepts}
    assert row.source == "classes+tags"
    assert names == {"class=cat": 6, "class=dog": 6, "tag=indoor": 2, "tag=striped": 1}
    db.dispose()


@pytest.mark.parametrize("text, problem", [
    ("image,tags\ncat/0.png,striped\nnope/9.png,indoor\n", "line 3: image 'nope/9.png' is not in the dataset"),
    ("image,tags\ncat/0.png,striped,extra\n", "line 2: expected 2 fields"),
    ("file,label\ncat/0.png,striped\n", "line 1: the header must be exactly"),
    ("image,tags\ncat/0.png,\n", "line 2: image 'cat/0.png' has no tags"),
    ("image,tags\ncat/0.png,<script>\n", "line 2: tag '<script>' is not allowed"),
    ("", "is empty"),
    ("image,tags\n", "has a header but no rows"),
])
def test_a_bad_tags_csv_is_refused_with_its_first_problem(text, problem):
    class Refs:
        def __len__(self):
            return 2

        def ref(self, i):
            return ["cat/0.png", "dog/1.png"][i]

    with pytest.raises(TagsCsvError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_tags_csv(text, Refs())


def test_a_run_with_a_bad_tags_csv_stores_nothing(settings, tmp_path):
    tags = tmp_path / "tags.csv"
    tags.write_text("image,tags\nconcepts/000001,red\nconcepts/999999,blue\n")
    db = Database(settings.sqlalchemy_url)
    with pytest.raises(RunConfigError, match="line 3: image 'concepts/999999' is not in the dataset"):
        run_compute(run_config(examples={"concept_tags": str(tags)}), settings, db, show_progress_bars=False)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 0
        assert s.scalar(select(func.count()).select_from(UnitConcept)) == 0
    db.dispose()


# ---------------------------------------------------------------------------------------- API on a sample
@pytest.fixture
def sample(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", local_user=None)
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with db.session() as s:
        build_sample(s, BlobStore(settings.blob_dir))
        layers = {l.name: l for l in s.scalars(select(Layer))}
        first, second = sorted(layers.values(), key=lambda l: l.position)[:2]
        units = {u.index: u for u in s.scalars(select(Unit).where(Unit.layer_id == first.id))}
        # unit 0 fires on "orientation=45" images only; the others are noise
        tally = ConceptTallies(["orientation=45", "colour=red"], len(units), bins=64)
        g = torch.Generator().manual_seed(0)
        m = torch.rand(400, 2, generator=g) < 0.3
        v = torch.rand(400, len(units), generator=g)
        v[:, 0] += 2 * m[:, 0].float()
        tally.update(v, m)
        write_layer_concepts(s, first.id, None, units, tally, "attributes")
        write_no_concepts(s, second.id, None, {u.index: u for u in s.scalars(select(Unit).where(
            Unit.layer_id == second.id))})
        u = users_svc.create_user(s, "alice", "annotator", "secret-alice")
        token = users_svc.create_token(s, u, "t")[1]
        v2 = users_svc.create_user(s, "vera", "viewer", "secret-vera")
        viewer = users_svc.create_token(s, v2, "t")[1]
        names = (first.name, second.name)
    client = TestClient(create_app(settings, db=db))
    yield client, db, names, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {viewer}"}
    db.dispose()


def test_unit_json_layer_summary_and_search(sample):
    client, _, (first, second), _, _ = sample
    unit = client.get(f"/api/models/toy/layers/{first}/units/0").json()
    assert unit["concepts"][0]["concept"] == "orientation=45" and unit["concepts"][0]["auc"] > 0.95
    assert unit["suggested_label"]["label"].startswith("orientation ≈ 45")
    assert client.get(f"/api/models/toy/layers/{first}/units/1").json()["suggested_label"] is None
    none = client.get(f"/api/models/toy/layers/{second}/units/0").json()
    assert none["concepts"] is None and none["concept_status"]["status"] == "none"
    summary = client.get(f"/api/models/toy/layers/{first}/concepts").json()
    assert summary["by_concept"] == [{"concept": "orientation=45", "display": "orientation ≈ 45°", "units": 1}]
    assert summary["selective_units"] == 1 and summary["units"][0]["concept"] == "orientation=45"
    found = client.get("/api/search", params={"concept": "orientation=45", "min_auc": 0.9, "model": "toy"}).json()
    assert [(r["layer"], r["index"]) for r in found["results"]] == [(first, 0)]
    assert found["results"][0]["concept"]["auc"] > 0.95
    kind = client.get("/api/search", params={"concept": "orientation", "min_auc": 0.9, "layer": first}).json()
    assert kind["total"] == 1
    loose = client.get("/api/search", params={"concept": "colour=red", "min_auc": 0.0}).json()
    assert loose["total"] >= 1
    bad = client.get("/api/search", params={"concept": "colour=chartreuse"})
    assert bad.status_code == 422 and "colour=red" in bad.json()["detail"]
    mixed = client.get("/api/search", params={"concept": "colour=red", "q": "edge"})
    assert mixed.status_code == 422
    missing = client.get("/api/models/toy/layers/nope/concepts")
    assert missing.status_code == 404


def test_adopting_a_suggestion_records_it_in_the_history(sample):
    client, db, (first, _), alice, vera = sample
    url = f"/api/labels/toy/{first}/0/adopt-suggestion"
    assert client.post(url, json={"version": None}, headers=vera).status_code == 403
    r = client.post(url, json={"version": None}, headers=alice)
    assert r.status_code == 200, r.text
    label = r.json()["label"]
    assert label["label"].startswith("orientation ≈ 45") and "AUC" in label["description"]
    with db.session() as s:
        rev = s.scalars(select(LabelRevision).where(LabelRevision.label_id == label["id"])).one()
        assert rev.action == "accept_suggestion"
        assert rev.snapshot["source"]["concepts"] == ["orientation=45"]
    history = client.get(f"/api/labels-by-id/{label['id']}/history").json()
    assert history[0]["action"] == "accept_suggestion"
    # a unit without a clear concept has nothing to adopt: 422 with the reason, nothing stored
    r = client.post(f"/api/labels/toy/{first}/1/adopt-suggestion", json={"version": None}, headers=alice)
    assert r.status_code == 422 and "no suggested label" in r.json()["detail"]


# ---------------------------------------------------------------------------------------- jobs API
def test_jobs_api_confines_and_checks_the_tags_csv(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data}/db.sqlite")
    client = TestClient(create_app(Settings(data_dir=data, allowed_roots=[root]), db))
    body = {"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 20}, "layers": ["conv1"]}
    outside = tmp_path / "tags.csv"
    outside.write_text("image,tags\nconcepts/000001,x\n")
    r = client.post("/api/jobs", json={**body, "examples": {"concept_tags": str(outside)}})
    assert r.status_code == 403 and "outside the allowed folders" in r.json()["detail"]
    bad = root / "bad.csv"
    bad.write_text("image;tags\nconcepts/000001;x\n")
    r = client.post("/api/jobs", json={**body, "examples": {"concept_tags": str(bad)}})
    assert r.status_code == 422 and "line 1: the header must be exactly" in r.json()["detail"]
    good = root / "good.csv"
    good.write_text("image,tags\nconcepts/000001,x\n")
    assert client.post("/api/jobs", json={**body, "examples": {"concept_tags": str(good)}}).status_code == 201
    client.close()
    db.dispose()
