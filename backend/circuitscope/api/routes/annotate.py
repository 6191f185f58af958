"""Annotation API: sign-in and tokens, users, labels (per annotator, versioned, with history, consensus and
agreement), the labelling queue, search, families, circuit hypotheses, export and import.

Reads need `require_reader` (anonymous reading can be switched off); writes need an identity with the right
role. Stale edits (based on an older `version`) are answered 409 with the current state; nothing is
overwritten silently. Label rule: only a label's annotator (or an admin) may change it.
"""
from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from ...annotate import circuits as circuits_svc
from ...annotate import families as families_svc
from ...annotate import labels as labels_svc
from ...annotate import search as search_svc
from ...annotate import users as users_svc
from ...annotate.units import UnitRef, relink_detached, resolve
from ...annotate.users import Identity
from ...enums import CircuitStatus, LabelStatus
from ..auth import SESSION_COOKIE, auth_via, current_user, require_reader, require_role, require_user
from ..bounds import MAX_ID, RowId, UnitIndex
from ..deps import Tx, get_blobs
from ..errors import ApiError
from ..schemas.annotate import (
    CircuitIn,
    CircuitNodesIn,
    CircuitPatchIn,
    CircuitRemoveIn,
    FamilyIn,
    FamilyMembersIn,
    FamilyPatchIn,
    LabelIn,
    LabelPatchIn,
    LoginIn,
    NodePatchIn,
    RefreshIn,
    TokenIn,
    UserCreateIn,
    UserPatchIn,
)
from ..schemas.auth import LoginOut, MeOut, TokenCreatedOut, TokenOut, UserOut
from ..schemas.circuits import (
    CircuitOut,
    CircuitRevisionOut,
    CircuitSummary,
    ProjectImportOut,
    RelinkOut,
    SuggestionsOut,
)
from ..schemas.common import Ok
from ..schemas.families import FamilyMapOut, FamilyOut, FamilyRevisionOut
from ..schemas.labels import LabelOut, LabelRevisionOut, LayerAgreement, QueueOut, SearchOut, UnitLabelsOut

router = APIRouter(prefix="/api", tags=["annotate"])
reader = [Depends(require_reader)]
annotator = require_role("annotator")
admin = require_role("admin")
MAX_IMPORT_BYTES = 200 * 1024 * 1024


# --- auth --------------------------------------------------------------------------------------------

@router.get("/auth/me", response_model=MeOut, summary="Who am I, and how this server is configured (local default user, anonymous reading)")
def me(request: Request):
    user = current_user(request)
    s = request.app.state.settings
    return {"user": user.as_dict() if user else None, "via": auth_via(request), "anonymous_read": s.anonymous_read,
            "local_user": s.local_user or None, "multi_user": not s.local_user}


