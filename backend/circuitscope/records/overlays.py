"""Colouring and encoding of dataset-example images (numpy + PIL only).

Photos and crops: lossy WebP (quality 85). Heatmap overlays: lossless WebP with alpha, meant to be
laid over the full image: red where the unit is positive, blue where negative, opacity growing
with |activation| / scale.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

__all__ = [
    "PHOTO_QUALITY",
    "to_pil",
    "encode_webp",
    "crop_box",
    "heatmap_rgba",
    "upsample_map",
]

PHOTO_QUALITY = 85
_POS = np.array([220, 30, 30], dtype=np.float32)  # red
_NEG = np.array([30, 80, 230], dtype=np.float32)  # blue


def to_pil(x01: torch.Tensor | np.ndarray) -> Image.Image:
    """[3, H, W] (or [H, W, 3]) floats in [0, 1] -> RGB PIL image."""
    a = x01.detach().cpu().float().numpy() if isinstance(x01, torch.Tensor) else np.asarray(x01, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.shape[-1] == 1:
        a = a.repeat(3, axis=-1)
    return Image.fromarray((a.clip(0, 1) * 255 + 0.5).astype(np.uint8))


def encode_webp(img: Image.Image, lossless: bool = False, quality: int = PHOTO_QUALITY) -> bytes:
    """WebP bytes. Lossless uses the fastest method (overlays are smooth and compress well anyway)."""
    buf = io.BytesIO()
    if lossless:
        img.save(buf, format="WEBP", lossless=True, quality=50, method=0)
    else:
        img.save(buf, format="WEBP", quality=quality, method=4)
    return buf.getvalue()


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
