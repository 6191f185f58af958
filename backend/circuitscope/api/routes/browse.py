"""Browse API: models, layers, units (paged), one unit in full, and content-addressed images.

URL ids: a model by slug, a layer by its dotted module name (dots are fine in a path segment), a unit by
its channel index. Every route is read-only and guarded by `require_reader`.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response

from ...store import BlobStore, queries
from ..auth import require_reader_inline

# Read routes are `async def` and query inline: a sync route and its sync dependencies each cost a
# threadpool hop, which was two thirds of a unit page's server time (4.8 -> see README benchmark).
from ..bounds import MAX_ID, RowId
from ..deps import get_blobs
from ..errors import ApiError, not_found
from ..schemas.browse import LayerDetail, LayerSummary, ModelSummary, UnitDetail, UnitPage, UnitRef

router = APIRouter(prefix="/api", tags=["browse"], dependencies=[Depends(require_reader_inline)])

IMMUTABLE = "public, max-age=31536000, immutable"
SMALL_IMAGE = 256 * 1024
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown model, layer or unit; the message lists what exists"}}


def _read(request: Request, query, *args) -> Response:
    """Run one read query in its own short transaction and answer its JSON."""
    with request.app.state.db.session() as session:
        return _json(query(session, *args))


def _json(data) -> Response:
    # The queries build plain dicts in the documented shape (response_model, for OpenAPI); serializing
    # them directly skips FastAPI's validate-then-serialize pass (tests validate against the models).
    return Response(content=queries.to_json(data), media_type="application/json")


@router.get("/models", response_model=list[ModelSummary], summary="Every model with its layers and progress")
async def list_models(request: Request):
    return _read(request, queries.list_models)


@router.get("/models/{model}", response_model=ModelSummary, responses=_ERRORS, summary="One model with its layers")
async def get_model(model: str, request: Request):
    return _read(request, queries.get_model, model)


@router.get("/models/{model}/layers", response_model=list[LayerSummary], responses=_ERRORS)
async def list_layers(model: str, request: Request):
    return _read(request, queries.list_layers, model)


@router.get(
    "/models/{model}/layers/{layer}",
    response_model=LayerDetail,
    responses=_ERRORS,
    summary="One layer: channels, computed status per stage, neighbouring layers",
)
async def get_layer(model: str, layer: str, request: Request):
    return _read(request, queries.get_layer, model, layer)


@router.get(
    "/models/{model}/layers/{layer}/units",
    response_model=UnitPage,
    responses=_ERRORS,
    summary="A page of a layer's units for the grid (channel render, label, top activation)",
)
async def list_units(
    request: Request,
    model: str,
    layer: str,
    offset: int = Query(0, ge=0, le=MAX_ID, description="First unit index"),
    limit: int = Query(200, ge=1, le=1000, description="Units per page (at most 1000)"),
):
    return _read(request, queries.unit_page, model, layer, offset, limit)


@router.get(
    "/models/{model}/layers/{layer}/units/{index}",
    response_model=UnitDetail,
    responses=_ERRORS,
    summary="One unit in full: renders, dataset examples, histogram, strongest connections",
)
async def get_unit(
    request: Request,
    model: str,
    layer: str,
    # unbounded on purpose: any index outside the layer is a 404 naming the valid range (checked before any query)
    index: int = Path(description="Channel index within the layer"),
    examples: int = Query(10, ge=0, le=100, description="Top and bottom dataset examples to return (each)"),
    connections: int = Query(20, ge=0, le=200, description="Strongest incoming and outgoing connections (each)"),
):
    return _read(request, queries.unit_detail, model, layer, index, examples, connections)


@router.get("/units/{unit_id}", response_model=UnitRef, responses=_ERRORS, summary="Where a unit id lives (for links)")
async def get_unit_ref(unit_id: RowId, request: Request):
    return _read(request, queries.unit_ref, unit_id)


def _etag_matches(header: str, digest: str) -> bool:
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == digest:
            return True
    return False


@router.get(
    "/images/{digest}",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/webp": {}, "image/png": {}, "image/jpeg": {}}, "description": "The image bytes"},
        304: {"description": "Not modified (If-None-Match matched the ETag, which is the hash)"},
        400: {"description": "Not a sha256 hash (nothing outside the image store is served)"},
        404: {"description": "No such image in the store"},
    },
    summary="A content-addressed image (sha256), cached for a year as immutable",
)
async def get_image(digest: str, request: Request, blobs: BlobStore = Depends(get_blobs)):
    try:
        path = blobs.path(digest)
    except ValueError:
        raise ApiError(400, f"'{digest}' is not an image hash: images are addressed by their sha256 (64 hex digits).") from None
    except FileNotFoundError:
        raise not_found(f"No image {digest} in the image store.") from None
    headers = {"ETag": f'"{digest}"', "Cache-Control": IMMUTABLE}
    inm = request.headers.get("if-none-match")
    if inm and _etag_matches(inm, digest):
        return Response(status_code=304, headers=headers)
    media = {".webp": "image/webp", ".png": "image/png", ".jpg": "image/jpeg"}[path.suffix]
    if path.stat().st_size <= SMALL_IMAGE:  # most renders and crops: one read, no thread hops
        return Response(content=path.read_bytes(), media_type=media, headers=headers)
    return FileResponse(path, media_type=media, headers=headers)
