"""TorchScript files get the full Microscope: models.torchscript.make_hookable turns a scripted or
traced module into a Python module tree with the same names, parameters, outputs and working hooks."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from circuitscope.activations import StopForward, capture_layers, forward_until
from circuitscope.models import LoadedModel, ModelLoadError, is_scripted, list_layers, require_hooks
from circuitscope.models.sources import load_model
from circuitscope.models.torchscript import InterpretedModule, TorchScriptUnsupportedError, make_hookable
from circuitscope.records.weights import layer_connections

torchvision = pytest.importorskip("torchvision")

SIZE = 64


class Block(nn.Module):
    """Residual add (in place, as torchvision does) and a concatenation of two branches."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.left = nn.Conv2d(c, c, 1)
        self.right = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.bn(self.conv1(x))))
        out += x
        out = F.relu(out)
        return torch.cat([self.left(out), self.right(out)], dim=1)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.mp = nn.MaxPool2d(2)
        self.block = Block(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.act(self.stem(x)))
        x = self.block(self.mp(x))
        x = torch.flatten(self.pool(x), 1)
        for _ in range(2):  # a loop, to exercise prim::Loop in scripted graphs
            x = x * 1.0
        return self.fc(self.drop(x))


def _quiet(fn, *args):
    with warnings.catch_warnings():  # torch.jit.script/trace are deprecated (FutureWarning)
        warnings.simplefilter("ignore")
        return fn(*args)


def _convert(eager: nn.Module, how: str) -> nn.Module:
    eager.eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    scripted = _quiet(torch.jit.script, eager) if how == "script" else _quiet(torch.jit.trace, eager, x)
    return make_hookable(scripted)


def _eager_resnet() -> nn.Module:
    torch.manual_seed(0)
    m = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    return m


def _eager_tiny() -> nn.Module:
    torch.manual_seed(0)
    m = TinyNet().eval()
    with torch.no_grad():
        m.block.bn.running_mean.uniform_(-0.2, 0.2)
        m.block.bn.running_var.uniform_(0.5, 1.5)
    return m


@pytest.fixture(scope="module")
def resnet():
    eager = _eager_resnet()
    return eager, {how: _convert(eager, how) for how in ("script", "trace")}


@pytest.fixture(scope="module")
def tiny():
    eager = _eager_tiny()
    return eager, {how: _convert(eager, how) for how in ("script", "trace")}


def _lm(module: nn.Module) -> LoadedModel:
    return LoadedModel("m", module, input_size=SIZE)


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("which", ["resnet", "tiny"])
def test_same_outputs_names_types_and_parameters(how, which, request):
    eager, converted = request.getfixturevalue(which)
    h = converted[how]
    assert not is_scripted(h) and not isinstance(h, torch.jit.ScriptModule)
    assert [n for n, _ in h.named_modules()] == [n for n, _ in eager.named_modules()]
    assert [type(m).__name__ for _, m in h.named_modules()] == [type(m).__name__ for _, m in eager.named_modules()]
    for (n, m), (_, e) in zip(h.named_modules(), eager.named_modules()):
        for cls in (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.Sequential, nn.Dropout):
            assert isinstance(m, cls) == isinstance(e, cls), n
        if isinstance(e, nn.Conv2d):
            assert (m.groups, tuple(m.stride), tuple(m.padding), m.in_channels, m.out_channels) == \
                   (e.groups, tuple(e.stride), tuple(e.padding), e.in_channels, e.out_channels), n
    assert [n for n, _ in h.named_parameters()] == [n for n, _ in eager.named_parameters()]
    assert list(h.state_dict()) == list(eager.state_dict())
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(h(x), eager(x), atol=1e-5)


def test_parameters_are_the_script_modules_own_tensors():
    eager = _eager_tiny()
    scripted = _quiet(torch.jit.script, eager)
    h = make_hookable(scripted)
    assert h.block.conv1.weight is scripted.block.conv1.weight
    assert h.block.bn.running_var is scripted.block.bn.running_var
    assert isinstance(h.block.conv1, nn.Conv2d) and isinstance(h.block, InterpretedModule)
    with torch.no_grad():
        h.fc.bias.add_(1.0)  # one tensor: the script module sees the change too
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(h(x), scripted(x), atol=1e-5)


@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("which", ["resnet", "tiny"])
def test_list_layers_matches_the_eager_model(how, which, request):
    eager, converted = request.getfixturevalue(which)
    for include_all in (False, True):
        want = list_layers(_lm(eager), include_all=include_all)
        got = list_layers(_lm(converted[how]), include_all=include_all)
        assert [(i.name, i.module_type, i.output_shape, i.channels, i.calls, i.has_weights, i.inplace_modified)
                for i in got] == \
               [(i.name, i.module_type, i.output_shape, i.channels, i.calls, i.has_weights, i.inplace_modified)
                for i in want]
    if which == "resnet":
        names = [i.name for i in list_layers(_lm(converted[how]))]
        assert "layer1.0.conv2" in names and "layer1.0.bn2" not in names  # as eager: the += hits bn2


@pytest.mark.parametrize("how", ["script", "trace"])
def test_capture_and_early_stop_match_eager(how, resnet):
    eager, converted = resnet
    h = converted[how]
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        want = forward_until(eager, x, ["layer1.0.conv2", "layer2.1.bn1"])
        got = forward_until(h, x, ["layer1.0.conv2", "layer2.1.bn1"])
    for k in want:
        assert torch.allclose(got[k], want[k], atol=1e-5), k

    ran = []
    handle = h.fc.register_forward_hook(lambda *a: ran.append("fc"))
    try:
        with capture_layers(h, ["layer1.0.conv2"]) as store, torch.no_grad():
            with pytest.raises(StopForward):
                h(x)
    finally:
        handle.remove()
    assert ran == [] and store["layer1.0.conv2"].shape == want["layer1.0.conv2"].shape  # stopped early


