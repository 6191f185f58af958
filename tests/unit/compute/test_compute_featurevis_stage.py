"""The feature-vis stage of a run: fidelity stored and flagged, idempotent re-runs, and a setting change
re-renders only what it changes."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from circuitscope.compute.config import parse_run_config
from circuitscope.compute.pipeline import run_compute
from circuitscope.records.featurevis.fidelity import WEAK
from circuitscope.store import Database
from circuitscope.store.tables.records import FeatureVis, Layer, Unit
from support.paths import TINY_MODELS

FACTORY = {"kind": "factory", "target": f"{TINY_MODELS}:tiny_cnn", "input_size": 32}


def config(**fv):
    return parse_run_config({
        "model": FACTORY, "model_slug": "tiny", "dataset": {"kind": "concepts", "size": 64, "seed": 3},
        "layers": ["0", "2"], "examples": {"k": 3, "batch_size": 32}, "weights": {"enabled": False},
        "featurevis": {"steps": 6, "batch_channels": 8, "diversity_n": 2, "objectives": ["channel", "neuron"], **fv},
    })


def rows(db):
    with db.session() as s:
        return {(r.unit_id, r.objective, r.variant): (r.id, r.params) for r in s.scalars(select(FeatureVis))}


def test_fidelity_is_stored_flagged_and_reruns_render_only_what_changed(settings):
    db = Database(settings.sqlalchemy_url)
    result = run_compute(config(), settings, db, show_progress_bars=False)
    with db.session() as s:
        fvs = s.execute(select(FeatureVis, Unit, Layer.name).join(Unit, FeatureVis.unit_id == Unit.id)
                        .join(Layer, Unit.layer_id == Layer.id)).all()
        assert len(fvs) == (8 + 12) * 2
        for fv, unit, _layer in fvs:
            assert unit.top_activation and unit.top_activation > 0
            assert fv.fidelity == pytest.approx(fv.peak / unit.top_activation, rel=1e-6)
        # layer "0" is a bare conv: linear in the input, so its weak channel renders say why
        notes = {fv.note for fv, _u, layer in fvs if layer == "0" and fv.objective == "channel" and fv.fidelity < WEAK}
        assert all(n and n.startswith(("linear unit", "not converged")) for n in notes)
    summary = result.fidelity
    assert summary["overall"]["units"] == 20 and set(summary["layers"]) == {"0", "2"}
    assert 0 <= summary["overall"]["at_least_half"] <= 1

    # The API the unit page, the layer grid and the model page read.
    from circuitscope.api.app import create_app

    with TestClient(create_app(settings, db)) as client:
        m = client.get("/api/models/tiny/fidelity").json()
        assert m["overall"]["units"] == 20 and m["weak_below"] == WEAK
        lay = client.get("/api/models/tiny/layers/0/fidelity").json()
        assert [u["index"] for u in lay["units"]] == list(range(8))
        unit = client.get("/api/models/tiny/layers/2/units/3/fidelity").json()
        assert {r["objective"] for r in unit["renders"]} == {"channel", "neuron"}
        assert client.get("/api/models/tiny/layers/nope/fidelity").status_code == 404
        assert "layers: 0, 1, 2" in client.get("/api/models/tiny/layers/nope/fidelity").json()["detail"]

    # A re-run with the same settings rewrites nothing.
    before = rows(db)
    again = run_compute(config(), settings, db, show_progress_bars=False)
    assert rows(db) == before and {"featurevis:0", "featurevis:2"} <= set(again.stages_skipped)

    # Adding an objective renders only the new one; the others keep their rows.
    run_compute(config(objectives=["channel", "neuron", "negative"]), settings, db, show_progress_bars=False)
    after = rows(db)
    assert {k: v for k, v in after.items() if k[1] != "negative"} == before
    assert sum(k[1] == "negative" for k in after) == 20

    # Changing a setting of every objective (steps) re-renders all of them.
    run_compute(config(objectives=["channel", "neuron", "negative"], steps=7), settings, db, show_progress_bars=False)
    final = rows(db)
    assert all(final[k][1]["steps"] == 7 for k in final) and len(final) == 60


def test_one_weak_render_is_flagged_with_the_reason(settings):
    """One step from grey: far below the top example, and the stage knows it stopped unconverged."""
    db = Database(settings.sqlalchemy_url)
    run_compute(config(steps=1, objectives=["channel"]), settings, db, show_progress_bars=False)
    with db.session() as s:
        weak = s.scalars(select(FeatureVis).where(FeatureVis.fidelity < WEAK)).all()
        assert weak, "a 1-step render should be weak"
        assert all(f.note for f in weak)
