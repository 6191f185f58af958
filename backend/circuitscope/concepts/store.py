"""Concept scores in the database: written with a layer's examples, read for the unit page, the
layer grid (best concept per unit), the per-layer summary and search."""
from __future__ import annotations

import math
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from circuitscope.concepts.suggest import SUGGEST_AUC, suggestion
from circuitscope.concepts.tally import ConceptTallies, ranked_from_scores
from circuitscope.concepts.vocabulary import NO_CONCEPTS_REASON, display_name
from circuitscope.store.tables.concepts import LayerConcepts, UnitConcept

__all__ = ["TOP_PER_UNIT", "layer_concepts_payload", "unit_concepts_payload", "write_layer_concepts",
           "write_no_concepts"]

TOP_PER_UNIT = 16  # concepts kept per unit, by AUC


def write_layer_concepts(session: Session, layer_id: int, dataset_id: int | None, units: dict[int, Any],
                         tallies: ConceptTallies, source: str) -> int:
    """Replace the concept scores of a layer's units (`units`: {channel: Unit}); returns rows written."""
    unit_ids = [u.id for u in units.values()]
    session.execute(delete(UnitConcept).where(UnitConcept.unit_id.in_(unit_ids)))
    scores = tallies.scores()
    rows = 0
    for channel, unit in units.items():
        for rank, r in enumerate(ranked_from_scores(tallies.concepts, scores, channel, TOP_PER_UNIT)):
            session.add(UnitConcept(unit_id=unit.id, concept=r["concept"], rank=rank, auc=r["auc"],
                                    auc_err=r["auc_err"], diff=r["diff"] if math.isfinite(r["diff"]) else 0.0,
                                    n_with=r["n_with"]))
            rows += 1
    n_with = scores["n_with"].tolist()
    _set_layer(session, layer_id, dataset_id, status="scored", reason="", source=source,
               concepts=[{"concept": c, "n_with": int(n)} for c, n in zip(tallies.concepts, n_with)],
               images=int(scores["n_all"]), bins=tallies.bins)
    return rows


def write_no_concepts(session: Session, layer_id: int, dataset_id: int | None, units: dict[int, Any],
                      reason: str = NO_CONCEPTS_REASON) -> None:
    session.execute(delete(UnitConcept).where(UnitConcept.unit_id.in_([u.id for u in units.values()])))
    _set_layer(session, layer_id, dataset_id, status="none", reason=reason, source="", concepts=[], images=0, bins=0)


def _set_layer(session: Session, layer_id: int, dataset_id: int | None, **fields: Any) -> None:
    row = session.get(LayerConcepts, layer_id)
    if row is None:
        session.add(LayerConcepts(layer_id=layer_id, dataset_id=dataset_id, **fields))
    else:
        row.dataset_id = dataset_id
        for k, v in fields.items():
            setattr(row, k, v)


def _status(row: LayerConcepts | None) -> dict[str, Any]:
    if row is None:
        return {"status": "not_computed",
                "reason": "Concept scores are computed with the layer's dataset examples; this layer has none yet "
                          "(or was computed before concept scores existed: recompute its examples)."}
    return {"status": row.status, "reason": row.reason or None, "source": row.source or None,
            "images": row.images, "bins": row.bins, "concepts": len(row.concepts or [])}


def unit_concepts_payload(session: Session, layer_id: int, unit_id: int | None) -> dict[str, Any]:
    """The unit JSON's concept fields: `concepts` (ranked, best first; null when the layer's dataset
    provides no concepts or nothing is computed), `concept_status` and `suggested_label`."""
    if unit_id is None:
        row = session.get(LayerConcepts, layer_id)
        return {"concepts": None, "concept_status": _status(row), "suggested_label": None}
    # one query for the layer's status and the unit's ranked scores (the unit page's query budget)
    pairs = session.execute(
        select(LayerConcepts, UnitConcept)
        .outerjoin(UnitConcept, UnitConcept.unit_id == unit_id)
        .where(LayerConcepts.layer_id == layer_id)
        .order_by(UnitConcept.rank)
    ).all()
    row = pairs[0][0] if pairs else None
    status = _status(row)
    if row is None or row.status != "scored":
        return {"concepts": None, "concept_status": status, "suggested_label": None}
    rows = [uc for _, uc in pairs if uc is not None]
    ranked = [{"concept": r.concept, "display": display_name(r.concept), "auc": r.auc, "auc_err": r.auc_err,
               "diff": r.diff, "n_with": r.n_with} for r in rows]
    return {"concepts": ranked, "concept_status": status, "suggested_label": suggestion(ranked)}


