"""Response models of label evidence: tuning curves, the blind human comparison, claims and scores."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ...enums import JobKind, JobStatus
from .common import ImageUrl, Out, UtcDatetime
from .labels import LabelEvidence

Answer = Literal["fits", "partly", "not"]


class TuningCurveOut(Out):
    """One tuning curve (evidence/tuning.py tuning_curve): the unit's response at each value of one parameter."""

    # a curve precomputed by an older layer job may carry keys this version no longer writes
    model_config = ConfigDict(extra="allow")
    param: str
    values: list[float]
    responses: list[float]
    preferred: float | None
    preferred_response: float | None
    flat: bool
    depth: float | None
    blank_response: float
    stimulus: dict[str, Any] = Field(description="the stimulus family and its fixed parameters")
    convention: str
    measure: str
    layer: str
    index: int
    input_size: int
    seconds: float
    model: str
    top_activation: float | None
    precomputed: UtcDatetime | str | None = Field(None, description="when the curve comes from a layer job: "
                                                  "when that job finished")


class SampleOut(Out):
    id: int
    measure: str
    scanned: int
    items: int
    params: dict[str, Any]
    created_at: UtcDatetime | None


class TaskLabel(Out):
    id: int
    text: str
    version: int
    annotator: str
    description: str


class TaskItem(Out):
    id: int
    crop: ImageUrl
    image: ImageUrl
    box: list[int] = Field(description="receptive field [x0, y0, x1, y1] in input pixels")
    size: int
    ref: str


class TaskOut(Out):
    label: TaskLabel
    sample: SampleOut | None
    items: list[TaskItem]
    answers: dict[str, Answer] = Field(description="item id -> your answer")


class AnswerOut(Out):
    item_id: int
    answer: Answer
    answered: int
    items: int


class BinShare(Out):
    bin: int
    lo: float
    hi: float
    answers: int
    weight: float
    share_fits: float | None
    share_partly: float | None
    share_not: float | None


class WeightedShares(Out):
    fits: float | None
    partly: float | None
    not_: float | None = Field(alias="not")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ShareResults(Out):
    answers: int
    bins: list[BinShare]
    weighted: WeightedShares
    label_share: float | None
    coverage: float | None


class ResultsLabel(Out):
    id: int
    version: int
    text: str
    current_version: int


class ScanBins(Out):
    edges: list[float]
    counts: list[int]
    weights: list[float]


class ComparisonResultsOut(ShareResults):
    label: ResultsLabel
    sample: SampleOut
    measure: str
    scan_bins: ScanBins
    annotators: dict[str, ShareResults]


class Thresholds(Out):
    weak_auc: float
    strong_auc: float
    weak_share: float
    strong_share: float


class LabelScore(LabelEvidence):
    id: int
    label: str
    annotator: str
    version: int


class UnitEvidenceOut(Out):
    rules: str
    thresholds: Thresholds
    scored_concepts: list[str] | None = Field(description="the concepts the layer was scored against; null when "
                                                        "the unit has no label or the layer no concept scores")
    labels: list[LabelScore]


class ClaimsOut(Out):
    label_id: int
    concepts: list[str]


class TuningJobOut(Out):
    id: int
    kind: JobKind
    status: JobStatus
    config: dict[str, Any]
