"""Parametric synthetic stimuli for tuning curves, drawn the way the concept generator draws its images.

The concept dataset (datasets/concepts.py) draws each attribute at random; a tuning curve needs the same
drawings with one attribute swept and the rest held fixed. This module reuses the generator's primitives
(pixel grid, on-screen angle convention, antialiased coverage) so a stimulus here and a concept image with
the same attributes look alike, and a unit's tuning curve reads in the concept dataset's units:

* orientation: degrees counter-clockwise from horizontal as seen on screen (y up), swept 0-360.
  - grating, stripes, line: the direction the stripes/line run (period 180 deg).
  - edge: the direction of the boundary; the foreground (bright) side faces orientation - 90 deg, so
    ``orientation mod 180`` is the concept dataset's edge orientation and the full circle tells the
    two polarities apart.
  - curve: the direction from the arc's centre to the middle of the arc (where it bulges), 0-360.
* curvature: 1 / radius in image widths (0 = a straight segment); frequency: cycles per image width;
  hue: HSV hue in degrees (0 red, 120 green, 240 blue), full saturation and value.

Every stimulus is centred, so the unit's spatial max (how dataset examples are ranked) sees it wherever
the unit's receptive field sits near the middle of the image.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..datasets.concepts import _aa, _grid, _unit

# Which stimulus kinds can be swept along which parameter (the rest of the parameter space is fixed).
KINDS = ("grating", "stripes", "edge", "line", "curve", "field")
KINDS_BY_PARAM: dict[str, tuple[str, ...]] = {
    "orientation": ("grating", "stripes", "edge", "line", "curve"),
    "curvature": ("curve",),
    "hue": KINDS,
    "frequency": ("grating", "stripes"),
}
PARAMS = ("orientation", "curvature", "hue", "frequency", "rotation")
PERIOD_180 = {"grating", "stripes", "line"}  # orientation repeats after 180 deg


class StimulusError(ValueError):
    """A stimulus the generator cannot make; the message names the valid choices."""


@dataclass(frozen=True)
class ColourScheme:
    name: str
    fg: tuple[float, float, float]  # [0, 1] RGB
    bg: tuple[float, float, float]


def hue_rgb(hue_deg: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, 1.0, 1.0)
    return (r, g, b)


GRAY = (0.5, 0.5, 0.5)
SCHEMES: tuple[ColourScheme, ...] = (
    ColourScheme("white on black", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    ColourScheme("black on white", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    *(ColourScheme(f"{name} on gray", hue_rgb(h), GRAY)
      for name, h in (("red", 0), ("yellow", 60), ("green", 120), ("cyan", 180), ("blue", 240), ("magenta", 300))),
)
SCHEME_BY_NAME = {s.name: s for s in SCHEMES}


def check_kind(param: str, kind: str) -> None:
    if param not in PARAMS:
        raise StimulusError(f"Unknown tuning parameter '{param}'. Valid parameters: {', '.join(PARAMS)}.")
    if param == "rotation":
        if kind not in ("auto", "dataset"):
            raise StimulusError("The rotation sweep rotates the unit's top dataset example; its only stimulus "
                                f"is 'dataset' (got '{kind}').")
        return
    valid = KINDS_BY_PARAM[param]
    if kind != "auto" and kind not in valid:
        raise StimulusError(f"The generator cannot sweep {param} of a '{kind}' stimulus. Valid stimuli for "
                            f"{param}: auto, {', '.join(valid)}.")


def _coords(res: int, deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) pixel coordinates of a centred frame rotated to `deg` (concept convention)."""
    X, Y = _grid(res)
    ux, uy = _unit(deg)
    Xc, Yc = X - res / 2, Y - res / 2
    return Xc * ux + Yc * uy, -Xc * uy + Yc * ux


