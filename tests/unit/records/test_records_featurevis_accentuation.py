"""Feature accentuation: a render started from a unit's top dataset example, held near it.

It must excite the unit more than its start image does, stay close to the start image (a bounded RMS
change, which the regularizer is what keeps: without it the image wanders much further), be stored and
shown like the other renders, and re-render only when its own setting changes.
"""
from __future__ import annotations

import pytest
import torch
from sqlalchemy import select

from circuitscope.compute.config import parse_run_config
from circuitscope.compute.pipeline import run_compute
from circuitscope.datasets import build_dataset
from circuitscope.datasets.loader import iterate_batches, model_transform
from circuitscope.models.base import LoadedModel
from circuitscope.records.featurevis import decode_image, measure_peaks, render_feature_vis
from circuitscope.store import Database
from circuitscope.store.tables.records import DatasetExample, FeatureVis, Layer, Unit
from support.paths import TINY_MODELS

SIZE = 32


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_models", TINY_MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the pipeline tests' factory model
    return LoadedModel("tiny", module.tiny_cnn().eval(), input_size=SIZE)


@pytest.fixture(scope="module")
def top_examples(model):
    """Per channel of layer '5' (conv -> ReLU after a pool), its best image among 96 concept images."""
    ds = build_dataset({"kind": "concepts", "size": 96, "seed": 5})
    images = torch.cat([imgs for _, imgs in iterate_batches(ds, model_transform(SIZE), 48)])
    channels = [0, 3, 6, 9, 12]
    peaks = measure_peaks(model, "5", [c for c in channels for _ in range(len(images))],
                          images.repeat(len(channels), 1, 1, 1)).reshape(len(channels), len(images))
    return {c: images[int(peaks[i].argmax())] for i, c in enumerate(channels)}


def accentuate(model, starts, weight, steps=48):
    return list(render_feature_vis(model, "5", list(starts), objectives=("accentuation",), steps=steps,
                                   style="fast", starts=starts, accentuation_weight=weight, seed=0))


def test_accentuation_raises_the_unit_above_its_start_image_and_stays_near_it(model, top_examples):
    records = accentuate(model, top_examples, weight=1.0)
    assert [r.channel for r in records] == list(top_examples)
    for r in records:
        image = decode_image(r.image_webp)
        start_peak = float(measure_peaks(model, "5", [r.channel], top_examples[r.channel][None])[0])
        assert r.start_peak == pytest.approx(start_peak, rel=1e-3, abs=1e-4)
        assert r.peak == pytest.approx(float(measure_peaks(model, "5", [r.channel], image[None])[0]), rel=1e-4)
        assert r.activation == r.peak  # accentuation reports the spatial max, the dataset examples' measure
        assert r.peak >= 1.2 * r.start_peak, (r.channel, r.peak, r.start_peak)
        rms = float((image - top_examples[r.channel]).pow(2).mean().sqrt())
        assert r.distance == pytest.approx(rms, abs=2e-3)  # the start is stored 8-bit: rounding only
        assert rms <= 0.12, (r.channel, rms)


def test_the_distance_penalty_is_what_keeps_it_near_the_start(model, top_examples):
    held = {r.channel: r for r in accentuate(model, top_examples, weight=1.0)}
    free = {r.channel: r for r in accentuate(model, top_examples, weight=0.0)}
    tight = {r.channel: r for r in accentuate(model, top_examples, weight=10.0)}
    for c in top_examples:
        assert tight[c].distance < held[c].distance < free[c].distance
    assert sum(r.distance for r in free.values()) > 1.3 * sum(r.distance for r in held.values())
    assert sum(r.peak for r in free.values()) > sum(r.peak for r in tight.values())


