"""The compute pipeline end to end on a tiny model: records stored, resumable, idempotent, bad input."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image
from sqlalchemy import func, select

from circuitscope.compute.config import RunConfigError, load_run_file, parse_run_config
from circuitscope.compute.pipeline import Cancelled, run_compute
from circuitscope.models.base import UnknownLayerError
from circuitscope.store import BlobStore, Database
from circuitscope.store.tables.records import Connection, DatasetExample, FeatureVis, Layer, LayerStage, Run, Unit
from support.paths import TINY_MODELS

# top-k and bottom-k rows (the examples across the distribution are counted separately: kind "quantile")
TOP_BOTTOM = DatasetExample.kind.in_(("top", "bottom"))

FACTORY = {"kind": "factory", "target": f"{TINY_MODELS}:tiny_cnn", "input_size": 32}


def config(**over):
    base = {
        "model": FACTORY,
        "model_slug": "tiny",
        "dataset": {"kind": "concepts", "size": 96, "seed": 3},
        "layers": ["0", "2", "5"],
        "examples": {"k": 4, "batch_size": 32},
        "featurevis": {"steps": 4, "size": 32, "batch_channels": 8, "diversity_n": 2},
        "weights": {"top_n": 5},
    }
    base.update(over)
    return parse_run_config(base)


def counts(db):
    with db.session() as s:
        got = {t.__name__: s.scalar(select(func.count()).select_from(t)) for t in (Unit, FeatureVis, Connection)}
        got["DatasetExample"] = s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM))
        got["QuantileExample"] = s.scalar(select(func.count()).select_from(DatasetExample).where(~TOP_BOTTOM))
        return got


def test_pipeline_stores_every_record_and_second_run_changes_nothing(settings):
    db = Database(settings.sqlalchemy_url)
    result = run_compute(config(), settings, db, show_progress_bars=False)
    assert result.layers == ["0", "2", "5"]
    got = counts(db)
    units = 8 + 12 + 16
    per_unit_renders = 1 + 1 + 1 + 2  # channel, neuron, negative, 2 diversity
    assert got == {"Unit": units, "DatasetExample": units * 4 * 2, "FeatureVis": units * per_unit_renders,
                   "Connection": got["Connection"], "QuantileExample": got["QuantileExample"]}
    assert 0 < got["QuantileExample"] <= units * 10 * 5  # up to 5 per decile (examples across the distribution)
    assert got["Connection"] >= 12 * 5  # top-5 incoming of every unit of layer 2 at least
    blobs = BlobStore(settings.blob_dir)
    with db.session() as s:
        unit = s.scalar(select(Unit).join(Layer).where(Layer.name == "2", Unit.index == 3))
        assert unit.mean is not None and 0 <= unit.sparsity <= 1 and unit.histogram["counts"]
        tops = s.scalars(select(DatasetExample).where(DatasetExample.unit_id == unit.id, DatasetExample.kind == "top")
                         .order_by(DatasetExample.rank)).all()
        assert [t.activation for t in tops] == sorted([t.activation for t in tops], reverse=True)
        assert unit.top_activation == pytest.approx(tops[0].activation)
        for ex in tops:
            assert blobs.path(ex.crop_hash).exists() and blobs.path(ex.heatmap_hash).exists()
        direct = s.scalars(select(Connection).where(Connection.dst_unit_id == unit.id)).all()
        assert direct and all(c.kind == "direct" for c in direct)
        stages = s.scalars(select(LayerStage)).all()
        assert {(st.stage, st.status) for st in stages} >= {("examples", "done"), ("featurevis", "done")}
        ids_before = sorted(s.scalars(select(FeatureVis.id)))
        fvs = s.scalars(select(FeatureVis)).all()
        assert all(f.peak is not None for f in fvs)  # the render's spatial max, to compare with dataset examples
        assert all(f.peak >= f.activation - 1e-5 for f in fvs if f.objective in ("channel", "diversity"))
    again = run_compute(config(), settings, db, show_progress_bars=False)
    assert counts(db) == got
    assert len(again.stages_skipped) == 3 + 3 + 2  # examples, featurevis for 3 layers; weights for 2 pairs
    with db.session() as s:
        assert sorted(s.scalars(select(FeatureVis.id))) == ids_before  # nothing rewritten
        assert s.scalar(select(func.count()).select_from(Run)) == 2


def test_stored_direct_weights_equal_the_conv_kernel(settings):
    import torch

    from circuitscope.models.sources import load_model

    db = Database(settings.sqlalchemy_url)
    run_compute(config(featurevis={"enabled": False}, layers=["0", "2"]), settings, db, show_progress_bars=False)
    conv = load_model(FACTORY, settings.data_dir).module[2]
    with db.session() as s:
        rows = s.execute(select(Connection, Unit.index).join(Unit, Unit.id == Connection.dst_unit_id)).all()
        assert rows
        for conn, dst_index in rows:
            src_index = s.get(Unit, conn.src_unit_id).index
            kernel = conv.weight[dst_index, src_index]
            assert torch.allclose(torch.tensor(conn.kernel), kernel, atol=1e-6)
            assert conn.strength == pytest.approx(float(kernel.sum()), abs=1e-5)


def test_cancel_keeps_finished_work_and_the_rerun_resumes(settings):
    db = Database(settings.sqlalchemy_url)

    def cancel_during_second_layer() -> bool:
        with db.session() as s:
            done = s.scalars(select(LayerStage).where(LayerStage.stage == "featurevis",
                                                      LayerStage.status == "done")).all()
        return len(done) >= 1

    with pytest.raises(Cancelled):
        run_compute(config(), settings, db, should_cancel=cancel_during_second_layer, show_progress_bars=False)
    with db.session() as s:
        assert s.scalar(select(Run.status).order_by(Run.id.desc())) == "cancelled"
        first_ids = sorted(s.scalars(select(FeatureVis.id).join(Unit).join(Layer).where(Layer.name == "0")))
        assert len(first_ids) == 8 * 5
        # no half-written unit: every unit that has renders has all of them
        per_unit = s.execute(select(FeatureVis.unit_id, func.count()).group_by(FeatureVis.unit_id)).all()
        assert all(n == 5 for _, n in per_unit)
    result = run_compute(config(), settings, db, show_progress_bars=False)
    assert "featurevis:0" in result.stages_skipped and "examples:0" in result.stages_skipped
    with db.session() as s:
        assert sorted(s.scalars(select(FeatureVis.id).join(Unit).join(Layer).where(Layer.name == "0"))) == first_ids
    assert counts(db)["FeatureVis"] == (8 + 12 + 16) * 5


def test_killed_process_resumes(tmp_path):
    """SIGKILL a `circuitscope compute` mid-run; the same command finishes without redoing finished layers."""
    env = {**os.environ, "CIRCUITSCOPE_DATA_DIR": str(tmp_path / "data")}
    run_file = tmp_path / "run.toml"
    run_file.write_text(
        f'layers = ["0", "2", "5"]\nmodel_slug = "tiny"\n'
        f'model = {{ kind = "factory", target = "{TINY_MODELS}:tiny_cnn", input_size = 32 }}\n'
        'dataset = { kind = "concepts", size = 96, seed = 3 }\n'
        '[examples]\nk = 3\n[featurevis]\nsteps = 40\nsize = 32\nbatch_channels = 4\nobjectives = ["channel"]\n'
    )
    cmd = [sys.executable, "-m", "circuitscope.cli", "compute", str(run_file)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = Database(f"sqlite:///{tmp_path / 'data' / 'circuitscope.db'}", run_migrations=False)
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            with db.session() as s:
                n = s.scalar(select(func.count()).select_from(FeatureVis))
        except Exception:
            continue
        if n and n >= 8:  # the first layer's renders are stored, more are being computed
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with db.session() as s:
        before = {fid for fid in s.scalars(select(FeatureVis.id))}
        assert 0 < len(before) < 36
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with db.session() as s:
        after = set(s.scalars(select(FeatureVis.id)))
        assert before <= after and len(after) == 36  # earlier renders kept, not recomputed
        assert s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM)) == 36 * 3 * 2


def test_unknown_layer_fails_before_any_work_and_lists_valid_names(settings):
    db = Database(settings.sqlalchemy_url)
    with pytest.raises(UnknownLayerError) as err:
        run_compute(config(layers=["0", "conv9"]), settings, db, show_progress_bars=False)
    assert "conv9" in str(err.value) and "'0'" in str(err.value) or "0," in str(err.value)
    assert counts(db)["Unit"] == 0


def test_corrupt_images_are_skipped_counted_and_reported(settings, tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for i in range(6):
        Image.new("RGB", (40, 30), (i * 40, 100, 200 - i * 30)).save(root / f"img{i}.png")
    Image.new("L", (20, 20), 128).save(root / "gray.png")
    Image.new("RGBA", (20, 20), (255, 0, 0, 100)).save(root / "rgba.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    db = Database(settings.sqlalchemy_url)
    result = run_compute(config(dataset={"kind": "folder", "root": str(root)}, featurevis={"enabled": False}),
                         settings, db, show_progress_bars=False)
    assert [r for r, _ in result.skipped_images] == ["broken.jpg"]
    with db.session() as s:
        summary = s.scalar(select(Run.summary).order_by(Run.id.desc()))
        assert summary["skipped_count"] == 1 and summary["skipped_images"][0]["ref"] == "broken.jpg"
        # k=4 of 8 readable images per unit: gray and rgba images are among the candidates
        assert s.scalar(select(func.count()).select_from(DatasetExample).where(TOP_BOTTOM)) == (8 + 12 + 16) * 4 * 2


def test_run_file_with_an_unknown_key_is_refused(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('layers = ["a"]\nmodel = { kind = "demo" }\ndataset = { kind = "concepts" }\n'
                    '[featurevis]\nstepz = 3\n')
    with pytest.raises(RunConfigError, match="unknown key 'featurevis.stepz'"):
        load_run_file(path)
    path.write_text("layers = [")
    with pytest.raises(RunConfigError, match="not valid TOML"):
        load_run_file(path)


def test_a_layer_reads_partial_while_its_run_has_stages_left(settings):
    """Issue 14: a layer whose examples are done but whose renders are not yet must not read "done"."""
    from circuitscope.store.queries import list_models

    db = Database(settings.sqlalchemy_url)
    seen: list[tuple[str, float, dict]] = []

    def progress(stage, layer, done, total):
        if stage == "weights" and not seen:  # examples are stored, weights and renders not yet
            with db.session() as s:
                m = list_models(s)[0]
                first = next(lyr for lyr in m["layers"] if lyr["name"] == "0")
                seen.append((m["status"], m["progress"], first))

    run_compute(config(), settings, db, progress=progress, show_progress_bars=False)
    status, progress_value, first = seen[0]
    assert status != "done" and progress_value < 1.0, seen
    assert first["status"] != "done" and first["stages"]["featurevis"]["status"] == "pending", first
    with db.session() as s:
        m = list_models(s)[0]
    assert m["status"] == "done" and m["progress"] == 1.0
