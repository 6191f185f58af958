"""Full project export / import: labels with their history, families, circuits, and the users they name.

Units are referenced by (model slug, layer name, unit index), never by database ids. Users are exported by
name, display name and role only (no passwords or tokens: set them again with `circuitscope users
set-password` after an import).

Import is all-or-nothing: the whole document is checked first (structure, limits, references between its
parts, that the referenced units exist, and that nothing in it is already in the database) and the first
problem is reported with its path (e.g. `labels[3].history[0].editor: ...`); only then is it written, in the
caller's single transaction. Units must exist (the models computed) unless `allow_missing_units` is set:
then annotations of missing units are kept "detached" (unit_id NULL), reported, and attached automatically
by `annotate.units.relink_detached` once the units exist. No bare unit rows are invented.

Round trip: `export_project(import_project(export_project(db)))` equals the original, `exported_at` aside.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..annotate import circuits as circuits_svc
from ..annotate import families as families_svc
from ..annotate.common import LIMITS
from ..annotate.units import resolve_many
from ..annotate.users import NAME_RE, AnnotateError, get_user, iso, parse_iso, utcnow_iso
from ..circuit_tests import exchange as circuit_tests_exchange
from ..store.tables.annotation import (
    Circuit,
    CircuitEdge,
    CircuitNode,
    CircuitRevision,
    Family,
    FamilyMember,
    FamilyRevision,
    Label,
    LabelRevision,
    User,
)
from ..store.tables.evidence import LabelClaim
from ..store.tables.records import Model

FORMAT = "circuitscope-project"
FORMAT_VERSION = 1


# --- export ----------------------------------------------------------------------------------------

def export_project(session: Session, models: list[str] | None = None) -> dict[str, Any]:
    users: dict[int, User] = {u.id: u for u in session.scalars(select(User))}
    name = lambda uid: users[uid].name  # noqa: E731
    used: set[int] = set()

    def use(uid: int) -> str:
        used.add(uid)
        return name(uid)

    label_q = select(Label)
    fam_q = select(Family)
    circ_q = select(Circuit)
    if models:
        label_q = label_q.where(Label.model_slug.in_(models))
        fam_q = fam_q.where(Family.model_slug.in_(models))
        circ_q = circ_q.where(Circuit.model_slug.in_(models))

    label_revs = _revisions(session, LabelRevision.label_id, label_q.with_only_columns(Label.id))
    from ..evidence.label_scores import claims_by_label  # the concepts each label claims

    claims = claims_by_label(session, session.scalars(label_q.with_only_columns(Label.id)).all())
    labels: list[dict[str, Any]] = []
    for l in session.scalars(label_q):
        labels.append({
            "model": l.model_slug, "layer": l.layer_name, "index": l.unit_index, "annotator": use(l.user_id),
            "label": l.label, "description": l.description, "tags": list(l.tags or []), "confidence": l.confidence,
            "status": l.status, "deleted": l.deleted, "version": l.version, "created_at": iso(l.created_at),
            "updated_at": iso(l.updated_at),
            "history": [{"version": r.version, "editor": use(r.editor_id), "action": r.action,
                         "snapshot": r.snapshot, "created_at": iso(r.created_at)} for r in label_revs[l.id]],
            "claims": claims.get(l.id, []),
        })
    labels.sort(key=lambda x: (x["model"], x["layer"], x["index"], x["annotator"]))

    family_revs = _revisions(session, FamilyRevision.family_id, fam_q.with_only_columns(Family.id))
    families: list[dict[str, Any]] = []
    for f in session.scalars(fam_q.options(selectinload(Family.members))):
        families.append({
            "uid": f.uid, "model": f.model_slug, "name": f.name, "comment": f.comment, "color": f.color,
            "created_by": use(f.created_by), "deleted": f.deleted, "version": f.version,
            "created_at": iso(f.created_at), "updated_at": iso(f.updated_at),
            "members": sorted(({"layer": m.layer_name, "index": m.unit_index, "added_by": use(m.added_by),
                                "added_at": iso(m.added_at)} for m in f.members),
                              key=lambda m: (m["layer"], m["index"])),
            "history": [{"version": r.version, "editor": use(r.editor_id), "action": r.action, "snapshot": r.snapshot,
                         "created_at": iso(r.created_at)} for r in family_revs[f.id]],
        })
    families.sort(key=lambda x: (x["model"], x["name"], x["uid"]))

    circuit_revs = _revisions(session, CircuitRevision.circuit_id, circ_q.with_only_columns(Circuit.id))
    circuits: list[dict[str, Any]] = []
    for c in session.scalars(circ_q.options(selectinload(Circuit.nodes), selectinload(Circuit.edges))):
        keys = {n.id: circuits_svc.node_key(n.layer_name, n.unit_index) for n in c.nodes}
        circuits.append({
            "uid": c.uid, "model": c.model_slug, "name": c.name, "claim": c.claim, "status": c.status,
            "evidence": c.evidence, "supernodes": c.supernodes or [], "author": use(c.author_id), "deleted": c.deleted,
            "version": c.version, "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
            "nodes": sorted(({"layer": n.layer_name, "index": n.unit_index, "pinned": n.pinned, "note": n.note}
                             for n in c.nodes), key=lambda n: (n["layer"], n["index"])),
            "edges": sorted(({"source": keys[e.src_node_id], "target": keys[e.dst_node_id], "kind": e.kind,
                              "weight": e.weight, "l2": e.l2} for e in c.edges),
                            key=lambda e: (e["source"], e["target"])),
            "history": [{"version": r.version, "editor": use(r.editor_id), "action": r.action, "summary": r.summary,
                         "snapshot": r.snapshot, "created_at": iso(r.created_at)} for r in circuit_revs[c.id]],
            "tests": circuit_tests_exchange.export_tests(session, c.id),  # stored circuit tests (evidence)
        })
    circuits.sort(key=lambda x: (x["created_at"] or "", x["uid"]))

    model_slugs = sorted({x["model"] for x in labels} | {x["model"] for x in families} | {x["model"] for x in circuits})
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "generator": "circuitscope 0.1.0",
        "exported_at": utcnow_iso(), "models": model_slugs,
        "users": sorted(({"name": users[u].name, "display_name": users[u].display_name, "role": users[u].role}
                         for u in used), key=lambda u: u["name"]),
        "labels": labels, "families": families, "circuits": circuits,
    }


def _revisions(session: Session, owner_fk, owner_ids) -> dict[int, list[Any]]:
    """The revisions of the owners `owner_ids` (a select of ids), in one query: owner id -> revisions by version."""
    rev_cls = owner_fk.class_
    out: dict[int, list[Any]] = defaultdict(list)
    for r in session.scalars(select(rev_cls).where(owner_fk.in_(owner_ids)).order_by(rev_cls.version)):
        out[getattr(r, owner_fk.key)].append(r)
    return out


# --- document schema (what an import accepts) ------------------------------------------------------

class _M(BaseModel):
    # NaN and Infinity are not JSON: once stored they make every later read and export of the row fail.
    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)


MAX_SNAPSHOT_BYTES = 64 * 1024  # a revision snapshot is one row's fields; real ones are a few kB


def _ts(v: Any) -> str:
    if not isinstance(v, str) or len(v) > 64:
        raise ValueError("must be an ISO 8601 timestamp")
    try:
        parse_iso(v).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(f"{v!r} is not an ISO 8601 timestamp in the range this database stores") from None
    return v


def _snapshot(v: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        size = len(json.dumps(v, allow_nan=False))
    except ValueError:
        raise ValueError("contains NaN or Infinity, which JSON does not allow; use finite numbers or null") from None
    if size > MAX_SNAPSHOT_BYTES:
        raise ValueError(f"is {size} bytes; a revision snapshot holds at most {MAX_SNAPSHOT_BYTES}")
    return v


Snapshot = Annotated[dict[str, Any], AfterValidator(_snapshot)]


Ts = Annotated[str, AfterValidator(_ts)]


class UserDoc(_M):
    name: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    role: Literal["viewer", "annotator", "admin"]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid user name")
        return v


class LabelSnapshot(_M):
    label: str = Field(max_length=LIMITS["label"])
    description: str = Field(max_length=LIMITS["description"])
    tags: list[str] = Field(max_length=LIMITS["tags"])
    confidence: float = Field(ge=0, le=1)
    status: Literal["draft", "confident", "disputed"]
    deleted: bool


class LabelRevisionDoc(_M):
    version: int = Field(ge=1, le=2**63 - 1)
    editor: str = Field(max_length=64)
    action: Literal["create", "update", "delete", "restore", "import"]
    snapshot: LabelSnapshot
    created_at: Ts


class LabelDoc(_M):
    model: str = Field(min_length=1, max_length=100)
    layer: str = Field(min_length=1, max_length=300)
    index: int = Field(ge=0, le=2**63 - 1)
    annotator: str = Field(max_length=64)
    label: str = Field(max_length=LIMITS["label"])
    description: str = Field(max_length=LIMITS["description"])
    tags: list[str] = Field(max_length=LIMITS["tags"])
    confidence: float = Field(ge=0, le=1)
    status: Literal["draft", "confident", "disputed"]
    deleted: bool = False
    version: int = Field(ge=1, le=2**63 - 1)
    created_at: Ts
    updated_at: Ts
    history: list[LabelRevisionDoc] = Field(min_length=1)
    claims: list[str] = Field(default_factory=list, max_length=8)  # concepts the label claims (label evidence)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for t in v:
            if len(t) > LIMITS["tag"]:
                raise ValueError(f"tag {t[:20]!r}… is longer than {LIMITS['tag']} characters")
        return v


class FamilyMemberDoc(_M):
    layer: str = Field(min_length=1, max_length=300)
    index: int = Field(ge=0, le=2**63 - 1)
    added_by: str = Field(max_length=64)
    added_at: Ts


class RevisionDoc(_M):
    version: int = Field(ge=1, le=2**63 - 1)
    editor: str = Field(max_length=64)
    action: str = Field(max_length=30)
    summary: str = Field(default="", max_length=500)
    snapshot: Snapshot
    created_at: Ts


class FamilyDoc(_M):
    uid: str = Field(min_length=1, max_length=36)
    model: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=LIMITS["family_name"])
    comment: str = Field(max_length=LIMITS["family_comment"])
    color: str = Field(max_length=20)
    created_by: str = Field(max_length=64)
    deleted: bool = False
    version: int = Field(ge=1, le=2**63 - 1)
    created_at: Ts
    updated_at: Ts
    members: list[FamilyMemberDoc]
    history: list[RevisionDoc] = Field(min_length=1)


class SupernodeDoc(_M):
    name: str = Field(max_length=LIMITS["supernode_name"])
    nodes: list[Annotated[str, Field(max_length=400)]] = Field(max_length=LIMITS["circuit_nodes"])


class CircuitNodeDoc(_M):
    layer: str = Field(min_length=1, max_length=300)
    index: int = Field(ge=0, le=2**63 - 1)
    pinned: bool = False
    note: str = Field(default="", max_length=LIMITS["note"])


class CircuitEdgeDoc(_M):
    source: str = Field(max_length=400)
    target: str = Field(max_length=400)
    kind: Literal["direct", "expanded", "manual"]
    weight: float
    l2: float


class CircuitDoc(_M):
    uid: str = Field(min_length=1, max_length=36)
    model: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=LIMITS["circuit_name"])
    claim: str = Field(max_length=LIMITS["claim"])
    status: Literal["proposed", "supported", "refuted"]
    evidence: str = Field(max_length=LIMITS["evidence"])
    supernodes: list[SupernodeDoc] = Field(max_length=LIMITS["supernodes"])
    author: str = Field(max_length=64)
    deleted: bool = False
    version: int = Field(ge=1, le=2**63 - 1)
    created_at: Ts
    updated_at: Ts
    nodes: list[CircuitNodeDoc] = Field(max_length=LIMITS["circuit_nodes"])
    edges: list[CircuitEdgeDoc] = Field(max_length=LIMITS["circuit_nodes"] ** 2)
    history: list[RevisionDoc] = Field(min_length=1)
    tests: list[circuit_tests_exchange.CircuitTestDoc] = []


class ProjectDoc(_M):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)  # newer exporters may add informational keys
    format: Literal["circuitscope-project"]
    format_version: int
    generator: str | None = Field(None, max_length=200)
    exported_at: str | None = Field(None, max_length=64)
    models: list[Annotated[str, Field(max_length=100)]] = []
    users: list[UserDoc]
    labels: list[LabelDoc]
    families: list[FamilyDoc]
    circuits: list[CircuitDoc]


def _loc(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out.lstrip(".") or "(document)"


class ImportError_(AnnotateError):
    def __init__(self, where: str, message: str):
        super().__init__(422, f"Import refused, nothing was written. First problem: {where}: {message}", where=where)


def parse_document(raw: Any) -> ProjectDoc:
    if not isinstance(raw, dict):
        raise ImportError_("(document)", "expected a JSON object (a circuitscope project export)")
    if raw.get("format") != FORMAT:
        raise ImportError_("format", f"expected {FORMAT!r} (got {raw.get('format')!r}); is this a project export? "
                                     "Circuits in graph JSON are imported with `import circuit`")
    if isinstance(raw.get("format_version"), int) and raw["format_version"] > FORMAT_VERSION:
        raise ImportError_("format_version", f"{raw['format_version']} is newer than this circuitscope reads "
                                             f"({FORMAT_VERSION}); upgrade circuitscope")
    try:
        return ProjectDoc.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        return _raise(_loc(err["loc"]), err["msg"])


def _raise(where: str, msg: str):
    raise ImportError_(where, msg)


# --- import ----------------------------------------------------------------------------------------

def check_project(session: Session, doc: ProjectDoc, allow_missing_units: bool = False) -> dict[str, Any]:
    """Every check, no writes. Returns the resolved units and a list of warnings."""
    names = [u.name for u in doc.users]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        _raise("users", f"user {dup!r} is listed twice")
    known = set(names)

    def user(where: str, n: str) -> None:
        if n not in known:
            _raise(where, f"user {n!r} is not in the document's users list")

    warnings: list[str] = []
    wanted: dict[str, set[tuple[str, int]]] = defaultdict(set)
    seen_labels: set[tuple] = set()
    for i, l in enumerate(doc.labels):
        w = f"labels[{i}]"
        user(f"{w}.annotator", l.annotator)
        key = (l.model, l.layer, l.index, l.annotator)
        if key in seen_labels:
            _raise(w, f"a second label by {l.annotator!r} on {l.model}/{l.layer}/{l.index}")
        seen_labels.add(key)
        _history(w, l.history, l.version, user)
        wanted[l.model].add((l.layer, l.index))
    uids: set[str] = set()
    fam_names: set[tuple[str, str]] = set()
    for i, f in enumerate(doc.families):
        w = f"families[{i}]"
        user(f"{w}.created_by", f.created_by)
        if f.uid in uids:
            _raise(f"{w}.uid", f"{f.uid!r} appears twice")
        uids.add(f.uid)
        if (f.model, f.name) in fam_names:
            _raise(f"{w}.name", f"model {f.model!r} has two families named {f.name!r}")
        fam_names.add((f.model, f.name))
        if f.color and not families_svc.COLOR_RE.match(f.color):
            _raise(f"{w}.color", f"use #rrggbb (got {f.color!r})")
        members = set()
        for j, m in enumerate(f.members):
            user(f"{w}.members[{j}].added_by", m.added_by)
            if (m.layer, m.index) in members:
                _raise(f"{w}.members[{j}]", f"{m.layer}/{m.index} is listed twice")
            members.add((m.layer, m.index))
            wanted[f.model].add((m.layer, m.index))
        _history(w, f.history, f.version, user)
    for i, c in enumerate(doc.circuits):
        w = f"circuits[{i}]"
        user(f"{w}.author", c.author)
        if c.uid in uids:
            _raise(f"{w}.uid", f"{c.uid!r} appears twice")
        uids.add(c.uid)
        keys = set()
        for j, n in enumerate(c.nodes):
            k = circuits_svc.node_key(n.layer, n.index)
            if k in keys:
                _raise(f"{w}.nodes[{j}]", f"{k} is listed twice")
            keys.add(k)
            wanted[c.model].add((n.layer, n.index))
        pairs = set()
        for j, e in enumerate(c.edges):
            for end in ("source", "target"):
                if getattr(e, end) not in keys:
                    _raise(f"{w}.edges[{j}].{end}", f"{getattr(e, end)!r} is not a node of this circuit")
            if (e.source, e.target) in pairs:
                _raise(f"{w}.edges[{j}]", f"edge {e.source} -> {e.target} is listed twice")
            pairs.add((e.source, e.target))
        for j, s in enumerate(c.supernodes):
            for k in s.nodes:
                if k not in keys:
                    _raise(f"{w}.supernodes[{j}]", f"{k!r} is not a node of this circuit")
        _history(w, c.history, c.version, user)

    # Against the database: models and units exist; nothing is imported twice.
    resolved: dict[str, dict[tuple[str, int], Any]] = {}
    for model, unit_pairs in sorted(wanted.items()):
        exists = session.scalar(select(Model.id).where(Model.slug == model)) is not None
        found = resolve_many(session, model, unit_pairs) if exists else {}
        resolved[model] = found
        missing = sorted(unit_pairs - set(found))
        if missing:
            where = _first_use(doc, model, missing)
            what = (f"model {model!r} does not exist in this database" if not exists else
                    f"unit {missing[0][0]}/{missing[0][1]} of model {model!r} does not exist ({len(missing)} "
                    "missing in all)")
            if not allow_missing_units:
                _raise(where, what + ". Register and compute the model first, or import with "
                                     "--allow-missing-units to keep these annotations detached")
            warnings.append(f"{what}: their annotations are imported detached")
    for i, l in enumerate(doc.labels):
        existing = session.scalar(select(Label.id).join(User, Label.user_id == User.id).where(
            Label.model_slug == l.model, Label.layer_name == l.layer, Label.unit_index == l.index,
            User.name == l.annotator))
        if existing is not None:
            _raise(f"labels[{i}]", f"{l.annotator!r} already has a label on {l.model}/{l.layer}/{l.index} in this "
                                   "database (project import is for a fresh database; it never overwrites)")
    for i, f in enumerate(doc.families):
        if session.scalar(select(Family.id).where(Family.uid == f.uid)) is not None:
            _raise(f"families[{i}].uid", f"family {f.name!r} ({f.uid}) is already in this database")
        if session.scalar(select(Family.id).where(Family.model_slug == f.model, Family.name == f.name)) is not None:
            _raise(f"families[{i}].name", f"model {f.model!r} already has a family named {f.name!r}")
    for i, c in enumerate(doc.circuits):
        if session.scalar(select(Circuit.id).where(Circuit.uid == c.uid)) is not None:
            _raise(f"circuits[{i}].uid", f"circuit {c.name!r} ({c.uid}) is already in this database")
    return {"resolved": resolved, "warnings": warnings}


def _history(where: str, history: list, version: int, user) -> None:
    versions = [h.version for h in history]
    if len(set(versions)) != len(versions):
        _raise(f"{where}.history", "two revisions with the same version")
    if max(versions) != version:
        _raise(f"{where}.version", f"is {version} but the newest revision in its history is {max(versions)}")
    for j, h in enumerate(history):
        user(f"{where}.history[{j}].editor", h.editor)


def _first_use(doc: ProjectDoc, model: str, missing: list[tuple[str, int]]) -> str:
    miss = set(missing)
    for i, l in enumerate(doc.labels):
        if l.model == model and (l.layer, l.index) in miss:
            return f"labels[{i}]"
    for i, f in enumerate(doc.families):
        for j, m in enumerate(f.members):
            if f.model == model and (m.layer, m.index) in miss:
                return f"families[{i}].members[{j}]"
    for i, c in enumerate(doc.circuits):
        for j, n in enumerate(c.nodes):
            if c.model == model and (n.layer, n.index) in miss:
                return f"circuits[{i}].nodes[{j}]"
    return "(document)"


def _dt(value: str):
    return parse_iso(value).astimezone(timezone.utc)


def import_project(session: Session, raw: Any, allow_missing_units: bool = False) -> dict[str, Any]:
    """Validate everything, then write everything (in the caller's transaction). Returns counts + warnings."""
    doc = parse_document(raw)
    checked = check_project(session, doc, allow_missing_units)
    resolved = checked["resolved"]

    def unit_id(model: str, layer: str, index: int) -> int | None:
        hit = resolved.get(model, {}).get((layer, index))
        return hit.unit_id if hit else None

    ids: dict[str, int] = {}
    created_users = 0
    for u in doc.users:
        row = get_user(session, u.name)
        if row is None:
            row = User(name=u.name, display_name=u.display_name, role=u.role)
            session.add(row)
            session.flush()
            created_users += 1
        ids[u.name] = row.id

    for l in doc.labels:
        label_row = Label(unit_id=unit_id(l.model, l.layer, l.index), model_slug=l.model, layer_name=l.layer,
                          unit_index=l.index, user_id=ids[l.annotator], label=l.label, description=l.description,
                          tags=list(l.tags), confidence=l.confidence, status=l.status, deleted=l.deleted, version=l.version,
                          created_at=_dt(l.created_at), updated_at=_dt(l.updated_at))
        session.add(label_row)
        session.flush()
        for h in l.history:
            session.add(LabelRevision(label_id=label_row.id, version=h.version, editor_id=ids[h.editor], action=h.action,
                                      snapshot=h.snapshot.model_dump(), created_at=_dt(h.created_at)))
        for concept in dict.fromkeys(c.strip() for c in l.claims if c.strip()):
            session.add(LabelClaim(label_id=label_row.id, concept=concept[:200]))
    for f in doc.families:
        family_row = Family(uid=f.uid, model_slug=f.model, name=f.name, comment=f.comment, color=f.color,
                            created_by=ids[f.created_by], version=f.version, deleted=f.deleted, created_at=_dt(f.created_at),
                            updated_at=_dt(f.updated_at))
        session.add(family_row)
        session.flush()
        for m in f.members:
            session.add(FamilyMember(family_id=family_row.id, unit_id=unit_id(f.model, m.layer, m.index), layer_name=m.layer,
                                     unit_index=m.index, added_by=ids[m.added_by], added_at=_dt(m.added_at)))
        for fh in f.history:
            session.add(FamilyRevision(family_id=family_row.id, version=fh.version, editor_id=ids[fh.editor], action=fh.action,
                                       snapshot=fh.snapshot, created_at=_dt(fh.created_at)))
    for c in doc.circuits:
        circuit_row = Circuit(uid=c.uid, model_slug=c.model, name=c.name, claim=c.claim, status=c.status, evidence=c.evidence,
                              supernodes=[s.model_dump() for s in c.supernodes], author_id=ids[c.author], version=c.version,
                              deleted=c.deleted, created_at=_dt(c.created_at), updated_at=_dt(c.updated_at))
        session.add(circuit_row)
        session.flush()
        node_ids: dict[str, int] = {}
        for n in c.nodes:
            node = CircuitNode(circuit_id=circuit_row.id, unit_id=unit_id(c.model, n.layer, n.index), layer_name=n.layer,
                               unit_index=n.index, pinned=n.pinned, note=n.note)
            session.add(node)
            session.flush()
            node_ids[circuits_svc.node_key(n.layer, n.index)] = node.id
        for e in c.edges:
            session.add(CircuitEdge(circuit_id=circuit_row.id, src_node_id=node_ids[e.source], dst_node_id=node_ids[e.target],
                                    kind=e.kind, weight=e.weight, l2=e.l2))
        for ch in c.history:
            session.add(CircuitRevision(circuit_id=circuit_row.id, version=ch.version, editor_id=ids[ch.editor], action=ch.action,
                                        summary=ch.summary, snapshot=ch.snapshot, created_at=_dt(ch.created_at)))
        circuit_tests_exchange.import_tests(session, circuit_row.id, c.tests)
    session.flush()
    return {"users_created": created_users, "labels": len(doc.labels), "families": len(doc.families),
            "circuits": len(doc.circuits), "warnings": checked["warnings"]}
