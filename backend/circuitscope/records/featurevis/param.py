"""Image parameterizations: lucent's FFT image (decorrelated colour), and MACO's phase-only one.

``FFTImage`` is ``lucent.optvis.param.image(size, batch=B, fft=True, decorrelate=True)`` on an
explicit device: a 1/f-scaled spectrum (sd 0.01), inverse real FFT, divided by 4, colour-
decorrelated with lucent's matrix, then a sigmoid (``tests/unit/records/test_records_featurevis.py`` checks it against
lucent's own function).

``PhaseImage`` is MACO's (Fel et al. 2023): only the Fourier *phase* is optimized; the magnitude
is fixed to a natural-image 1/f spectrum, so the image keeps natural-image statistics whatever
the objective does (no high-frequency noise), and the optimizer cannot simply raise contrast.
"""
from __future__ import annotations

import math

import numpy as np
import torch

# lucent.optvis.param.color.color_correlation_svd_sqrt, normalized by its largest column norm.
COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype="float32"
)
COLOR_CORRELATION_NORMALIZED = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    # lucent.optvis.param.spatial.rfft2d_freqs
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 2] if w % 2 == 1 else np.fft.fftfreq(w)[: w // 2 + 1]
    return np.sqrt(fx * fx + fy * fy)


def spectrum_shape(size: int, channels: int = 3) -> tuple[int, ...]:
    """Shape of one image's parameter tensor (lucent's fft_image: channels x h x w_freq x 2)."""
    return (channels,) + rfft2d_freqs(size, size).shape + (2,)


class FFTImage:
    """lucent's ``param.image(w, h, batch, sd, decorrelate, fft=True)`` on an explicit device.

    ``spectrum`` is the [B, ch, h, w_freq, 2] parameter tensor; ``__call__`` gives [B, ch, h, w] in (0,1).
    """

    def __init__(self, spectrum: torch.Tensor, h: int, w: int, decorrelate: bool = True, decay_power: float = 1.0,
                 offset: torch.Tensor | None = None):
        self.spectrum, self.h, self.w = spectrum, h, w
        self.offset = offset  # [B, ch, h, w] added before the sigmoid: the logit of a start image (accentuation)
        freqs = rfft2d_freqs(h, w)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power
        self.scale = torch.tensor(scale).float()[None, None, ..., None].to(spectrum.device)
        self.decorrelate = decorrelate and spectrum.shape[1] == 3
        self.color = torch.tensor(COLOR_CORRELATION_NORMALIZED.T).to(spectrum.device)

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def __call__(self) -> torch.Tensor:
        scaled = torch.view_as_complex((self.scale * self.spectrum).contiguous())
        image = torch.fft.irfftn(scaled, s=(self.h, self.w), norm="ortho")
        image = image[:, :, : self.h, : self.w] / 4.0  # lucent's "magic" constant
        if self.decorrelate:
            image = torch.matmul(image.permute(0, 2, 3, 1), self.color).permute(0, 3, 1, 2)
        return torch.sigmoid(image if self.offset is None else image + self.offset)


class PhaseImage:
    """MACO's parameterization: a fixed natural-image magnitude spectrum, an optimized phase.

    The magnitude is 1/f (the average spectrum of natural images, as MACO's own default when no
    reference spectrum is given), scaled so the image has lucent's contrast after the colour
    decorrelation; ``phase`` is the [B, ch, h, w_freq] parameter tensor (uniform in [-pi, pi) at the
    start).
    """

    def __init__(self, phase: torch.Tensor, h: int, w: int, decorrelate: bool = True, contrast: float = 1.0):
        self.phase, self.h, self.w = phase, h, w
        freqs = rfft2d_freqs(h, w)
        magnitude = 1.0 / np.maximum(freqs, 1.0 / max(w, h))
        magnitude[0, 0] = 0.0  # the mean colour comes from the sigmoid's centre (grey), as in lucent
        # scale: unit std per channel before the decorrelation, times contrast
        magnitude = magnitude / math.sqrt((magnitude ** 2).sum() * 2 / (h * w)) * contrast
        self.magnitude = torch.tensor(magnitude).float()[None, None].to(phase.device)
        self.decorrelate = decorrelate and phase.shape[1] == 3
        self.color = torch.tensor(COLOR_CORRELATION_NORMALIZED.T).to(phase.device)

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.phase]

    def __call__(self) -> torch.Tensor:
        spectrum = torch.polar(self.magnitude.expand_as(self.phase), self.phase)
        image = torch.fft.irfftn(spectrum, s=(self.h, self.w), norm="ortho")
        if self.decorrelate:
            image = torch.matmul(image.permute(0, 2, 3, 1), self.color).permute(0, 3, 1, 2)
        return torch.sigmoid(image)


def phase_shape(size: int, channels: int = 3) -> tuple[int, ...]:
    return (channels,) + rfft2d_freqs(size, size).shape
