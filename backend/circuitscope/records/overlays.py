"""Colouring and encoding of dataset-example images (numpy + PIL only).

Photos and crops: lossy WebP (quality 85). Heatmap overlays: lossless WebP with alpha, meant to be
laid over the full image: red where the unit is positive, blue where negative, opacity growing
with |activation| / scale.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from circuitscope.records.codec import PHOTO_QUALITY, encode_webp, to_pil  # the one image codec

__all__ = [
    "PHOTO_QUALITY",
    "to_pil",
    "encode_webp",
    "crop_box",
    "heatmap_rgba",
    "upsample_map",
]

_POS = np.array([220, 30, 30], dtype=np.float32)  # red
_NEG = np.array([30, 80, 230], dtype=np.float32)  # blue


def crop_box(img: Image.Image, box: tuple[int, int, int, int], min_size: int = 64) -> Image.Image:
    """Crop (x0, y0, x1, y1) (x1, y1 exclusive) and upsample so that the shorter side is >= min_size."""
    crop = img.crop(box)
    w, h = crop.size
    short = max(1, min(w, h))
    if short < min_size:
        f = min_size / short
        crop = crop.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BICUBIC)
    return crop


def upsample_map(amap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to (width, height) = size, each map cell covering an equal patch."""
    h, w = amap.shape
    if (w, h) == tuple(size):
        return amap.astype(np.float32)
    im = Image.fromarray(np.ascontiguousarray(amap, dtype=np.float32))
    return np.asarray(im.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def heatmap_rgba(amap: np.ndarray, scale: float, size: tuple[int, int], max_alpha: float = 0.75) -> Image.Image:
    """Transparent red (positive) / blue (negative) overlay of an activation map, resized to `size`.

    `scale` is the |activation| drawn at full opacity (e.g. the channel's largest |activation|,
    so that overlays of one unit are comparable); opacity is linear in |a| / scale, capped at max_alpha.
    """
    up = upsample_map(np.asarray(amap, dtype=np.float32), size)
    scale = float(scale) if scale and np.isfinite(scale) and scale > 0 else float(np.abs(up).max() or 1.0)
    r = np.clip(up / scale, -1.0, 1.0)
    rgb = np.where(r[..., None] >= 0, _POS, _NEG)
    alpha = np.abs(r) * (255.0 * max_alpha)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return Image.fromarray((rgba + 0.5).astype(np.uint8))
