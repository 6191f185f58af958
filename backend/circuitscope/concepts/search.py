"""Search units by concept selectivity: "conv2 units with AUC(orientation=45) >= 0.9".

Results have the label search's shape (annotate/search.py) plus `concept` (the matching score), best
AUC first, labelled or not."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from circuitscope.concepts.store import known_concepts
from circuitscope.concepts.vocabulary import display_name
from circuitscope.store.tables.concepts import UnitConcept
from circuitscope.store.tables.records import Layer, Model, Unit

__all__ = ["ConceptSearchError", "concept_search"]


class ConceptSearchError(ValueError):
    """A bad concept filter; the message names the problem and the valid choices."""


def concept_search(session: Session, concept: str, min_auc: float = 0.9, model: str | None = None,
                   layer: str | None = None, family: int | None = None, limit: int = 50,
                   offset: int = 0) -> dict[str, Any]:
    concept = (concept or "").strip()
    if not 0.0 <= min_auc <= 1.0:
        raise ConceptSearchError(f"min_auc must be between 0 and 1 (got {min_auc})")
    model_id = None
    if model:
        model_id = session.scalar(select(Model.id).where(Model.slug == model))
        if model_id is None:
            raise ConceptSearchError(f"concept search: unknown model '{model}'")
    known = known_concepts(session, model_id)
    kind = concept.rstrip("=") if (concept.endswith("=") or "=" not in concept) else None
    if kind is not None:
        ok = any(c.startswith(kind + "=") for c in known)
    else:
        ok = concept in known
    if not ok:
        kinds = sorted({c.split("=", 1)[0] for c in known})
        shown = ", ".join(known[:40]) + (f", ... ({len(known)} in all)" if len(known) > 40 else "")
        raise ConceptSearchError(
            f"No unit{' of ' + model if model else ''} was scored against concept '{concept}'. "
            + (f"Concepts: {shown}; or a whole kind: {', '.join(kinds)}." if known else
               "No layer has concept scores yet: compute dataset examples on a dataset with attributes, "
               "classes or a tags CSV."))
    q = (select(Unit.id, Unit.index, Layer.name, Model.slug, UnitConcept.concept, UnitConcept.auc,
                UnitConcept.diff, UnitConcept.auc_err)
         .join(Unit, Unit.id == UnitConcept.unit_id).join(Layer, Layer.id == Unit.layer_id)
         .join(Model, Model.id == Layer.model_id).where(UnitConcept.auc >= min_auc))
    q = q.where(UnitConcept.concept.startswith(kind + "=")) if kind is not None else q.where(
        UnitConcept.concept == concept)
    if model_id is not None:
        q = q.where(Layer.model_id == model_id)
    if layer:
        q = q.where(Layer.name == layer)
    best: dict[int, tuple] = {}
    for row in session.execute(q):
        if row[0] not in best or row[5] > best[row[0]][5]:
            best[row[0]] = row
    rows = sorted(best.values(), key=lambda r: (-r[5], r[3], r[2], r[1]))
    if family is not None:
        from circuitscope.annotate.search import _family_filter  # noqa: PLC0415 - the label search's helper

        members = set()
        for r in rows:
            if session.scalar(select(_family_filter(family, r[3], r[2], r[1]))):
                members.add(r[0])
        rows = [r for r in rows if r[0] in members]
    total = len(rows)
    page = rows[offset:offset + limit]
    from circuitscope.annotate.labels import consensus, label_dict
    from circuitscope.annotate.search import _families_for
    from circuitscope.annotate.units import thumbnails
    from circuitscope.store.tables.annotation import Label

    thumbs = thumbnails(session, [r[0] for r in page])
    fams = _families_for(session, [(r[3], r[2], r[1]) for r in page])
    results = []
    for uid, idx, lname, slug, c, auc, diff, err in page:
        labs = list(session.scalars(select(Label).where(Label.model_slug == slug, Label.layer_name == lname,
                                                        Label.unit_index == idx, Label.deleted.is_(False),
                                                        Label.label != "")))
        cons = consensus(labs)
        results.append({"model": slug, "layer": lname, "index": idx, "unit_id": uid, "consensus": cons,
                        "label": cons["label"] if cons else "", "image_hash": thumbs.get(uid),
                        "labels": [label_dict(x, editor="") for x in labs], "families": fams.get((slug, lname, idx), []),
                        "concept": {"concept": c, "display": display_name(c), "auc": auc, "diff": diff,
                                    "auc_err": err}})
    return {"total": total, "limit": limit, "offset": offset, "results": results,
            "concept": concept, "min_auc": min_auc}
