"""activations.linearize: ReLUs become the identity and max-pools average pools while the context is active."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuitscope.activations import Trace
from circuitscope.activations.linearize import linearized, relu_modules


class RedirectedLikeReLU(nn.Module):
    """Computes a ReLU the torch-function mode cannot see (as lucent's RedirectedReLU, via autograd.Function)."""

    class _Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # noqa: ANN001, ANN205
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._Fn.apply(x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.redirected = RedirectedLikeReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x) + self.relu(x - 1)  # one module, two calls
        x = self.redirected(F.relu(x) - 2)
        return self.pool(F.pad(x, (1, 1, 1, 1), value=float("-inf")))


def test_relus_are_identity_and_max_pools_average_inside_only():
    net, x = Net(), torch.randn(1, 1, 6, 6)
    assert relu_modules(net) == ["relu", "redirected"]
    with linearized(net):
        y = net(x.clone())
    z = x + (x - 1) - 2
    want = F.avg_pool2d(F.pad(z, (1, 1, 1, 1), value=0.0), 2, 2, 0, False, count_include_pad=False)
    assert torch.allclose(y, want)
    assert not net.relu._forward_hooks and not net.redirected._forward_hooks
    assert torch.all(net(x.clone()) >= 0)  # back to the real network


def test_a_trace_entered_before_still_replaces_a_linearized_relu_output():
    net, x = Net(), torch.randn(1, 1, 6, 6)
    with Trace(net, "redirected", edit=lambda out, layer: torch.full_like(out, 3.0)) as t, linearized(net):
        y = t.forward(x)
    want = F.avg_pool2d(F.pad(torch.full((1, 1, 6, 6), 3.0), (1, 1, 1, 1), value=0.0), 2)
    assert torch.allclose(y, want)  # the edit's 3s, zero-padded (the -inf padding is linearised too)
