"""Feature visualizations for many units at once, with lucent's parameterization and transforms.

lucent's ``render_vis`` optimizes one objective per call and runs the whole network. Here one
optimized batch holds every image of a job: for each of up to ``batch_channels`` channels, one
image for the channel objective, one for the neuron objective (centre position), one for the
negative objective and ``diversity_n`` images for the diversity objective. The per-image
objectives are *summed*, so each image's gradient depends on its own objective only (the
diversity penalty couples only the images of the same channel, as lucent's ``diversity`` does
inside a ``render_vis`` batch); the network runs in eval mode, so batch norm does not mix
images, and Adam normalizes each parameter element on its own, so every image follows the same
optimization it would follow alone. The forward pass stops at the target layer.

Parameterization and transforms are lucent 0.1.8's, with the device and the random numbers
made explicit (lucent hard-codes ``cuda:0 if available`` and draws from numpy's global RNG):

* ``_FFTImage`` is ``lucent.optvis.param.image(size, batch=B, fft=True, decorrelate=True)``:
  a 1/f-scaled spectrum (sd 0.01), inverse real FFT, divided by 4, colour-decorrelated with
  lucent's matrix, then a sigmoid.
* ``lucent_standard_transforms`` is ``lucent.optvis.transform.standard_transforms``: constant
  pad 12 (value 0.5), jitter 8, random scale from [0.9, 0.92, ..., 1.1], random rotation from
  -10..10 degrees (0 weighted 6x), jitter 4, calling the same kornia functions. As in lucent,
  one random draw per step applies to the whole batch.

``tests/test_featurevis.py`` checks both against lucent's own functions.

Three deliberate departures from lucent, all about objectives, not transforms:

* layers that end in a ReLU: lucent optimizes the layer's output. A post-ReLU unit that is 0 at
  the start (on lucent's nearly grey starting image) has zero gradient and never moves (flat grey
  neuron renders), and minimizing a ReLU output is trivially 0 (flat grey negative renders). As
  Lucid and OpenAI Microscope do ("mixed4a_pre_relu"), the objectives of such a layer are
  computed on the final ReLU's *input* (the pre-activation). The forward pass still stops at the
  layer. A layer "ends in a ReLU" when its output tensor is the very tensor a ReLU-like call
  inside it returned (``nn.ReLU``/``nn.ReLU6`` modules, ``F.relu``/``torch.relu``/``.relu()``,
  ``F.relu6``, ``F.hardtanh`` with min 0, in place or not; the layer may itself be the ReLU),
  found with a ``TorchFunctionMode`` active only during the layer's own forward. Other layers
  (e.g. a bare ``conv``) are optimized on their output exactly as lucent does.

* neuron: lucent takes the centre of the *transformed* image's map; its jitter only shifts by
  +0..7 and +0..3 px, so neuron renders end up off-centre and weak at the centre of the final
  image. Here the transforms track where the original image centre went, and the objective uses
  the map position over it (the centre position again on the untransformed image).
* diversity: the weight of lucent's Gram-cosine term is relative to the layer's activation scale
  (see ``render_feature_vis``), instead of lucent's absolute lam = 100.

Speed: one batch for many images, the forward pass stopped at the layer, no gradients for the
weights, channels-last input; optional bf16/fp16 autocast (``precision``).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from circuitscope.activations.hooks import StopForward, get_module
from circuitscope.activations.relu import ReluRecorder, final_relu_input, relu_call
from circuitscope.models.base import LoadedModel

OBJECTIVES = ("channel", "neuron", "negative", "diversity")
_OBJ_CODE = {name: i for i, name in enumerate(OBJECTIVES)}

# lucent.optvis.param.color.color_correlation_svd_sqrt, normalized by its largest column norm.
_COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype="float32"
)
_COLOR_CORRELATION_NORMALIZED = _COLOR_CORRELATION_SVD_SQRT / np.max(
    np.linalg.norm(_COLOR_CORRELATION_SVD_SQRT, axis=0)
)
LUCENT_SCALES = [1 + (i - 5) / 50.0 for i in range(11)]
LUCENT_ANGLES = list(range(-10, 11)) + 5 * [0]


@dataclass(frozen=True)
class FeatureVisRecord:
    """One rendered image for one unit and objective.

    ``activation`` is the objective's own measure on the final image (as stored, 8-bit, no
    transforms): the channel's spatial mean for ``channel``, ``negative`` (lower is better there)
    and ``diversity``; the value at the centre position for ``neuron``. It is measured on the
    layer's output (``measure == "output"``), except for ``negative`` on a layer that ends in a
    ReLU: there it is the channel's mean *before* the ReLU (``measure == "pre_relu"``, usually a
    negative number; the post-ReLU mean of a good negative render is just 0).
    ``peak`` is the spatial max of the unit's map of the layer's output on the same final image
    (for a [B,C] layer, the value itself): the quantity dataset examples are ranked by, so the
    one to compare with the top example's activation.
    ``objective_on`` says what the optimization used: the layer's ``"output"``, or its final
    ReLU's input (``"pre_relu"``) for a layer that ends in a ReLU.
    ``image_png`` holds the encoded image bytes; ``image_format`` says which lossless format
    ("webp" by default, or "png").
    """

    channel: int
    objective: str
    variant: int  # 0 for single renders, 0..diversity_n-1 for diversity
    image_png: bytes
    activation: float
    layer: str = ""
    image_format: str = "webp"
    size: int = 0
    peak: float | None = None
    measure: str = "output"  # what ``activation`` is measured on: "output" | "pre_relu"
    objective_on: str = "output"  # what the objective was computed on: "output" | "pre_relu"

    @property
    def mime(self) -> str:
        return "image/webp" if self.image_format == "webp" else "image/png"


# --------------------------------------------------------------------------- layers, forward


# The submodule named ``layer`` (dotted path); UnknownLayerError listing valid names if absent.
resolve_layer = get_module


# ReLU detection is shared with records/examples/ (activations/relu.py); the old names stay here.
_relu_call = relu_call
_ReluRecorder = ReluRecorder


def _forward(
    module: nn.Module, x: torch.Tensor, target: nn.Module, layer: str, pre_relu: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``module(x)`` until ``target`` has produced its output: (output, final ReLU's input or None).

    With ``pre_relu``, ReLU-like calls made during ``target``'s own forward are recorded; if the
    output is the very tensor one of them returned (same object, not modified since), that call's
    input (the pre-activation) comes back as well, else None.
    """
    captured: list = []
    handles = []
    recorder = None
    entered = [False]
    if pre_relu:
        recorder = _ReluRecorder()

        def pre_hook(_m, _inp):
            if not entered[0] and not captured:
                recorder.__enter__()
                entered[0] = True

        handles.append(target.register_forward_pre_hook(pre_hook))

    def hook(_m, _inp, out):
        if entered[0]:
            recorder.__exit__(None, None, None)
            entered[0] = False
        captured.append(out)
        raise StopForward

    handles.append(target.register_forward_hook(hook))
    try:
        module(x)
    except StopForward:
        pass
    finally:
        if entered[0]:  # the layer's forward raised: leave the torch-function mode stack as it was
            recorder.__exit__(None, None, None)
        for h in handles:
            h.remove()
    if not captured:
        raise RuntimeError(f"Layer '{layer}' was not called during the forward pass of the model.")
    out = captured[0]
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"Layer '{layer}' returns {type(out).__name__}, not a tensor; pick a layer whose output "
            "is a [B,C,H,W] (or [B,C]) tensor."
        )
    pre = None
    if recorder is not None:
        pre = final_relu_input(recorder.calls, out)
    return out, pre


