"""The feature-visualization stage of a run: render what is missing, store it with its fidelity.

Per layer, a unit's objective is skipped when its renders (or its recorded failure) are stored with
the same settings; the settings stored with a render are those that shape *that* objective's image
(``row_params``), so changing e.g. the diversity settings re-renders only the diversity images, and
adding an objective renders only the new one. Chunks of channels are one transaction each. At the end
the run's fidelity summary (best render / top dataset example, per layer) goes to the run result.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from ..store import writer
from ..store.tables.records import FeatureVis, Layer, Unit
from .config import resolve_precision


def render_settings(config, resolve: Callable[[str, str], str] = resolve_precision
                    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """(the layer stage's params, per-objective row params, render_feature_vis keyword arguments but the
    device, which the engine supplies). `resolve` turns precision "auto" into the one the engine's device runs."""
    from ..records.featurevis.render import default_lr

    fv = config.featurevis
    precision = resolve(fv.precision, config.device)
    lr = fv.lr if fv.lr is not None else default_lr(fv.style)
    common = {"steps": fv.steps, "size": fv.size, "lr": lr, "seed": fv.seed, "precision": precision,
              "style": fv.style, "param": fv.param,
              # objectives on the final ReLU's input for layers that end in one (Lucid's pre_relu)
              "objective_at": "pre_relu_if_final_relu"}
    row_params = {o: ({**common, "diversity_n": fv.diversity_n} if o == "diversity" else dict(common))
                  for o in fv.objectives}
    stage_params = {**common, "objectives": list(fv.objectives), "diversity_n": fv.diversity_n}
    kwargs = dict(steps=fv.steps, size=fv.size, lr=lr, diversity_n=fv.diversity_n, batch_channels=fv.batch_channels,
                  seed=fv.seed, precision=precision, style=fv.style, param=fv.param)
    return stage_params, row_params, kwargs


def featurevis_stage(config, db, blobs, model, model_id: int, layer_names: list[str], run_id: int, result,
                     report: Callable, check_cancel: Callable, layers_of: Callable, engine) -> None:
    """Render through `engine` (compute/engine.py: this process, or chunks as Ray tasks)."""
    from ..records.featurevis.fidelity import fidelity_ratio, weak_render_reason

    fv = config.featurevis
    stage_params, row_params, kwargs = render_settings(config, engine.resolve_precision)
    variants = {o: (fv.diversity_n if o == "diversity" else 1) for o in fv.objectives}
    t = time.perf_counter()
    for name in layer_names:
        with db.session() as s:
            layer = layers_of(s, model_id, [name])[name]
            if writer.stage_is_done(s, layer, "featurevis", stage_params):
                result.stages_skipped.append(f"featurevis:{name}")
                continue
            units = writer.ensure_units(s, layer)
            done = writer.featurevis_done(s, units, row_params, variants)
            channels = layer.channels
            finished = sum(1 for c in range(channels) if done.get(c, set()) >= set(fv.objectives))
            writer.mark_stage(s, layer, "featurevis", status="running", params=stage_params, run_id=run_id,
                              units_done=finished)
        # channels grouped by what they miss: one render call per group
        groups: dict[tuple[str, ...], list[int]] = {}
        for c in range(channels):
            missing = tuple(o for o in fv.objectives if o not in done.get(c, set()))
            if missing:
                groups.setdefault(missing, []).append(c)
        for objectives, todo in groups.items():
            chunks = [todo[start:start + fv.batch_channels] for start in range(0, len(todo), fv.batch_channels)]
            report("featurevis", name, finished, channels)
            options = {**kwargs, "objectives": objectives}
            for chunk, records in engine.render_feature_vis_chunks(model, name, chunks, options, check_cancel):
                with db.session() as s:  # one chunk = one transaction: no half-rendered unit is ever visible
                    layer = layers_of(s, model_id, [name])[name]
                    units = writer.ensure_units(s, layer)
                    notes = {(r.channel, r.objective, r.variant): weak_render_reason(
                        r.objective, fidelity_ratio(r.peak, units[r.channel].top_activation), r.linear, r.steps,
                        r.converged) for r in records if not r.failure}
                    writer.write_featurevis(s, blobs, units, records, row_params, notes)
                    finished += len(chunk) if set(objectives) == set(fv.objectives) else 0
                    writer.mark_stage(s, layer, "featurevis", status="running", params=stage_params, run_id=run_id,
                                      units_done=min(finished, channels))
                report("featurevis", name, min(finished, channels), channels)
        with db.session() as s:
            layer = layers_of(s, model_id, [name])[name]
            writer.mark_stage(s, layer, "featurevis", status="done", params=stage_params, run_id=run_id,
                              units_done=channels)
        report("featurevis", name, channels, channels)
    result.timings["featurevis"] = time.perf_counter() - t
    result.fidelity = fidelity_summary(db, model_id, layer_names)


def fidelity_summary(db, model_id: int, layer_names: list[str]) -> dict:
    """The stored renders' fidelity, best per unit, summarized per layer (records.featurevis.fidelity)."""
    from ..records.featurevis.fidelity import best_per_unit, summarize

    with db.session() as s:
        rows = s.execute(
            select(Layer.name, Unit.index, FeatureVis.objective, FeatureVis.fidelity)
            .join(Unit, Unit.layer_id == Layer.id).join(FeatureVis, FeatureVis.unit_id == Unit.id, isouter=True)
            .where(Layer.model_id == model_id, Layer.name.in_(layer_names))
        ).all()
    order = {n: i for i, n in enumerate(layer_names)}
    units = sorted(best_per_unit((r[0], r[1], r[2], r[3]) for r in rows), key=lambda u: (order.get(u.layer, 0), u.channel))
    return summarize(units)
