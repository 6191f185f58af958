"""One rendered dataset example of one unit (what pass 2 yields and the store keeps)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExampleRecord", "QUANTILE_RANK_STRIDE"]

# "quantile" examples store their decile in the rank: rank = decile * QUANTILE_RANK_STRIDE + slot
QUANTILE_RANK_STRIDE = 1000


@dataclass
class ExampleRecord:
    """One dataset example of one unit, ready to store."""

    layer: str
    channel: int
    kind: str  # "top" | "bottom" | "quantile"
    rank: int  # 0 = best; "quantile": decile * QUANTILE_RANK_STRIDE + slot
    image_index: int
    image_ref: str
    activation: float  # spatial max (top) / spatial min (bottom) of the channel on this image, of `measure`
    y: int  # position of that value in the activation map
    x: int
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) receptive field in input pixels, x1/y1 exclusive
    crop_webp: bytes  # the box cropped from the model-input image, upsampled to >= 64 px (lossy)
    image_webp: bytes  # the full model-input image (lossy); same bytes object for every record of an image
    heatmap_webp: bytes  # RGBA overlay of the channel's map (of `measure`) at image size (lossless): red +, blue -
    label: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # which map `activation`, (y, x) and the heatmap are of: the layer's "output", or ("pre_relu",
    # bottom examples of a layer that ends in a ReLU) the final ReLU's input
    measure: str = "output"
