"""Response models of the browse API (models, layers, units, one unit in full).

Images are referenced by URL (`/api/images/<sha256>`); the hash is the last path segment and the ETag.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ...enums import ConnectionKind, ExampleKind, LayerStatus, Objective, StageStatus


class StageProgress(BaseModel):
    status: StageStatus
    units_done: int
    units_total: int


class LayerSummary(BaseModel):
    name: str = Field(description="Dotted module name; used as-is in URLs")
    position: int = Field(description="Execution order among the model's layers")
    module_type: str
    output_shape: list[Any]
    channels: int = Field(description="Number of units (channels)")
    status: LayerStatus = Field(description="Computed from the layer's stages")
    progress: float = Field(description="Fraction of stage work done, 0..1")
    stages: dict[str, StageProgress] = Field(description="examples / featurevis / weights, where started")
    compute_command: str = Field(description="The command that computes (or resumes) this layer")


class LayerNeighbour(BaseModel):
    name: str
    channels: int


class LayerContext(LayerSummary):
    """A layer with its neighbours in execution order (for up/down navigation)."""

    model: str = Field(description="Model slug")
    prev: LayerNeighbour | None = Field(None, description="The layer before this one in execution order")
    next: LayerNeighbour | None = Field(None, description="The layer after this one in execution order")
    prev_computed: LayerNeighbour | None = Field(None, description="The nearest earlier layer with records")
    next_computed: LayerNeighbour | None = Field(None, description="The nearest later layer with records")


class LayerDetail(LayerContext):
    """One layer (GET /api/models/{model}/layers/{layer})."""


class ModelSummary(BaseModel):
    slug: str
    name: str
    description: str
    input_size: int
    num_layers: int
    num_units: int
    status: LayerStatus = Field(description="done when every layer is done; not_computed when none started")
    progress: float
    layers: list[LayerSummary]


class UnitCell(BaseModel):
    """One cell of a layer grid. `id` is null when the unit has not been computed yet."""

    index: int
    id: int | None = None
    label: str | None = None
    image: str | None = Field(default=None, description="URL of the channel feature visualization")
    top_activation: float | None = None


class UnitPage(BaseModel):
    model: str
    layer: str
    total: int = Field(description="Units in the layer (= channels)")
    offset: int
    limit: int
    items: list[UnitCell]


class UnitRef(BaseModel):
    """A unit anywhere: enough to link to it and show its thumbnail."""

    id: int
    model: str
    layer: str
    index: int
    label: str | None = None
    image: str | None = Field(default=None, description="URL of the channel feature visualization")


class FeatureVisOut(BaseModel):
    objective: Objective
    variant: int
    image: str
    activation: float = Field(description="Activation the render reaches on its own objective: channel mean "
                              "(channel, diversity), centre value (neuron) of the layer output; for negative, "
                              "the channel mean, taken before the ReLU when the layer ends in one")
    peak: float | None = Field(None, description="Spatial max of the unit's map of the layer output on the render, "
                                  "the measure dataset examples are ranked by (compare with stats.top_activation); "
                                  "null for renders stored before it was recorded")
    params: dict[str, Any]


class ExampleOut(BaseModel):
    kind: ExampleKind
    rank: int
    activation: float
    y: int = Field(description="Row in the layer's activation map")
    x: int = Field(description="Column in the layer's activation map")
    box: list[Any] = Field(description="Receptive field [x0, y0, x1, y1] in input pixels")
    crop: str = Field(description="URL of the receptive-field crop")
    heatmap: str = Field(description="URL of the activation overlay for the whole image (transparent red/blue, "
                         "same size as `image`)")
    image: str = Field(description="URL of the whole model-input image")
    dataset_index: int
    ref: str
    label: str | None = Field(default=None, description="Class name of the image when known")
    decile: int | None = Field(default=None, description="kind 'quantile': 0 (lowest tenth of the per-image "
                                  "spatial max, estimated from a uniform sample of the dataset) to 9 (highest)")


class ConnectionOut(BaseModel):
    unit: UnitRef = Field(description="The unit at the other end")
    kind: ConnectionKind
    strength: float = Field(description="Signed: sum of the kernel")
    l2: float = Field(description="L2 norm of the kernel (the ranking)")
    relative: float = Field(description="l2 / the largest l2 in this direction (Circuits shows >= 0.3)")
    kernel: list[Any] = Field(description="kh x kw weights")


class Histogram(BaseModel):
    edges: list[float]
    counts: list[float]


class UnitStats(BaseModel):
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    sparsity: float | None = Field(default=None, description="Fraction of positions > 0")
    quantiles: dict[str, Any] | None = None
    top_activation: float | None = None
    histogram: Histogram | None = Field(default=None, description="Over every position of every image")
    max_histogram: Histogram | None = Field(default=None, description="Over per-image spatial maxima")


class UnitDetail(BaseModel):
    """Everything that explains one unit (the Microscope page plus its circuit neighbourhood)."""

    id: int | None = Field(description="Null when the unit has not been computed yet")
    model: str
    model_name: str
    input_size: int = Field(description="Side of the model-input images in pixels (example boxes are in these pixels)")
    layer: LayerContext
    index: int
    computed: bool = Field(description="False until any record (statistics, examples, renders) of the unit is stored")
    label: str | None = None
    stats: UnitStats
    feature_vis: list[FeatureVisOut]
    top: list[ExampleOut]
    bottom: list[ExampleOut]
    quantile: list[ExampleOut] = Field(default_factory=list, description="Examples across the distribution: "
                                       "a few images per decile of the per-image spatial max (decile 0..9)")
    examples_stored: dict[str, int] = Field(default_factory=dict, description="How many top / bottom examples "
                                            "are stored for this unit (ask for up to that many with ?examples=)")
    input_kernel: dict[str, Any] | None = Field(
        default=None, description="First layer only: the unit's weights on the image channels (RGB), "
        "{channels, size: [kh, kw], values: [channel][y][x]}; null for other layers")
    incoming: list[ConnectionOut] = Field(description="Strongest inputs by L2 norm of the kernel")
    outgoing: list[ConnectionOut] = Field(description="Strongest outputs by L2 norm of the kernel")
    concepts: list[dict[str, Any]] | None = Field(
        default=None, description="Concept selectivity, best first: [{concept, display, auc, auc_err, diff, n_with}]; "
        "null when the dataset provides no concepts or the layer is not computed (see concept_status)")
    concept_status: dict[str, Any] | None = Field(
        default=None, description="{status: scored | none | not_computed, reason, source, images, bins, concepts}")
    suggested_label: dict[str, Any] | None = Field(
        default=None, description="{label, concepts, auc, description} where a concept reaches AUC >= 0.9")
