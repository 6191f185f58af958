"""The closed sets of names shared by the tables, the run configuration and the API (one place, so the OpenAPI
document lists them as enums and the generated client gets them as union types).

Values are stored as plain text in the database; the tuples below are what table code checks against."""
from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10: the same behaviour (str() and format() give the value)
    class StrEnum(str, Enum):
        __str__ = str.__str__
        __format__ = str.__format__  # type: ignore[assignment]


class Role(StrEnum):
    """Ordered: a viewer reads; an annotator writes labels, families and circuits; an admin also manages users."""

    VIEWER = "viewer"
    ANNOTATOR = "annotator"
    ADMIN = "admin"


class LabelStatus(StrEnum):
    DRAFT = "draft"
    CONFIDENT = "confident"
    DISPUTED = "disputed"


class CircuitStatus(StrEnum):
    PROPOSED = "proposed"
    SUPPORTED = "supported"
    REFUTED = "refuted"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobKind(StrEnum):
    COMPUTE = "compute"
    CIRCUIT_TEST = "circuit-test"
    TUNING_LAYER = "tuning-layer"


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StageStatus(StrEnum):
    """One stage (examples, feature vis, weights) of one layer."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class LayerStatus(StrEnum):
    """A layer (or model) as the browser shows it, derived from its stages."""

    DONE = "done"
    RUNNING = "running"
    PARTIAL = "partial"
    NOT_COMPUTED = "not_computed"


class Objective(StrEnum):
    """Feature-visualization objectives (records/featurevis/objectives.py)."""

    CHANNEL = "channel"
    NEURON = "neuron"
    NEGATIVE = "negative"
    DIVERSITY = "diversity"


class ExampleKind(StrEnum):
    TOP = "top"
    BOTTOM = "bottom"
    QUANTILE = "quantile"


class ConnectionKind(StrEnum):
    """How a weight between two units was obtained: adjacent layers, or expanded through those between."""

    DIRECT = "direct"
    EXPANDED = "expanded"


class EdgeKind(StrEnum):
    """A circuit edge: from the stored connections, or drawn by hand (kept when edges are re-derived)."""

    DIRECT = "direct"
    EXPANDED = "expanded"
    MANUAL = "manual"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The plain-text values, in declaration order (what the tables store and error messages list)."""
    return tuple(member.value for member in enum)
