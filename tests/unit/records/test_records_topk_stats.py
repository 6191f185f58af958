"""Running top/bottom-k and statistics against brute force on small random activation sets."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from circuitscope.records.examples import LayerTallies
from circuitscope.records.stats import DEFAULT_QUANTILES, Float16Sketch, RunningStats
from circuitscope.records.topk import RunningTopK

N, C, H, W, K = 37, 5, 6, 7, 4


def _acts(seed: int = 0, relu_channels=(1, 3)) -> torch.Tensor:
    """Quantized activations (multiples of 1/8: sums are exact, ties are frequent), some post-ReLU."""
    g = torch.Generator().manual_seed(seed)
    x = torch.round(torch.randn(N, C, H, W, generator=g) * 8) / 8
    for c in relu_channels:
        x[:, c] = x[:, c].clamp(min=0) * (torch.rand(N, 1, 1, generator=g) < 0.5)  # many all-zero maps
    x[5, 0] = x[6, 0]  # an exact tie between two images
    return x


def _brute(x: torch.Tensor, k: int):
    """Per channel the top-k by (max desc, mean desc, index asc) and bottom-k by (min asc, mean asc, index asc)."""
    xs = x.flatten(2).double().numpy()
    top, bottom = [], []
    for c in range(x.shape[1]):
        m = xs[:, c, :]
        mx, mn, mean = m.max(1), m.min(1), m.mean(1)
        t = sorted(range(len(m)), key=lambda i: (-mx[i], -mean[i], i))[:k]
        b = sorted(range(len(m)), key=lambda i: (mn[i], mean[i], i))[:k]
        top.append([(mx[i], i, *divmod(int(m[i].argmax()), x.shape[3])) for i in t])
        bottom.append([(mn[i], i, *divmod(int(m[i].argmin()), x.shape[3])) for i in b])
    return top, bottom


def _run(x: torch.Tensor, batch: int, k: int = K, start: int = 0, hist_positions=None) -> LayerTallies:
    t = LayerTallies.create("layer", x.shape[1], x.shape[2:], k, hist_positions=hist_positions)
    for s in range(0, len(x), batch):
        t.update(x[s : s + batch], torch.arange(start + s, start + min(s + batch, len(x))))
    return t


def _entries(tk: RunningTopK):
    return [[(e.value, e.image_index, e.y, e.x) for e in ch] for ch in tk.result()]


@pytest.mark.parametrize("batch", [1, 3, 8, N])
def test_topk_bottomk_equal_brute_force(batch):
    x = _acts()
    top, bottom = _brute(x, K)
    t = _run(x, batch)
    assert _entries(t.top) == top
    assert _entries(t.bottom) == bottom
    # post-ReLU channel: bottom-k are all-zero maps (min 0), quietest first = mean 0, lowest index
    assert all(e.value == 0 and e.tiebreak == 0 for e in t.bottom[1])


def test_merge_of_shards_equals_single_pass():
    x = _acts(1)
    single = _run(x, 5)
    a = _run(x[:20], 6)
    b = _run(x[20:], 4, start=20)
    merged = b.merge(a)  # order of merging does not matter either
    for name in ("top", "bottom"):
        sa, sb = getattr(single, name).state_dict(), getattr(merged, name).state_dict()
        for key in ("values", "index", "ys", "xs", "tiebreak"):
            assert torch.equal(sa[key], sb[key]), (name, key)
    # statistics: exact counts and extrema, float sums equal to rounding
    r1, r2 = single.running, merged.running
    for key in ("n", "npos", "nneg", "min", "max", "images"):
        assert torch.equal(getattr(r1, key), getattr(r2, key)), key
    assert torch.equal(r1.positions.counts, r2.positions.counts)
    assert torch.equal(r1.spatial_max.counts, r2.spatial_max.counts)
    torch.testing.assert_close(r1.mean, r2.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r1.std(), r2.std(), rtol=1e-10, atol=1e-12)


def test_merge_with_overlap_keeps_each_image_once():
    x = _acts(2)
    a = _run(x, 8)
    a.top.merge(_run(x, 8).top)
    idx = a.top.index
    for c in range(C):
        assert len(set(idx[c].tolist())) == K
    assert _entries(a.top) == _brute(x, K)[0]


def test_fewer_images_than_k_and_state_roundtrip():
    x = _acts(3)[:2]
    t = _run(x, 1, k=5)
    assert all(len(t.top[c]) == 2 and len(t.bottom[c]) == 2 for c in range(C))
    t2 = LayerTallies.from_state_dict(t.state_dict())
    assert _entries(t2.top) == _entries(t.top) and _entries(t2.bottom) == _entries(t.bottom)
    assert t2.stats(0) == t.stats(0)


def test_nan_values_rank_last():
    tk = RunningTopK(1, 2)
    tk.update(torch.tensor([[float("nan")], [1.0], [2.0]]), torch.arange(3), torch.zeros(3, 1), torch.zeros(3, 1))
    assert [e.image_index for e in tk[0]] == [2, 1]


def test_stats_equal_brute_force():
    x = _acts(4)
    t = _run(x, 6)
    a = x.permute(1, 0, 2, 3).reshape(C, -1).double().numpy()
    for c in range(C):
        r = t.stats(c)
        json.dumps(r)  # JSON-able
        assert r["count"] == a.shape[1] and r["images"] == N
        assert r["mean"] == pytest.approx(a[c].mean(), rel=1e-9, abs=1e-12)
        assert r["std"] == pytest.approx(a[c].std(), rel=1e-6)
        assert r["min"] == a[c].min() and r["max"] == a[c].max()
        assert r["sparsity"] == (a[c] > 0).mean()
        assert r["frac_negative"] == (a[c] < 0).mean()
        assert r["frac_zero"] == pytest.approx((a[c] == 0).mean())
        assert sum(r["histogram"]["counts"]) == a.shape[1]
        assert sum(r["max_histogram"]["counts"]) == N
        spatial_max = x[:, c].flatten(1).amax(1).double().numpy()
        assert r["max_quantiles"]["0.5"] == pytest.approx(np.quantile(spatial_max, 0.5), rel=0.04, abs=1e-5)


def _quantile_ok(est, data, q, m=5):
    """The documented bound: est within [x_(f) - d, x_(f+1) + d], d(v) = 2^-m |v| + 2e-6."""
    lo = np.quantile(data, q, method="lower")
    hi = np.quantile(data, q, method="higher")
    d = lambda v: 2.0**-m * abs(v) + 2e-6 + 2.0**-10 * abs(v)  # + float16 rounding of the input
    return lo - d(lo) <= est <= hi + d(hi)


@pytest.mark.parametrize("dist", ["normal", "lognormal", "relu", "wide"])
def test_quantiles_within_stated_tolerance(dist):
    g = np.random.default_rng(0)
    n = 20000
    data = {
        "normal": g.normal(0.3, 2.0, n),
        "lognormal": g.lognormal(0.0, 2.0, n),
        "relu": np.maximum(g.normal(-0.5, 1.0, n), 0),
        "wide": g.normal(0, 1, n) * 10.0 ** g.uniform(-4, 4, n),
    }[dist].astype(np.float32)
    sk = Float16Sketch(2)
    x = torch.from_numpy(data).view(-1, 1, 1).repeat(1, 2, 1)
    for s in range(0, n, 3000):
        sk.add(x[s : s + 3000])
    est = sk.quantiles(DEFAULT_QUANTILES + (0.0, 1.0))
    d64 = data.astype(np.float64)
    for j, q in enumerate(DEFAULT_QUANTILES + (0.0, 1.0)):
        assert _quantile_ok(est[0, j], d64, q), (q, est[0, j], np.quantile(d64, q))
        assert est[1, j] == est[0, j]
    # typical (not worst-case) accuracy is much better than the bound
    ref = np.quantile(d64, DEFAULT_QUANTILES)
    rel = np.abs(est[0, : len(ref)] - ref) / np.maximum(np.abs(ref), 1e-3)
    assert np.median(rel) < 0.01


def test_sampled_histogram_quantiles_close_in_rank():
    """With a position sample (large maps), the quantile's rank in the full data stays near q."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 3, 32, 32, generator=g).exp()  # 1024 positions, sampled down to ~64
    rs = RunningStats(3, hist_positions=64)
    for s in range(0, 64, 16):
        rs.update(x[s : s + 16])
    assert 0.05 < rs.results([0])[0]["hist_sampled_fraction"] < 0.07
    full = np.sort(x[:, 0].flatten().numpy())
    est = rs.quantiles()[0]
    for q, e in zip(DEFAULT_QUANTILES, est):
        rank = np.searchsorted(full, e) / len(full)
        assert abs(rank - q) < 0.02 + 0.05 * min(q, 1 - q), (q, rank)
    # exact statistics still use every position
    assert rs.result(0)["count"] == 64 * 1024
    assert rs.result(0)["max"] == float(x[:, 0].max())
