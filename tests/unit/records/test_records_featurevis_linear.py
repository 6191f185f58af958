"""Units linear in their input (a first layer whose ReLU is applied functionally): the channel objective's
blind spot, and what the fast renderer does about it; hand-set Gabor and centre-surround filters."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from circuitscope.models.base import LoadedModel
from circuitscope.records.featurevis import decode_image, render_feature_vis

SIZE = 32
K = 9  # filter size: the first layer's receptive field
PERIOD = 4.0
ANGLES = (0.0, 45.0, 90.0, 135.0)  # diagonal ones included: upsampling or rotation alias them first


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gabor(angle_deg: float, period: float = PERIOD, sigma: float = 2.0) -> torch.Tensor:
    r = torch.arange(K, dtype=torch.float64) - (K - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    t = math.radians(angle_deg)
    u = x * math.cos(t) + y * math.sin(t)
    g = torch.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2)) * torch.cos(2 * math.pi * u / period)
    return g - g.mean()  # zero mean: the spatial mean of its response does not depend on the image


def centre_surround() -> torch.Tensor:
    r = torch.arange(K, dtype=torch.float64) - (K - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    d2 = x ** 2 + y ** 2
    g = torch.exp(-d2 / (2 * 1.0 ** 2)) / 1.0 ** 2 - torch.exp(-d2 / (2 * 2.5 ** 2)) / 2.5 ** 2
    return g - g.mean()


FILTERS = [gabor(a) for a in ANGLES] + [centre_surround()]


class LinearFirstLayer(nn.Module):
    """conv1 holds the hand-set filters (on grey: the same weights for R, G, B); its ReLU is functional,
    so the layer 'conv1' is linear in the input (no ReLU module or call inside it)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, len(FILTERS), K, padding=K // 2, bias=False)
        self.conv2 = nn.Conv2d(len(FILTERS), 4, 3, padding=1)
        with torch.no_grad():
            w = torch.stack(FILTERS).float()
            w = w / w.abs().sum(dim=(1, 2), keepdim=True)  # each filter's best response is 1 (per colour)
            self.conv1.weight.copy_(w[:, None].repeat(1, 3, 1, 1) / 3)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x))).mean((2, 3))


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    torch.manual_seed(0)
    return LoadedModel("gabors", LinearFirstLayer().eval(), input_size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def top_examples(model) -> torch.Tensor:
    """Per unit, the best 'dataset example' peak over 1/f-noise images (natural-image-like spectra)."""
    g = torch.Generator().manual_seed(0)
    f = torch.fft.fftfreq(SIZE)
    mag = 1 / torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2).clamp(min=1 / SIZE)
    noise = torch.randn(256, 1, SIZE, SIZE, generator=g, dtype=torch.complex64) * mag
    imgs = torch.fft.ifft2(noise).real
    imgs = (imgs - imgs.mean((2, 3), keepdim=True)) / imgs.std((2, 3), keepdim=True) * 0.25 + 0.5
    imgs = imgs.clamp(0, 1).repeat(1, 3, 1, 1)
    with torch.no_grad():
        return model.module.conv1(model.normalize(imgs)).amax(dim=(2, 3)).amax(0)


