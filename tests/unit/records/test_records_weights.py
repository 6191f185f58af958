"""Weights between units: direct conv kernels and expanded (linearised-path) kernels."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from circuitscope.models import LoadedModel, ModelLoadError, UnknownLayerError, load_model
from circuitscope.records.weights import Connection, LayerConnections, layer_connections


def _lm(net: nn.Module, size: int = 16) -> LoadedModel:
    return LoadedModel("t", net.eval(), input_size=size)


def _compose(w2: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
    """Kernel of conv(w2) after conv(w1) (both stride 1, cross-correlation): a full convolution."""
    o, _, a, b = w2.shape
    _, i, c, d = w1.shape
    k = torch.zeros(o, i, a + c - 1, b + d - 1)
    for y2 in range(a):
        for x2 in range(b):
            for y1 in range(c):
                for x1 in range(d):
                    k[:, :, y2 + y1, x2 + x1] += w2[:, :, y2, x2] @ w1[:, :, y1, x1]
    return k


def _all_kernels(c: LayerConnections) -> torch.Tensor:
    return torch.tensor(np.array([[c.kernel(i, j) for i in range(c.src_channels)] for j in range(c.dst_channels)]))


@pytest.fixture
def stack():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(5, 6, 3, padding=1))


def test_direct_kernels_are_the_conv_weight(stack):
    w = stack[2].weight.detach().clone()
    w[2, 1] = -w[2, 1].abs() - 0.5  # a clearly negative, strongest input of dst channel 2
    with torch.no_grad():
        stack[2].weight.copy_(w)
    c = layer_connections(_lm(stack), "1", "2", top_n=3)
    assert c.kind == "direct" and (c.src_channels, c.dst_channels) == (4, 5) and c.kernel_size == (3, 3)
    assert np.array_equal(c.strength, w.sum((2, 3)).numpy())
    assert np.allclose(c.l2, w.flatten(2).norm(dim=2).numpy())
    for j in range(5):
        inc = c.incoming(j)
        expected = torch.argsort(w[j].flatten(1).norm(dim=1), descending=True)[:3].tolist()
        assert [x.src_channel for x in inc] == expected
        assert all(isinstance(x, Connection) and x.kind == "direct" and x.dst_layer == "2" for x in inc)
        for x in inc:
            assert x.kernel == w[j, x.src_channel].tolist()  # exactly, incl. orientation
    top = c.incoming(2)[0]
    assert top.src_channel == 1 and top.strength < 0 and top.strength == pytest.approx(float(w[2, 1].sum()))
    out = c.outgoing(1)
    assert [x.dst_channel for x in out] == torch.argsort(w[:, 1].flatten(1).norm(dim=1), descending=True)[:3].tolist()
    # the ReLU module in between is absorbed: conv "0" -> conv "2" is direct too
    assert layer_connections(_lm(stack), "0", "2").kind == "direct"
    d = c.to_dict()
    assert d["kind"] == "direct" and d["connections"] and "kernel" in d["connections"][0]
    assert len(c.all()) == len(d["connections"]) and {(x.src_channel, x.dst_channel) for x in c.all()} >= \
        {(x.src_channel, 0) for x in c.incoming(0)}


def test_expanded_two_convs_through_relu_equal_the_composed_kernel(stack):
    c = layer_connections(_lm(stack), "0", "4")
    assert c.kind == "expanded" and c.kernel_size == (5, 5) and c.support_size == (5, 5) and not c.truncated
    expected = _compose(stack[4].weight.detach(), stack[2].weight.detach())
    got = _all_kernels(c)
    assert torch.allclose(got, expected, atol=1e-5)
    assert np.allclose(c.strength, expected.sum((2, 3)).numpy(), atol=1e-5)
    assert np.allclose(c.l2, expected.flatten(2).norm(dim=2).numpy(), atol=1e-5)
    assert [x.src_channel for x in c.incoming(0)] == \
        torch.argsort(expected[0].flatten(1).norm(dim=1), descending=True).tolist()
    # one backward per channel (fallback path) gives the same numbers as the batched path
    c1 = layer_connections(_lm(stack), "0", "4", chunk=1)
    assert np.allclose(c1.l2, c.l2, atol=1e-6) and torch.allclose(_all_kernels(c1), got, atol=1e-6)


def test_expanded_folds_batchnorm_in_between():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1))
    bn = net[1]
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.running_var.uniform_(0.5, 4)
        bn.running_mean.uniform_(-1, 1)
    c = layer_connections(_lm(net), "0", "3")
    assert c.kind == "expanded"
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    expected = net[3].weight.detach() * scale.detach()[None, :, None, None]
    assert torch.allclose(_all_kernels(c), expected, atol=1e-5)


def test_expanded_max_pool_is_linearised_as_average_pool():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, padding=1))
    c = layer_connections(_lm(net, 32), "1", "3")
    w = net[3].weight.detach()
    expected = torch.zeros(5, 4, 6, 6)
    for a in range(3):
        for b in range(3):
            for u in range(2):
                for v in range(2):
                    expected[:, :, 2 * a + u, 2 * b + v] = w[:, :, a, b] / 4
    assert c.kind == "expanded" and c.kernel_size == (6, 6)
    assert torch.allclose(_all_kernels(c), expected, atol=1e-6)


class _Block(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        out = self.conv2(torch.relu(self.conv1(x)))
        out += x  # in place, as torchvision's BasicBlock
        return self.relu(out)


def test_expanded_residual_block_includes_the_identity_path():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _Block(4))
    c = layer_connections(_lm(net, 20), "0", "1")
    assert c.kind == "expanded" and c.kernel_size == (5, 5)
    expected = _compose(net[1].conv2.weight.detach(), net[1].conv1.weight.detach())
    for i in range(4):
        expected[i, i, 2, 2] += 1.0  # skip connection: channel i -> i, centre, weight 1
    assert torch.allclose(_all_kernels(c), expected, atol=1e-5)


def test_expanded_to_logits_after_global_pooling():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    c = layer_connections(_lm(net, 8), "0", "3")
    assert c.kind == "expanded" and c.kernel_size == (8, 8) and not c.truncated
    w = net[3].weight.detach()
    got = _all_kernels(c)
    assert torch.allclose(got, (w / 64)[:, :, None, None].expand(3, 4, 8, 8), atol=1e-6)
    assert np.allclose(c.strength, w.numpy(), atol=1e-5)
    # direct into a Linear from a 2-D layer
    d = layer_connections(_lm(net, 8), "2", "3")
    assert d.kind == "direct" and d.kernel_size == (1, 1) and np.allclose(d.strength, w.numpy())


def test_independent_layers_give_no_connections():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(3, 5, 3, padding=1)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)
    c = layer_connections(_lm(Branches()), "a", "b")
    assert c.kind == "none" and c.strength.shape == (5, 4) and c.incoming(0) == [] and c.all() == []


def test_errors(stack):
    lm = _lm(stack)
    with pytest.raises(ValueError, match="earlier"):
        layer_connections(lm, "4", "2")
    with pytest.raises(ValueError, match="same layer"):
        layer_connections(lm, "2", "2")
    with pytest.raises(UnknownLayerError):
        layer_connections(lm, "0", "7")
    shared = nn.ReLU()
    twice = nn.Sequential(nn.Conv2d(3, 4, 3), shared, nn.Conv2d(4, 4, 3), shared, nn.Conv2d(4, 4, 3))
    with pytest.raises(ValueError, match="runs 2 times"):  # src runs twice before dst
        layer_connections(_lm(twice), "1", "4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(stack)
    with pytest.raises(ModelLoadError, match="TorchScript"):
        layer_connections(LoadedModel("s", scripted, input_size=16), "0", "2")


@pytest.fixture(scope="module")
def googlenet():
    torch.manual_seed(0)
    return load_model({"kind": "torchvision", "name": "googlenet", "weights": None}, Path("."))


def test_googlenet_inception3a_to_3b(googlenet):
    c = layer_connections(googlenet, "inception3a", "inception3b", top_n=50, keep_all_kernels=False)
    assert c.kind == "expanded" and (c.src_channels, c.dst_channels) == (256, 480)
    assert c.strength.shape == c.l2.shape == (480, 256)
    assert c.kernel_size == (3, 3) and not c.truncated  # torchvision's "5x5" branch uses 3x3 kernels
    for j in (0, 200, 479):
        inc = c.incoming(j)
        assert len(inc) == 50 and all(len(x.kernel) == 3 and len(x.kernel[0]) == 3 for x in inc)
        l2s = [x.l2 for x in inc]
        assert l2s == sorted(l2s, reverse=True) and l2s[0] == pytest.approx(float(c.l2[j].max()))
        for x in inc[:5]:
            assert x.strength == pytest.approx(float(np.sum(x.kernel)), abs=1e-5)
            assert x.l2 == pytest.approx(float(np.linalg.norm(x.kernel)), rel=1e-4)
    assert len(c.outgoing(7)) == 50
    assert len(c._pairs) <= 480 * 50 + 256 * 50  # only kernels of top-n pairs are kept
    assert c.kernel(int(np.argmin(c.l2[0])), 0) is None and c.connection(int(np.argmin(c.l2[0])), 0).kernel == []
    strong = c.strong_inputs(0)
    assert strong and all(x.l2 >= 0.3 * strong[0].l2 for x in strong)
    # a 1x1 branch conv fed by inception3a's very output tensor: direct
    d = layer_connections(googlenet, "inception3a", "inception3b.branch1.conv")
    assert d.kind == "direct" and d.kernel_size == (1, 1)
    w = googlenet.module.inception3b.branch1.conv.weight.detach()
    assert np.array_equal(d.strength, w[:, :, 0, 0].numpy())


def test_resnet18_layer1_blocks_include_the_skip():
    torch.manual_seed(0)
    lm = load_model({"kind": "torchvision", "name": "resnet18"}, Path("."))
    c = layer_connections(lm, "layer1.0", "layer1.1")
    assert c.kind == "expanded" and (c.src_channels, c.dst_channels) == (64, 64) and c.kernel_size == (5, 5)
    k = _all_kernels(c)
    centre = k[:, :, 2, 2]
    diag = torch.diagonal(centre)
    off = centre[~torch.eye(64, dtype=torch.bool)]
    assert diag.mean() > 0.5 and off.abs().mean() < 0.2  # identity path adds 1 on the diagonal centre


def test_lucent_mixed3a_to_mixed3b():
    lm = load_model({"kind": "lucent", "pretrained": False}, Path("."))
    c = layer_connections(lm, "mixed3a", "mixed3b", top_n=10)
    assert c.kind == "expanded" and (c.src_channels, c.dst_channels) == (256, 480) and c.kernel_size == (5, 5)
    assert not c.truncated and len(c.incoming(300)) == 10
    d = layer_connections(lm, "mixed3a", "mixed3b_1x1_pre_relu_conv")
    assert d.kind == "direct"
