#!/usr/bin/env python
"""Fill a circuitscope data dir with synthetic models, layers, units and records, fast (bulk inserts).

Used for the API latency benchmark (scripts/bench_api.py) and as development data for the UI: images
are real small WebP files in the blob store (smooth coloured patterns), shared by many rows.

    python scripts/gen_bench_db.py --data-dir /tmp/cs-bench                    # 100k units, 2M examples
    python scripts/gen_bench_db.py --data-dir /tmp/cs-dev --models 1 --layers 4 --channels 64   # small dev set

Then: CIRCUITSCOPE_DATA_DIR=/tmp/cs-dev circuitscope serve
Each model also gets one layer that is not computed (to see the empty state) unless --uncomputed-layers 0.
"""
from __future__ import annotations

import argparse
import io
import math
import random
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from sqlalchemy import insert  # noqa: E402

from circuitscope.settings import Settings  # noqa: E402
from circuitscope.store import (  # noqa: E402
    BlobStore,
    Database,
    all_tables,  # noqa: E402,F401
)
from circuitscope.store.tables.records import (  # noqa: E402
    Blob,
    Connection,
    Dataset,
    DatasetExample,
    DatasetImage,
    FeatureVis,
    Layer,
    LayerStage,
    Model,
    Unit,
)

CHUNK = 20_000


def _pattern(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth coloured pattern (sum of oriented gratings and a blob), uint8 HxWx3."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(3):
        theta, freq, phase = rng.uniform(0, math.pi), rng.uniform(2, 9), rng.uniform(0, 2 * math.pi)
        wave = np.sin(2 * math.pi * freq * (xx * math.cos(theta) + yy * math.sin(theta)) + phase)
        img += wave[..., None] * rng.uniform(-1, 1, size=3)
    cy, cx = rng.uniform(0.2, 0.8, size=2)
    img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)[..., None] * rng.uniform(-1.5, 1.5, size=3)
    img = (img - img.min()) / (np.ptp(img) + 1e-8)
    return (img * 255).astype(np.uint8)