def conv1(model, img01: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.module.conv1(model.normalize(img01[None]))[0]


def central_positive_mean(acts: torch.Tensor) -> torch.Tensor:
    """Per channel: the mean of the positive part over the central half of the map."""
    h, w = acts.shape[1:]
    centre = acts[:, h // 4: h - h // 4, w // 4: w - w // 4]
    return centre.clamp(min=0).mean(dim=(1, 2))


def test_conv1_is_detected_as_linear_and_the_grating_scale(model):
    recs = list(render_feature_vis(model, "conv1", range(len(FILTERS)), objectives=("channel",), steps=2,
                                   style="fast"))
    assert all(r.linear for r in recs)
    # the yardstick: an ideal sinusoidal grating for each Gabor gives ~0.6x the top example of this
    # noise dataset on this measure, so the goal below (>= 0.1x) asks for a sixth of an ideal grating
    top = top_examples(model)
    r = torch.arange(SIZE, dtype=torch.float64)
    y, x = torch.meshgrid(r, r, indexing="ij")
    for c, a in enumerate(ANGLES):
        t = math.radians(a)
        grating = (0.5 + 0.5 * torch.cos(2 * math.pi * (x * math.cos(t) + y * math.sin(t)) / PERIOD)).float()
        score = central_positive_mean(conv1(model, grating[None].repeat(3, 1, 1)))[c]
        assert score > 0.5 * top[c], (a, float(score), float(top[c]))


def test_channel_render_of_linear_units_excites_them_across_the_image(model):
    top = top_examples(model)
    channels = list(range(len(FILTERS)))
    fast = {r.channel: r for r in render_feature_vis(model, "conv1", channels, objectives=("channel",), steps=128,
                                                     style="fast")}
    lucent = {r.channel: r for r in render_feature_vis(model, "conv1", channels, objectives=("channel",), steps=128,
                                                       style="lucent")}
    for c in channels:
        got = float(central_positive_mean(conv1(model, decode_image(fast[c].image_webp)))[c] / top[c])
        old = float(central_positive_mean(conv1(model, decode_image(lucent[c].image_webp)))[c] / top[c])
        assert got >= 0.1, (c, got, old)  # issue 12's goal
        assert got > 5 * old, (c, got, old)  # lucent's objective is degenerate here (its renders: ~0.001x)


@pytest.mark.parametrize("size", [16, 24, 32, 48])
def test_neuron_render_receptive_field_matches_the_filter_at_any_size(model, size):
    """The best possible input for a linear unit at one position is the filter's sign pattern in its
    receptive field (response = sum |w| = 1 here); the neuron render must come close to it there."""
    recs = list(render_feature_vis(model, "conv1", range(len(FILTERS)), objectives=("neuron",), steps=96,
                                   style="fast", size=size))
    for r in recs:
        img = decode_image(r.image_webp)
        assert img.shape == (3, size, size)
        response = float(conv1(model, img)[r.channel, size // 2, size // 2])  # the map centre, no transforms
        assert response > 0.4, (r.channel, size, response)  # measured 0.45-0.9 (the diagonal Gabor lowest)
        # the receptive-field patch has the filter's sign wherever the filter is strong
        c0 = size // 2 - K // 2
        patch = img.mean(0)[c0:c0 + K, c0:c0 + K].double() - 0.5
        w = FILTERS[r.channel]
        strong = w.abs() >= w.abs().flatten().quantile(0.75)  # the strongest quarter of the weights
        agree = float((torch.sign(patch[strong]) == torch.sign(w[strong])).double().mean())
        assert agree >= 0.75, (r.channel, size, agree)  # measured 0.78 (diagonal Gabor) to 1.0


def test_render_size_outside_the_valid_range_is_refused_with_the_range(model):
    with pytest.raises(ValueError, match=r"smaller than the receptive field.*valid render sizes for this layer: 9\.\.32"):
        list(render_feature_vis(model, "conv1", [0], steps=1, size=6, style="fast"))

    class FixedSize(nn.Module):  # a Linear on the flattened map: only the model's own input size fits
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3, padding=1)
            self.fc = nn.Linear(2 * 16 * 16, 4)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    m = LoadedModel("fixed", FixedSize().eval(), input_size=16)
    with pytest.raises(ValueError, match=r"accepts 16 px but not the 2\d px the transforms make of it"):
        list(render_feature_vis(m, "fc", [0], objectives=("channel",), steps=1, style="fast"))
    with pytest.raises(ValueError, match=r"Render size 24 px is not accepted.*valid render sizes"):
        list(render_feature_vis(m, "fc", [0], objectives=("channel",), steps=1, size=24))
    with pytest.raises(ValueError, match="larger than the renderer allows"):
        list(render_feature_vis(m, "conv", [0], objectives=("channel",), steps=1, size=5000))


def test_no_gradient_to_the_input_marks_the_unit_instead_of_a_grey_image():
    class Detached(nn.Module):
        def forward(self, x):
            return x.detach() * 2

    class Rounded(nn.Module):  # integer-valued: zero gradient everywhere
        def forward(self, x):
            return torch.round(x * 4)

    for block, n in ((Detached(), 3), (Rounded(), 3)):
        net = nn.Sequential()
        net.add_module("conv", nn.Conv2d(3, n, 3, padding=1))
        net.add_module("q", block)
        m = LoadedModel("nograd", net.eval(), input_size=16)
        for style in ("fast", "lucent"):
            recs = list(render_feature_vis(m, "q", [0, 1], objectives=("channel", "neuron"), steps=3, style=style))
            assert len(recs) == 4
            for r in recs:
                assert r.failure and "no gradient reaches the input" in r.failure.lower(), r.failure
                assert r.image_webp == b""
