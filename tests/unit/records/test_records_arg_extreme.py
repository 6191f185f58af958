"""The two-level arg-extreme of the examples pass (records/examples/tally.py) equals torch's argmax /
argmin exactly: first occurrence among ties, NaN as the extreme, +-inf, rows of any length."""
import pytest
import torch

from circuitscope.records.examples.tally import _arg_extreme


@pytest.mark.parametrize("L", [1, 64, 256, 1024, 4096, 4100])
@pytest.mark.parametrize("largest", [True, False])
def test_arg_extreme_matches_torch(L, largest):
    g = torch.Generator().manual_seed(L)
    for trial in range(12):
        x = torch.randint(-3, 4, (5, 7, L), generator=g).float()  # few distinct values: many ties
        if trial % 3 == 0:
            x[1, 2, torch.randint(0, L, (3,), generator=g)] = float("nan")
        if trial % 4 == 0:
            x[0, 0] = float("-inf")
            x[2, 1] = float("inf")
        ref = x.argmax(-1) if largest else x.argmin(-1)
        assert torch.equal(_arg_extreme(x, largest), ref)
        assert torch.equal(_arg_extreme(x.reshape(-1, L), largest), ref.reshape(-1))
