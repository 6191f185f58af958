"""The examples pass's shortcut for layers ending in a ReLU (records/stats.py summarize(pre_min=...))
gives the same statistics as the general path, for relu, relu6 and fully saturated maps."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from circuitscope.records.stats import summarize


@pytest.mark.parametrize("clamp", [F.relu, F.relu6, lambda t: F.hardtanh(t, 0.0, 2.0)])
def test_relu_shortcut_matches_the_general_summary(clamp):
    torch.manual_seed(0)
    pre = torch.randn(6, 5, 49) * 3
    pre[0, 0] = -1.0  # all negative: output all zero
    pre[1, 1] = 9.0  # all saturated for relu6 / hardtanh
    out = clamp(pre)
    general = summarize(out, 3)
    fast = summarize(out, 3, pre_min=pre.amin(dim=2))
    for name in ("max", "min", "sum", "mean", "sumsq", "npos", "nneg"):
        # counts: the general path squares a norm of signs (float rounding); RunningStats rounds them
        assert torch.allclose(getattr(fast, name), getattr(general, name), atol=1e-3), name
    assert torch.equal(fast.sample, general.sample)