def test_accentuation_batched_with_other_objectives_matches_alone(model, top_examples):
    """Its own parameter tensor in the shared batch: the same image as rendered alone (no early stop: 12 steps)."""
    alone = accentuate(model, top_examples, weight=1.0, steps=12)
    both = list(render_feature_vis(model, "5", list(top_examples), objectives=("channel", "accentuation"), steps=12,
                                   style="lucent", starts=top_examples, seed=0))
    lucent_alone = list(render_feature_vis(model, "5", list(top_examples), objectives=("accentuation",), steps=12,
                                           style="lucent", starts=top_examples, seed=0))
    assert [(r.channel, r.objective) for r in both] == [(c, o) for c in top_examples for o in ("channel", "accentuation")]
    got = {r.channel: r for r in both if r.objective == "accentuation"}
    for r in lucent_alone:
        assert got[r.channel].peak == pytest.approx(r.peak, rel=1e-3)
    assert len(alone) == len(top_examples)


def test_accentuation_without_a_start_image_is_refused(model, top_examples):
    with pytest.raises(ValueError, match="top dataset example.*channel\\(s\\) \\[1\\]"):
        list(render_feature_vis(model, "5", [0, 1], objectives=("accentuation",), steps=2,
                                starts={0: top_examples[0]}))
    with pytest.raises(ValueError, match="accentuation_weight"):
        list(render_feature_vis(model, "5", [0], objectives=("accentuation",), steps=2,
                                starts={0: top_examples[0]}, accentuation_weight=-1))


FACTORY = {"kind": "factory", "target": f"{TINY_MODELS}:tiny_cnn", "input_size": SIZE}


def config(**fv):
    return parse_run_config({
        "model": FACTORY, "model_slug": "tiny", "dataset": {"kind": "concepts", "size": 64, "seed": 3},
        "layers": ["0", "2"], "examples": {"k": 3, "batch_size": 32}, "weights": {"enabled": False},
        "featurevis": {"steps": 12, "batch_channels": 8, "objectives": ["channel", "accentuation"], **fv},
    })


def rows(db):
    with db.session() as s:
        return {(r.unit_id, r.objective, r.variant): (r.id, r.params) for r in s.scalars(select(FeatureVis))}


def test_stage_stores_accentuation_from_the_top_example_and_reruns_only_what_changed(settings):
    db = Database(settings.sqlalchemy_url)
    run_compute(config(), settings, db, show_progress_bars=False)
    with db.session() as s:
        acc = s.execute(select(FeatureVis, Unit).join(Unit, FeatureVis.unit_id == Unit.id)
                        .where(FeatureVis.objective == "accentuation")).all()
        assert len(acc) == 8 + 12
        for fv, unit in acc:
            assert fv.params["accentuation_weight"] == 1.0 and fv.peak is not None
            if unit.top_activation and unit.top_activation > 1e-3:
                # started from the top example itself (peak = its activation), and raised from there
                assert fv.fidelity == pytest.approx(fv.peak / unit.top_activation, rel=1e-6)
                assert fv.fidelity >= 0.999, (unit.index, fv.fidelity)
        n_top = s.scalar(select(DatasetExample.id).where(DatasetExample.kind == "top").limit(1))
        assert n_top is not None

    from fastapi.testclient import TestClient

    from circuitscope.api.app import create_app

    with TestClient(create_app(settings, db)) as client:
        unit = client.get("/api/models/tiny/layers/2/units/3").json()
        kinds = {f["objective"] for f in unit["feature_vis"]}
        assert kinds == {"channel", "accentuation"}
        fid = client.get("/api/models/tiny/layers/2/units/3/fidelity").json()
        assert {r["objective"] for r in fid["renders"]} == {"channel", "accentuation"}

    before = rows(db)
    again = run_compute(config(), settings, db, show_progress_bars=False)
    assert rows(db) == before and {"featurevis:0", "featurevis:2"} <= set(again.stages_skipped)

    # Its own setting re-renders only the accentuation images.
    run_compute(config(accentuation_weight=3.0), settings, db, show_progress_bars=False)
    after = rows(db)
    assert {k: v for k, v in after.items() if k[1] == "channel"} == {k: v for k, v in before.items() if k[1] == "channel"}
    changed = [k for k in after if k[1] == "accentuation"]
    assert len(changed) == 20 and all(after[k][0] != before[k][0] for k in changed)
    assert all(after[k][1]["accentuation_weight"] == 3.0 for k in changed)
    with db.session() as s:
        assert s.scalar(select(Layer.id).where(Layer.name == "2")) is not None
