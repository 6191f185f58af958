"""Rendering: many units' feature visualizations optimized together in one batch.

lucent's ``render_vis`` optimizes one objective per call and runs the whole network. Here one
optimized batch holds every image of a job: for each of up to ``batch_channels`` channels, one
image for the channel objective, one for the neuron objective (centre position), one for the
negative objective and ``diversity_n`` images for the diversity objective. The per-image
objectives are *summed*, so each image's gradient depends on its own objective only (the
diversity penalty couples only the images of the same channel, as lucent's ``diversity`` does
inside a ``render_vis`` batch); the network runs in eval mode, so batch norm does not mix
images, and Adam normalizes each parameter element on its own, so every image follows the same
optimization it would follow alone. The forward pass stops at the target layer (``Trace``).

Two styles (``style``):

* ``"lucent"``: lucent 0.1.8's FFT parameterization and ``standard_transforms`` (see ``param`` and
  ``transforms``), a fixed number of steps: the faithful reproduction, kept as a setting.
* ``"fast"`` (the default of ``circuitscope compute``): what the experiments in
  ``scripts/bench_featurevis.py`` / ``scripts/bench_fidelity.py`` supported (README, "Feature
  visualization"): one fused affine transform per step scaled to the unit's receptive field,
  a higher learning rate, early stopping once every image's objective has stopped rising, and
  for units linear in the input the positive part of the map as the channel objective.
  ``param="maco"`` switches to the phase-only parameterization.

Departures from lucent in both styles, all about objectives:

* layers that end in a ReLU: the objectives are computed on the final ReLU's *input* (the
  pre-activation), as Lucid and OpenAI Microscope do ("mixed4a_pre_relu"): a post-ReLU unit that is 0
  on the nearly grey starting image has no gradient, and minimizing a ReLU output is trivially 0.
  Records report ``activation`` on the layer's output (negative: the pre-ReLU mean).
* neuron: the transforms track where the original image centre went, and the objective uses the
  map position over it (lucent takes the transformed map's centre, which leaves renders off-centre).
* diversity: the weight of lucent's Gram-cosine term is relative to the layer's activation scale.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from circuitscope.activations import Trace
from circuitscope.models.base import LoadedModel
from circuitscope.records.codec import decode_image, encode_lossless_webp, quantize
from circuitscope.records.featurevis.layer import as_bchw, resolve_layer
from circuitscope.records.featurevis.objectives import (
    diversity_penalty,
    final_measures,
    map_position,
    map_positions,
    objective_measure,
    unit_scores,
)
from circuitscope.records.featurevis.param import FFTImage, PhaseImage, phase_shape, spectrum_shape
from circuitscope.records.featurevis.probe import LayerProbe, probe_layer
from circuitscope.records.featurevis.record import (
    ACCENTUATION,
    ALL_OBJECTIVES,
    OBJECTIVE_CODE,
    OBJECTIVES,
    FeatureVisRecord,
)
from circuitscope.records.featurevis.transforms import FusedTransform, lucent_standard_transforms

STYLES = ("lucent", "fast")
PARAMS = ("fft", "maco")
_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def seed_int(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


@dataclass(frozen=True)
class StyleSettings:
    """How a style optimizes; ``steps`` is the most steps a job runs (``min_steps`` the fewest)."""

    transforms: str  # "lucent" | "fused_rf"
    early_stop: bool
    min_steps_fraction: float = 0.25
    check_every: int = 8
    rel_tol: float = 0.01  # an image has converged when its objective rose < 1 % over check_every steps
    positive_part_for_linear: bool = False


STYLE_SETTINGS = {
    "lucent": StyleSettings(transforms="lucent", early_stop=False),
    "fast": StyleSettings(transforms="fused_rf", early_stop=True, positive_part_for_linear=True),
}


def default_lr(style: str) -> float:
    """Adam's learning rate when none is given: Lucid's 0.05 for lucent, higher for fast (see README)."""
    return FAST_LR if style == "fast" else 0.05


FAST_LR = 0.1
# Accentuation: the squared distance from the start image costs ACCENT_WEIGHT x the unit's activation on the
# start image per ACCENT_RMS of RMS pixel change (pixels in [0, 1]); see README, "feature accentuation".
ACCENT_WEIGHT = 1.0
ACCENT_RMS = 0.1


def render_feature_vis(
    model: LoadedModel,
    layer: str,
    channels: Sequence[int],
    objectives: Sequence[str] = OBJECTIVES,
    steps: int = 512,
    size: int | None = None,
    lr: float | None = None,
    diversity_n: int = 4,
    diversity_weight: float = 2.0,
    batch_channels: int = 32,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    precision: str = "fp32",
    style: str = "lucent",
    param: str = "fft",
    starts: Mapping[int, torch.Tensor | bytes] | None = None,
    accentuation_weight: float = ACCENT_WEIGHT,
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
    ``progress(done_steps, total_steps)`` is called after every optimization step of every job
    (an early-stopped job counts its remaining steps as done).
    Records of a job are yielded when the job ends, ordered by channel, objective, variant.
    ``precision`` "bf16"/"fp16" runs the network's forward pass under autocast (faster on CPUs
    with AVX512-BF16 and on GPUs); parameters, image and the recorded activations stay fp32.

    ``size`` must lie between the layer's receptive field and what the model accepts (a clear
    ValueError gives the valid range). Units no gradient reaches (e.g. a detached or integer
    layer) get a record with ``failure`` set and no image instead of a grey one.

    ``accentuation`` (feature accentuation, Hamblin et al. 2024) starts from ``starts[channel]`` (the
    unit's top dataset example: a [C,H,W] tensor in [0,1] or encoded image bytes, resized to ``size``)
    and maximises the unit at the map position where that image peaks, minus
    ``accentuation_weight`` x the start's activation there x (RMS change from the start / ACCENT_RMS)^2,
    so it stays near the start. Always the FFT parameterization (added before the sigmoid to the
    start image's logit, zero at step 0), whatever ``param`` says.

    The same arguments and seed give identical images on CPU, and a unit's image does not depend
    on which other units share its batch (up to float rounding; with early stopping, a job stops
    when all its images have converged, so batch-mates can add steps). On CUDA some kernels
    (e.g. grid_sample's backward) are not bitwise deterministic unless
    ``torch.use_deterministic_algorithms(True)`` is set.
    """
    objectives = tuple(objectives)
    bad = [o for o in objectives if o not in OBJECTIVE_CODE]
    if bad or not objectives:
        raise ValueError(f"Unknown objective(s) {bad or objectives}; choose from {ALL_OBJECTIVES}.")
    if len(set(objectives)) != len(objectives):
        raise ValueError(f"Objectives repeat: {objectives}.")
    if steps < 1 or diversity_n < 1 or batch_channels < 1:
        raise ValueError("steps, diversity_n and batch_channels must be >= 1.")
    if "diversity" in objectives and diversity_n < 2:
        raise ValueError("diversity needs diversity_n >= 2 images per channel.")
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {list(_PRECISIONS)}, not {precision!r}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {list(STYLES)}, not {style!r}")
    if param not in PARAMS:
        raise ValueError(f"param must be one of {list(PARAMS)}, not {param!r}")
    size = int(size or model.input_size or 128)
    lr = float(lr) if lr is not None else default_lr(style)
    device = torch.device(device)
    channels = list(dict.fromkeys(int(c) for c in channels))  # dedupe, keep order
    start_images = _start_images(starts, channels, size, len(model.mean)) if ACCENTUATION in objectives else {}
    if ACCENTUATION in objectives and not accentuation_weight >= 0:
        raise ValueError(f"accentuation_weight must be >= 0, not {accentuation_weight}.")

    module = model.module
    resolve_layer(module, layer)  # UnknownLayerError listing the valid names
    was_training = module.training
    model.to(device)
    module.eval()
    try:
        settings = STYLE_SETTINGS[style]
        pad_of = (lambda rf: 12) if settings.transforms == "lucent" else FusedTransform.pad_for
        probe = probe_layer(model, layer, size, device, need_linearity=settings.positive_part_for_linear, pad_of=pad_of)
        if not probe.spatial and "neuron" in objectives:
            raise ValueError(
                f"Layer '{layer}' has a non-spatial [B,C] output: the neuron objective needs [B,C,H,W]; "
                "use objectives like ('channel', 'negative', 'diversity')."
            )
        invalid = [c for c in channels if not 0 <= c < probe.channels]
        if invalid:
            raise ValueError(f"Channel index {invalid} out of range for layer '{layer}' with {probe.channels} "
                             f"channels (valid 0..{probe.channels - 1}).")
        job = _Job(model=model, layer=layer, probe=probe, objectives=objectives, steps=steps, size=size, lr=lr,
                   diversity_n=diversity_n, diversity_weight=diversity_weight, seed=seed, device=device,
                   in_ch=len(model.mean), autocast_dtype=_PRECISIONS[precision], progress=progress,
                   settings=STYLE_SETTINGS[style], param=param, starts=start_images,
                   accent_weight=float(accentuation_weight))
        chunks = [channels[i : i + batch_channels] for i in range(0, len(channels), batch_channels)]
        job.total = len(chunks) * steps
        for chunk in chunks:
            yield from job.render(chunk)
    finally:
        module.train(was_training)


