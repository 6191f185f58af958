"""What a render produces: one ``FeatureVisRecord`` per image."""
from __future__ import annotations

from dataclasses import dataclass

OBJECTIVES = ("channel", "neuron", "negative", "diversity")  # the default set
# Feature accentuation (Hamblin et al. 2024): a render started from the unit's top dataset example and
# kept near it; on request only (it needs the layer's dataset examples first).
ACCENTUATION = "accentuation"
ALL_OBJECTIVES = OBJECTIVES + (ACCENTUATION,)
OBJECTIVE_CODE = {name: i for i, name in enumerate(ALL_OBJECTIVES)}


@dataclass(frozen=True)
class FeatureVisRecord:
    """One rendered image for one unit and objective.

    ``activation`` is the objective's own measure on the final image (as stored, 8-bit, no
    transforms): the channel's spatial mean for ``channel``, ``negative`` (lower is better there)
    and ``diversity``; the value at the centre position for ``neuron``; the spatial max for
    ``accentuation`` (whose ``start_peak`` is that of its start image, ``distance`` the RMS change
    from it in [0, 1] pixel units). It is measured on the
    layer's output (``measure == "output"``), except for ``negative`` on a layer that ends in a
    ReLU: there it is the channel's mean *before* the ReLU (``measure == "pre_relu"``, usually a
    negative number; the post-ReLU mean of a good negative render is just 0).
    ``peak`` is the spatial max of the unit's map of the layer's output on the same final image
    (for a [B,C] layer, the value itself): the quantity dataset examples are ranked by, so the
    one to compare with the top example's activation.
    ``objective_on`` says what the optimization used: the layer's ``"output"``, or its final
    ReLU's input (``"pre_relu"``) for a layer that ends in a ReLU.
    ``image_webp`` holds the image as lossless WebP bytes; empty when ``failure`` says why the unit
    could not be rendered (e.g. no gradient reaches the input), never a grey stand-in.
    ``linear`` says whether the unit was found linear (affine) in the input (None: not checked);
    ``steps`` how many optimization steps the image's job ran (early stopping can end it sooner), and
    ``converged`` whether this image's objective had stopped rising (< 1 % over the last check).
    """

    channel: int
    objective: str
    variant: int  # 0 for single renders, 0..diversity_n-1 for diversity
    image_webp: bytes
    activation: float
    layer: str = ""
    size: int = 0
    peak: float | None = None
    measure: str = "output"  # what ``activation`` is measured on: "output" | "pre_relu"
    objective_on: str = "output"  # what the objective was computed on: "output" | "pre_relu"
    linear: bool | None = None
    steps: int = 0
    failure: str | None = None
    converged: bool | None = None  # early stopping: had the objective stopped rising? (None: not checked)
    start_peak: float | None = None  # accentuation: the start image's peak
    distance: float | None = None  # accentuation: RMS difference from the start image (pixels in [0, 1])

    mime = "image/webp"
