"""Label-evidence API: tuning curves of a unit (on demand, or precomputed for a layer by a job), the blind
human comparison of a label, and the evidence scores shown beside labels.

Tuning runs the stored model on synthetic stimuli in a worker thread (a sync route); the layer's responses to
each stimulus set are cached, so a second unit of the same layer costs only its own sweeps.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from ...evidence.unit_tuning import EvidenceError, unit_tuning
from ..auth import require_reader
from ..deps import get_blobs, get_session
from ..errors import ApiError

router = APIRouter(prefix="/api/evidence", tags=["evidence"])
reader = [Depends(require_reader)]
Tx = Depends(get_session, scope="function")
Param = Literal["orientation", "curvature", "hue", "frequency", "rotation"]


def raise_api(err: EvidenceError) -> ApiError:
    return ApiError(err.status, err.detail, **err.extra)


@router.get(
    "/tuning/{model}/{layer}/{index}", dependencies=reader,
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
    try:
        return unit_tuning(session, settings.data_dir, get_blobs(request), model, layer, index, param, stimulus,
                           device=settings.device)
    except EvidenceError as err:
        raise raise_api(err)
