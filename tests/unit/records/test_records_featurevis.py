"""Feature visualizations: batched rendering with lucent's parameterization and transforms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from circuitscope.models.base import LoadedModel, UnknownLayerError
from circuitscope.records import featurevis as fv
from circuitscope.records.featurevis import (
    FeatureVisRecord,
    decode_image,
    forward_to_layer,
    measure_activation,
    measure_activations,
    render_feature_vis,
)

SIZE = 32
STEPS = 40
# Units of tiny_cnn's conv3 that 40 steps can move (some random units barely move, with lucent too).
CHANNELS = [9, 12, 21]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Boom(nn.Module):
    """A layer that must never run: it fails if the forward pass goes past the target."""

    calls = 0

    def forward(self, x):
        Boom.calls += 1
        raise AssertionError("forward pass went past the target layer")


def tiny_cnn(boom: bool = False, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(3, 16, 3, padding=1))
    net.add_module("relu1", nn.ReLU())
    net.add_module("conv2", nn.Conv2d(16, 24, 3, padding=1, stride=2))
    net.add_module("bn2", nn.BatchNorm2d(24))
    net.add_module("relu2", nn.ReLU())
    net.add_module("conv3", nn.Conv2d(24, 24, 3, padding=1, stride=2))
    if boom:
        net.add_module("boom", Boom())
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    net.add_module("fc", nn.Linear(24, 10))
    with torch.no_grad():
        for mod in net.modules():  # He init keeps activations at a trained network's scale
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
        # non-trivial batch-norm statistics
        net.bn2.running_mean.uniform_(-0.2, 0.2)
        net.bn2.running_var.uniform_(0.5, 2.0)
    return LoadedModel("tiny", net.eval(), input_size=SIZE)


def start_activation(model, layer, channel, objective="channel"):
    """The unit's measure on lucent's starting image (spectrum noise with sd 0.01: nearly flat grey)."""
    torch.manual_seed(123)
    spec = torch.randn(8, *fv.spectrum_shape(SIZE)) * 0.01
    imgs = fv.FFTImage(spec, SIZE, SIZE)()
    vals = measure_activations(model, layer, [channel] * 8, imgs, objective)
    return float(vals.mean())


def by_key(records):
    return {(r.channel, r.objective, r.variant): r for r in records}


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def full_render(model):
    """All four objectives for three channels of conv3, in one optimized batch."""
    return list(render_feature_vis(model, "conv3", CHANNELS, steps=STEPS, diversity_n=3, seed=0))


def test_records_shape_and_order(full_render):
    assert len(full_render) == 3 * (1 + 1 + 1 + 3)
    keys = [(r.channel, r.objective, r.variant) for r in full_render]
    assert keys[:6] == [(9, "channel", 0), (9, "neuron", 0), (9, "negative", 0),
                        (9, "diversity", 0), (9, "diversity", 1), (9, "diversity", 2)]
    for r in full_render:
        assert isinstance(r, FeatureVisRecord)
        assert r.layer == "conv3" and r.size == SIZE and r.mime == "image/webp"
        assert r.image_webp[:4] == b"RIFF" and r.image_webp[8:12] == b"WEBP"
        img = decode_image(r.image_webp)
        assert img.shape == (3, SIZE, SIZE)


def test_channel_objective_raises_activation_far_above_noise(model, full_render):
    recs = by_key(full_render)
    for c in CHANNELS:
        start = start_activation(model, "conv3", c)
        final = recs[(c, "channel", 0)].activation
        assert final > start + 0.6 and final > 5 * abs(start), (c, start, final)


def test_negative_objective_lowers_activation_below_noise(model, full_render):
    recs = by_key(full_render)
    for c in CHANNELS:
        start = start_activation(model, "conv3", c)
        neg = recs[(c, "negative", 0)].activation
        assert neg < start - 0.3, (c, start, neg)
        assert neg < recs[(c, "channel", 0)].activation


def test_neuron_objective_raises_centre_value(model, full_render):
    recs = by_key(full_render)
    for c in CHANNELS:
        start = start_activation(model, "conv3", c, "neuron")
        r = recs[(c, "neuron", 0)]
        assert r.activation > start + 0.4, (c, start, r.activation)
        # The recorded value is the centre position, not the channel mean.
        img = decode_image(r.image_webp)[None]
        acts = forward_to_layer(model.module, model.normalize(img), "conv3")[0, c]
        h, w = acts.shape
        assert r.activation == pytest.approx(float(acts[h // 2, w // 2]), abs=1e-5)
        assert r.activation > float(acts.mean())


def test_diversity_images_differ_and_still_activate(model, full_render):
    recs = by_key(full_render)
    for c in CHANNELS:
        imgs = [decode_image(recs[(c, "diversity", v)].image_webp) for v in range(3)]
        for i in range(3):
            for j in range(i + 1, 3):
                assert (imgs[i] - imgs[j]).abs().mean() > 0.03, (c, i, j)
        start = start_activation(model, "conv3", c)
        assert max(recs[(c, "diversity", v)].activation for v in range(3)) > start + 0.2


def _mean_gram_cosine(model, layer, images):
    """lucent's diversity measure: mean cosine between the images' Gram matrices at the layer."""
    with torch.no_grad():
        a = forward_to_layer(model.module, model.normalize(images), layer).flatten(2)
        g = torch.nn.functional.normalize((a @ a.transpose(1, 2)).flatten(1), dim=1)
        s = g @ g.T
    n = len(images)
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))


def test_diversity_term_pushes_images_of_a_channel_apart(model):
    kw = dict(objectives=("diversity",), diversity_n=3, steps=60, seed=0)
    plain = by_key(render_feature_vis(model, "conv3", CHANNELS, diversity_weight=0.0, **kw))
    diverse = by_key(render_feature_vis(model, "conv3", CHANNELS, diversity_weight=20.0, **kw))
    drops = []
    for c in CHANNELS:
        sim = {}
        for name, rs in (("div", diverse), ("plain", plain)):
            imgs = torch.stack([decode_image(rs[(c, "diversity", v)].image_webp) for v in range(3)])
            sim[name] = _mean_gram_cosine(model, "conv3", imgs)
        assert sim["div"] < sim["plain"], (c, sim)
        drops.append(sim["plain"] - sim["div"])
        start = start_activation(model, "conv3", c)
        assert max(diverse[(c, "diversity", v)].activation for v in range(3)) > start + 0.2
    assert sum(drops) / len(drops) > 0.08, drops


def test_recorded_activation_is_measured_on_the_stored_image(model, full_render):
    for r in full_render[:8]:
        again = measure_activation(model, "conv3", r.channel, r.image_webp, r.objective)
        assert again == pytest.approx(r.activation, abs=1e-5)


def test_same_seed_identical_bytes_other_seed_differs(model):
    kw = dict(steps=12, objectives=("channel", "diversity"), diversity_n=2)
    a = list(render_feature_vis(model, "conv2", [1, 2], seed=7, **kw))
    b = list(render_feature_vis(model, "conv2", [1, 2], seed=7, **kw))
    c = list(render_feature_vis(model, "conv2", [1, 2], seed=8, **kw))
    assert [r.image_webp for r in a] == [r.image_webp for r in b]
    assert [r.activation for r in a] == [r.activation for r in b]
    assert all(x.image_webp != y.image_webp for x, y in zip(a, c))


def test_images_in_a_batch_do_not_interact(model):
    """A unit's render is the same alone or batched with others (eval-mode BN, summed objectives)."""
    kw = dict(steps=20, objectives=("channel", "neuron"), seed=3)
    alone = by_key(render_feature_vis(model, "conv3", [4], **kw))
    batched = by_key(render_feature_vis(model, "conv3", [1, 4, 9], **kw))
    split = by_key(render_feature_vis(model, "conv3", [1, 4, 9], batch_channels=2, **kw))
    for key in alone:
        a = decode_image(alone[key].image_webp)
        for other in (batched, split):
            assert (a - decode_image(other[key].image_webp)).abs().max() <= 2 / 255
    assert len(split) == 6


