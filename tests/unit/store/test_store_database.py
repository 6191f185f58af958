"""The store on SQLite and a real PostgreSQL: migrations, version refusal, blobs, writer idempotency."""
from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from circuitscope.store import BlobStore, Database, DatabaseVersionError, writer
from circuitscope.store.base import Base
from circuitscope.store.db import alembic_config, current_revision
from circuitscope.store.tables.records import Blob, Connection, DatasetExample, FeatureVis, Unit


def png(color=(255, 0, 0), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_migrations_create_every_table(db_url):
    db = Database(db_url)
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert current_revision(db.engine) == head
    from sqlalchemy import inspect

    tables = set(inspect(db.engine).get_table_names())
    from circuitscope.store import all_tables  # noqa: F401

    assert set(Base.metadata.tables) <= tables
    Database(db_url)  # a second start is a no-op
    db.dispose()


def test_migrations_match_the_table_definitions(tmp_path):
    """Alembic autogenerate finds no difference: every table change comes with a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from circuitscope.store import all_tables  # noqa: F401

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"tables and migrations differ; run scripts/new_migration.sh: {diff}"


def test_newer_database_is_refused(db_url):
    db = Database(db_url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    db.dispose()
    with pytest.raises(DatabaseVersionError, match="newer circuitscope"):
        Database(db_url)


def test_blob_store_is_content_addressed_and_refuses_traversal(tmp_path):
    store = BlobStore(tmp_path)
    a = store.put(png())
    b = store.put(png())
    assert a.hash == b.hash and a.width == 8 and a.mime == "image/png"
    assert store.path(a.hash).read_bytes() == png()
    for bad in ["../../etc/passwd", "abc", a.hash.upper(), a.hash + "/../x"]:
        with pytest.raises(ValueError):
            store.path(bad)
    with pytest.raises(FileNotFoundError):
        store.path("0" * 64)
    with pytest.raises(ValueError):
        store.put(b"not an image")


def _fake_examples(channels, k, color):
    recs = {}
    for c in range(channels):
        recs[c] = [
            SimpleNamespace(kind=kind, rank=r, image_index=c * 10 + r, image_ref=f"img{c * 10 + r}", activation=float(r),
                            y=1, x=2, box=[0, 0, 4, 4], crop_webp=png(color), image_webp=png((0, 0, 255)),
                            heatmap_webp=png((0, r * 20, 0)))
            for kind in ("top", "bottom") for r in range(k)
        ]
    return recs


def test_writer_replaces_records_and_is_idempotent(db_url, tmp_path):
    db = Database(db_url)
    blobs = BlobStore(tmp_path / "blobs")
    infos = [SimpleNamespace(name=n, order=i, module_type="Conv2d", output_shape=(c, 4, 4), channels=c)
             for i, (n, c) in enumerate([("a", 3), ("b", 2)])]
    for _attempt in range(2):
        with db.session() as s:
            model = writer.get_or_create_model(s, "m", {"kind": "demo"}, name="m", input_size=8, mean=[0] * 3,
                                               std=[1] * 3, class_names=None)
            ds = writer.get_or_create_dataset(s, "d", {"kind": "concepts"}, 100, None)
            layers = writer.sync_layers(s, model, infos)
            ua, ub = writer.ensure_units(s, layers["a"]), writer.ensure_units(s, layers["b"])
            stats = {c: {"mean": 0.5, "max": 3.0, "quantiles": {"0.5": 0.1}} for c in range(3)}
            writer.write_layer_examples(s, blobs, ds, ua, _fake_examples(3, 2, (9, 9, 9)), stats)
            fv = [SimpleNamespace(channel=c, objective="channel", variant=0, image_webp=png((c, 1, 1)), activation=2.0)
                  for c in range(3)]
            writer.write_featurevis(s, blobs, ua, fv, {"steps": 1})
            conns = [SimpleNamespace(src_channel=i, dst_channel=j, kind="direct", strength=i - j, l2=abs(i - j) + .1,
                                     kernel=[[1.0]]) for i in range(3) for j in range(2)]
            writer.write_connections(s, ua, ub, conns + conns[:1])  # a duplicate is dropped, not an error
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Unit)) == 5
            assert s.scalar(select(func.count()).select_from(DatasetExample)) == 12
            assert s.scalar(select(func.count()).select_from(FeatureVis)) == 3
            assert s.scalar(select(func.count()).select_from(Connection)) == 6
            # 3 crops share one colour, images share one, heatmaps 2, fv 3 -> blobs deduplicated by content
            assert s.scalar(select(func.count()).select_from(Blob)) == 1 + 1 + 2 + 3
            assert units_mean(s) == {0.5}
    for h in [b.hash for b in _all_blobs(db)]:
        assert blobs.path(h).exists()
    db.dispose()


def units_mean(s):
    return {u.mean for u in s.scalars(select(Unit).where(Unit.mean.is_not(None)))}


def _all_blobs(db):
    with db.session() as s:
        return list(s.scalars(select(Blob)))


def test_failed_transaction_writes_nothing(db_url, tmp_path):
    db = Database(db_url)
    with pytest.raises(RuntimeError):
        with db.session() as s:
            writer.get_or_create_model(s, "m", {"kind": "demo"}, name="m", input_size=8, mean=[0] * 3, std=[1] * 3,
                                       class_names=None)
            raise RuntimeError("killed mid-write")
    with db.session() as s:
        from circuitscope.store.tables.records import Model

        assert s.scalar(select(func.count()).select_from(Model)) == 0
    db.dispose()
