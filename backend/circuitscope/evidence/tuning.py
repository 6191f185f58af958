"""Tuning curves: a unit's response to synthetic stimuli swept along one parameter (Curve Detectors' check).

A unit is measured the way its dataset examples are ranked: the spatial max of its channel in the layer's
output (records/examples.py). Every forward pass answers for all channels of the layer at once, so the
responses of a layer to a set of stimuli are cached (``LayerProber``): a second unit of the same layer, or a
whole layer as a job, reuses them.

Order of the search (each step uses what the one before found):
1. **probe**: 8 colour schemes (fields, gratings, edges) -> the unit's colours; then in those colours
   every stimulus kind x 8 orientations x 3 spatial scales -> its preferred kind, scale, coarse orientation;
2. **frequency**: gratings (or the preferred striped kind) over 12 frequencies, max over 6 orientations;
3. **orientation**: the preferred kind at the preferred frequency (lines and curves drawn half a period
   wide), 0-360 deg in 5 deg steps - so a fine-grained edge detector is found at its own scale;
4. **curvature**: arcs of fixed length over 10 curvatures, max over 8 orientations (bulge directions);
5. **hue**: the preferred kind at its preferred orientation, foreground hue 0-360 deg on gray;
6. **rotation**: the unit's top dataset example rotated 0-360 deg about the centre of its receptive field.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..activations import forward_until
from ..models.base import LoadedModel
from . import stimuli as st
from .stimuli import SCHEMES, ColourScheme, StimulusError

PROBE_ORIENTATIONS = [i * 45.0 for i in range(8)]
FREQ_ORIENTATIONS = [i * 30.0 for i in range(6)]  # gratings repeat after 180 deg
CURV_ORIENTATIONS = [i * 45.0 for i in range(8)]
ORIENTATIONS = [float(v) for v in range(0, 360, 5)]
HUES = [float(v) for v in range(0, 360, 10)]
ROTATIONS = [float(v) for v in range(0, 360, 10)]
PROBE_CURVATURE = 4.0

CONVENTION = {
    "orientation": "degrees counter-clockwise from horizontal as seen on screen (y up), the concept dataset's "
                   "convention: the direction a grating/line runs (period 180), an edge's boundary direction "
                   "with the bright side facing orientation-90, a curve's direction from its centre to its bulge",
    "curvature": "1 / radius in image widths (0 = straight)",
    "hue": "HSV hue in degrees of the stimulus foreground (0 red, 120 green, 240 blue) on gray",
    "frequency": "cycles per image width",
    "rotation": "degrees counter-clockwise of the top dataset example, about its receptive-field centre",
}
MEASURE = "spatial max of the unit's channel in the layer output, per image (as dataset examples are ranked)"


class TuningError(ValueError):
    """A request tuning cannot serve (no top example for rotation, ...); the message says what to do."""


@dataclass(frozen=True)
class Profile:
    """What the probe found a unit prefers."""

    kind: str
    scheme: ColourScheme
    frequency: float
    orientation: float
    response: float
    straight: str  # the best straight kind (grating, stripes, line or edge)


_MODEL_LOCKS_GUARD = threading.Lock()


def model_lock(model: LoadedModel) -> threading.RLock:
    """The lock that serialises traced forward passes of one loaded model (see LayerProber)."""
    with _MODEL_LOCKS_GUARD:
        lock = getattr(model, "_evidence_lock", None)
        if lock is None:
            lock = threading.RLock()
            model._evidence_lock = lock  # type: ignore[attr-defined]
        return lock


class LayerProber:
    """Runs stimulus sets through a model up to one layer; caches each set's [N, C] spatial-max responses."""

    def __init__(self, model: LoadedModel, layer: str, batch_size: int = 128):
        self.model, self.layer, self.batch_size = model, layer, batch_size
        self.res = int(model.input_size)
        self._cache: dict[tuple, torch.Tensor] = {}
        # Hooks are registered on the module itself, so two traced forwards of one module must never overlap
        # (one trace's early stop would abort the other's pass): one lock per model, shared by its probers.
        self._lock = model_lock(model)
        self.forwarded = 0  # images run through the model (for benchmarks)

    @property
    def channels(self) -> int:
        return int(self.responses(("blank",), lambda: [np.full((self.res, self.res, 3), 0.5, np.float32)]).shape[1])

    def responses(self, key: tuple, make: Callable[[], list[np.ndarray]]) -> torch.Tensor:
        """[N, C] responses to the stimuli `make()` renders, cached under `key`."""
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            images = make()
            out = self._forward(images)
            self._cache[key] = out
            return out

    @torch.inference_mode()
    def _forward(self, images: list[np.ndarray]) -> torch.Tensor:
        device = self.model.device
        outs = []
        for start in range(0, len(images), self.batch_size):
            chunk = np.stack(images[start:start + self.batch_size])
            x = torch.from_numpy(chunk).permute(0, 3, 1, 2).to(device)
            act = forward_until(self.model.module, self.model.normalize(x), [self.layer])[self.layer]
            act = act.float()
            peak = act.amax(dim=tuple(range(2, act.dim()))) if act.dim() > 2 else act
            outs.append(peak.cpu())
            self.forwarded += len(chunk)
        return torch.cat(outs)