def test_forward_stops_at_the_target_layer():
    m = tiny_cnn(boom=True)
    Boom.calls = 0
    recs = list(render_feature_vis(m, "conv3", [0, 1], steps=3, objectives=("channel", "neuron", "negative")))
    assert len(recs) == 6 and Boom.calls == 0
    assert measure_activation(m, "conv2", 0, torch.rand(3, SIZE, SIZE)) == pytest.approx(
        measure_activation(m, "conv2", 0, torch.rand(3, SIZE, SIZE)), abs=10)  # runs, no Boom
    with pytest.raises(AssertionError, match="past the target"):
        list(render_feature_vis(m, "fc", [0], steps=1, objectives=("channel",)))


def test_invalid_inputs_raise_clear_errors(model):
    with pytest.raises(ValueError, match=r"out of range.*24 channels"):
        list(render_feature_vis(model, "conv3", [0, 24], steps=1))
    with pytest.raises(ValueError, match="out of range"):
        list(render_feature_vis(model, "conv3", [-1], steps=1))
    with pytest.raises(UnknownLayerError, match="conv3"):
        list(render_feature_vis(model, "conv_3", [0], steps=1))
    with pytest.raises(ValueError, match="Unknown objective"):
        list(render_feature_vis(model, "conv3", [0], objectives=("channel", "bogus"), steps=1))
    with pytest.raises(ValueError, match="neuron objective needs"):
        list(render_feature_vis(model, "fc", [0], objectives=("channel", "neuron"), steps=1))


