"""Search over labels, descriptions and tags, with filters (model, layer, family, labelled or not,
annotator, status, tag). Every word of the query must occur (case-insensitive) in a label's text,
description or tags; results are units, with their consensus and the matching labels."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from ..errors import Invalid
from ..store.tables.annotation import Family, FamilyMember, Label, User
from ..store.tables.records import Layer, Model, Unit
from .common import check_len
from .labels import consensus, label_dict
from .units import thumbnails


def _family_filter(family_id: int, model_col, layer_col, index_col):
    return exists(select(FamilyMember.id).join(Family, FamilyMember.family_id == Family.id).where(
        Family.id == family_id, Family.model_slug == model_col, FamilyMember.layer_name == layer_col,
        FamilyMember.unit_index == index_col))


def search(session: Session, q: str = "", model: str | None = None, layer: str | None = None,
           family: int | None = None, labeled: bool | None = None, annotator: str | None = None,
           status: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0,
           concept: str | None = None, min_auc: float = 0.9) -> dict[str, Any]:
    check_len("q", q or "", "query")
    limit = max(1, min(int(limit), 500))
    offset = max(0, int(offset))
    if concept:  # units by concept selectivity (concepts/search.py), labelled or not
        if q or annotator or status or tag or labeled is not None:
            raise Invalid("concept search filters units by AUC: combine it with model, layer and family "
                                     "only (drop q, annotator, status, tag and labeled)")
        from ..concepts.search import ConceptSearchError, concept_search

        try:
            return concept_search(session, concept, min_auc, model, layer, family, limit, offset)
        except ConceptSearchError as e:
            raise Invalid(str(e)) from None
    if labeled is False:
        if q or annotator or status or tag:
            raise Invalid("labeled=false lists units without labels: drop q, annotator, status and tag")
        return _unlabeled(session, model, layer, family, limit, offset)

    conds = [Label.deleted.is_(False), Label.label != ""]
    for word in (q or "").split():
        w = word.casefold()
        conds.append(or_(func.lower(Label.label).contains(w, autoescape=True),
                         func.lower(Label.description).contains(w, autoescape=True),
                         func.lower(cast(Label.tags, String)).contains(w, autoescape=True)))
    if model:
        conds.append(Label.model_slug == model)
    if layer:
        conds.append(Label.layer_name == layer)
    if status:
        conds.append(Label.status == status)
    if tag:
        conds.append(func.lower(cast(Label.tags, String)).contains(f'"{tag.casefold()}"', autoescape=True))
    if annotator:
        conds.append(Label.user_id == select(User.id).where(User.name == annotator).scalar_subquery())
    if family is not None:
        conds.append(_family_filter(family, Label.model_slug, Label.layer_name, Label.unit_index))
    units = (select(Label.model_slug, Label.layer_name, Label.unit_index, func.max(Label.updated_at).label("t"))
             .where(and_(*conds)).group_by(Label.model_slug, Label.layer_name, Label.unit_index))
    total = session.scalar(select(func.count()).select_from(units.subquery())) or 0
    page = session.execute(units.order_by(func.max(Label.updated_at).desc(), Label.model_slug, Label.layer_name,
                                          Label.unit_index).limit(limit).offset(offset)).all()
    matching_ids = set(session.scalars(select(Label.id).where(and_(*conds)).where(
        Label.unit_index.in_([p[2] for p in page]))))
    results = []
    all_labels: dict[tuple, list[Label]] = defaultdict(list)
    if page:
        refs = {(m, l, i) for m, l, i, _ in page}
        for lab in session.scalars(select(Label).where(Label.deleted.is_(False),
                                                       Label.unit_index.in_([r[2] for r in refs]))):
            key = (lab.model_slug, lab.layer_name, lab.unit_index)
            if key in refs:
                all_labels[key].append(lab)
    unit_ids = [ls[0].unit_id for ls in all_labels.values() if ls and ls[0].unit_id]
    thumbs = thumbnails(session, unit_ids)
    fams = _families_for(session, [(m, l, i) for m, l, i, _ in page])
    for m, l, i, _ in page:
        labs = all_labels.get((m, l, i), [])
        uid = next((x.unit_id for x in labs if x.unit_id), None)
        cons = consensus(labs)
        results.append({"model": m, "layer": l, "index": i, "unit_id": uid, "consensus": cons,
                        "label": cons["label"] if cons else "", "image_hash": thumbs.get(uid) if uid is not None else None,
                        "labels": [label_dict(x, editor="") for x in labs if x.id in matching_ids],
                        "families": fams.get((m, l, i), [])})
    from ..evidence.label_scores import attach_evidence  # claimed concepts' AUC, blind share, weak flag

    attach_evidence(session, results)
    return {"total": total, "limit": limit, "offset": offset, "results": results}


def _families_for(session: Session, refs: list[tuple[str, str, int]]) -> dict[tuple, list[dict]]:
    if not refs:
        return {}
    want = set(refs)
    out: dict[tuple, list[dict]] = defaultdict(list)
    rows = session.execute(select(Family.id, Family.name, Family.color, Family.model_slug, FamilyMember.layer_name,
                                  FamilyMember.unit_index).join(FamilyMember, FamilyMember.family_id == Family.id)
                           .where(Family.deleted.is_(False), FamilyMember.unit_index.in_([r[2] for r in refs])))
    for fid, name, color, m, l, i in rows:
        if (m, l, i) in want:
            out[(m, l, i)].append({"id": fid, "name": name, "color": color})
    return out


def _unlabeled(session: Session, model, layer, family, limit, offset) -> dict[str, Any]:
    has_label = exists(select(Label.id).where(Label.unit_id == Unit.id, Label.deleted.is_(False), Label.label != ""))
    q = (select(Unit.id, Model.slug, Layer.name, Unit.index).join(Layer, Unit.layer_id == Layer.id)
         .join(Model, Layer.model_id == Model.id).where(~has_label))
    if model:
        q = q.where(Model.slug == model)
    if layer:
        q = q.where(Layer.name == layer)
    if family is not None:
        q = q.where(_family_filter(family, Model.slug, Layer.name, Unit.index))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    page = session.execute(q.order_by(Model.slug, Layer.position, Unit.index).limit(limit).offset(offset)).all()
    thumbs = thumbnails(session, [p[0] for p in page])
    fams = _families_for(session, [(m, l, i) for _, m, l, i in page])
    return {"total": total, "limit": limit, "offset": offset, "results": [
        {"model": m, "layer": l, "index": i, "unit_id": uid, "consensus": None, "label": "",
         "image_hash": thumbs.get(uid), "labels": [], "families": fams.get((m, l, i), [])}
        for uid, m, l, i in page]}
