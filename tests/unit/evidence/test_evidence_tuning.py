"""Tuning curves: a hand-set oriented Gabor peaks at its own orientation (in the concept dataset's convention),
a red-minus-others unit peaks at red hue; the API and CLI answer in the documented shape; bad input gets a
422 naming the valid choices (uncomputed layer, a stimulus the generator cannot make)."""
from __future__ import annotations

import json
import sys

import pytest
from fastapi.testclient import TestClient

from circuitscope.evidence import stimuli as st
from circuitscope.evidence.tuning import LayerProber, tuning_curve
from circuitscope.models.base import LoadedModel
from support.paths import MODEL_SOURCES

sys.path.insert(0, str(MODEL_SOURCES))
import evidence_models as em  # noqa: E402


def circular_gap(a: float, b: float, period: float) -> float:
    d = (a - b) % period
    return min(d, period - d)


@pytest.fixture(scope="module")
def prober():
    model = LoadedModel("gabor", em.gabor_net().eval(), input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    return LayerProber(model, "1")


@pytest.mark.parametrize("channel", range(len(em.ORIENTATIONS)))
def test_gabor_orientation_peaks_within_15_degrees(prober, channel):
    curve = tuning_curve(prober, channel, "orientation")
    assert curve["values"][0] == 0 and curve["values"][-1] == 355 and len(curve["responses"]) == 72
    kind = curve["stimulus"]["kind"]
    # a Gabor's stripes repeat every 180 deg; an edge reports the boundary direction, same axis
    assert kind in ("grating", "stripes", "line", "edge"), curve["stimulus"]
    assert circular_gap(curve["preferred"], em.ORIENTATIONS[channel], 180) <= 15, curve["preferred"]
    # and the curve is tuned: the orthogonal orientation answers much less than the preferred one
    orth = curve["values"].index((round(curve["preferred"]) + 90) % 360)
    assert curve["responses"][orth] < 0.5 * curve["preferred_response"]


def test_gabor_preferred_frequency_is_its_wavelength(prober):
    curve = tuning_curve(prober, 0, "frequency")
    cycles = 64 / em.WAVELENGTH  # 8 cycles per image width
    assert cycles / 1.5 <= curve["preferred"] <= cycles * 1.5, curve


def test_red_unit_prefers_red_hue(prober):
    red = len(em.ORIENTATIONS)
    curve = tuning_curve(prober, red, "hue")
    assert circular_gap(curve["preferred"], 0.0, 360) <= 20, curve
    green = curve["values"].index(120.0)
    assert curve["responses"][green] < 0.1 * curve["preferred_response"]


def test_asked_for_edges_follow_the_same_convention(prober):
    curve = tuning_curve(prober, 0, "orientation", kind="edge")
    assert curve["stimulus"]["kind"] == "edge"
    assert circular_gap(curve["preferred"], em.ORIENTATIONS[0], 180) <= 15, curve["preferred"]


def test_stimulus_the_generator_cannot_make(prober):
    with pytest.raises(st.StimulusError) as err:
        tuning_curve(prober, 0, "curvature", kind="grating")
    assert "Valid stimuli for curvature: auto, curve" in str(err.value)
    with pytest.raises(st.StimulusError) as err:
        tuning_curve(prober, 0, "texture")
    assert "orientation, curvature, hue, frequency, rotation" in str(err.value)


# ------------------------------------------------------------------------------------------------ API
@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """The Gabor net computed through the real pipeline (examples only) on a few concept images."""
    return em.compute_gabor_world(tmp_path_factory.mktemp("tuning"))


@pytest.fixture(scope="module")
def client(computed):
    from circuitscope.api.app import create_app

    settings, db = computed
    return TestClient(create_app(settings, db=db))


def test_api_tuning_curve(client):
    r = client.get("/api/evidence/tuning/gabor/1/1", params={"param": "orientation"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"param", "values", "responses", "preferred", "convention"} <= set(body)
    assert body["param"] == "orientation" and "degrees" in body["convention"]
    assert circular_gap(body["preferred"], em.ORIENTATIONS[1], 180) <= 15


def test_api_rotation_uses_the_top_example(client):
    r = client.get("/api/evidence/tuning/gabor/1/0", params={"param": "rotation"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stimulus"]["kind"] == "dataset" and body["stimulus"]["example"].startswith("concepts/")
    # unrotated, the stored example gives (up to lossy image storage) its stored activation
    assert body["responses"][0] == pytest.approx(body["stimulus"]["stored_activation"], rel=0.15)
    assert body["preferred"] is not None


def test_api_bad_input_is_422_naming_choices(client, computed):
    r = client.get("/api/evidence/tuning/gabor/1/0", params={"param": "curvature", "stimulus": "grating"})
    assert r.status_code == 422 and "Valid stimuli for curvature: auto, curve" in r.json()["detail"]
    r = client.get("/api/evidence/tuning/gabor/1/0", params={"param": "texture"})
    assert r.status_code == 422 and "orientation" in r.json()["detail"] and "rotation" in r.json()["detail"]
    # a layer the model has but that was not computed
    from circuitscope.store.tables.records import Layer, Model

    settings, db = computed
    with db.session() as s:
        m = s.query(Model).filter_by(slug="gabor").one()
        if not s.query(Layer).filter_by(model_id=m.id, name="0").first():
            s.add(Layer(model_id=m.id, name="0", position=0, module_type="Conv2d", output_shape=[4, 64, 64],
                        channels=4))
    r = client.get("/api/evidence/tuning/gabor/0/0")
    assert r.status_code == 422, r.text
    assert "not computed" in r.json()["detail"] and r.json()["computed_layers"] == ["1"]
    r = client.get("/api/evidence/tuning/gabor/nope/0")
    assert r.status_code == 404 and "Layers:" in r.json()["detail"]
    r = client.get("/api/evidence/tuning/gabor/1/99")
    assert r.status_code == 404 and "between 0 and 3" in r.json()["detail"]


def test_layer_job_precomputes_every_unit(client, computed):
    from circuitscope.jobs.worker import JobRunner

    settings, db = computed
    r = client.post("/api/evidence/tuning/gabor/1/job", json={"params": ["orientation", "hue"]})
    assert r.status_code == 201, r.text
    r_bad = client.post("/api/evidence/tuning/gabor/0/job", json={})
    assert r_bad.status_code == 422 and "not computed" in r_bad.json()["detail"]
    assert JobRunner(settings, db).run_one() == r.json()["id"]
    job = client.get(f"/api/jobs/{r.json()['id']}").json()
    assert job["status"] == "done", job
    body = client.get("/api/evidence/tuning/gabor/1/2", params={"param": "orientation"}).json()
    assert body.get("precomputed") and circular_gap(body["preferred"], em.ORIENTATIONS[2], 180) <= 15
    hue = client.get(f"/api/evidence/tuning/gabor/1/{len(em.ORIENTATIONS)}", params={"param": "hue"}).json()
    assert hue.get("precomputed") and circular_gap(hue["preferred"], 0.0, 360) <= 20


def test_tuning_depth_tells_a_tuned_unit_from_an_untuned_one(prober):
    gabor = tuning_curve(prober, 0, "orientation")
    red = tuning_curve(prober, len(em.ORIENTATIONS), "orientation")
    assert gabor["depth"] > 0.5
    assert red["depth"] < 0.1  # a colour unit barely cares about the orientation of a red grating


def test_cli_prints_the_documented_json(computed, monkeypatch):
    from typer.testing import CliRunner

    from circuitscope.cli import app
    from circuitscope.settings import get_settings

    settings, _ = computed
    monkeypatch.setenv("CIRCUITSCOPE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["tuning", "gabor", "1", "0", "--param", "orientation", "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert {"param", "values", "responses", "preferred", "convention"} <= set(doc)
        assert "degrees" in doc["convention"] and len(doc["values"]) == len(doc["responses"]) == 72
        assert circular_gap(doc["preferred"], em.ORIENTATIONS[0], 180) <= 15
        bad = CliRunner().invoke(app, ["tuning", "gabor", "1", "0", "--param", "curvature", "--stimulus", "grating"])
        assert bad.exit_code == 2 and "Valid stimuli for curvature: auto, curve" in bad.output
        text = CliRunner().invoke(app, ["tuning", "gabor", "1", "0", "--param", "hue"])
        assert text.exit_code == 0 and "<- preferred" in text.output
    finally:
        get_settings.cache_clear()


def test_concurrent_probers_of_one_model_do_not_disturb_each_other():
    """Hooks live on the shared module: traced forwards of two layers at once must not stop each other."""
    from concurrent.futures import ThreadPoolExecutor

    model = LoadedModel("gabor", em.gabor_net().eval(), input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    pre, post = LayerProber(model, "0"), LayerProber(model, "1")
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(tuning_curve, p, c, "orientation") for c in range(3) for p in (pre, post)]
        results = [j.result(timeout=300) for j in jobs]
    for k, c in enumerate(range(3)):
        for r in results[2 * k:2 * k + 2]:
            assert circular_gap(r["preferred"], em.ORIENTATIONS[c], 180) <= 15