def test_non_spatial_layer_channel_objective(model):
    recs = by_key(render_feature_vis(model, "fc", [1, 3, 4, 9], objectives=("channel", "negative"), steps=30))
    for c in (1, 4):
        assert recs[(c, "channel", 0)].activation > start_activation(model, "fc", c) + 0.3
    for c in (3, 9):
        assert recs[(c, "negative", 0)].activation < start_activation(model, "fc", c) - 0.3
    for c in (1, 3, 4, 9):
        assert recs[(c, "channel", 0)].activation > recs[(c, "negative", 0)].activation + 0.3


def test_three_dimensional_output_is_rejected():
    class Tokens(nn.Module):
        def forward(self, x):
            return x.flatten(2).transpose(1, 2)  # [B, HW, C]

    net = nn.Sequential()
    net.add_module("conv", nn.Conv2d(3, 4, 3))
    net.add_module("tokens", Tokens())
    m = LoadedModel("tok", net.eval(), input_size=16)
    with pytest.raises(ValueError, match=r"\[B,C,H,W\]"):
        list(render_feature_vis(m, "tokens", [0], steps=1))


def test_progress_lossless_webp_and_training_mode_restored(model):
    seen = []
    model.module.train()
    recs = list(render_feature_vis(model, "conv1", list(range(5)), objectives=("channel",), steps=4,
                                   batch_channels=2, progress=lambda d, t: seen.append((d, t))))
    assert model.module.training
    model.module.eval()
    assert seen == [(i, 12) for i in range(1, 13)]
    assert [r.channel for r in recs] == [0, 1, 2, 3, 4]
    assert all(r.image_webp[8:12] == b"WEBP" and r.mime == "image/webp" for r in recs)
    assert all(torch.equal(fv.quantize(decode_image(r.image_webp)), decode_image(r.image_webp)) for r in recs)


def test_bf16_autocast_renders_and_records_fp32_measure(model):
    recs = by_key(render_feature_vis(model, "conv3", [12], objectives=("channel",), steps=STEPS, precision="bf16"))
    r = recs[(12, "channel", 0)]
    assert r.activation > start_activation(model, "conv3", 12) + 0.6
    assert r.activation == pytest.approx(measure_activation(model, "conv3", 12, r.image_webp), abs=1e-5)
    with pytest.raises(ValueError, match="precision"):
        list(render_feature_vis(model, "conv3", [0], precision="fp8", steps=1))


