"""Layer probing (models.layers) and weights (records.weights) run on activations.Trace: they leave no
hooks behind, restore the training mode, and keep working on layers without a tensor output."""
from __future__ import annotations

import torch
from torch import nn

from circuitscope.models import LoadedModel, list_layers
from circuitscope.records.weights import layer_connections


class Side(nn.Module):
    """A module whose output is no tensor (a logging or bookkeeping submodule)."""

    def forward(self, x: torch.Tensor) -> dict[str, int]:
        return {"n": int(x.shape[0])}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.side = Side()
        self.conv2 = nn.Conv2d(4, 2, 3, padding=1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.side(x)
        return self.drop(self.conv2(self.relu(self.conv1(x))))


def _hooks(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())


def test_list_layers_counts_non_tensor_layers_and_cleans_up():
    net = Net().train()
    lm = LoadedModel("t", net, input_size=8)
    everything = {i.name: i for i in list_layers(lm, include_all=True)}
    assert everything["side"].output_shape is None and everything["side"].calls == 1
    assert everything["conv1"].output_shape == (4, 8, 8)
    assert [i.name for i in list_layers(lm)] == ["conv1", "relu", "conv2"]
    assert _hooks(net) == 0 and net.training and net.drop.training


def test_weights_leave_no_hooks_and_restore_the_mode():
    net = Net().train()
    lm = LoadedModel("t", net, input_size=8)
    direct = layer_connections(lm, "relu", "conv2")
    assert direct.kind == "direct"
    assert torch.equal(torch.from_numpy(direct.kernel(1, 0)), net.conv2.weight[0, 1].detach())
    through_relu = layer_connections(lm, "conv1", "conv2")
    assert through_relu.kind == "direct"  # the linearised ReLU module hands on conv1's very tensor
    expanded = layer_connections(lm, "conv1", "drop")  # dst is no conv: gradients through conv2
    assert expanded.kind == "expanded"
    assert torch.allclose(torch.from_numpy(expanded.kernel(1, 0)), net.conv2.weight[0, 1].detach(), atol=1e-6)
    assert _hooks(net) == 0 and net.training and net.drop.training