def alpha_mask(kind: str, res: int, orientation: float = 0.0, frequency: float = 6.0, curvature: float = 4.0,
               phase: float = 0.0) -> np.ndarray:
    """Coverage (HxW float32 in [0, 1]) of the foreground for one stimulus; see the module docstring."""
    period = res / max(frequency, 1e-6) if frequency > 0 else res / 6.0
    width = max(1.0, period / 2)  # lines and curves are as wide as half a period of the grating
    if kind in ("grating", "stripes"):
        _, v = _coords(res, orientation)
        k = 2 * math.pi * frequency / res
        s = np.sin(k * v + phase)
        a = 0.5 + 0.5 * s if kind == "grating" else _aa(-s / k)
    elif kind == "line":
        _, v = _coords(res, orientation)
        a = _aa(np.abs(v) - width / 2)
    elif kind == "edge":
        X, Y = _grid(res)
        nx, ny = _unit(orientation - 90.0)  # the side the foreground faces
        a = _aa(-((X - res / 2) * nx + (Y - res / 2) * ny))
    elif kind == "curve":
        a = _curve(res, orientation, curvature, width)
    elif kind == "field":
        a = np.ones((res, res), dtype=np.float32)
    else:
        raise StimulusError(f"Unknown stimulus '{kind}'. Valid stimuli: {', '.join(KINDS)}.")
    return np.asarray(a, dtype=np.float32)


def _curve(res: int, deg: float, curvature: float, width: float) -> np.ndarray:
    """An arc of fixed length (0.6 image widths) whose middle sits at the image centre; curvature 0 is a
    straight segment perpendicular to `deg` (the arc's tangent at its middle)."""
    X, Y = _grid(res)
    length = 0.6 * res
    mx = my = res / 2
    ux, uy = _unit(deg)
    if curvature <= 1e-6:
        tx, ty = _unit(deg + 90)
        t = (X - mx) * tx + (Y - my) * ty
        n = (X - mx) * ux + (Y - my) * uy
        t_c = np.clip(t, -length / 2, length / 2)
        d = np.sqrt((t - t_c) ** 2 + n ** 2) - width / 2
        return _aa(d)
    r = res / curvature
    span = min(330.0, math.degrees(length / r))
    cx, cy = mx - r * ux, my - r * uy
    dx, dy = X - cx, Y - cy
    rho = np.sqrt(dx * dx + dy * dy)
    ang = np.degrees(np.arctan2(-dy, dx)) - deg
    ang = (ang + 180.0) % 360.0 - 180.0
    on_arc = np.abs(ang) <= span / 2
    d_ring = np.abs(rho - r) - width / 2
    d_end = np.full_like(rho, np.inf)
    for s in (-1, 1):
        ex, ey = _unit(deg + s * span / 2)
        px, py = cx + r * ex, cy + r * ey
        d_end = np.minimum(d_end, np.sqrt((X - px) ** 2 + (Y - py) ** 2) - width / 2)
    return _aa(np.where(on_arc, d_ring, d_end))


@lru_cache(maxsize=256)  # 51 MB at 224 px; the probe's 69 drawings are shared by 8 colour schemes
def _cached_mask(kind: str, res: int, orientation: float, frequency: float, curvature: float) -> np.ndarray:
    mask = alpha_mask(kind, res, orientation, frequency, curvature)
    mask.setflags(write=False)
    return mask


def render(kind: str, res: int, scheme: ColourScheme, orientation: float = 0.0, frequency: float = 6.0,
           curvature: float = 4.0) -> np.ndarray:
    """One stimulus as float32 HxWx3 RGB in [0, 1]. Masks are cached: colour schemes share one drawing."""
    if kind == "field":
        orientation, frequency, curvature = 0.0, 0.0, 0.0
    elif kind not in ("curve",):
        curvature = 0.0
    if kind == "edge":
        frequency = 0.0
    a = _cached_mask(kind, res, float(orientation), float(frequency), float(curvature))[..., None]
    fg = np.asarray(scheme.fg, dtype=np.float32)
    bg = np.asarray(scheme.bg, dtype=np.float32)
    return (bg * (1.0 - a) + fg * a).astype(np.float32)


def frequencies(res: int, n: int = 12) -> list[float]:
    """Geometric spatial-frequency grid, 1 cycle per image up to a 3-pixel period."""
    hi = max(2.0, res / 3.0)
    return [round(float(f), 3) for f in np.geomspace(1.0, hi, n)]


CURVATURES = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 11.0, 16.0]
