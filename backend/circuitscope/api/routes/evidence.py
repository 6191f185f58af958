"""Label-evidence API: tuning curves of a unit (on demand, or precomputed for a layer by a job), the blind
human comparison of a label, and the evidence scores shown beside labels.

Tuning runs the stored model on synthetic stimuli in a worker thread (a sync route); the layer's responses to
each stimulus set are cached, so a second unit of the same layer costs only its own sweeps.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from ...evidence.unit_tuning import unit_tuning
from ..auth import require_reader
from ..deps import Tx, get_blobs
from ..schemas.evidence import (
    AnswerOut,
    ClaimsOut,
    ComparisonResultsOut,
    SampleOut,
    TaskOut,
    TuningCurveOut,
    TuningJobOut,
    UnitEvidenceOut,
)

router = APIRouter(prefix="/api/evidence", tags=["evidence"])
reader = [Depends(require_reader)]
Param = Literal["orientation", "curvature", "hue", "frequency", "rotation"]
ALL_PARAMS: tuple[Param, ...] = ("orientation", "curvature", "hue", "frequency", "rotation")


@router.get(
    "/tuning/{model}/{layer}/{index}", response_model=TuningCurveOut, dependencies=reader,
    summary="A unit's tuning curve over one stimulus parameter: {param, values, responses, preferred, ...}",
    responses={404: {"description": "Unknown model, layer or unit"},
               422: {"description": "Layer not computed, or a stimulus the generator cannot make (lists the "
                                    "valid choices)"}},
)
def tuning(request: Request, model: str, layer: str, index: int = Path(ge=0),
           param: Param = Query("orientation", description="Swept parameter; orientation/hue/rotation in degrees"),
           stimulus: str = Query("auto", max_length=20, description="auto (the unit's preferred kind) or a kind: "
                                 "grating, stripes, edge, line, curve, field (which kinds suit which parameter: "
                                 "see the 422 message)"),
           session: Session = Tx):
    settings = request.app.state.settings
    return unit_tuning(session, settings.data_dir, get_blobs(request), model, layer, index, param, stimulus,
                       device=settings.device)


# --- blind human comparison ------------------------------------------------------------------------------
from pydantic import BaseModel, Field  # noqa: E402

from ...annotate.users import Identity  # noqa: E402
from ...evidence import comparison as comparison_svc  # noqa: E402
from ..auth import current_user, require_compute, require_role  # noqa: E402

annotator = require_role("annotator")


class SampleIn(BaseModel):
    per_bin: int = Field(8, ge=1, le=comparison_svc.MAX_PER_BIN, description="images drawn from each bin")
    bins: int = Field(10, ge=2, le=50, description="equal-width bins over the unit's activation range")
    max_images: int = Field(2000, ge=10, le=comparison_svc.MAX_SCAN, description="images scanned for the range")
    seed: int = 0


class AnswerIn(BaseModel):
    label_id: int
    label_version: int = Field(ge=1)
    item_id: int
    answer: Literal["fits", "partly", "not"]


@router.post("/comparison/{model}/{layer}/{index}/sample", response_model=SampleOut, status_code=201,
             summary="Scan the unit's dataset and sample images evenly across its activation range (annotator)")
def create_sample(request: Request, model: str, layer: str, index: int, body: SampleIn,
                  who: Identity = Depends(annotator), session: Session = Tx):
    settings = request.app.state.settings
    sample = comparison_svc.create_sample(session, settings.data_dir, get_blobs(request), model, layer, index,
                                          who, body.per_bin, body.bins, body.max_images, body.seed,
                                          device=settings.device)
    return comparison_svc.sample_dict(sample)


@router.get("/comparison/{model}/{layer}/{index}/task", response_model=TaskOut, dependencies=reader,
            summary="The blind task for one label: images without activations, in your own random order")
def comparison_task(request: Request, model: str, layer: str, index: int, label_id: int, session: Session = Tx):
    return comparison_svc.task(session, model, layer, index, label_id, current_user(request))


@router.put("/comparison/{model}/{layer}/{index}/answers", response_model=AnswerOut,
            summary="Answer one item for one label version: fits | partly | not (annotator; 409 if the label changed)")
def comparison_answer(model: str, layer: str, index: int, body: AnswerIn, who: Identity = Depends(annotator),
                      session: Session = Tx):
    return comparison_svc.answer(session, model, layer, index, body.label_id, body.label_version, body.item_id,
                                 body.answer, who)


@router.get("/comparison/{model}/{layer}/{index}/results", response_model=ComparisonResultsOut, dependencies=reader,
            summary="Answer share per activation bin and the activation-weighted share of a label version")
def comparison_results(model: str, layer: str, index: int, label_id: int, version: int | None = None,
                       session: Session = Tx):
    return comparison_svc.label_results(session, model, layer, index, label_id, version)


# --- the label's evidence (claims, concept AUC, human share, weak flag) --------------------------------------
from ...evidence import label_scores  # noqa: E402


class ClaimsIn(BaseModel):
    concepts: list[str] = Field(default_factory=list, max_length=label_scores.MAX_CLAIMS,
                                description='concepts the label claims, e.g. ["colour=red"]')


@router.get("/labels/{model}/{layer}/{index}", response_model=UnitEvidenceOut, dependencies=reader,
            summary="Every label on a unit with its claimed concepts' AUC, blind human share and weak-evidence flag")
def unit_label_evidence(model: str, layer: str, index: int, session: Session = Tx):
    return label_scores.unit_evidence(session, model, layer, index)


@router.put("/claims/{label_id}", response_model=ClaimsOut, summary="Set the concepts a label claims (its annotator or an admin); "
                                          "422 lists the concepts the layer was scored against")
def put_claims(label_id: int, body: ClaimsIn, who: Identity = Depends(annotator), session: Session = Tx):
    return {"label_id": label_id, "concepts": label_scores.set_claims(session, label_id, body.concepts, who)}


# --- tuning for a whole layer, as a job -------------------------------------------------------------------
class LayerTuningIn(BaseModel):
    params: list[Param] = Field(default_factory=lambda: list(ALL_PARAMS))


@router.post("/tuning/{model}/{layer}/job", response_model=TuningJobOut, status_code=201,
             summary="Queue every tuning curve of every unit of a layer (compute permission); the worker runs it")
def tuning_layer_job(model: str, layer: str, body: LayerTuningIn, who: Identity = Depends(require_compute),
                     session: Session = Tx):
    from ...evidence.layer_job import submit_layer_tuning

    job = submit_layer_tuning(session, model, layer, list(body.params), who.name)
    return {"id": job.id, "kind": job.kind, "status": job.status, "config": job.config}