def unit_concepts_from_rows(rows: list[Any]) -> dict[str, Any]:
    """Like unit_concepts_payload, from rows of a LEFT JOIN of layer_concepts and unit_concepts with fields
    status, reason, source, images, bins, concepts (decoded) and concept, auc, auc_err, diff, n_with
    (store/queries/units.py)."""
    if not rows or rows[0].status is None:
        return {"concepts": None, "concept_status": _status(None), "suggested_label": None}
    first = rows[0]
    status = {"status": first.status, "reason": first.reason or None, "source": first.source or None,
              "images": first.images, "bins": first.bins, "concepts": len(first.concepts or [])}
    if first.status != "scored":
        return {"concepts": None, "concept_status": status, "suggested_label": None}
    ranked = [{"concept": r.concept, "display": display_name(r.concept), "auc": r.auc, "auc_err": r.auc_err,
               "diff": r.diff, "n_with": r.n_with} for r in rows if r.concept is not None]
    return {"concepts": ranked, "concept_status": status, "suggested_label": suggestion(ranked)}


def layer_concepts_payload(session: Session, layer_id: int, threshold: float = SUGGEST_AUC) -> dict[str, Any]:
    """Per layer: each unit's best concept (for colouring the grid) and how many units are selective
    (best AUC >= threshold) per concept and per concept kind (Network Dissection's summary)."""
    row = session.get(LayerConcepts, layer_id)
    status = _status(row)
    if row is None or row.status != "scored":
        return {"concept_status": status, "threshold": threshold, "units": [], "by_concept": [], "by_kind": [],
                "selective_units": 0, "scored_units": 0}
    from circuitscope.store.tables.records import Unit

    best = session.execute(
        select(Unit.index, UnitConcept.concept, UnitConcept.auc, UnitConcept.diff)
        .join(UnitConcept, UnitConcept.unit_id == Unit.id)
        .where(Unit.layer_id == layer_id, UnitConcept.rank == 0).order_by(Unit.index)
    ).all()
    units: list[dict[str, Any]] = [{"index": i, "concept": c, "display": display_name(c), "auc": a, "diff": d} for i, c, a, d in best]
    by_concept: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for u in units:
        if u["auc"] >= threshold:
            by_concept[u["concept"]] = by_concept.get(u["concept"], 0) + 1
            kind = u["concept"].split("=", 1)[0]
            by_kind[kind] = by_kind.get(kind, 0) + 1
    return {
        "concept_status": status, "threshold": threshold, "units": units,
        "by_concept": [{"concept": c, "display": display_name(c), "units": n}
                       for c, n in sorted(by_concept.items(), key=lambda kv: (-kv[1], kv[0]))],
        "by_kind": [{"kind": k, "units": n} for k, n in sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))],
        "selective_units": sum(by_kind.values()), "scored_units": len(units),
    }


def units_with_concept(session: Session, concept: str, min_auc: float, model_id: int | None = None,
                       layer_id: int | None = None) -> dict[int, dict[str, Any]]:
    """{unit_id: {"concept", "auc", "diff"}} of units whose stored AUC for `concept` is >= min_auc.
    A concept ending in "=" or without "=" matches a whole kind ("orientation" / "orientation=")."""
    from circuitscope.store.tables.records import Layer, Unit

    q = select(UnitConcept.unit_id, UnitConcept.concept, UnitConcept.auc, UnitConcept.diff).where(
        UnitConcept.auc >= min_auc)
    kind = concept.rstrip("=") if (concept.endswith("=") or "=" not in concept) else None
    q = q.where(UnitConcept.concept.startswith(kind + "=")) if kind else q.where(UnitConcept.concept == concept)
    if model_id is not None or layer_id is not None:
        q = q.join(Unit, Unit.id == UnitConcept.unit_id)
        if layer_id is not None:
            q = q.where(Unit.layer_id == layer_id)
        else:
            q = q.join(Layer, Layer.id == Unit.layer_id).where(Layer.model_id == model_id)
    out: dict[int, dict[str, Any]] = {}
    for uid, c, a, d in session.execute(q):
        if uid not in out or a > out[uid]["auc"]:
            out[uid] = {"concept": c, "auc": a, "diff": d}
    return out


def known_concepts(session: Session, model_id: int | None = None) -> list[str]:
    """Every concept some layer was scored against (for search suggestions)."""
    from circuitscope.store.tables.records import Layer

    q = select(LayerConcepts.concepts).where(LayerConcepts.status == "scored")
    if model_id is not None:
        q = q.join(Layer, Layer.id == LayerConcepts.layer_id).where(Layer.model_id == model_id)
    names: set[str] = set()
    for (cs,) in session.execute(q):
        names |= {c["concept"] for c in cs or []}
    return sorted(names)


def count_scored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(UnitConcept)) or 0)