def _heatmap(rng: np.random.Generator, size: int) -> np.ndarray:
    """A translucent red blob (RGBA), like an activation overlay."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.3, 0.7, size=2)
    a = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.03)
    out = np.zeros((size, size, 4), dtype=np.uint8)
    out[..., 0] = 255
    out[..., 1] = (80 * (1 - a)).astype(np.uint8)
    out[..., 3] = (200 * a).astype(np.uint8)
    return out


def _webp(arr: np.ndarray, lossless: bool) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="WEBP", lossless=lossless, quality=80, method=0)
    return buf.getvalue()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _bulk(conn, table, rows: list[dict]) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(table.__table__), rows[i:i + CHUNK])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="CIRCUITSCOPE_DATA_DIR to fill (database + blobs)")
    ap.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: sqlite in --data-dir)")
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--layers", type=int, default=25, help="computed layers per model")
    ap.add_argument("--channels", type=int, default=1000, help="units per layer")
    ap.add_argument("--k", type=int, default=10, help="top-k and bottom-k examples per unit (rows = 2k per unit)")
    ap.add_argument("--connections", type=int, default=16, help="incoming connections per unit (from the layer below)")
    ap.add_argument("--diversity", type=int, default=2, help="diversity renders per unit")
    ap.add_argument("--uncomputed-layers", type=int, default=1, help="extra layers per model with no records")
    ap.add_argument("--images", type=int, default=96, help="distinct images in the blob store (shared by rows)")
    ap.add_argument("--dataset-images", type=int, default=20_000, help="dataset_images rows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="delete an existing database/blob store in --data-dir first")
    args = ap.parse_args(argv)

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url)
    db_file = args.data_dir / "circuitscope.db"
    if args.database_url is None and db_file.exists():
        if not args.force:
            print(f"{db_file} exists; pass --force to replace it", file=sys.stderr)
            return 2
        for p in args.data_dir.glob("circuitscope.db*"):
            p.unlink()
        shutil.rmtree(settings.blob_dir, ignore_errors=True)

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    prng = random.Random(args.seed)
    db = Database(settings.sqlalchemy_url)
    blobs = BlobStore(settings.blob_dir)
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as c:
            c.exec_driver_sql("PRAGMA synchronous=OFF")

    # --- images: a pool of real WebP blobs -----------------------------------------------------------
    def put_all(arrays: list[np.ndarray], lossless: bool) -> list[str]:
        out = []
        for arr in arrays:
            s = blobs.put(_webp(arr, lossless))
            out.append(s)
        return out

    n = max(4, args.images)
    fv_blobs = put_all([_pattern(rng, 128) for _ in range(n)], lossless=True)
    crop_blobs = put_all([_pattern(rng, 64) for _ in range(n)], lossless=False)
    heat_blobs = put_all([_heatmap(rng, 64) for _ in range(max(4, n // 4))], lossless=False)
    all_blobs = {b.hash: b for b in fv_blobs + crop_blobs + heat_blobs}
    fv_h = [b.hash for b in fv_blobs]
    crop_h = [b.hash for b in crop_blobs]
    heat_h = [b.hash for b in heat_blobs]
    now = _now()

    classes = [f"class_{i:03d}" for i in range(100)]
    unit_id = 0
    counts = dict(units=0, examples=0, featurevis=0, connections=0)
    with db.engine.begin() as conn:
        _bulk(conn, Blob, [dict(hash=b.hash, size=b.size, mime=b.mime, width=b.width, height=b.height,
                                created_at=now) for b in all_blobs.values()])
        conn.execute(insert(Dataset.__table__), [dict(id=1, slug="synthetic", spec={"kind": "synthetic"},
                                                      num_images=args.dataset_images * 5, classes=classes,
                                                      created_at=now)])
        _bulk(conn, DatasetImage, [
            dict(id=i + 1, dataset_id=1, index=i * 5, ref=f"synthetic/{i * 5:07d}.png", label=i % len(classes),
                 attributes={}, image_hash=crop_h[i % len(crop_h)])
            for i in range(args.dataset_images)
        ])

    layer_id = 0
    for m in range(args.models):
        slug = f"bench{m}" if args.models > 1 else "bench"
        with db.engine.begin() as conn:
            conn.execute(insert(Model.__table__), [dict(
                id=m + 1, slug=slug, name=f"Synthetic benchmark model {m}", source={"kind": "synthetic", "seed": m},
                input_size=128, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], class_names=None,
                description="Generated by scripts/gen_bench_db.py: records are random, images are patterns.",
                created_at=now)])
        prev_ids: list[int] = []
        total_layers = args.layers + args.uncomputed_layers
        for li in range(total_layers):
            layer_id += 1
            computed = li < args.layers
            channels = args.channels
            spatial = max(1, 32 >> min(li // 5, 5))
            name = f"block{li // 5 + 1}.conv{li % 5 + 1}"
            ex_rows, fv_rows, conn_rows, unit_rows, stage_rows = [], [], [], [], []
            ids = []
            if computed:
                for c in range(channels):
                    unit_id += 1
                    ids.append(unit_id)
                    scale = float(rng.uniform(0.5, 5.0))
                    edges = list(np.linspace(-scale, 3 * scale, 41).round(4))
                    counts_h = (np.exp(-np.linspace(0, 6, 40)) * 10_000 * rng.uniform(0.5, 2)).astype(int).tolist()
                    top = round(3 * scale * float(rng.uniform(0.8, 1.0)), 4)
                    unit_rows.append(dict(
                        id=unit_id, layer_id=layer_id, index=c, mean=round(scale * 0.2, 4), std=round(scale * 0.5, 4),
                        min=-scale, max=3 * scale, sparsity=round(float(rng.uniform(0.02, 0.4)), 4),
                        quantiles={"0.5": 0.0, "0.9": round(scale, 3), "0.99": round(2 * scale, 3)},
                        histogram={"edges": edges, "counts": counts_h},
                        max_histogram={"edges": edges, "counts": counts_h[::-1]}, top_activation=top,
                    ))
                    objectives = [("channel", 0), ("neuron", 0), ("negative", 0)] + [
                        ("diversity", d) for d in range(args.diversity)]
                    for obj, var in objectives:
                        fv_rows.append(dict(unit_id=unit_id, objective=obj, variant=var,
                                            image_hash=fv_h[prng.randrange(len(fv_h))],
                                            activation=round(top * (1.6 if obj != "negative" else -0.8), 4),
                                            params={"steps": 512, "size": 128, "lr": 0.05, "seed": 0}))
                    for kind in ("top", "bottom"):
                        for r in range(args.k):
                            act = top * (1 - r / (2 * args.k)) if kind == "top" else -scale * (1 - r / (2 * args.k))
                            y, x = prng.randrange(spatial), prng.randrange(spatial)
                            ex_rows.append(dict(
                                unit_id=unit_id, kind=kind, rank=r,
                                dataset_image_id=prng.randrange(args.dataset_images) + 1,
                                activation=round(act, 4), y=y, x=x, box=[x * 4, y * 4, x * 4 + 32, y * 4 + 32],
                                crop_hash=crop_h[prng.randrange(len(crop_h))],
                                heatmap_hash=heat_h[prng.randrange(len(heat_h))],
                            ))
                    if prev_ids and args.connections:
                        for src in prng.sample(prev_ids, min(args.connections, len(prev_ids))):
                            kernel = rng.normal(0, 0.1, size=(3, 3)).round(4)
                            conn_rows.append(dict(src_unit_id=src, dst_unit_id=unit_id, kind="direct",
                                                  strength=float(kernel.sum()), l2=float(np.sqrt((kernel ** 2).sum())),
                                                  kernel=kernel.tolist()))
                for stage in ("examples", "featurevis") + (("weights",) if prev_ids else ()):
                    stage_rows.append(dict(layer_id=layer_id, stage=stage, status="done", params={},
                                           units_done=channels, units_total=channels, updated_at=now))
            with db.engine.begin() as conn:
                conn.execute(insert(Layer.__table__), [dict(
                    id=layer_id, model_id=m + 1, name=name, position=li, module_type="Conv2d",
                    output_shape=[channels, spatial, spatial], channels=channels)])
                _bulk(conn, Unit, unit_rows)
                _bulk(conn, FeatureVis, fv_rows)
                _bulk(conn, DatasetExample, ex_rows)
                _bulk(conn, Connection, conn_rows)
                _bulk(conn, LayerStage, stage_rows)
            counts["units"] += len(unit_rows)
            counts["examples"] += len(ex_rows)
            counts["featurevis"] += len(fv_rows)
            counts["connections"] += len(conn_rows)
            prev_ids = ids
            print(f"  {slug} {name}: {len(unit_rows)} units  (total {counts['units']:,} units, "
                  f"{counts['examples']:,} examples, {time.perf_counter() - t0:.0f}s)", flush=True)
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
    db.dispose()
    print(f"done in {time.perf_counter() - t0:.0f}s: {args.models} models, {counts['units']:,} units, "
          f"{counts['examples']:,} dataset-example rows, {counts['featurevis']:,} renders, "
          f"{counts['connections']:,} connections, {len(all_blobs)} images in {settings.blob_dir}")
    print(f"serve it: CIRCUITSCOPE_DATA_DIR={args.data_dir} circuitscope serve")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