# --------------------------------------------------------------------------------------------- steps
def _scales(res: int) -> list[float]:
    grid = st.frequencies(res)
    return [grid[2], grid[6], grid[9]]


def _colour_entries(res: int) -> list[tuple[str, ColourScheme, float, float]]:
    """Colour probe: a field, gratings at two scales and edges, in every colour scheme."""
    scales = _scales(res)
    out: list[tuple[str, ColourScheme, float, float]] = []
    for scheme in SCHEMES:
        out.append(("field", scheme, 0.0, 0.0))
        out.extend(("grating", scheme, f, o) for f in scales[1:] for o in PROBE_ORIENTATIONS[:4])
        out.extend(("edge", scheme, 0.0, o) for o in PROBE_ORIENTATIONS[::2])
    return out


def _shape_entries(res: int, scheme: ColourScheme) -> list[tuple[str, ColourScheme, float, float]]:
    """Shape probe in one colour scheme: every kind x 8 orientations (4 for period-180 kinds) x 3 scales."""
    scales = _scales(res)
    out: list[tuple[str, ColourScheme, float, float]] = [("field", scheme, 0.0, 0.0)]
    for kind in ("grating", "stripes", "line", "edge", "curve"):
        orients = PROBE_ORIENTATIONS[:4] if kind in st.PERIOD_180 else PROBE_ORIENTATIONS
        out.extend((kind, scheme, f, o) for f in (scales if kind != "edge" else [0.0]) for o in orients)
    return out


def _render_entries(res: int, entries) -> Callable[[], list[np.ndarray]]:
    return lambda: [st.render(k, res, s, orientation=o, frequency=f, curvature=PROBE_CURVATURE)
                    for k, s, f, o in entries]


CURVE_MARGIN = 1.05


def profile(prober: LayerProber, channel: int, kind: str = "auto") -> Profile:
    """The unit's preferred colours, then stimulus kind (or the one asked for), scale and coarse orientation;
    `straight` is the best kind other than curves and fields (see `oriented_kind`)."""
    colour = _colour_entries(prober.res)
    c_resp = prober.responses(("probe-colour",), _render_entries(prober.res, colour))[:, channel]
    scheme = colour[int(torch.argmax(c_resp))][1]
    entries = _shape_entries(prober.res, scheme)
    resp = prober.responses(("probe-shape", scheme.name), _render_entries(prober.res, entries))[:, channel]
    kinds = [e[0] for e in entries]
    straight = torch.where(torch.tensor([k not in ("curve", "field") for k in kinds]), resp, torch.tensor(-math.inf))
    if kind != "auto":
        resp = torch.where(torch.tensor([k == kind for k in kinds]), resp, torch.tensor(-math.inf))
    best = int(torch.argmax(resp))
    k, s, f, o = entries[best]
    return Profile(k, s, f, o, float(resp[best]), kinds[int(torch.argmax(straight))])