@pytest.mark.parametrize("how", ["script", "trace"])
def test_hook_return_value_replaces_the_output(how, tiny):
    eager, converted = tiny
    h = converted[how]
    x = torch.randn(1, 3, SIZE, SIZE)
    outs = []
    for m in (eager, h):
        handle = m.block.conv2.register_forward_hook(lambda mod, inp, out: torch.zeros_like(out))
        try:
            with torch.no_grad():
                outs.append(m(x))
        finally:
            handle.remove()
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(outs[1], h(x), atol=1e-5)  # the hook did change something


@pytest.mark.parametrize("how", ["script", "trace"])
def test_reused_module_fires_its_hook_every_call(how, resnet):
    _, converted = resnet
    h = converted[how]
    calls = []
    handle = h.layer1[0].relu.register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad():
            h(torch.randn(1, 3, SIZE, SIZE))
    finally:
        handle.remove()
    assert len(calls) == 2  # BasicBlock uses its ReLU twice


def _same_connections(a, b):
    assert (a.kind, a.src_channels, a.dst_channels, a.kernel_size) == (b.kind, b.src_channels, b.dst_channels,
                                                                      b.kernel_size)
    np.testing.assert_allclose(a.strength, b.strength, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.l2, b.l2, rtol=1e-4, atol=1e-5)
    assert [list(x) for x in a.top_incoming] == [list(x) for x in b.top_incoming]


@pytest.mark.parametrize("how", ["script", "trace"])
def test_weights_between_adjacent_convs_match_eager(how, tiny, resnet):
    eager, converted = tiny
    want = layer_connections(_lm(eager), "stem", "conv")  # conv -> ReLU -> conv: the conv weight
    got = layer_connections(_lm(converted[how]), "stem", "conv")
    assert want.kind == "direct"
    _same_connections(got, want)
    want = layer_connections(_lm(eager), "block.conv1", "block.conv2")  # BN and ReLU between: expanded
    got = layer_connections(_lm(converted[how]), "block.conv1", "block.conv2")
    assert want.kind == "expanded"
    _same_connections(got, want)
    want = layer_connections(_lm(eager), "conv", "block.conv1")  # max-pool (linearised as avg-pool)
    got = layer_connections(_lm(converted[how]), "conv", "block.conv1")
    _same_connections(got, want)
    want = layer_connections(_lm(eager), "block.conv2", "block.right.0")  # += and F.relu between
    got = layer_connections(_lm(converted[how]), "block.conv2", "block.right.0")
    _same_connections(got, want)
    eager, converted = resnet
    want = layer_connections(_lm(eager), "layer1.0.conv1", "layer1.0.conv2", input_size=32)
    got = layer_connections(_lm(converted[how]), "layer1.0.conv1", "layer1.0.conv2", input_size=32)
    _same_connections(got, want)


def test_load_model_of_a_torchscript_file(tmp_path):
    eager = _eager_tiny()
    _quiet(torch.jit.save, _quiet(torch.jit.script, eager), str(tmp_path / "net.ts"))
    _quiet(torch.jit.save, _quiet(torch.jit.trace, eager, torch.randn(1, 3, SIZE, SIZE)), str(tmp_path / "tr.ts"))
    for f in ("net.ts", "tr.ts"):
        lm = load_model({"kind": "torchscript", "path": f, "input_size": SIZE}, tmp_path)
        assert not is_scripted(lm)
        require_hooks(lm)
        assert [i.name for i in list_layers(lm)] == [i.name for i in list_layers(_lm(eager))]
        x = torch.randn(1, 3, SIZE, SIZE)
        with torch.no_grad():
            assert torch.allclose(lm.module(x), eager(x), atol=1e-5)
            assert torch.allclose(forward_until(lm.module, x, ["block.left"])["block.left"],
                                  forward_until(eager, x, ["block.left"])["block.left"], atol=1e-5)


class Scale:
    def __init__(self, s: float):
        self.s = s

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s


Scale = _quiet(torch.jit.script, Scale)


class UsesScriptClass(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Scale(2.0).apply(self.conv(x))


def test_unsupported_operator_is_a_clear_error(tmp_path):
    scripted = _quiet(torch.jit.script, UsesScriptClass())
    with pytest.raises(TorchScriptUnsupportedError, match=r"prim::CreateObject.*<root> \(UsesScriptClass\)\.forward"):
        make_hookable(scripted)
    assert issubclass(TorchScriptUnsupportedError, ModelLoadError)
    # load_model keeps the ScriptModule (it still runs); what needs hooks says why it cannot
    _quiet(torch.jit.save, scripted, str(tmp_path / "cls.ts"))
    lm = load_model({"kind": "torchscript", "path": "cls.ts", "input_size": 16}, tmp_path)
    assert is_scripted(lm)
    with torch.no_grad():
        assert lm.module(torch.zeros(1, 3, 16, 16)).shape == (1, 2, 14, 14)
    assert [i.name for i in list_layers(lm, static=True)] == ["conv"]
    with pytest.raises(ModelLoadError, match="hooks.*prim::CreateObject"):
        list_layers(lm)
