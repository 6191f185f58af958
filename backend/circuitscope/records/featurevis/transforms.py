"""Transforms applied to the image before every optimization step (robustness, as in Lucid).

``lucent_standard_transforms`` is ``lucent.optvis.transform.standard_transforms``: constant pad 12
(value 0.5), jitter 8, random scale from [0.9, 0.92, ..., 1.1], random rotation from -10..10
degrees (0 weighted 6x), jitter 4, calling the same kornia functions. As in lucent, one random
draw per step applies to the whole batch (``tests/unit/records/test_records_featurevis.py`` checks it against lucent).

``FusedTransform`` does the same kind of thing in one ``grid_sample`` (see its docstring), with
amplitudes scaled to the unit's receptive field.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

LUCENT_SCALES = [1 + (i - 5) / 50.0 for i in range(11)]
LUCENT_ANGLES = list(range(-10, 11)) + 5 * [0]


def _kornia():
    import kornia  # lucent's dependency; imported lazily (slow, noisy import)

    return kornia


def lucent_standard_transforms(
    device: torch.device | str, rng, track: dict | None = None
) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """lucent's ``transform.standard_transforms`` with an explicit device and random source.

    ``rng`` needs a numpy-style ``choice``; ``np.random.RandomState(s)`` reproduces exactly what
    lucent draws after ``np.random.seed(s)``. With ``track`` (a dict holding a point ``u``, ``v``
    in pixel-centre coordinates), each transform also moves that point the way it moves the
    image content, so the caller knows where, e.g., the original image centre ended up.
    """
    kornia = _kornia()
    from kornia.geometry.transform import translate

    device = torch.device(device)
    kornia_version = tuple(int(p) for p in kornia.__version__.split(".")[:2])
    old_kornia = kornia_version < (0, 4)
    get_rotation_matrix2d = getattr(kornia, "get_rotation_matrix2d", None) or kornia.geometry.transform.get_rotation_matrix2d
    warp_affine = getattr(kornia, "warp_affine", None) or kornia.geometry.transform.warp_affine
    # kornia < 0.5 normalizes the translation with (size - 1) but samples with align_corners=False,
    # so a shift of d pixels moves the content by d * size / (size - 1).
    translate_gain = (lambda n: n / (n - 1)) if kornia_version < (0, 5) \
        else (lambda n: 1.0)

    def pad(w: int, value: float = 0.5):
        def inner(t):
            if track is not None:
                track["u"] += w
                track["v"] += w
            return F.pad(t, [w] * 4, mode="constant", value=value)

        return inner

    def jitter(d: int):
        def inner(t):
            dx, dy = rng.choice(d), rng.choice(d)
            if track is not None:
                track["u"] += dx * translate_gain(t.shape[3])
                track["v"] += dy * translate_gain(t.shape[2])
            return translate(t, torch.tensor([[dx, dy]]).float().to(device))

        return inner

    def random_scale(scales):
        def inner(t):
            scale = rng.choice(scales)
            shp = t.shape[2:]
            scale_shape = [int(np.ceil(scale * d)) for d in shp]
            pad_x = max(0, int(np.ceil((shp[1] - scale_shape[1]) / 2)))
            pad_y = max(0, int(np.ceil((shp[0] - scale_shape[0]) / 2)))
            if track is not None:  # align_corners=True resize, then F.pad(left=pad_y, top=pad_y)
                track["u"] = track["u"] * (scale_shape[1] - 1) / max(shp[1] - 1, 1) + pad_y
                track["v"] = track["v"] * (scale_shape[0] - 1) / max(shp[0] - 1, 1) + pad_y
            t = F.interpolate(t, size=scale_shape, mode="bilinear", align_corners=True)
            return F.pad(t, [pad_y, pad_x] * 2)

        return inner

    def random_rotate(angles):
        def inner(t):
            b, _, h, w = t.shape
            angle = torch.ones(b) * rng.choice(angles)
            scale = torch.ones(b) if old_kornia else torch.ones(b, 2)
            center = torch.ones(b, 2)
            center[..., 0] = (t.shape[3] - 1) / 2
            center[..., 1] = (t.shape[2] - 1) / 2
            M = get_rotation_matrix2d(center, angle, scale)
            if track is not None:  # M maps source to destination pixel coordinates
                m = M[0].double().tolist()
                u, v = track["u"], track["v"]
                track["u"] = m[0][0] * u + m[0][1] * v + m[0][2]
                track["v"] = m[1][0] * u + m[1][1] * v + m[1][2]
            return warp_affine(t.float(), M.to(device), dsize=(h, w))

        return inner

    return [pad(12, 0.5), jitter(8), random_scale(LUCENT_SCALES), random_rotate(LUCENT_ANGLES), jitter(4)]


class FusedTransform:
    """Pad, jitter, scale, rotate, jitter as ONE affine resampling (one ``grid_sample``) per step.

    lucent's chain resamples the image three times (two kornia warps and a resize) on every step;
    for the small images of small models that is most of a step's time and blurs fine patterns.
    Here the composed map is built on the CPU from the step's random draws and applied once:
    out(q) = in(u) with u = S^-1 R^-1 (q - c - d2) + c - pad - d1 (pixel-centre coordinates, c the
    padded image's centre), outside the image the pad value 0.5. With no scale or rotation the
    sampling points are exact pixel centres, so a jittered image is an exact, unblurred copy.

    Amplitudes follow the unit's receptive field ``rf`` (pixels), so fine patterns of small units
    survive: pad = jitter ~ rf/4 (at most lucent's 12 / 8 / 4), and random scale (lucent's +-10 %)
    and rotation (+-10 degrees) fade in between rf = 8 px (none) and rf = 32 px (lucent's).
    ``rf=None`` uses lucent's amplitudes. One random draw per step for the whole batch.
    """

    def __init__(self, size: int, rng: np.random.RandomState, rf: float | None = None, device="cpu"):
        self.size, self.rng, self.device = size, rng, torch.device(device)
        self.pad = self.pad_for(rf)
        if rf is None:
            _, self.jitter1, self.jitter2, self.scale_amp, self.angle_amp = 12, 8, 4, 0.1, 10.0
        else:
            self.jitter1 = int(min(8, max(2, round(rf / 4))))
            self.jitter2 = int(min(4, max(1, round(rf / 8))))
            ramp = min(1.0, max(0.0, (rf - 8) / 24))
            self.scale_amp, self.angle_amp = 0.1 * ramp, 10.0 * ramp
        self.out_size = size + 2 * self.pad
        q = torch.arange(self.out_size, dtype=torch.float64)
        self._qy, self._qx = torch.meshgrid(q, q, indexing="ij")

    @staticmethod
    def pad_for(rf: float | None) -> int:
        return 12 if rf is None else int(min(12, max(1, math.ceil(rf / 4))))

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """The step's affine map: (A, b) with u = A q + b, q and u as (x, y) pixel-centre coordinates."""
        rng = self.rng
        d1 = rng.randint(0, self.jitter1, size=2)
        d2 = rng.randint(0, self.jitter2, size=2)
        scale = 1.0 + (rng.uniform(-self.scale_amp, self.scale_amp) if self.scale_amp else 0.0)
        angle = math.radians(rng.uniform(-self.angle_amp, self.angle_amp)) if self.angle_amp else 0.0
        cos, sin = math.cos(angle), math.sin(angle)
        inv = np.array([[cos, sin], [-sin, cos]]) / scale  # (R S)^-1
        c = (self.out_size - 1) / 2
        b = -inv @ (np.array([c, c]) + d2) + c - self.pad - d1
        return inv, b

    def __call__(self, x: torch.Tensor, track: dict | None = None) -> torch.Tensor:
        """[B,C,S,S] in [0,1] -> [B,C,S+2pad,S+2pad]; ``track`` (u, v) is moved like the content."""
        A, b = self.draw()
        if track is not None:  # forward map q = A^-1 (u - b); u, v: floats, or arrays of points
            u, v = np.asarray(track["u"], dtype=np.float64), np.asarray(track["v"], dtype=np.float64)
            fwd = np.linalg.inv(A) @ (np.stack([u.ravel(), v.ravel()]) - b[:, None])
            if u.ndim == 0:
                track["u"], track["v"] = float(fwd[0, 0]), float(fwd[1, 0])
            else:
                track["u"], track["v"] = fwd[0].reshape(u.shape), fwd[1].reshape(v.shape)
        S = self.size
        ux = A[0, 0] * self._qx + A[0, 1] * self._qy + b[0]
        uy = A[1, 0] * self._qx + A[1, 1] * self._qy + b[1]
        grid = torch.stack([ux / (S - 1) * 2 - 1, uy / (S - 1) * 2 - 1], dim=-1).float().to(x.device)
        grid = grid[None].expand(x.shape[0], -1, -1, -1)
        out = F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return out + 0.5