def test_model_that_needs_contiguous_input_still_works():
    """Channels-last input is an optimization; a network calling .view() on it falls back."""

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            b, c, h, w = x.shape
            x = x.view(b, -1).view(b, c, h, w)  # fails on a channels-last tensor
            return self.conv(x)

    m = LoadedModel("flat", Flat().eval(), input_size=16)
    recs = list(render_feature_vis(m, "conv", [0, 1], objectives=("channel",), steps=5))
    assert len(recs) == 2


# ---- faithfulness to lucent ---------------------------------------------------------------------


def test_fft_parameterization_matches_lucent():
    from lucent.optvis import param

    torch.manual_seed(0)
    params, image_f = param.image(20, batch=3, fft=True, decorrelate=True)
    spectrum = params[0].detach().cpu()
    assert tuple(spectrum.shape[1:]) == fv.spectrum_shape(20)
    ours = fv.FFTImage(spectrum, 20, 20)()
    assert torch.allclose(ours, image_f().detach().cpu(), atol=1e-6)


def test_transforms_match_lucent_standard_transforms():
    from lucent.optvis import transform

    dev = transform.device  # lucent hard-codes cuda:0 when available
    x = torch.rand(2, 3, 24, 24, device=dev)
    for s in range(6):
        np.random.seed(s)
        expected = transform.compose(transform.standard_transforms)(x)
        ours = x
        for t in fv.lucent_standard_transforms(dev, np.random.RandomState(s)):
            ours = t(ours)
        assert ours.shape == expected.shape
        assert torch.allclose(ours, expected, atol=1e-5)


def test_transform_tracking_follows_a_point():
    """The neuron objective follows the image centre through the transforms; check the tracking."""
    S = 64
    yy, xx = torch.meshgrid(torch.arange(S).float(), torch.arange(S).float(), indexing="ij")
    for cy, cx in [(31.5, 31.5), (20.0, 40.0)]:
        img = (0.5 + 0.5 * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.5**2)))[None, None].repeat(1, 3, 1, 1)
        for s in range(8):
            track = {"u": cx, "v": cy}
            x = img
            for t in fv.lucent_standard_transforms("cpu", np.random.RandomState(s), track):
                x = t(x)
            w = (x[0, 0] - 0.5).clamp(min=0)
            w = torch.where(w > 0.3 * w.max(), w, torch.zeros_like(w))
            Y, X = torch.meshgrid(torch.arange(w.shape[0]).float(), torch.arange(w.shape[1]).float(), indexing="ij")
            assert float((w * Y).sum() / w.sum()) == pytest.approx(track["v"], abs=0.5)
            assert float((w * X).sum() / w.sum()) == pytest.approx(track["u"], abs=0.5)
    # Untransformed, the tracked centre is lucent's centre position (H//2, W//2) of the map.
    assert fv.map_position({"u": 31.5, "v": 31.5}, (64, 64), (16, 16)) == (8, 8)
    assert fv.map_position({"u": 15.5, "v": 15.5}, (32, 32), (7, 7)) == (3, 3)


# ---- layers that end in a ReLU: objectives on the pre-activation (Lucid's "pre_relu") -----------

DEAD = [0, 1, 4]  # conv3 units of relu_conceptnet that are 0 everywhere on the (grey) starting image
LIVE = [6, 9]  # units above 0 on the starting image


def relu_conceptnet() -> LoadedModel:
    """The demo ConceptNet architecture (blocks conv -> ReLU, post-ReLU outputs), random He weights;
    conv3's bias makes units DEAD zero everywhere on lucent's nearly grey starting image."""
    from circuitscope.models.demo import ConceptNet

    torch.manual_seed(0)
    net = ConceptNet(channels=(8, 16, 12, 8, 8), kernels=(5, 3, 3, 3, 3), num_classes=4).eval()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                mod.bias.zero_()
        m = LoadedModel("relu-conceptnet", net, input_size=SIZE)
        grey = torch.full((1, 3, SIZE, SIZE), 0.5)
        _, pre = fv.forward_to_layer_pre_relu(net, m.normalize(grey), "conv3")
        top = pre[0].amax(dim=(1, 2))  # the units' largest pre-activation on a grey image
        for c in DEAD:  # just below 0 everywhere: dead at the start, a little optimization away
            net.conv3.conv.bias[c] = -float(top[c]) - 0.3
    return m


