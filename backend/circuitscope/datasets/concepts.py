"""Generated concept images with ground truth: edges, lines, curves, circles, shapes, textures, blobs.

Every image is rendered on demand from a random generator seeded by ``(seed, index)``, so any
subset is reproducible and the dataset costs nothing to store. Shapes are drawn as alpha masks
(antialiased signed-distance fields, or a 4x supersampled PIL polygon) and composited in a random
foreground colour over a random background (solid, gradient or low-frequency noise), with a little
pixel noise. Colours are drawn independently of the class so colour is never the class cue, which
pushes early units of a network trained on it towards edge, colour, curve and texture detectors.

Conventions (all attributes are JSON-able):
  * orientation: degrees counter-clockwise from horizontal *as seen on screen* (y up).
    - line, stripes: direction of the line/stripe, in [0, 180).
    - edge: direction of the boundary in [0, 180); ``fg_side_deg`` is the direction (0-360) the
      foreground side faces.
    - curve: direction from the arc's centre to the middle of the arc (where it bulges), [0, 360).
    - triangle/square/star/checkerboard/dots: rotation modulo the symmetry of the figure.
    - circle, blob: None.
  * curvature: 1 / radius in image widths (a radius of a quarter image -> 4.0); 0 for straight
    lines and edges, None where it does not apply.
  * position: centre [x, y] as fractions of the image (x right, y down); size: fraction of width.
  * texture: {"kind", "frequency" (cycles per image width)} or None.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

CLASSES: list[str] = [
    "edge",
    "line",
    "curve",
    "circle",
    "triangle",
    "square",
    "star",
    "blob",
    "stripes",
    "checkerboard",
    "dots",
]

# Named palette; each draw jitters the RGB a little. Chosen to span hue and lightness.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (240, 135, 25),
    "yellow": (235, 215, 35),
    "green": (40, 165, 60),
    "cyan": (40, 195, 215),
    "blue": (35, 75, 215),
    "purple": (120, 55, 190),
    "magenta": (215, 45, 195),
    "pink": (245, 160, 190),
    "brown": (125, 75, 35),
    "white": (240, 240, 240),
    "gray": (128, 128, 128),
    "black": (18, 18, 18),
}
_COLOR_NAMES = list(PALETTE)
_COLOR_RGB = np.array([PALETTE[n] for n in _COLOR_NAMES], dtype=np.float32)
BACKGROUNDS = ["solid", "gradient", "noise"]
_BLOCK = 1024  # groups of class permutations generated together
_NOISE_BANK = 8
_RECENT_ATTRS = 4096  # attributes of the most recently loaded images, kept to skip a second render
_SS = 4  # supersampling factor for PIL-drawn polygons


def _contrast(a: np.ndarray, b: np.ndarray) -> float:
    """A crude perceptual distance between two RGB colours (0-255 scale)."""
    d = a - b
    lum = abs(0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2])
    return float(max(lum, 0.6 * np.sqrt((d * d).sum() / 3.0)))


@lru_cache(maxsize=8)
def _grid(res: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(res, dtype=np.float32) + 0.5
    return c[None, :].repeat(res, 0), c[:, None].repeat(res, 1)  # X (right), Y (down), pixels


@lru_cache(maxsize=4)
def _noise_bank(seed: int, res: int) -> np.ndarray:
    rng = np.random.default_rng([seed, res, 0x5EED])
    return rng.standard_normal((_NOISE_BANK, res, res, 3), dtype=np.float32)


@lru_cache(maxsize=64)
def _group_perms(seed: int, block: int) -> np.ndarray:
    """Class order inside each group of len(CLASSES) consecutive indices (one shuffle per group).

    Every run of len(CLASSES) indices starting at a multiple of it holds each class exactly once,
    so any prefix or index range is balanced to within one image per class.
    """
    rng = np.random.default_rng([seed, block, 0xC1A55])
    return rng.random((_BLOCK, len(CLASSES))).argsort(axis=1).astype(np.int16)


def _unit(deg: float) -> tuple[float, float]:
    """Direction vector in image coordinates (y down) for an on-screen angle (y up)."""
    r = math.radians(deg)
    return math.cos(r), -math.sin(r)


def _aa(d: np.ndarray) -> np.ndarray:
    """Coverage of a pixel from a signed distance in pixels (negative inside)."""
    return np.clip(0.5 - d, 0.0, 1.0)


class ConceptDataset:
    """Deterministic generated images with ground-truth attributes (see module docstring)."""

    attribute_schema = "concepts"  # attributes() follows this module's conventions (concepts/vocabulary.py)

    def __init__(self, seed: int = 0, size: int = 20000, resolution: int = 64):
        if size < 1:
            raise ValueError("size must be >= 1")
        if resolution < 16:
            raise ValueError("resolution must be >= 16")
        self.seed, self.size, self.resolution = int(seed), int(size), int(resolution)
        self.name = f"concepts-seed{self.seed}"
        self.classes = list(CLASSES)

    # --- ImageDataset protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return self.size

    def _check(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} concept images")
        return index

    def ref(self, index: int) -> str:
        return f"concepts/{self._check(index):06d}"

    def label(self, index: int) -> int:
        index = self._check(index)
        group, slot = divmod(index, len(CLASSES))
        block, row = divmod(group, _BLOCK)
        return int(_group_perms(self.seed, block)[row, slot])

    def load(self, index: int) -> Image.Image:
        img, attrs = self.render(index)
        # attributes() right after load() (concept scores, example records) reuses this render
        recent = self.__dict__.setdefault("_recent_attrs", OrderedDict())
        recent[int(index)] = attrs
        if len(recent) > _RECENT_ATTRS:
            recent.popitem(last=False)
        return Image.fromarray(img)

    def attributes(self, index: int) -> dict[str, Any]:
        cached = self.__dict__.get("_recent_attrs", {}).get(int(index))
        return copy.deepcopy(cached) if cached is not None else self.render(index)[1]

    def describe(self) -> dict[str, Any]:
        return {"kind": "concepts", "seed": self.seed, "size": self.size, "resolution": self.resolution}

    def __repr__(self) -> str:
        return f"ConceptDataset(seed={self.seed}, size={self.size}, resolution={self.resolution})"

    # --- rendering ---------------------------------------------------------------------------
    def render_array(self, indices) -> np.ndarray:
        """uint8 array (N, H, W, 3) for many indices (used to build training caches)."""
        out = np.empty((len(indices), self.resolution, self.resolution, 3), dtype=np.uint8)
        for j, i in enumerate(indices):
            out[j] = self.render(int(i))[0]
        return out

    def render(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        """(uint8 HxWx3 image, attributes) for one index."""
        index = self._check(index)
        cls = self.label(index)
        res = self.resolution
        rng = np.random.default_rng([self.seed, index])
        fg_i, bg_i, bg2_i = self._pick_colors(rng)
        fg = np.clip(_COLOR_RGB[fg_i] + rng.uniform(-18, 18, 3), 0, 255).astype(np.float32)
        bg = np.clip(_COLOR_RGB[bg_i] + rng.uniform(-18, 18, 3), 0, 255).astype(np.float32)
        background, bg_attrs = self._background(rng, bg, _COLOR_RGB[bg2_i])
        name = CLASSES[cls]
        alpha, attrs = getattr(self, "_draw_" + name)(rng, res)
        img = background * (1.0 - alpha[..., None]) + fg * alpha[..., None]
        sigma = float(rng.uniform(0.0, 7.0))
        if sigma > 0.5:
            bank = _noise_bank(self.seed, res)
            k = int(rng.integers(_NOISE_BANK))
            img += sigma * bank[k]
        img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        out: dict[str, Any] = {
            "class": name,
            "label": cls,
            "fg_color": {"name": _COLOR_NAMES[fg_i], "rgb": [int(v) for v in np.round(fg)]},
            "bg_color": {"name": _COLOR_NAMES[bg_i], "rgb": [int(v) for v in np.round(bg)]},
            **bg_attrs,
            "orientation": None,
            "curvature": None,
            "texture": None,
            "position": [0.5, 0.5],
            "size": 1.0,
            "pixel_noise": round(sigma, 2),
        }
        out.update(attrs)
        return img, out

    def _pick_colors(self, rng: np.random.Generator) -> tuple[int, int, int]:
        n = len(_COLOR_NAMES)
        for _ in range(32):
            fg, bg = (int(v) for v in rng.integers(n, size=2))
            if fg != bg and _contrast(_COLOR_RGB[fg], _COLOR_RGB[bg]) > 45:
                break
        for _ in range(32):
            bg2 = int(rng.integers(n))
            mid = 0.5 * (_COLOR_RGB[bg] + _COLOR_RGB[bg2])  # the far end of gradient/noise backgrounds
            if bg2 != fg and _contrast(_COLOR_RGB[fg], _COLOR_RGB[bg2]) > 45 and _contrast(_COLOR_RGB[fg], mid) > 40:
                break
        return fg, bg, bg2

    def _background(self, rng, bg, other) -> tuple[np.ndarray, dict[str, Any]]:
        res = self.resolution
        kind = BACKGROUNDS[int(rng.integers(3))]
        attrs: dict[str, Any] = {"background": kind}
        if kind == "solid":
            return np.broadcast_to(bg, (res, res, 3)).astype(np.float32), attrs
        bg2 = 0.5 * bg + 0.5 * other  # half-way towards a second colour keeps the foreground visible
        if kind == "gradient":
            deg = float(rng.uniform(0, 360))
            ux, uy = _unit(deg)
            X, Y = _grid(res)
            t = ((X - res / 2) * ux + (Y - res / 2) * uy) / res + 0.5
            t = np.clip(t, 0, 1)[..., None]
            attrs["background_direction"] = round(deg, 1)
        else:
            cells = int(rng.integers(3, 7))
            small = rng.random((cells, cells), dtype=np.float32)
            t = np.asarray(Image.fromarray(small).resize((res, res), Image.Resampling.BICUBIC))
            t = np.clip(t, 0, 1)[..., None]
            attrs["background_scale"] = cells
        return bg * (1 - t) + bg2 * t, attrs

    # Each _draw_* returns (alpha HxW float32 in [0,1], attributes).
    def _stroke_width(self, rng, res) -> float:
        return float(rng.uniform(1.5, 4.0)) * res / 64

    def _draw_edge(self, rng, res):
        X, Y = _grid(res)
        deg = float(rng.uniform(0, 360))  # direction the foreground faces
        cx, cy = rng.uniform(0.3, 0.7, 2) * res
        nx, ny = _unit(deg)
        d = -((X - cx) * nx + (Y - cy) * ny)
        return _aa(d), {
            "orientation": round((deg + 90) % 180, 2),
            "fg_side_deg": round(deg, 2),
            "curvature": 0.0,
            "position": [round(cx / res, 4), round(cy / res, 4)],
        }

    def _draw_line(self, rng, res):
        X, Y = _grid(res)
        deg = float(rng.uniform(0, 180))
        cx, cy = rng.uniform(0.25, 0.75, 2) * res
        w = self._stroke_width(rng, res)
        nx, ny = _unit(deg + 90)
        d = np.abs((X - cx) * nx + (Y - cy) * ny) - w / 2
        return _aa(d), {
            "orientation": round(deg, 2),
            "curvature": 0.0,
            "width": round(w / res, 4),
            "position": [round(cx / res, 4), round(cy / res, 4)],
        }

    def _draw_curve(self, rng, res):
        X, Y = _grid(res)
        r = float(rng.uniform(0.18, 0.7)) * res
        span = float(rng.uniform(70, 180))
        deg = float(rng.uniform(0, 360))  # direction from centre to the arc's middle
        mx, my = rng.uniform(0.3, 0.7, 2) * res  # arc midpoint lands inside the image
        ux, uy = _unit(deg)
        cx, cy = mx - r * ux, my - r * uy
        w = self._stroke_width(rng, res)
        dx, dy = X - cx, Y - cy
        rho = np.sqrt(dx * dx + dy * dy)
        # angle of each pixel relative to the arc's middle direction, on screen (y up)
        ang = np.degrees(np.arctan2(-dy, dx)) - deg
        ang = (ang + 180.0) % 360.0 - 180.0
        on_arc = np.abs(ang) <= span / 2
        d_ring = np.abs(rho - r) - w / 2
        # distance to the arc's end caps (round caps)
        d_end = np.full_like(rho, np.inf)
        for s in (-1, 1):
            ex, ey = _unit(deg + s * span / 2)
            px, py = cx + r * ex, cy + r * ey
            d_end = np.minimum(d_end, np.sqrt((X - px) ** 2 + (Y - py) ** 2) - w / 2)
        d = np.where(on_arc, d_ring, d_end)
        return _aa(d), {
            "orientation": round(deg, 2),
            "curvature": round(res / r, 3),
            "arc_span": round(span, 1),
            "width": round(w / res, 4),
            "position": [round(mx / res, 4), round(my / res, 4)],
            "size": round(2 * r / res, 4),
        }

    def _draw_circle(self, rng, res):
        X, Y = _grid(res)
        r = float(rng.uniform(0.12, 0.36)) * res
        cx, cy = (rng.uniform(0, 1, 2) * (res - 2 * r - 4) + r + 2)
        w = self._stroke_width(rng, res)
        d = np.abs(np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) - r) - w / 2
        return _aa(d), {
            "curvature": round(res / r, 3),
            "width": round(w / res, 4),
            "position": [round(cx / res, 4), round(cy / res, 4)],
            "size": round(2 * r / res, 4),
        }

    def _polygon(self, rng, res, n_sym, pts_fn, lo=0.3, hi=0.7):
        size = float(rng.uniform(lo, hi)) * res  # circumscribed diameter
        r = size / 2
        rot = float(rng.uniform(0, 360))
        cx, cy = rng.uniform(0, 1, 2) * (res - size) + r
        pts = pts_fn(r)  # list of (radius, angle_deg) on screen
        ss = _SS
        xy = []
        for rad, a in pts:
            ux, uy = _unit(a + rot)
            xy.append(((cx + rad * ux) * ss, (cy + rad * uy) * ss))
        m = Image.new("L", (res * ss, res * ss), 0)
        ImageDraw.Draw(m).polygon(xy, fill=255)
        alpha = np.asarray(m.reduce(ss), dtype=np.float32) * (1 / 255)
        return alpha, {
            "orientation": round(rot % (360 / n_sym), 2),
            "position": [round(cx / res, 4), round(cy / res, 4)],
            "size": round(size / res, 4),
        }

    def _draw_triangle(self, rng, res):
        return self._polygon(rng, res, 3, lambda r: [(r, 90 + 120 * k) for k in range(3)], 0.35, 0.8)

    def _draw_square(self, rng, res):
        return self._polygon(rng, res, 4, lambda r: [(r, 45 + 90 * k) for k in range(4)], 0.3, 0.75)

    def _draw_star(self, rng, res):
        ratio = float(rng.uniform(0.38, 0.5))
        alpha, attrs = self._polygon(
            rng, res, 5, lambda r: [(r if k % 2 == 0 else r * ratio, 90 + 36 * k) for k in range(10)], 0.4, 0.85
        )
        attrs["points"] = 5
        return alpha, attrs

    def _draw_blob(self, rng, res):
        X, Y = _grid(res)
        n = int(rng.integers(1, 4))
        alpha = np.zeros((res, res), dtype=np.float32)
        centres, sigmas = [], []
        for _ in range(n):
            s = float(rng.uniform(0.06, 0.16)) * res
            cx, cy = rng.uniform(0.2, 0.8, 2) * res
            g = np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * s * s))
            alpha = np.maximum(alpha, g)
            centres.append([round(cx / res, 4), round(cy / res, 4)])
            sigmas.append(s)
        alpha = np.minimum(1.0, alpha * 1.3)
        return alpha, {
            "position": centres[0],
            "size": round(4 * max(sigmas) / res, 4),
            "count": n,
            "centres": centres,
        }

    def _rotated(self, rng, res, deg):
        X, Y = _grid(res)
        ux, uy = _unit(deg)
        ox, oy = rng.uniform(0, res, 2)
        Xc, Yc = X - ox, Y - oy
        u = Xc * ux + Yc * uy  # along the orientation
        v = -Xc * uy + Yc * ux  # across it
        return u, v

    def _draw_stripes(self, rng, res):
        deg = float(rng.uniform(0, 180))
        freq = float(rng.uniform(3, 10))
        profile = "sine" if rng.random() < 0.35 else "square"
        _, v = self._rotated(rng, res, deg)
        k = 2 * math.pi * freq / res
        s = np.sin(k * v)
        alpha = 0.5 + 0.5 * s if profile == "sine" else _aa(-s / k)
        return alpha.astype(np.float32), {
            "orientation": round(deg, 2),
            "curvature": 0.0,
            "texture": {"kind": "stripes" if profile == "square" else "grating", "frequency": round(freq, 3)},
        }

    def _draw_checkerboard(self, rng, res):
        deg = float(rng.uniform(0, 90))
        freq = float(rng.uniform(2, 7))  # checks pairs (cycles) per image width
        u, v = self._rotated(rng, res, deg)
        k = 2 * math.pi * freq / res
        su, sv = np.sin(k * u), np.sin(k * v)
        d = np.minimum(np.abs(su), np.abs(sv)) / k * np.sign(su * sv)
        return _aa(-d), {
            "orientation": round(deg, 2),
            "texture": {"kind": "checkerboard", "frequency": round(freq, 3)},
        }

    def _draw_dots(self, rng, res):
        deg = float(rng.uniform(0, 90))
        freq = float(rng.uniform(3, 8))
        period = res / freq
        rad = float(rng.uniform(0.2, 0.34)) * period
        u, v = self._rotated(rng, res, deg)
        fu = u / period
        fv = v / period
        fu -= np.round(fu)
        fv -= np.round(fv)
        d = np.sqrt(fu * fu + fv * fv) * period - rad
        return _aa(d), {
            "orientation": round(deg, 2),
            "texture": {"kind": "dots", "frequency": round(freq, 3)},
            "size": round(2 * rad / res, 4),
        }
