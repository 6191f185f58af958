"""summarize() on CPU runs large batches in cache-sized slices of images; the summary must equal the
one-slice computation exactly (every field, both the general and the ReLU path, with positions)."""
import pytest
import torch

from circuitscope.records import stats


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("positions", [False, True])
def test_sliced_summary_equals_whole(monkeypatch, relu, positions):
    g = torch.Generator().manual_seed(1)
    pre = torch.randn(37, 8, 48 * 48, generator=g)  # 37 images: the last slice is a partial one
    x = pre.clamp(min=0) if relu else pre
    pre_min = pre.amin(dim=2) if relu else None
    stride = stats.sample_stride(48 * 48, 48, 64)
    monkeypatch.setattr(stats, "_CACHE_CHUNK_BYTES", 1 << 16)  # 2 images per slice
    sliced = stats.summarize(x, stride, stats.Scratch(), positions=positions, pre_min=pre_min)
    monkeypatch.setattr(stats, "_CACHE_CHUNK_BYTES", 1 << 40)  # one slice
    whole = stats.summarize(x, stride, stats.Scratch(), positions=positions, pre_min=pre_min)
    for field in ("max", "min", "sum", "mean", "sumsq", "npos", "nneg", "sample", "argmax", "argmin"):
        a, b = getattr(sliced, field), getattr(whole, field)
        assert (a is None) == (b is None), field
        if a is not None:
            assert torch.equal(a, b), field
    assert sliced.L == whole.L
