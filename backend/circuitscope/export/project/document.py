"""The project document: what an import accepts (structure, limits, timestamps, snapshot sizes), checked by
pydantic; the first problem is refused with its path (e.g. `labels[3].history[0].editor`)."""
from __future__ import annotations

from datetime import timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...annotate.common import LIMITS
from ...annotate.users import NAME_RE, parse_iso
from ...circuit_tests import exchange as circuit_tests_exchange
from ...errors import Invalid

FORMAT = "circuitscope-project"
FORMAT_VERSION = 1


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


class ImportError_(Invalid):
    def __init__(self, where: str, message: str):
        super().__init__(f"Import refused, nothing was written. First problem: {where}: {message}", where=where)


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
        return refuse(_loc(err["loc"]), err["msg"])


def refuse(where: str, msg: str):
    raise ImportError_(where, msg)