def _sweep(prober: LayerProber, key: tuple, values: list[float], inner: list[float],
           draw: Callable[[float, float], np.ndarray], channel: int) -> list[float]:
    """Responses of `channel` over `values`, each the max over the `inner` nuisance values."""
    resp = prober.responses(key, lambda: [draw(v, w) for v in values for w in inner])[:, channel]
    return resp.view(len(values), len(inner)).amax(dim=1).tolist()


def _scheme_key(s: ColourScheme) -> str:
    return s.name


def frequency_curve(prober: LayerProber, channel: int, p: Profile) -> tuple[str, list[float], list[float]]:
    kind = p.kind if p.kind in st.KINDS_BY_PARAM["frequency"] else "grating"
    values = st.frequencies(prober.res)
    resp = _sweep(prober, ("frequency", kind, _scheme_key(p.scheme)), values, FREQ_ORIENTATIONS,
                  lambda f, o: st.render(kind, prober.res, p.scheme, orientation=o, frequency=f), channel)
    return kind, values, resp


def _argmax(values: list[float], resp: list[float]) -> float:
    return values[int(np.argmax(resp))]


def curvature_curve(prober: LayerProber, channel: int, p: Profile, frequency: float) -> tuple[list[float], list[float]]:
    values = list(st.CURVATURES)
    resp = _sweep(prober, ("curvature", _scheme_key(p.scheme), frequency), values, CURV_ORIENTATIONS,
                  lambda c, o: st.render("curve", prober.res, p.scheme, orientation=o, curvature=c,
                                         frequency=frequency), channel)
    return values, resp


def orientation_curve(prober: LayerProber, channel: int, kind: str, p: Profile, frequency: float,
                      curvature: float) -> list[float]:
    return _sweep(prober, ("orientation", kind, _scheme_key(p.scheme), frequency, curvature), ORIENTATIONS, [0.0],
                  lambda o, _: st.render(kind, prober.res, p.scheme, orientation=o, frequency=frequency,
                                         curvature=curvature), channel)


def oriented_kind(prober: LayerProber, channel: int, p: Profile, kind: str, freq: float) -> tuple[str, float]:
    """(kind, curvature) for orientation and hue sweeps. With kind "auto", a curve is kept only when the best
    arc (over curvature and orientation) beats the best straight stimulus over a fine 5-deg orientation sweep
    by CURVE_MARGIN: a short arc holds a range of tangent orientations, so it drives an edge unit about as
    well as an edge does, and its bulge direction is not the edge's orientation."""
    own = p.kind if kind == "auto" else kind
    if own not in st.KINDS_BY_PARAM["orientation"]:
        return "grating", PROBE_CURVATURE
    if own != "curve":
        return own, PROBE_CURVATURE
    c_values, c_resp = curvature_curve(prober, channel, p, freq)
    curv = _argmax(c_values, c_resp)
    if kind == "auto":
        straight_best = max(orientation_curve(prober, channel, p.straight, p, freq, PROBE_CURVATURE))
        if max(c_resp) <= CURVE_MARGIN * straight_best:
            return p.straight, PROBE_CURVATURE
    return "curve", curv


def hue_curve(prober: LayerProber, channel: int, kind: str, frequency: float, orientation: float,
              curvature: float) -> list[float]:
    def draw(h: float, _: float) -> np.ndarray:
        scheme = ColourScheme(f"hue {h}", st.hue_rgb(h), st.GRAY)
        return st.render(kind, prober.res, scheme, orientation=orientation, frequency=frequency, curvature=curvature)

    return _sweep(prober, ("hue", kind, frequency, orientation, curvature), HUES, [0.0], draw, channel)


def rotated_images(image: Image.Image, centre: tuple[float, float], res: int) -> list[np.ndarray]:
    """The image (resized to the model input) rotated through ROTATIONS about `centre` (input pixels);
    corners that rotate in are filled with the image's mean colour, so they add no edge of their own."""
    img = image.convert("RGB")
    if img.size != (res, res):
        scale = res / img.size[0]
        img = img.resize((res, res), Image.Resampling.BILINEAR)
        centre = (centre[0] * scale, centre[1] * scale)
    fill = tuple(int(v) for v in np.asarray(img, dtype=np.float32).reshape(-1, 3).mean(0).round())
    return [np.asarray(img.rotate(a, resample=Image.Resampling.BILINEAR, center=centre, fillcolor=fill),
                       dtype=np.float32) / 255.0 for a in ROTATIONS]