@pytest.fixture(scope="module")
def relu_model():
    return relu_conceptnet()


@pytest.fixture(scope="module")
def relu_render(relu_model):
    return by_key(render_feature_vis(relu_model, "conv3", DEAD + LIVE, objectives=("channel", "neuron", "negative"),
                                     steps=STEPS, seed=0))


def _post_and_pre(model, layer, images):
    with torch.no_grad():
        return fv.forward_to_layer_pre_relu(model.module, model.normalize(images), layer)


def test_dead_relu_units_are_dead_at_the_start(relu_model):
    torch.manual_seed(123)
    imgs = fv.FFTImage(torch.randn(8, *fv.spectrum_shape(SIZE)) * 0.01, SIZE, SIZE)()
    post, pre = _post_and_pre(relu_model, "conv3", imgs)
    assert pre is not None and pre.shape == post.shape
    for c in DEAD:
        assert float(post[:, c].abs().max()) == 0.0 and float(pre[:, c].max()) < -0.1, c


def test_neuron_render_of_a_dead_relu_unit_moves(relu_model, relu_render):
    for c in DEAD + LIVE:
        start = start_activation(relu_model, "conv3", c, "neuron")
        r = relu_render[(c, "neuron", 0)]
        assert r.objective_on == "pre_relu" and r.measure == "output"
        assert r.activation > start + 0.3, (c, start, r.activation)
        if c in DEAD:  # 0 with zero gradient when optimized on the post-ReLU output
            assert start == 0.0 and r.activation > 1.0, (c, r.activation)
        # activation: the post-ReLU centre value of the stored image
        post, _ = _post_and_pre(relu_model, "conv3", decode_image(r.image_webp)[None])
        h, w = post.shape[2:]
        assert r.activation == pytest.approx(float(post[0, c, h // 2, w // 2]), abs=1e-5)
        img = decode_image(r.image_webp)
        assert float(img.std()) > 0.03  # not a flat grey image


def test_negative_render_of_a_relu_layer_reports_the_pre_relu_mean(relu_model, relu_render):
    for c in DEAD + LIVE:
        start = start_activation(relu_model, "conv3", c, "negative")  # the pre-ReLU mean at the start
        r = relu_render[(c, "negative", 0)]
        assert r.measure == "pre_relu" and r.objective_on == "pre_relu"
        assert r.activation < start - 0.15 and r.activation < 0, (c, start, r.activation)
        if c in DEAD:
            assert r.activation < start - 1.0, (c, start, r.activation)
        _, pre = _post_and_pre(relu_model, "conv3", decode_image(r.image_webp)[None])
        assert r.activation == pytest.approx(float(pre[0, c].mean()), abs=1e-5)
        assert measure_activation(relu_model, "conv3", c, r.image_webp, "negative") == pytest.approx(r.activation, abs=1e-5)


def test_channel_render_of_a_relu_layer_reports_output_mean_and_peak(relu_model, relu_render):
    for c in DEAD + LIVE:
        r = relu_render[(c, "channel", 0)]
        assert r.measure == "output" and r.objective_on == "pre_relu"
        assert r.activation > start_activation(relu_model, "conv3", c) + 0.03
        post, _ = _post_and_pre(relu_model, "conv3", decode_image(r.image_webp)[None])
        assert r.activation == pytest.approx(float(post[0, c].mean()), abs=1e-5)
        assert r.peak == pytest.approx(float(post[0, c].max()), abs=1e-5)
        assert r.peak >= r.activation
    for r in relu_render.values():  # peak: spatial max of the output, the same measure for every objective
        assert r.peak == pytest.approx(float(fv.measure_peaks(relu_model, "conv3", [r.channel],
                                                                decode_image(r.image_webp)[None])[0]), abs=1e-5)


def test_peak_is_at_least_the_channel_mean_without_relu(full_render):
    for r in full_render:
        assert r.measure == "output" and r.objective_on == "output"
        if r.objective in ("channel", "diversity", "negative"):
            assert r.peak >= r.activation - 1e-6


def test_layer_without_final_relu_is_optimized_on_its_output(relu_model):
    """conv3.conv (the block's conv, before the ReLU) keeps lucent's behaviour: the output itself."""
    recs = by_key(render_feature_vis(relu_model, "conv3.conv", LIVE, objectives=("channel", "negative"),
                                     steps=STEPS, seed=0))
    for c in LIVE:
        for o in ("channel", "negative"):
            assert recs[(c, o, 0)].measure == "output" and recs[(c, o, 0)].objective_on == "output"
        # Same images as the block's pre-ReLU optimization: the same objective on the same tensor.
        block = by_key(render_feature_vis(relu_model, "conv3", [c], objectives=("channel", "negative"),
                                          steps=STEPS, seed=0))
        for o in ("channel", "negative"):
            a, b = decode_image(recs[(c, o, 0)].image_webp), decode_image(block[(c, o, 0)].image_webp)
            assert (a - b).abs().max() <= 2 / 255
        assert recs[(c, "negative", 0)].activation == pytest.approx(block[(c, "negative", 0)].activation, abs=1e-4)


class _FunctionalRelu(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.kind = kind

    def forward(self, x):
        x = self.conv(x)
        k = self.kind
        if k == "F.relu":
            return F.relu(x)
        if k == "method":
            return x.relu()
        if k == "relu_":
            return torch.relu_(x)
        if k == "relu6":
            return F.relu6(x, inplace=True)
        if k == "relu_then_scale":
            return F.relu(x) * 2
        if k == "relu_then_inplace_add":
            y = F.relu(x)
            y.add_(1)
            return y
        if k == "relu_not_last":
            return F.relu(x) - x
        raise AssertionError(k)



@pytest.mark.parametrize("kind, ends_in_relu", [
    ("F.relu", True), ("method", True), ("relu_", True), ("relu6", True),
    ("relu_then_scale", False), ("relu_then_inplace_add", False), ("relu_not_last", False),
])
def test_final_relu_detection_functional(kind, ends_in_relu):
    torch.manual_seed(0)
    mod = _FunctionalRelu(kind).eval()
    x = torch.randn(2, 3, 8, 8)
    out, pre = fv.forward_to_layer_pre_relu(nn.Sequential(mod), x, "0")
    assert (pre is not None) == ends_in_relu
    if ends_in_relu:
        conv = mod.conv(x)
        assert torch.allclose(pre, conv) and (pre < 0).any()  # the intact pre-activation, even in place
        hi = 6.0 if kind == "relu6" else float("inf")
        assert torch.allclose(out, conv.clamp(0, hi))


@pytest.mark.parametrize("relu", [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6(), nn.ReLU6(inplace=True)])
def test_final_relu_detection_modules(relu):
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("block", nn.Sequential())
    net.block.add_module("conv", nn.Conv2d(3, 4, 3, padding=1))
    net.block.add_module("relu", relu)
    net.add_module("after", nn.Conv2d(4, 4, 1))
    net.add_module("act", nn.Hardtanh())  # min -1: not ReLU-like
    x = torch.randn(2, 3, 8, 8)
    conv = net.block.conv(x)
    for layer in ("block", "block.relu"):  # a block ending in the ReLU, or the ReLU module itself
        out, pre = fv.forward_to_layer_pre_relu(net, x, layer)
        assert pre is not None and torch.allclose(pre, conv) and torch.allclose(out, relu(conv.clone()))
    for layer in ("block.conv", "after", "act"):
        assert fv.forward_to_layer_pre_relu(net, x, layer)[1] is None
    # The torch-function mode is gone once the forward stops (or fails) at the layer.
    from torch.overrides import _get_current_function_mode_stack

    assert not _get_current_function_mode_stack()
    with pytest.raises(RuntimeError):
        fv.forward_to_layer_pre_relu(net, torch.randn(2, 5, 8, 8), "block")  # wrong channels: conv fails
    assert not _get_current_function_mode_stack()