def _start_images(starts, channels: list[int], size: int, in_ch: int) -> dict[int, torch.Tensor]:
    """Accentuation's start images as [C, size, size] tensors in [0, 1]; refuses missing or unfit ones."""
    missing = [c for c in channels if starts is None or c not in starts]
    if missing:
        raise ValueError(f"accentuation starts from each unit's top dataset example; none was given for channel(s) "
                         f"{missing[:10]}: compute the layer's dataset examples first (or leave out 'accentuation').")
    out = {}
    for c in channels:
        img = starts[c]
        img = decode_image(bytes(img)) if isinstance(img, (bytes, bytearray)) else torch.as_tensor(img).float()
        if img.dim() != 3 or img.shape[0] not in (1, 3):
            raise ValueError(f"start image of channel {c} has shape {tuple(img.shape)}; expected [C,H,W] with C = 1 or 3.")
        if img.shape[0] != in_ch:
            img = img.expand(in_ch, -1, -1) if img.shape[0] == 1 else img.mean(0, keepdim=True)
        if tuple(img.shape[1:]) != (size, size):
            img = F.interpolate(img[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        out[c] = img.clamp(0, 1)
    return out


@dataclass
class _Job:
    model: LoadedModel
    layer: str
    probe: LayerProbe
    objectives: tuple[str, ...]
    steps: int
    size: int
    lr: float
    diversity_n: int
    diversity_weight: float
    seed: int
    device: torch.device
    in_ch: int
    autocast_dtype: torch.dtype | None
    progress: Callable[[int, int], None] | None
    settings: StyleSettings
    param: str
    starts: dict[int, torch.Tensor] = field(default_factory=dict)
    accent_weight: float = ACCENT_WEIGHT
    done: int = 0
    total: int = 0
    steps_run: list[int] = field(default_factory=list)  # per chunk: how many steps it took

    def tick(self, n: int = 1) -> None:
        if n <= 0:
            return
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)

    def forward(self, trace: Trace, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(layer output, final ReLU's input or None), both [B,C,H,W] float32."""
        x = self.model.normalize(images01).contiguous(memory_format=self.probe.memory_format)
        trace.forward(x)
        out, pre = trace.output[self.layer], trace.pre_relu.get(self.layer)
        if self.probe.ends_in_relu and pre is None:
            raise RuntimeError(f"Layer '{self.layer}' ended in a ReLU on the probe but not on this forward pass.")
        objective_on = pre if pre is not None else out
        if objective_on.requires_grad and objective_on.dim() == 4 and self.probe.memory_format == torch.channels_last \
                and objective_on.is_contiguous(memory_format=torch.channels_last):
            # The loss's gradient arrives in the default layout; hand it back in the layer's own
            # (channels-last) layout, else every elementwise backward below runs a slow mixed-layout path.
            objective_on.register_hook(lambda g: g.contiguous(memory_format=torch.channels_last))
        return as_bchw(out, self.layer).float(), (as_bchw(pre, self.layer).float() if pre is not None else None)

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

    def _image(self, entries) -> FFTImage | PhaseImage:
        gen = lambda c, o, v: torch.Generator().manual_seed(seed_int(self.seed, c, OBJECTIVE_CODE[o], v))  # noqa: E731
        if self.param == "maco":
            shape = phase_shape(self.size, self.in_ch)
            init = torch.stack([(torch.rand(shape, generator=gen(c, o, v)) * 2 - 1) * np.pi for c, o, v in entries])
            return PhaseImage(init.to(self.device).requires_grad_(True), self.size, self.size)
        # Each image's starting noise depends only on (seed, channel, objective, variant) ...
        shape = spectrum_shape(self.size, self.in_ch)
        init = torch.stack([torch.randn(shape, generator=gen(c, o, v)) for c, o, v in entries]) * 0.01  # lucent's sd
        return FFTImage(init.to(self.device).requires_grad_(True), self.size, self.size, decorrelate=True)

    def _accent_image(self, entries) -> tuple[FFTImage, torch.Tensor]:
        """(images that are exactly their units' start images at step 0, the quantized start images)."""
        start = quantize(torch.stack([self.starts[c] for c, _, _ in entries])).to(self.device)
        offset = torch.logit(start.clamp(0.5 / 255, 1 - 0.5 / 255))
        spectrum = torch.zeros((len(entries),) + spectrum_shape(self.size, self.in_ch), device=self.device)
        return FFTImage(spectrum.requires_grad_(True), self.size, self.size, decorrelate=True, offset=offset), start

    def optimize(self, chunk: list[int]) -> list[FeatureVisRecord]:
        device, n_div, st = self.device, self.diversity_n, self.settings
        # Batch layout: per channel, per objective, per variant (a channel's diversity images are consecutive);
        # accentuation images (their own parameter, started from the top examples) after all the others.
        ordered = [(c, o, v) for c in chunk for o in self.objectives for v in range(n_div if o == "diversity" else 1)]
        main = [e for e in ordered if e[1] != ACCENTUATION]
        accent = [e for e in ordered if e[1] == ACCENTUATION]
        entries, n_main = main + accent, len(main)
        image_f = self._image(main) if main else None
        accent_f, accent_start = self._accent_image(accent) if accent else (None, torch.empty(0))
        parts = [f for f in (image_f, accent_f) if f is not None]
        params = [p for f in parts for p in f.parameters]

        def images() -> torch.Tensor:
            return parts[0]() if len(parts) == 1 else torch.cat([f() for f in parts])

        # ... and the transforms' random draws on the seed only, so a unit's render does not
        # depend on which other units share its batch.
        rng = np.random.RandomState(seed_int(self.seed, 7919))
        track: dict = {}
        if st.transforms == "lucent":
            chain = lucent_standard_transforms(device, rng, track)

            def transform(x):
                for t in chain:
                    x = t(x)
                return x
        else:
            fused = FusedTransform(self.size, rng, rf=self.probe.rf, device=device)

            def transform(x):
                return fused(x, track)
        optimizer = torch.optim.Adam(params, lr=self.lr)

        chan_idx = torch.tensor([c for c, _, _ in entries], device=device)
        kind = torch.tensor([OBJECTIVE_CODE[o] for _, o, _ in entries], device=device)
        # score to maximise per image: mean (channel, diversity), centre (neuron), -mean (negative)
        sign = torch.where(kind == OBJECTIVE_CODE["negative"], -1.0, 1.0).to(device)
        # units linear in the input: the spatial mean is degenerate; maximise the positive part instead
        linear = self.probe.linear if st.positive_part_for_linear else None
        positive_part = None
        if linear is not None:
            positive_part = torch.tensor([bool(linear[c]) and o in ("channel", "diversity") for c, o, _ in entries],
                                         device=device)
            if not bool(positive_part.any()):
                positive_part = None
        div_rows = torch.tensor([i for i, (_, o, _) in enumerate(entries) if o == "diversity"],
                                device=device, dtype=torch.long)
        min_steps = max(1, int(self.steps * st.min_steps_fraction)) if st.early_stop else self.steps
        last_check: torch.Tensor | None = None
        no_grad_rows = torch.zeros(len(entries), dtype=torch.bool)
        rising: torch.Tensor | None = None  # per image: still rising at the last convergence check
        steps_run = 0
        centre = (self.size - 1) / 2

        with Trace(self.model.module, self.layer, stop=True, detach=False, pre_relu=self.probe.ends_in_relu) as trace:
            if accent:  # where each start image peaks (its image point), its activation there and its peak
                accent_u, accent_v, accent_scale, start_peaks = self._accent_targets(trace, accent_start,
                                                                                     chan_idx[n_main:])
                point_u = np.concatenate([np.full(n_main, centre), accent_u])
                point_v = np.concatenate([np.full(n_main, centre), accent_v])
            for step in range(self.steps):
                x = images()
                # the image centre (and the accentuation images' peak points) ...
                if accent:
                    track.update(u=point_u.copy(), v=point_v.copy())
                else:
                    track.update(u=centre, v=centre)
                xt = transform(x)
                with torch.autocast(device.type, dtype=self.autocast_dtype or torch.float32,
                                    enabled=self.autocast_dtype is not None):
                    out, pre = self.forward(trace, xt)
                acts = pre if pre is not None else out  # a layer ending in a ReLU: its pre-activation
                # ... the neuron objective uses the map position over where the transforms moved the image centre
                pos: tuple[torch.Tensor, torch.Tensor] | tuple[int, int] = (
                    map_positions(track, xt.shape[2:], acts.shape[2:], device) if accent
                    else map_position(track, xt.shape[2:], acts.shape[2:]))
                means, centres = unit_scores(acts, chan_idx, pos)
                if positive_part is not None:
                    pos_means, _ = unit_scores(acts.clamp(min=0), chan_idx)
                    # a little of the plain mean keeps a gradient where the unit is negative everywhere
                    means = torch.where(positive_part, pos_means + 0.05 * means, means)
                score = sign * objective_measure(kind, means, centres)
                if accent:  # stay near the start image
                    mse = (x[n_main:] - accent_start).pow(2).flatten(1).mean(1)
                    penalty = self.accent_weight * accent_scale * mse / ACCENT_RMS ** 2
                    score = torch.cat([score[:n_main], score[n_main:] - penalty])
                loss = -score.sum()
                if len(div_rows):
                    loss = loss + self.diversity_weight * diversity_penalty(acts[div_rows], n_div)
                if not loss.requires_grad:  # nothing reaches the input: every unit is marked, none drawn grey
                    self.tick(self.steps)
                    return [FeatureVisRecord(channel=c, objective=o, variant=v, image_webp=b"", activation=float("nan"),
                                             layer=self.layer, size=self.size, steps=0,
                                             failure=NoGradientError(self.layer).args[0]) for c, o, v in ordered]
                grads = torch.autograd.grad(loss, params)  # no gradients for the model's weights
                if step == 0:
                    no_grad_rows = torch.cat([g.detach().flatten(1).abs().amax(1) == 0 for g in grads]).cpu()
                for p, g in zip(params, grads):
                    p.grad = g
                optimizer.step()
                steps_run = step + 1
                self.tick()
                if st.early_stop and steps_run >= min_steps and steps_run % st.check_every == 0:
                    now = score.detach().float()
                    if last_check is not None:
                        rising = ((now - last_check) > st.rel_tol * now.abs().clamp(min=1e-3)).cpu()
                        if not bool(rising.any()):
                            break
                    last_check = now
            self.tick(self.steps - steps_run)
            self.steps_run.append(steps_run)

            with torch.no_grad():
                final = quantize(images())  # what the stored 8-bit image holds
                out, pre = self.forward(trace, final)
                measured, peaks = (t.cpu().tolist() for t in final_measures(out, pre, chan_idx, kind))
                distances = ((final[n_main:] - accent_start).pow(2).flatten(1).mean(1).sqrt().cpu().tolist()
                             if accent else [])
        final = final.cpu()
        converged = None  # per image; None where no convergence check runs (the lucent style)
        if st.early_stop:
            if steps_run < self.steps:  # stopped early: every image had stopped rising
                converged = torch.ones(len(entries), dtype=torch.bool)
            else:  # ran out of steps: those rising at the last check (all, if none happened) had not converged
                converged = ~rising if rising is not None else torch.zeros(len(entries), dtype=torch.bool)
        on = "pre_relu" if self.probe.ends_in_relu else "output"
        records = {}
        for i, (c, o, v) in enumerate(entries):
            failure = None
            if bool(no_grad_rows[i]):
                failure = (f"no gradient reaches the input from unit {c} of layer '{self.layer}' (a detached, "
                           "integer or constant unit): nothing to optimize")
            records[(c, o, v)] = FeatureVisRecord(
                channel=c, objective=o, variant=v, image_webp=b"" if failure else encode_lossless_webp(final[i]),
                activation=float(measured[i]), layer=self.layer, size=self.size, peak=float(peaks[i]),
                measure="pre_relu" if self.probe.ends_in_relu and o == "negative" else "output", objective_on=on,
                linear=bool(self.probe.linear[c]) if self.probe.linear is not None else None,
                steps=steps_run, failure=failure,
                converged=None if converged is None else bool(converged[i]),
                start_peak=float(start_peaks[i - n_main]) if i >= n_main else None,
                distance=float(distances[i - n_main]) if i >= n_main else None)
        return [records[e] for e in ordered]

    def _accent_targets(self, trace: Trace, start: torch.Tensor, chan_idx: torch.Tensor
                        ) -> tuple[np.ndarray, np.ndarray, torch.Tensor, list[float]]:
        """Per start image: the image point (u, v) over the map position where its unit peaks, the objective
        there (its magnitude sets the distance penalty's scale) and the peak itself."""
        with torch.no_grad():
            out, pre = self.forward(trace, start)
        rows = torch.arange(start.shape[0], device=start.device)
        out_maps = out[rows, chan_idx]  # [B, h, w]
        mh, mw = out_maps.shape[1:]
        flat = out_maps.flatten(1).argmax(1)
        y, x = flat // mw, flat % mw
        at = (pre if pre is not None else out)[rows, chan_idx, y, x].abs()
        scale = at.clamp(min=1e-3 + 0.1 * float(at.mean()))  # a unit silent on its start image keeps a penalty
        u = ((x.double() + 0.5) * self.size / mw - 0.5).cpu().numpy()
        v = ((y.double() + 0.5) * self.size / mh - 0.5).cpu().numpy()
        return u, v, scale.float(), out_maps.flatten(1).amax(1).cpu().tolist()


class NoGradientError(ValueError):
    """No gradient reaches the input from the layer at all (e.g. an integer or detached output)."""

    def __init__(self, layer: str):
        super().__init__(f"No gradient reaches the input from layer '{layer}' (its output is detached or not "
                         "differentiable, e.g. integer or computed under no_grad): it cannot be rendered; "
                         "pick a differentiable layer.")
