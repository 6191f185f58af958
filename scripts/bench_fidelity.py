#!/usr/bin/env python
"""Feature-visualization fidelity of a computed model, per layer: how strongly its renders excite their units.

Fidelity = a render's peak (spatial max of the unit's map on the stored image) / the unit's top dataset
example's activation (records/featurevis/fidelity.py). For every layer of the model it prints the
distribution (quantiles) of each unit's best render (channel, neuron, diversity) and of its channel
render, the share >= 1x and >= 0.5x, the weakest units with the reason stored for them, and the units
that could not be rendered.

    python scripts/bench_fidelity.py                      # every model in the configured database
    python scripts/bench_fidelity.py --model conceptnet --data-dir /tmp/data --show 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend"))

from sqlalchemy import select  # noqa: E402

from circuitscope.records.featurevis.fidelity import WEAK, best_per_unit, format_summary, summarize  # noqa: E402
from circuitscope.settings import Settings  # noqa: E402
from circuitscope.store import Database  # noqa: E402
from circuitscope.store.tables.records import FeatureVis, FeatureVisFailure, Layer, Model, Unit  # noqa: E402


def quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    q = lambda p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]  # noqa: E731
    return " ".join(f"{name} {q(p):5.2f}" for name, p in (("min", 0), ("p10", .1), ("p50", .5), ("p90", .9), ("max", 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model slug (default: every model)")
    ap.add_argument("--data-dir", help="circuitscope data dir (default: settings / CIRCUITSCOPE_DATA_DIR)")
    ap.add_argument("--database-url", help="SQLAlchemy URL (default: settings)")
    ap.add_argument("--show", type=int, default=3, help="weakest units listed per layer")
    args = ap.parse_args()
    kw = {}
    if args.data_dir:
        kw["data_dir"] = args.data_dir
    if args.database_url:
        kw["database_url"] = args.database_url
    settings = Settings(**kw)
    db = Database(settings.sqlalchemy_url)
    with db.session() as s:
        models = s.scalars(select(Model).where(Model.slug == args.model) if args.model else select(Model)).all()
        if not models:
            known = ", ".join(s.scalars(select(Model.slug)).all()) or "none"
            sys.exit(f"No model '{args.model}' in {settings.sqlalchemy_url} (models: {known}).")
        for model in models:
            rows = s.execute(
                select(Layer.name, Unit.index, FeatureVis.objective, FeatureVis.fidelity, FeatureVis.note, Layer.position)
                .join(Unit, Unit.layer_id == Layer.id).join(FeatureVis, FeatureVis.unit_id == Unit.id)
                .where(Layer.model_id == model.id)
            ).all()
            failures = s.execute(
                select(Layer.name, Unit.index, FeatureVisFailure.objective, FeatureVisFailure.reason)
                .join(Unit, Unit.layer_id == Layer.id).join(FeatureVisFailure, FeatureVisFailure.unit_id == Unit.id)
                .where(Layer.model_id == model.id)
            ).all()
            order = {r[0]: r[5] for r in rows}
            units = sorted(best_per_unit((r[0], r[1], r[2], r[3]) for r in rows),
                           key=lambda u: (order[u.layer], u.channel))
            channel = {(r[0], r[1]): (r[3], r[4]) for r in rows if r[2] == "channel"}
            print(f"== {model.slug}: {len(units)} units with renders, {len(failures)} objectives not renderable")
            print(format_summary(summarize(units)))
            for layer in sorted({u.layer for u in units}, key=order.get):
                lu = [u for u in units if u.layer == layer]
                best = [u.best for u in lu if u.best is not None]
                chan = [channel[(layer, u.channel)][0] for u in lu
                        if (layer, u.channel) in channel and channel[(layer, u.channel)][0] is not None]
                print(f"\n  {layer}: best render   {quantiles(best)}")
                print(f"  {layer}: channel render {quantiles(chan)}"
                      + (f"  (channel < {WEAK}x: {sum(c < WEAK for c in chan)} of {len(chan)};"
                         f" median {statistics.median(chan):.2f}x)" if chan else ""))
                weakest = sorted((u for u in lu if u.best is not None), key=lambda u: u.best)[:args.show]
                for u in weakest:
                    note = channel.get((layer, u.channel), (None, None))[1]
                    print(f"    unit {u.channel:4d}: best {u.best:.2f}x ({u.best_objective})"
                          + (f"; channel render: {note}" if note else ""))
            for layer, index, objective, reason in failures:
                print(f"  not rendered: {layer} unit {index} {objective}: {reason}")


if __name__ == "__main__":
    main()