def forward_to_layer(module: nn.Module, x: torch.Tensor, layer: str | nn.Module) -> torch.Tensor:
    """Run ``module(x)`` only until ``layer`` has produced its output, and return that output."""
    target = resolve_layer(module, layer) if isinstance(layer, str) else layer
    return _forward(module, x, target, str(layer))[0]


def forward_to_layer_pre_relu(
    module: nn.Module, x: torch.Tensor, layer: str | nn.Module
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Like ``forward_to_layer``, plus the input of the layer's final ReLU (None if it does not end in one)."""
    target = resolve_layer(module, layer) if isinstance(layer, str) else layer
    return _forward(module, x, target, str(layer), pre_relu=True)


def _as_bchw(out: torch.Tensor, layer: str) -> torch.Tensor:
    if out.dim() == 4:
        return out
    if out.dim() == 2:
        return out[:, :, None, None]
    raise ValueError(
        f"Layer '{layer}' has output shape {list(out.shape)}; feature visualization needs a "
        "spatial [B,C,H,W] output (or [B,C] for the channel objective)."
    )


# --------------------------------------------------------------------------- parameterization


def _rfft2d_freqs(h: int, w: int) -> np.ndarray:
    # lucent.optvis.param.spatial.rfft2d_freqs
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 2] if w % 2 == 1 else np.fft.fftfreq(w)[: w // 2 + 1]
    return np.sqrt(fx * fx + fy * fy)


def spectrum_shape(size: int, channels: int = 3) -> tuple[int, ...]:
    """Shape of one image's parameter tensor (lucent's fft_image: channels x h x w_freq x 2)."""
    return (channels,) + _rfft2d_freqs(size, size).shape + (2,)


class _FFTImage:
    """lucent's ``param.image(w, h, batch, sd, decorrelate, fft=True)`` on an explicit device.

    ``spectrum`` is the [B, ch, h, w_freq, 2] parameter tensor; ``__call__`` gives [B, ch, h, w] in (0,1).
    """

    def __init__(self, spectrum: torch.Tensor, h: int, w: int, decorrelate: bool = True, decay_power: float = 1.0):
        self.spectrum, self.h, self.w = spectrum, h, w
        freqs = _rfft2d_freqs(h, w)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power
        self.scale = torch.tensor(scale).float()[None, None, ..., None].to(spectrum.device)
        self.decorrelate = decorrelate and spectrum.shape[1] == 3
        self.color = torch.tensor(_COLOR_CORRELATION_NORMALIZED.T).to(spectrum.device)

    def __call__(self) -> torch.Tensor:
        scaled = torch.view_as_complex((self.scale * self.spectrum).contiguous())
        image = torch.fft.irfftn(scaled, s=(self.h, self.w), norm="ortho")
        image = image[:, :, : self.h, : self.w] / 4.0  # lucent's "magic" constant
        if self.decorrelate:
            image = torch.matmul(image.permute(0, 2, 3, 1), self.color).permute(0, 3, 1, 2)
        return torch.sigmoid(image)


# --------------------------------------------------------------------------- transforms


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


# --------------------------------------------------------------------------- objectives, measuring


def _unit_scores(
    acts: torch.Tensor, chan_idx: torch.Tensor, pos: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image b: (spatial mean, value at ``pos``) of channel chan_idx[b]; acts is [B,C,H,W].

    ``pos`` defaults to the centre position (H//2, W//2), lucent's neuron position.
    """
    sel = acts[torch.arange(acts.shape[0], device=acts.device), chan_idx]  # [B,H,W]
    h, w = sel.shape[1:]
    y, x = pos if pos is not None else (h // 2, w // 2)
    return sel.mean(dim=(1, 2)), sel[:, y, x]


def _map_position(track: dict, image_hw: tuple[int, int], map_hw: tuple[int, int]) -> tuple[int, int]:
    """The layer-map position over the image point ``track`` (pixel-centre coordinates).

    For an untransformed image and its centre this is (H//2, W//2) of the map.
    """
    (ih, iw), (mh, mw) = image_hw, map_hw
    y = int(math.floor((track["v"] + 0.5) * mh / ih))
    x = int(math.floor((track["u"] + 0.5) * mw / iw))
    return min(max(y, 0), mh - 1), min(max(x, 0), mw - 1)


def _measure(kind: torch.Tensor, means: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The objective's own measure: centre for neuron, channel mean for the rest."""
    return torch.where(kind == _OBJ_CODE["neuron"], centres, means)


def quantize(image01: torch.Tensor) -> torch.Tensor:
    """The 8-bit values a stored image holds, back in [0,1]."""
    return torch.round(image01.clamp(0, 1) * 255) / 255


def _final_measures(
    acts: torch.Tensor, pre: torch.Tensor | None, chan_idx: torch.Tensor, kind: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (all [B,C,H,W] float): (the objective's reported measure, the unit's spatial peak).

    The measure is taken on the layer's output, except ``negative`` on a layer ending in a ReLU
    (``pre`` given): its pre-ReLU channel mean. The peak is the spatial max of the output map.
    """
    means, centres = _unit_scores(acts, chan_idx)
    value = _measure(kind, means, centres)
    if pre is not None:
        pre_means, _ = _unit_scores(pre, chan_idx)
        value = torch.where(kind == _OBJ_CODE["negative"], pre_means, value)
    sel = acts[torch.arange(acts.shape[0], device=acts.device), chan_idx]
    return value, sel.amax(dim=(1, 2))


def _measure_images(model: LoadedModel, layer: str, channels: Sequence[int], images01: torch.Tensor,
                    objectives: Sequence[str] | str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    device = images01.device
    objs = [objectives] * len(channels) if isinstance(objectives, str) else list(objectives)
    chan_idx = torch.as_tensor(list(channels), device=device, dtype=torch.long)
    kind = torch.as_tensor([_OBJ_CODE[o] for o in objs], device=device)
    with torch.no_grad():
        out, pre = forward_to_layer_pre_relu(model.module, model.normalize(images01), layer)
        acts = _as_bchw(out, layer).float()
        pre = _as_bchw(pre, layer).float() if pre is not None else None
        value, peak = _final_measures(acts, pre, chan_idx, kind)
    return value.cpu(), peak.cpu(), pre is not None


def measure_activations(
    model: LoadedModel,
    layer: str,
    channels: Sequence[int],
    images01: torch.Tensor,
    objectives: Sequence[str] | str = "channel",
) -> torch.Tensor:
    """Measure images [B,3,H,W] in [0,1] (no transforms): per image the objective's measure of its channel.

    The same measure a render's ``activation`` records (``negative`` on a layer that ends in a
    ReLU: the pre-ReLU channel mean).
    """
    return _measure_images(model, layer, channels, images01, objectives)[0]


def measure_peaks(model: LoadedModel, layer: str, channels: Sequence[int], images01: torch.Tensor) -> torch.Tensor:
    """Per image [B,3,H,W] in [0,1]: the spatial max of its channel's map of the layer's output."""
    return _measure_images(model, layer, channels, images01, "channel")[1]


def measure_activation(
    model: LoadedModel, layer: str, channel: int, image01: torch.Tensor, objective: str = "channel"
) -> float:
    """One image ([3,H,W] or [1,3,H,W], values in [0,1], or encoded bytes): its measure for the unit."""
    if isinstance(image01, (bytes, bytearray)):
        image01 = decode_image(image01)
    if image01.dim() == 3:
        image01 = image01[None]
    image01 = image01.to(model.device, torch.float32)
    return float(measure_activations(model, layer, [channel], image01, [objective])[0])


def encode_image(image01: torch.Tensor, fmt: str = "webp") -> bytes:
    """[C,H,W] in [0,1] -> lossless WebP or PNG bytes."""
    from PIL import Image

    arr = (quantize(image01.detach().float().cpu()) * 255).round().to(torch.uint8)
    arr = arr.permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    if fmt == "webp":
        img.save(buf, format="WEBP", lossless=True, quality=80, method=4)
    elif fmt == "png":
        img.save(buf, format="PNG")
    else:
        raise ValueError(f"image_format must be 'webp' or 'png', not {fmt!r}")
    return buf.getvalue()


def decode_image(data: bytes) -> torch.Tensor:
    """Encoded image bytes -> [C,H,W] float tensor in [0,1]."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    arr = np.asarray(img.convert("RGB") if img.mode not in ("RGB", "L") else img)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255


# --------------------------------------------------------------------------- rendering


def _seed_int(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def render_feature_vis(
    model: LoadedModel,
    layer: str,
    channels: Sequence[int],
    objectives: Sequence[str] = OBJECTIVES,
    steps: int = 512,
    size: int | None = None,
    lr: float = 0.05,
    diversity_n: int = 4,
    diversity_weight: float = 2.0,
    batch_channels: int = 32,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    image_format: str = "webp",
    precision: str = "fp32",
) -> Iterator[FeatureVisRecord]:
    """Render feature visualizations of ``channels`` of ``layer``; yields one record per image.

    Channels are optimized in jobs of ``batch_channels`` channels, each job a single batch with
    all requested objectives (``channel`` and ``neuron``: one image each; ``negative``: one image
    minimising the channel mean; ``diversity``: ``diversity_n`` images of one channel with
    lucent's ``diversity`` term among them: per channel the loss is
    ``-sum_i a_i + diversity_weight * s * sum_{i != j} cos(Gram_i, Gram_j) / (n - 1)``, with ``s``
    the std of the layer's activations over the group's images, held constant. lucent's
    ``channel - lam * diversity`` is the same with ``diversity_weight = lam * (n - 1) / s``; its
    usual lam = 100 is tuned to InceptionV1's activation scale and on small models turns images
    grey, while this relative weight carries over between models). Lucid defaults:
    512 steps, 128 px (here the model's input size unless ``size`` is given), Adam lr 0.05.
    ``progress(done_steps, total_steps)`` is called after every optimization step of every job.
    Records of a job are yielded when the job ends, ordered by channel, objective, variant.
    On a layer that ends in a ReLU every objective is computed on that ReLU's input (Lucid's
    "pre_relu"; records say ``objective_on="pre_relu"``), so dead units still get a gradient and
    negative renders go below 0; records report ``activation`` on the layer's output (negative:
    the pre-ReLU mean, ``measure="pre_relu"``) and the output's spatial ``peak``.
    ``precision`` "bf16"/"fp16" runs the network's forward pass under autocast (faster on CPUs
    with AVX512-BF16 and on GPUs); parameters, image and the recorded activations stay fp32.

    The same arguments and seed give identical images on CPU, and a unit's image does not depend
    on which other units share its batch (up to float rounding). On CUDA some kernels (e.g.
    grid_sample's backward) are not bitwise deterministic unless
    ``torch.use_deterministic_algorithms(True)`` is set.
    """
    objectives = tuple(objectives)
    bad = [o for o in objectives if o not in _OBJ_CODE]
    if bad or not objectives:
        raise ValueError(f"Unknown objective(s) {bad or objectives}; choose from {OBJECTIVES}.")
    if len(set(objectives)) != len(objectives):
        raise ValueError(f"Objectives repeat: {objectives}.")
    if steps < 1 or diversity_n < 1 or batch_channels < 1:
        raise ValueError("steps, diversity_n and batch_channels must be >= 1.")
    if "diversity" in objectives and diversity_n < 2:
        raise ValueError("diversity needs diversity_n >= 2 images per channel.")
    if image_format not in ("webp", "png"):
        raise ValueError(f"image_format must be 'webp' or 'png', not {image_format!r}")
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {list(_PRECISIONS)}, not {precision!r}")
    size = int(size or model.input_size or 128)
    device = torch.device(device)
    channels = list(dict.fromkeys(int(c) for c in channels))  # dedupe, keep order

    module = model.module
    target = resolve_layer(module, layer)
    was_training = module.training
    model.to(device)
    module.eval()
    try:
        job = _Job(model=model, layer=layer, target=target, objectives=objectives, steps=steps, size=size,
                   lr=lr, diversity_n=diversity_n, diversity_weight=diversity_weight, seed=seed, device=device,
                   in_ch=len(model.mean), image_format=image_format, autocast_dtype=_PRECISIONS[precision],
                   progress=progress)
        n_units, spatial = job.probe()
        if not spatial and "neuron" in objectives:
            raise ValueError(
                f"Layer '{layer}' has a non-spatial [B,C] output: the neuron objective needs [B,C,H,W]; "
                "use objectives like ('channel', 'negative', 'diversity')."
            )
        invalid = [c for c in channels if not 0 <= c < n_units]
        if invalid:
            raise ValueError(f"Channel index {invalid} out of range for layer '{layer}' with {n_units} "
                             f"channels (valid 0..{n_units - 1}).")
        chunks = [channels[i : i + batch_channels] for i in range(0, len(channels), batch_channels)]
        job.total = len(chunks) * steps
        for chunk in chunks:
            yield from job.render(chunk)
    finally:
        module.train(was_training)


@dataclass
class _Job:
    model: LoadedModel
    layer: str
    target: nn.Module
    objectives: tuple[str, ...]
    steps: int
    size: int
    lr: float
    diversity_n: int
    diversity_weight: float
    seed: int
    device: torch.device
    in_ch: int
    image_format: str
    autocast_dtype: torch.dtype | None
    progress: Callable[[int, int], None] | None
    memory_format: torch.memory_format = torch.contiguous_format
    ends_in_relu: bool = False  # objectives on the final ReLU's input (see the module docstring)
    done: int = 0
    total: int = 0

    def probe(self) -> tuple[int, bool]:
        """Run one grey image to the layer: (number of channels, spatial?). Picks the memory format
        and finds out whether the layer ends in a ReLU.

        Channels-last input makes convolutions markedly faster (CPU oneDNN, CUDA cuDNN); it is
        kept only if the network up to the layer accepts it (code calling .view() on it would not).
        """
        grey = torch.full((1, self.in_ch, self.size, self.size), 0.5, device=self.device)
        x = self.model.normalize(grey)
        with torch.no_grad():
            try:
                out, pre = _forward(self.model.module, x.contiguous(memory_format=torch.channels_last), self.target,
                                    self.layer, pre_relu=True)
                self.memory_format = torch.channels_last
            except RuntimeError:
                out, pre = _forward(self.model.module, x, self.target, self.layer, pre_relu=True)
        _as_bchw(out, self.layer)
        self.ends_in_relu = pre is not None
        return int(out.shape[1]), out.dim() == 4

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def forward(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(layer output, final ReLU's input or None), both [B,C,H,W] float32."""
        x = self.model.normalize(images01).contiguous(memory_format=self.memory_format)
        out, pre = _forward(self.model.module, x, self.target, self.layer, pre_relu=self.ends_in_relu)
        if self.ends_in_relu and pre is None:
            raise RuntimeError(f"Layer '{self.layer}' ended in a ReLU on the probe but not on this forward pass.")
        objective_on = pre if pre is not None else out
        if objective_on.requires_grad and objective_on.dim() == 4 and self.memory_format == torch.channels_last \
                and objective_on.is_contiguous(memory_format=torch.channels_last):
            # The loss's gradient arrives in the default layout; hand it back in the layer's own
            # (channels-last) layout, else every elementwise backward below runs a slow mixed-layout path.
            objective_on.register_hook(lambda g: g.contiguous(memory_format=torch.channels_last))
        return _as_bchw(out, self.layer).float(), (_as_bchw(pre, self.layer).float() if pre is not None else None)

    def render(self, chunk: list[int]) -> Iterator[FeatureVisRecord]:
        """One optimized batch for ``chunk``; on CUDA out-of-memory, split the chunk in two and retry."""
        before = self.done
        try:
            records = self.optimize(chunk)
        except torch.cuda.OutOfMemoryError:
            if len(chunk) == 1:
                raise
            torch.cuda.empty_cache()
            self.total += self.steps + (self.done - before)  # two halves instead of one, plus the lost steps
            half = len(chunk) // 2
            for part in (chunk[:half], chunk[half:]):
                yield from self.render(part)
            return
        yield from records

    def optimize(self, chunk: list[int]) -> list[FeatureVisRecord]:
        device, n_div = self.device, self.diversity_n
        # Batch layout: per channel, per objective, per variant (a channel's diversity images are consecutive).
        entries = [(c, o, v) for c in chunk for o in self.objectives for v in range(n_div if o == "diversity" else 1)]
        # Each image's starting noise depends only on (seed, channel, objective, variant) ...
        shape = spectrum_shape(self.size, self.in_ch)
        init = torch.stack([
            torch.randn(shape, generator=torch.Generator().manual_seed(_seed_int(self.seed, c, _OBJ_CODE[o], v)))
            for c, o, v in entries
        ]) * 0.01  # lucent's sd
        spectrum = init.to(device).requires_grad_(True)
        image_f = _FFTImage(spectrum, self.size, self.size, decorrelate=True)
        # ... and the transforms' random draws on the seed only, so a unit's render does not
        # depend on which other units share its batch.
        track: dict = {}
        transforms = lucent_standard_transforms(device, np.random.RandomState(_seed_int(self.seed, 7919)), track)
        optimizer = torch.optim.Adam([spectrum], lr=self.lr)

        chan_idx = torch.tensor([c for c, _, _ in entries], device=device)
        kind = torch.tensor([_OBJ_CODE[o] for _, o, _ in entries], device=device)
        # score to maximise per image: mean (channel, diversity), centre (neuron), -mean (negative)
        sign = torch.where(kind == _OBJ_CODE["negative"], -1.0, 1.0).to(device)
        div_rows = torch.tensor([i for i, (_, o, _) in enumerate(entries) if o == "diversity"],
                                device=device, dtype=torch.long)
        n_groups = len(div_rows) // n_div

        for _ in range(self.steps):
            x = image_f()
            track.update(u=(self.size - 1) / 2, v=(self.size - 1) / 2)  # the image centre ...
            for t in transforms:
                x = t(x)
            with torch.autocast(device.type, dtype=self.autocast_dtype or torch.float32,
                                enabled=self.autocast_dtype is not None):
                out, pre = self.forward(x)
            acts = pre if pre is not None else out  # a layer ending in a ReLU: its pre-activation
            # ... the neuron objective uses the map position over where the transforms moved the
            # image centre (lucent uses the transformed map's centre: its jitter only shifts by
            # +0..7 and +0..3 px, which leaves neuron renders off-centre on the final image).
            means, centres = _unit_scores(acts, chan_idx, _map_position(track, x.shape[2:], acts.shape[2:]))
            loss = -(sign * _measure(kind, means, centres)).sum()
            if n_groups:
                # lucent's diversity(): each image's Gram matrix over the layer's channels,
                # Frobenius-normalized; penalize the cosine between the Gram matrices of the images
                # of the same channel (sum over i != j). Weighted by the layer's current activation
                # scale (std over the group's maps, no gradient), so one weight suits any model.
                d = acts[div_rows]
                flat = d.reshape(d.shape[0], d.shape[1], -1)
                grams = F.normalize(torch.matmul(flat, flat.transpose(1, 2)).reshape(d.shape[0], -1), p=2, dim=1)
                g = grams.reshape(n_groups, n_div, -1)
                sims = torch.matmul(g, g.transpose(1, 2))
                pair_sum = sims.sum((1, 2)) - torch.diagonal(sims, dim1=1, dim2=2).sum(1)  # [groups]
                scale = d.detach().reshape(n_groups, -1).std(1)  # the layer's activation scale
                loss = loss + self.diversity_weight * (scale * pair_sum).sum() / (n_div - 1)
            optimizer.zero_grad(set_to_none=True)
            (spectrum.grad,) = torch.autograd.grad(loss, [spectrum])  # no gradients for the model's weights
            optimizer.step()
            self.tick()

        with torch.no_grad():
            final = quantize(image_f())  # what the stored 8-bit image holds
            out, pre = self.forward(final)
            measured, peaks = (t.cpu().tolist() for t in _final_measures(out, pre, chan_idx, kind))
        final = final.cpu()
        on = "pre_relu" if self.ends_in_relu else "output"
        return [
            FeatureVisRecord(channel=c, objective=o, variant=v, image_png=encode_image(final[i], self.image_format),
                             activation=float(measured[i]), layer=self.layer, image_format=self.image_format,
                             size=self.size, peak=float(peaks[i]),
                             measure="pre_relu" if self.ends_in_relu and o == "negative" else "output",
                             objective_on=on)
            for i, (c, o, v) in enumerate(entries)
        ]


__all__ = [
    "OBJECTIVES",
    "FeatureVisRecord",
    "render_feature_vis",
    "measure_activation",
    "measure_activations",
    "measure_peaks",
    "forward_to_layer",
    "forward_to_layer_pre_relu",
    "resolve_layer",
    "lucent_standard_transforms",
    "encode_image",
    "decode_image",
    "quantize",
    "spectrum_shape",
]