@router.post("/auth/login", response_model=LoginOut, summary="Sign in with name and password; sets the session cookie")
def login(body: LoginIn, request: Request, response: Response, session: Session = Tx):
    from ...annotate.ratelimit import limiter_for

    limiter, client = limiter_for(request.app), request.client.host if request.client else "?"
    limiter.check(body.name, client)  # 429 once this name or address has failed too often
    user = users_svc.authenticate(session, body.name, body.password)
    if user is None:
        limiter.failed(body.name, client)
        raise ApiError(401, "Wrong user name or password.")
    limiter.succeeded(body.name)
    _, secret = users_svc.create_token(session, user, name="browser session", kind="session",
                                       expires_days=users_svc.SESSION_DAYS)
    response.set_cookie(SESSION_COOKIE, secret, max_age=users_svc.SESSION_DAYS * 86400, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return {"user": users_svc.identity(user).as_dict()}


@router.post("/auth/logout", response_model=Ok, summary="Sign out (revokes the session)")
def logout(request: Request, response: Response, session: Session = Tx):
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        users_svc.revoke_secret(session, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/auth/tokens", response_model=list[TokenOut], summary="Your API tokens (an admin may pass ?user=)")
def my_tokens(user: str | None = None, who: Identity = Depends(require_user), session: Session = Tx):
    target = users_svc.require_user(session, user or who.name)
    if target.id != who.id and not who.has_role("admin"):
        raise ApiError(403, "Only an admin may list another user's tokens.")
    return [users_svc.token_dict(t) for t in users_svc.list_tokens(session, target)]


@router.post("/auth/tokens", response_model=TokenCreatedOut, summary="Create an API token for yourself; the secret is shown once")
def create_token(body: TokenIn, who: Identity = Depends(require_user), session: Session = Tx):
    user = users_svc.require_user(session, who.name)
    row, secret = users_svc.create_token(session, user, body.name, expires_days=body.expires_days)
    return {**users_svc.token_dict(row), "token": secret}


@router.delete("/auth/tokens/{token_id}", response_model=TokenOut, summary="Revoke one of your tokens")
def revoke_token(token_id: RowId, who: Identity = Depends(require_user), session: Session = Tx):
    return users_svc.token_dict(users_svc.revoke_token(session, token_id, by=who))


# --- users (admin) -----------------------------------------------------------------------------------

@router.get("/users", response_model=list[UserOut], summary="All users (admin)")
def list_users(_: Identity = Depends(admin), session: Session = Tx):
    return [users_svc.user_dict(u) for u in users_svc.list_users(session)]


@router.get("/annotators", response_model=list[str], dependencies=reader, summary="Names of everyone who has labelled (for filters)")
def annotators(session: Session = Tx):
    from sqlalchemy import select

    from ...store.tables.annotation import Label, User

    return sorted(session.scalars(select(User.name).where(User.id.in_(select(Label.user_id)))))


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user (admin)")
def create_user(body: UserCreateIn, _: Identity = Depends(admin), session: Session = Tx):
    return users_svc.user_dict(users_svc.create_user(session, body.name, body.role, body.password, body.display_name))


@router.patch("/users/{name}", response_model=UserOut, summary="Change a user's role, password, display name or disabled flag (admin)")
def patch_user(name: str, body: UserPatchIn, _: Identity = Depends(admin), session: Session = Tx):
    user = users_svc.require_user(session, name)
    if body.role is not None:
        users_svc.set_role(session, name, body.role)
    if body.password is not None:
        users_svc.set_password(session, name, body.password)
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.disabled is not None:
        user.disabled = body.disabled
    return users_svc.user_dict(user)


# --- labels ------------------------------------------------------------------------------------------

def _unit_state(session: Session, ref: UnitRef, who: Identity | None) -> dict[str, Any]:
    info = resolve(session, ref)
    every = labels_svc.unit_labels(session, ref, include_deleted=True)  # one query: yours may be withdrawn
    labels = [l for l in every if not l.deleted]
    mine = next((l for l in every if who is not None and l.user_id == who.id), None)
    return {
        "unit": {**ref.as_dict(), "unit_id": info.unit_id, "layer_position": info.layer_position},
        "labels": [labels_svc.label_dict(l) for l in labels],
        "consensus": labels_svc.consensus(labels),
        "mine": labels_svc.label_dict(mine) if mine else None,
        "families": [families_svc.family_dict(f, with_members=False) for f in families_svc.unit_families(session, ref)],
        "circuits": [circuits_svc.circuit_summary(c) for c in circuits_svc.list_circuits(session, unit=ref)],
        "can_edit": bool(who and who.has_role("annotator")),
    }


@router.get("/labels/{model}/{layer}/{index}", response_model=UnitLabelsOut, dependencies=reader,
            summary="A unit's labels (one per annotator), consensus, your own label, its families and circuits")
def unit_labels(model: str, layer: str, index: UnitIndex, request: Request, session: Session = Tx):
    return _unit_state(session, UnitRef(model, layer, index), current_user(request))


@router.put("/labels/{model}/{layer}/{index}", response_model=UnitLabelsOut,
            summary="Create or update YOUR label on a unit; `version` = the version you loaded (null if none). "
                    "409 if it changed since.")
def put_label(model: str, layer: str, index: UnitIndex, body: LabelIn, who: Identity = Depends(annotator),
              session: Session = Tx):
    ref = UnitRef(model, layer, index)
    fields = body.model_dump(exclude={"version"})
    labels_svc.save_own_label(session, ref, who, fields, body.version)
    return _unit_state(session, ref, who)


@router.patch("/labels-by-id/{label_id}", response_model=LabelOut, summary="Edit a label by id (its annotator, or an admin); 409 if stale")
def patch_label(label_id: RowId, body: LabelPatchIn, who: Identity = Depends(annotator),
                session: Session = Tx):
    fields = body.model_dump(exclude={"version"}, exclude_none=True)
    label = labels_svc.update_label(session, label_id, who, fields, body.version)
    return labels_svc.label_dict(label)


@router.delete("/labels-by-id/{label_id}", response_model=LabelOut, summary="Withdraw a label (kept in history; saving again restores it)")
def delete_label(label_id: RowId, version: int = Query(ge=1, le=MAX_ID), who: Identity = Depends(annotator),
                 session: Session = Tx):
    return labels_svc.label_dict(labels_svc.delete_label(session, label_id, who, version))


@router.get("/labels-by-id/{label_id}/history", response_model=list[LabelRevisionOut], dependencies=reader,
            summary="Every revision of one label")
def label_history(label_id: RowId, session: Session = Tx):
    return labels_svc.history(session, [label_id])


@router.get("/labels/{model}/{layer}/{index}/history", response_model=list[LabelRevisionOut], dependencies=reader,
            summary="Every revision of every label on a unit, newest first")
def unit_label_history(model: str, layer: str, index: UnitIndex, session: Session = Tx):
    labels = labels_svc.unit_labels(session, UnitRef(model, layer, index), include_deleted=True)
    return labels_svc.history(session, [l.id for l in labels])


@router.get("/agreement/{model}", response_model=list[LayerAgreement], dependencies=reader,
            summary="Per layer: labelled units, units with 2+ annotators, pairwise agreement, disputed units")
def agreement(model: str, session: Session = Tx):
    from ...annotate.units import get_model

    get_model(session, model)
    return labels_svc.layer_agreement(session, model)


@router.get("/queue/{model}/{layer}", response_model=QueueOut, dependencies=reader,
            summary="Unlabelled units of a layer, in order (mode any: nobody labelled it; mine: you did not)")
def queue(model: str, layer: str, request: Request, mode: Literal["any", "mine"] = "any",
          after: int = Query(-1, ge=-1, le=MAX_ID), limit: int = Query(50, ge=1, le=500),
          session: Session = Tx):
    idx, total = labels_svc.unlabeled_queue(session, (model, layer), current_user(request), mode, after, limit)
    return {"model": model, "layer": layer, "mode": mode, "remaining": total, "units": idx}


# --- search ------------------------------------------------------------------------------------------

@router.get("/search", response_model=SearchOut, dependencies=reader, summary="Search labels, descriptions and tags, with filters")
def search(q: str = Query("", max_length=200), model: str | None = None, layer: str | None = None,
           family: int | None = Query(None, ge=0, le=MAX_ID), labeled: bool | None = None, annotator: str | None = None,
           status: LabelStatus | None = None, tag: str | None = Query(None, max_length=50),
           limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_ID),
           concept: str | None = Query(None, max_length=200, description="units scored against this concept "
                                          "('orientation=45', or a kind: 'orientation')"),
           min_auc: float = Query(0.9, ge=0, le=1, description="with `concept`: the least AUC"),
           session: Session = Tx):
    return search_svc.search(session, q, model, layer, family, labeled, annotator, status, tag, limit, offset,
                             concept, min_auc)


# --- families ----------------------------------------------------------------------------------------

@router.get("/families", response_model=list[FamilyOut], dependencies=reader, summary="Families (optionally of one model), with members")
def list_families(model: str | None = None, session: Session = Tx):
    return [families_svc.family_dict(f) for f in families_svc.list_families(session, model)]


@router.get("/family-map/{model}/{layer}", response_model=FamilyMapOut, dependencies=reader,
            summary="For the layer grid: the model's families (name, colour) and each unit index's family ids")
def family_map(model: str, layer: str, session: Session = Tx):
    return families_svc.layer_families(session, model, layer)


@router.get("/families/{family_id}", response_model=FamilyOut, dependencies=reader)
def get_family(family_id: RowId, session: Session = Tx):
    return families_svc.family_dict(families_svc.get_family(session, family_id))


@router.get("/families/{family_id}/history", response_model=list[FamilyRevisionOut], dependencies=reader)
def family_history(family_id: RowId, session: Session = Tx):
    families_svc.get_family(session, family_id)
    return families_svc.history(session, family_id)


@router.post("/families", response_model=FamilyOut, status_code=201, summary="Create a family (name, comment, colour, units)")
def create_family(body: FamilyIn, who: Identity = Depends(annotator), session: Session = Tx):
    f = families_svc.create_family(session, who, body.model, body.name, body.comment, body.color,
                                   [(u.layer, u.index) for u in body.units])
    return families_svc.family_dict(f)


@router.patch("/families/{family_id}", response_model=FamilyOut, summary="Rename / comment / recolour a family; 409 if stale")
def patch_family(family_id: RowId, body: FamilyPatchIn, who: Identity = Depends(annotator),
                 session: Session = Tx):
    f = families_svc.update_family(session, family_id, who, body.version, body.name, body.comment, body.color)
    return families_svc.family_dict(f)


@router.post("/families/{family_id}/members", response_model=FamilyOut, summary="Add and/or remove units; 409 if stale")
def family_members(family_id: RowId, body: FamilyMembersIn, who: Identity = Depends(annotator),
                   session: Session = Tx):
    f = families_svc.change_members(session, family_id, who, body.version, [(u.layer, u.index) for u in body.add],
                                    [(u.layer, u.index) for u in body.remove])
    return families_svc.family_dict(f)


@router.delete("/families/{family_id}", response_model=FamilyOut, summary="Delete a family (kept in history)")
def delete_family(family_id: RowId, version: int = Query(ge=1, le=MAX_ID), who: Identity = Depends(annotator),
                  session: Session = Tx):
    return families_svc.family_dict(families_svc.delete_family(session, family_id, who, version))


# --- circuits ----------------------------------------------------------------------------------------

@router.get("/circuits", response_model=list[CircuitSummary], dependencies=reader,
            summary="Circuit hypotheses (filter by model, status, or a unit)")
def list_circuits(model: str | None = None, status: CircuitStatus | None = None,
                  layer: str | None = None, index: int | None = Query(None, ge=0, le=MAX_ID), session: Session = Tx):
    unit = UnitRef(model, layer, index) if model and layer and index is not None else None
    return [circuits_svc.circuit_summary(c) for c in circuits_svc.list_circuits(session, model, status, unit)]


@router.post("/circuits", response_model=CircuitOut, status_code=201, summary="Create a circuit; edges are filled from the stored weights")
def create_circuit(body: CircuitIn, who: Identity = Depends(annotator), session: Session = Tx):
    c = circuits_svc.create_circuit(session, who, body.model, body.name, body.claim, body.status, body.evidence,
                                    [(u.layer, u.index) for u in body.units])
    return circuits_svc.circuit_dict(session, c)


@router.get("/circuits/{circuit_id}", response_model=CircuitOut, dependencies=reader,
            summary="A circuit: nodes (label, thumbnail, layer position), signed edges, supernodes, problems")
def get_circuit(circuit_id: RowId, session: Session = Tx):
    return circuits_svc.circuit_dict(session, circuits_svc.get_circuit(session, circuit_id))


@router.patch("/circuits/{circuit_id}", response_model=CircuitOut,
              summary="Change name, claim, status, evidence or supernodes; 409 if stale")
def patch_circuit(circuit_id: RowId, body: CircuitPatchIn, who: Identity = Depends(annotator),
                  session: Session = Tx):
    fields = body.model_dump(exclude={"version"}, exclude_none=True)
    c = circuits_svc.update_circuit(session, circuit_id, who, body.version, **fields)
    return circuits_svc.circuit_dict(session, c)


@router.delete("/circuits/{circuit_id}", response_model=CircuitSummary, summary="Delete a circuit (author or admin; kept in history)")
def delete_circuit(circuit_id: RowId, version: int = Query(ge=1, le=MAX_ID), who: Identity = Depends(annotator),
                   session: Session = Tx):
    return circuits_svc.circuit_summary(circuits_svc.delete_circuit(session, circuit_id, who, version))


@router.post("/circuits/{circuit_id}/nodes", response_model=CircuitOut, summary="Add units (any layer); edges are filled; 409 if stale")
def add_nodes(circuit_id: RowId, body: CircuitNodesIn, who: Identity = Depends(annotator),
              session: Session = Tx):
    c = circuits_svc.add_nodes(session, circuit_id, who, body.version, [(u.layer, u.index) for u in body.units])
    return circuits_svc.circuit_dict(session, c)


@router.post("/circuits/{circuit_id}/nodes/remove", response_model=CircuitOut, summary="Remove nodes ('layer:index'); 409 if stale")
def remove_nodes(circuit_id: RowId, body: CircuitRemoveIn, who: Identity = Depends(annotator),
                 session: Session = Tx):
    c = circuits_svc.remove_nodes(session, circuit_id, who, body.version, body.nodes)
    return circuits_svc.circuit_dict(session, c)


@router.patch("/circuits/{circuit_id}/nodes/{key}", response_model=CircuitOut, summary="Pin / annotate one node ('layer:index')")
def patch_node(circuit_id: RowId, key: str, body: NodePatchIn, who: Identity = Depends(annotator),
               session: Session = Tx):
    c = circuits_svc.update_node(session, circuit_id, who, body.version, key, body.pinned, body.note)
    return circuits_svc.circuit_dict(session, c)


@router.post("/circuits/{circuit_id}/refresh-edges", response_model=CircuitOut, summary="Re-derive edges from the stored weights")
def refresh_edges(circuit_id: RowId, body: RefreshIn, who: Identity = Depends(annotator),
                  session: Session = Tx):
    c = circuits_svc.refresh_edges(session, circuit_id, who, body.version, tuple(body.kinds))
    return circuits_svc.circuit_dict(session, c)


@router.get("/circuits/{circuit_id}/suggestions", response_model=SuggestionsOut, dependencies=reader,
            summary="Strongest upstream and downstream units (by weight L2) not yet in the circuit")
def circuit_suggestions(circuit_id: RowId, limit: int = Query(10, ge=1, le=100), session: Session = Tx):
    return circuits_svc.circuit_suggestions(session, circuit_id, limit)


@router.get("/circuits/{circuit_id}/history", response_model=list[CircuitRevisionOut], dependencies=reader,
            summary="Every revision of a circuit")
def circuit_history(circuit_id: RowId, session: Session = Tx):
    circuits_svc.get_circuit(session, circuit_id)
    return circuits_svc.history(session, circuit_id)


@router.get("/suggestions/{model}/{layer}/{index}", response_model=SuggestionsOut, dependencies=reader,
            summary="Strongest upstream and downstream units of one unit")
def unit_suggestions(model: str, layer: str, index: UnitIndex, limit: int = Query(10, ge=1, le=100),
                     session: Session = Tx):
    info = resolve(session, UnitRef(model, layer, index))
    return circuits_svc.suggestions(session, model, [info.unit_id], limit)


# --- export / import ---------------------------------------------------------------------------------

def _download(content: str | bytes, filename: str, media: str) -> Response:
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _safe_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "export"


@router.get("/export/circuits/{circuit_id}", dependencies=reader,
            summary="Download a circuit: graph-json (Neuronpedia), node-link (networkx), graphml, or html report")
def export_circuit(circuit_id: RowId, request: Request,
                   format: Literal["graph-json", "node-link", "graphml", "html"] = "graph-json",
                   download: bool = True, session: Session = Tx):
    c = circuits_svc.get_circuit(session, circuit_id)
    base = _safe_name(f"{c.model_slug}-{c.name}-{c.id}")
    body: str | bytes
    if format == "graph-json":
        from ...export.graph_json import circuit_to_graph

        body, name, media = json.dumps(circuit_to_graph(session, circuit_id), indent=1), f"{base}.graph.json", "application/json"
    elif format == "node-link":
        from ...export.networkx_export import node_link

        body, name, media = json.dumps(node_link(session, circuit_id), indent=1), f"{base}.nodelink.json", "application/json"
    elif format == "graphml":
        from ...export.networkx_export import graphml

        body, name, media = graphml(session, circuit_id), f"{base}.graphml", "application/graphml+xml"
    else:
        from ...export.html_report import circuit_report_html

        html = circuit_report_html(session, circuit_id, get_blobs(request))
        if not download:
            return HTMLResponse(html, headers={"Content-Security-Policy":
                                               "default-src 'none'; img-src data:; style-src 'unsafe-inline'"})
        body, name, media = html, f"{base}.html", "text/html"
    return _download(body, name, media) if download else Response(body, media_type=media)


@router.get("/export/labels/{model}", dependencies=reader, summary="All labels of a model as CSV or JSON")
def export_labels(model: str, format: Literal["csv", "json"] = "csv", session: Session = Tx):
    from ...export.labels_export import labels_csv, labels_json

    if format == "csv":
        return _download(labels_csv(session, model), f"{_safe_name(model)}-labels.csv", "text/csv")
    return _download(json.dumps(labels_json(session, model), indent=1), f"{_safe_name(model)}-labels.json",
                     "application/json")


@router.get("/export/project", dependencies=reader,
            summary="Everything recorded: labels with history, families, circuits, and the user names they use")
def export_project(model: list[str] | None = Query(None), session: Session = Tx):
    from ...export.project import export_project as run

    return _download(json.dumps(run(session, model), indent=1), "circuitscope-project.json", "application/json")


@router.get("/export/graph-schema", response_model=dict[str, Any], dependencies=reader, summary="The JSON schema of the graph JSON format")
def graph_schema():
    from ...export.graph_json import graph_schema as schema

    return JSONResponse(schema())


async def json_upload(request: Request) -> Any:
    """The request body as parsed JSON (an upload of up to MAX_IMPORT_BYTES, larger than the usual body limit);
    a dependency, so the import routes below stay plain sync routes with the request's one transaction."""
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_IMPORT_BYTES:
        raise ApiError(413, f"Import too large: {size} bytes (at most {MAX_IMPORT_BYTES}).")
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"Import too large (at most {MAX_IMPORT_BYTES} bytes).")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(422, f"Import refused, nothing was written. First problem: the file is not JSON ({e}).") from None


@router.post("/import/project", response_model=ProjectImportOut,
             summary="Import a project export (admin). All or nothing: the first problem is "
                                        "reported and nothing is written.")
def import_project(allow_missing_units: bool = False, who: Identity = Depends(admin), doc: Any = Depends(json_upload),
                   session: Session = Tx):
    from ...export.project import import_project as run

    return run(session, doc, allow_missing_units=allow_missing_units)  # one transaction: all or nothing


@router.post("/import/circuit", response_model=CircuitOut, status_code=201,
             summary="Import a circuit from attribution-graph JSON (as exported); creates a new circuit")
def import_circuit(who: Identity = Depends(annotator), doc: Any = Depends(json_upload), session: Session = Tx):
    from ...export.graph_json import import_graph_circuit

    return circuits_svc.circuit_dict(session, import_graph_circuit(session, doc, who))


@router.post("/admin/relink", response_model=RelinkOut,
             summary="Attach annotations of units that disappeared to the recomputed units (admin)")
def relink(_: Identity = Depends(admin), session: Session = Tx):
    return {"attached": relink_detached(session)}

