"""Concept selectivity API: a layer's best concept per unit and its Network-Dissection-style summary,
and adopting a unit's suggested label in one click (recorded as an accepted suggestion)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...annotate import labels as labels_svc
from ...annotate.units import UnitRef
from ...annotate.users import Identity
from ...concepts.store import layer_concepts_payload, unit_concepts_payload
from ...concepts.suggest import SUGGEST_AUC
from ...store import queries
from ...store.tables.annotation import LabelRevision
from ..auth import require_reader, require_role
from ..deps import Tx
from ..errors import ApiError
from ..schemas.concepts import LayerConceptsOut
from ..schemas.labels import AdoptedOut

router = APIRouter(prefix="/api", tags=["concepts"])


class AdoptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=0, description="the version of your label you loaded (null: none)")


@router.get("/models/{model}/layers/{layer}/concepts", response_model=LayerConceptsOut, dependencies=[Depends(require_reader)],
            summary="Each unit's best concept (for colouring the grid) and how many units are selective for what")
def layer_concepts(model: str, layer: str, request: Request,
                   threshold: float = Query(SUGGEST_AUC, ge=0.5, le=1.0, description="AUC that counts as selective"),
                   session: Session = Tx):
    row = queries.layer_row(session, model, layer)  # 404 naming the valid models / layers
    return {"model": row.slug, "layer": row.name, "channels": row.channels,
            **layer_concepts_payload(session, row.id, threshold)}


@router.post("/labels/{model}/{layer}/{index}/adopt-suggestion", response_model=AdoptedOut,
             summary="Save the unit's suggested label (from concept selectivity) as YOUR label; the revision "
                     "records it as an accepted suggestion with the concepts and AUC")
def adopt_suggestion(model: str, layer: str, index: int, body: AdoptIn,
                     who: Identity = Depends(require_role("annotator")), session: Session = Tx):
    row = queries.layer_row(session, model, layer)
    if not 0 <= index < row.channels:
        raise ApiError(404, f"Layer '{row.name}' has {row.channels} units: the index must be 0-{row.channels - 1}.")
    from ...store.tables.records import Unit

    unit_id = session.scalar(select(Unit.id).where(Unit.layer_id == row.id, Unit.index == index))
    payload = unit_concepts_payload(session, row.id, unit_id)
    sug = payload["suggested_label"]
    if sug is None:
        status = payload["concept_status"]
        why = (status.get("reason") or "no concept reaches the threshold") if status["status"] != "scored" else (
            f"no concept reaches AUC {SUGGEST_AUC} for this unit")
        raise ApiError(422, f"Unit {row.name}/{index} has no suggested label: {why}.")
    ref = UnitRef(row.slug, row.name, index)
    fields = {"label": sug["label"], "description": sug["description"], "tags": ["suggested"]}
    label, _created = labels_svc.save_own_label(session, ref, who, fields, body.version)
    session.flush()
    rev = session.scalar(select(LabelRevision).where(LabelRevision.label_id == label.id,
                                                     LabelRevision.version == label.version))
    if rev is not None:  # the history says where this text came from
        rev.action = "accept_suggestion"
        rev.snapshot = {**rev.snapshot, "source": {"kind": "concept_suggestion", "concepts": sug["concepts"],
                                                   "auc": sug["auc"]}}
    return {"label": labels_svc.label_dict(label), "suggestion": sug}