# --------------------------------------------------------------------------------------------- entry
def tuning_curve(prober: LayerProber, channel: int, param: str, kind: str = "auto",
                 top_example: tuple[Image.Image, tuple[float, float], str] | None = None) -> dict[str, Any]:
    """One tuning curve: {"param", "values", "responses", "preferred", ...} (see CONVENTION for units).

    `top_example` (image, receptive-field centre in input pixels, its id) is needed for `rotation` only.
    """
    st.check_kind(param, kind)
    channels = prober.channels
    if not 0 <= channel < channels:
        raise StimulusError(f"Layer '{prober.layer}' has {channels} channels: the index must be between 0 and "
                            f"{channels - 1}, not {channel}.")
    t0 = time.perf_counter()
    stimulus: dict[str, Any] = {}
    if param == "rotation":
        if top_example is None:
            raise TuningError("The rotation sweep needs the unit's top dataset example, and this unit has none "
                              "stored: compute the layer's dataset examples first.")
        image, centre, ref = top_example
        values = list(ROTATIONS)
        resp = prober.responses(("rotation", ref, round(centre[0], 2), round(centre[1], 2)),
                                lambda: rotated_images(image, centre, prober.res))[:, channel].tolist()
        stimulus = {"kind": "dataset", "example": ref, "centre": [round(centre[0], 1), round(centre[1], 1)]}
    else:
        p = profile(prober, channel, kind if param != "curvature" else "auto")
        own = p.kind if kind == "auto" else kind
        f_kind, f_values, f_resp = frequency_curve(prober, channel, p)
        freq = _argmax(f_values, f_resp)
        stimulus = {"colours": p.scheme.name, "frequency": freq}
        if param == "frequency":
            values, resp = f_values, f_resp
            stimulus.update(kind=f_kind, orientation=f"max over {len(FREQ_ORIENTATIONS)} orientations")
        elif param == "curvature":
            values, resp = curvature_curve(prober, channel, p, freq)
            stimulus.update(kind="curve", orientation=f"max over {len(CURV_ORIENTATIONS)} orientations")
        else:
            o_kind, curv = oriented_kind(prober, channel, p, kind, freq)
            if param == "orientation":
                values = list(ORIENTATIONS)
                resp = orientation_curve(prober, channel, o_kind, p, freq, curv)
                stimulus.update(kind=o_kind, curvature=curv if o_kind == "curve" else None)
            else:  # hue
                h_kind, orient = ("field", 0.0) if own == "field" else (o_kind, None)
                if orient is None:
                    orient = _argmax(ORIENTATIONS, orientation_curve(prober, channel, o_kind, p, freq, curv))
                values = list(HUES)
                resp = hue_curve(prober, channel, h_kind, freq, orient, curv)
                stimulus.update(kind=h_kind, orientation=orient, curvature=curv if h_kind == "curve" else None,
                                colours="hue on gray")
        stimulus["probe"] = {"kind": p.kind, "colours": p.scheme.name, "response": round(p.response, 6)}
    blank = float(prober.responses(("blank",), lambda: [])[0, channel])
    hi, lo = max(resp), min(resp)
    flat = not (hi - lo > 1e-6 * max(1.0, abs(hi)))
    # how much the swept parameter matters: (max - min) / max; a colour unit's orientation curve is ~0
    depth = (hi - lo) / hi if hi > 0 else None
    best = int(np.argmax(resp))
    return {
        "param": param,
        "values": [float(v) for v in values],
        "responses": [float(r) for r in resp],
        "preferred": None if flat else float(values[best]),
        "preferred_response": None if flat else float(resp[best]),
        "flat": flat,
        "depth": depth,
        "blank_response": blank,
        "stimulus": stimulus,
        "convention": CONVENTION[param],
        "measure": MEASURE,
        "layer": prober.layer,
        "index": channel,
        "input_size": prober.res,
        "seconds": round(time.perf_counter() - t0, 4),
    }
