"""The one hook primitive: capture, edit (callable and channel-wise, batched), stop, eval mode."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from circuitscope.activations import ChannelEdit, StopForward, Trace, forward_until_pre_relu
from circuitscope.models.base import UnknownLayerError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 2)
        self.ran_head = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))  # functional ReLU: conv1 itself is linear
        x = self.drop(self.conv2(x))
        self.ran_head += 1
        return self.head(x.mean((2, 3)))


class TupleLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x * 2, x


class TupleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pair = TupleLayer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.pair(x)
        return a + b


def test_capture_input_output_and_order():
    net, x = Net().eval(), torch.randn(2, 3, 8, 8)
    with Trace(net, ["conv2", "conv1"], retain_input=True) as t:
        y = t.forward(x)
    assert y is not None and t.order == ["conv1", "conv2"]
    assert torch.allclose(t.output["conv1"], net.conv1(x))
    assert torch.allclose(t.input["conv2"][0], F.relu(net.conv1(x)))
    assert t.calls == {"conv1": 1, "conv2": 1}
    assert not t.output["conv1"].requires_grad


def test_stop_skips_the_rest_and_hooks_are_removed():
    net, x = Net().eval(), torch.randn(1, 3, 8, 8)
    with Trace(net, "conv2", stop=True) as t:
        assert t.forward(x) is None
    assert net.ran_head == 0 and "conv2" in t.output
    assert not net.conv2._forward_hooks
    net(x)
    assert net.ran_head == 1


def test_edit_callable_changes_downstream():
    net, x = Net().eval(), torch.randn(1, 3, 8, 8)
    with Trace(net, "conv1", edit=lambda out, layer: out * 0) as t:
        y = t.forward(x)
    want = net.head(net.conv2(torch.zeros(1, 6, 8, 8)).mean((2, 3)))
    assert torch.allclose(y, want, atol=1e-6)
    assert torch.count_nonzero(t.output["conv1"]) == 0


def test_channel_edit_batched_equals_one_forward_per_mask():
    net, x = Net().eval(), torch.randn(3, 3, 8, 8)
    masks = torch.zeros(4, 6, dtype=torch.bool)
    masks[0, [0, 1]] = True
    masks[1, [2]] = True
    masks[3, :] = True  # row 2 ablates nothing
    means = torch.randn(6, 8, 8)
    batched_x = x.repeat(4, 1, 1, 1)  # sets x images
    batched_mask = masks.repeat_interleave(3, dim=0)
    with Trace(net, ["conv1", "conv2"], edit={"conv1": ChannelEdit(batched_mask, means)}, stop=["conv2"]) as t:
        t.forward(batched_x)
        batched = t.output["conv2"]
    for s in range(4):
        with Trace(net, ["conv1", "conv2"], edit={"conv1": ChannelEdit(masks[s], means)}, stop=["conv2"]) as t:
            t.forward(x)
        assert torch.equal(batched[s * 3:(s + 1) * 3], t.output["conv2"])
    with Trace(net, "conv2", stop=True) as t:
        t.forward(x)
    assert torch.equal(batched[6:9], t.output["conv2"])  # the empty mask changes nothing, bit for bit


def test_channel_edit_wrong_width_is_a_clear_error():
    net = Net().eval()
    with Trace(net, "conv1", edit={"conv1": ChannelEdit(torch.ones(5, dtype=torch.bool))}) as t:
        with pytest.raises(ValueError, match="mask has 5 channels, the layer has 6"):
            t.forward(torch.randn(1, 3, 8, 8))
    assert not net.conv1._forward_hooks


def test_tuple_output_is_captured_and_edited():
    net, x = TupleNet(), torch.ones(1, 2, 2, 2)
    with Trace(net, "pair", edit=lambda out, layer: out + 1) as t:
        y = t.forward(x)
    assert torch.equal(t.output["pair"], x * 2 + 1)
    assert torch.equal(y, x * 2 + 1 + x)


def test_pre_relu_of_a_functional_relu_is_found_only_where_it_ends_a_layer():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu(self.conv(x))

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(x)

    net, x = Outer().eval(), torch.randn(1, 3, 6, 6)
    outs, pres = forward_until_pre_relu(net, x, ["block", "block.conv"])
    assert torch.allclose(pres["block"], net.block.conv(x))
    assert pres["block.conv"] is None
    assert torch.allclose(outs["block"], F.relu(net.block.conv(x)))


def test_eval_mode_is_set_and_restored_and_unknown_layers_are_named():
    net = Net().train()
    with Trace(net, "conv2", eval_mode=True) as t:
        assert not net.training and not net.drop.training
        t.forward(torch.randn(1, 3, 8, 8))
    assert net.training
    with pytest.raises(UnknownLayerError) as err:
        Trace(net, "conv3")
    assert "conv2" in str(err.value)


def test_gradients_flow_through_captures_when_not_detached():
    net = Net().eval()
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    with Trace(net, "conv2", stop=True, detach=False) as t:
        t.forward(x)
    t.output["conv2"][0, 1].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_stop_forward_is_swallowed_only_by_forward():
    net = Net().eval()
    with Trace(net, "conv1", stop=True):
        with pytest.raises(StopForward):
            net(torch.randn(1, 3, 8, 8))


class SharedReluNet(nn.Module):
    """One ReLU module called twice (as torchvision's BasicBlock does), and an in-place ReLU after conv."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(2, 2, 1)
        self.relu = nn.ReLU()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.relu(x) - 1) + self.act(self.conv(x))


class NoneLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> None:
        return None


class WithNoneLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.side = NoneLayer()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.side(x)
        return self.conv(x)


def test_version_tells_in_place_modification_when_not_detached():
    net, x = SharedReluNet().eval(), torch.randn(1, 2, 4, 4)
    with Trace(net, ["conv", "relu"], detach=False) as t:
        t.forward(x)
    assert t.output["conv"]._version != t.version["conv"]  # act(inplace=True) overwrote it
    assert t.output["relu"]._version == t.version["relu"]


def test_every_call_edits_each_call_of_a_shared_module_and_edits_may_take_inputs():
    net, x = SharedReluNet().eval(), torch.randn(1, 2, 4, 4)

    def identity(out: torch.Tensor, layer: str, inputs: tuple) -> torch.Tensor:
        return inputs[0]

    with Trace(net, "relu", edit=identity, every_call=True) as t:
        y_all = t.forward(x)
    assert t.calls == {"relu": 2}
    assert torch.allclose(y_all, (x - 1) + F.relu(net.conv(x)))
    with Trace(net, "relu", edit=identity) as t:  # first call only (the captured one)
        y_first = t.forward(x)
    assert torch.allclose(y_first, F.relu(x - 1) + F.relu(net.conv(x)))
    assert torch.equal(t.output["relu"], x)


def test_layers_without_a_tensor_output_are_counted_when_allowed():
    net, x = WithNoneLayer(), torch.randn(1, 1, 2, 2)
    with Trace(net, ["side", "conv"]) as t:
        with pytest.raises(TypeError, match="'side' produced no tensor output"):
            t.forward(x)
    with Trace(net, ["side", "conv"], require_tensor=False, stop=True) as t:
        assert t.forward(x) is None
    assert t.order == ["side", "conv"] and set(t.output) == {"conv"}
    with pytest.raises(ValueError, match="stop names layers that are not traced: side"):
        Trace(net, "conv", stop=["side"])


def test_inference_mode_captures_without_version_counters():
    net, x = SharedReluNet().eval(), torch.randn(1, 2, 4, 4)
    with torch.inference_mode(), Trace(net, ["conv", "relu"], stop=True) as t:
        t.forward(x)
    assert set(t.output) == {"conv", "relu"} and t.version == {}
