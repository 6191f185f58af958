"""Hooks, receptive fields, the streaming dataset-examples pass (skips, checkpoint/resume) and rendering."""
from __future__ import annotations

import io
from collections import namedtuple

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from circuitscope.activations import StopForward, capture_layers, forward_until, get_module
from circuitscope.datasets.base import UnreadableImage
from circuitscope.models.base import LoadedModel, UnknownLayerError
from circuitscope.records.examples import (
    ExampleRecord,
    compute_dataset_examples,
    receptive_field,
    render_all_examples,
    render_examples,
)

S = 16  # input size of the test models


class TinyImages:
    """Deterministic random images; `bad` indices raise UnreadableImage."""

    name, classes = "tiny", ["a", "b"]

    def __init__(self, n: int, bad=(), size: int = S):
        self.n, self.bad, self.size = n, set(bad), size
        self.loads = 0

    def __len__(self):
        return self.n

    def ref(self, i):
        return f"tiny/{i:03d}"

    def load(self, i):
        self.loads += 1
        if i in self.bad:
            raise UnreadableImage(self.ref(i), "truncated file")
        rng = np.random.default_rng(i)
        return Image.fromarray(rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8))

    def label(self, i):
        return i % 2

    def attributes(self, i):
        return {"i": i}

    def describe(self):
        return {"kind": "tiny", "n": self.n, "bad": sorted(self.bad)}


class Boom(nn.Module):
    def forward(self, x):
        raise AssertionError("this layer must not run")


def tiny_model(boom: bool = False) -> LoadedModel:
    torch.manual_seed(0)
    layers = [
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 5, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(5, 4, 3, padding=1),
    ]
    if boom:
        layers.append(Boom())
    return LoadedModel("tiny", nn.Sequential(*layers).eval(), input_size=S, mean=(0.5,) * 3, std=(0.5,) * 3)


def brute_force(model: LoadedModel, dataset: TinyImages, layer: str, k: int, batch_size: int):
    """Top/bottom-k from the full activation maps of every readable image (batched like the pass,
    because convolution results may differ in the last bit with the batch size)."""
    from circuitscope.datasets.loader import model_transform

    tf = model_transform(model.input_size)
    idx, maps = [], []
    with torch.no_grad():
        for s in range(0, len(dataset), batch_size):
            ok = [i for i in range(s, min(s + batch_size, len(dataset))) if i not in dataset.bad]
            if not ok:
                continue
            x = torch.stack([tf(dataset.load(i)) for i in ok])
            idx += ok
            maps.append(forward_until(model.module, model.normalize(x), [layer])[layer])
    a = torch.cat(maps).flatten(2).double()
    mx, mn, mean = a.amax(2), a.amin(2), a.mean(2)
    top, bottom = [], []
    for c in range(a.shape[1]):
        order_t = sorted(range(len(idx)), key=lambda j: (-mx[j, c], -mean[j, c], idx[j]))[:k]
        order_b = sorted(range(len(idx)), key=lambda j: (mn[j, c], mean[j, c], idx[j]))[:k]
        top.append([idx[j] for j in order_t])
        bottom.append([idx[j] for j in order_b])
    return top, bottom, a


# ------------------------------------------------------------------------------------------ hooks
def test_forward_until_stops_after_last_layer():
    m = tiny_model(boom=True)
    x = torch.randn(2, 3, S, S)
    out = forward_until(m.module, x, ["2", "0"])
    assert list(out) == ["2", "0"]
    ref = m.module[2](m.module[1](m.module[0](x)))
    torch.testing.assert_close(out["2"], ref)
    with pytest.raises(AssertionError, match="must not run"):
        m.module(x)  # hooks were removed: the full forward reaches Boom
    with capture_layers(m.module, ["1"], stop_after_last=True) as store:
        with pytest.raises(StopForward):
            m.module(x)
    assert store["1"].shape == (2, 6, S, S)


def test_dotted_names_and_tuple_outputs():
    tv = pytest.importorskip("torchvision")
    g = tv.models.googlenet(weights=None, aux_logits=False, init_weights=False).eval()
    r = tv.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    assert isinstance(get_module(g, "inception4a.branch2.1"), nn.Module)
    out = forward_until(g, x, ["inception4a.branch2.1", "conv1"])
    assert out["inception4a.branch2.1"].dim() == 4 and out["conv1"].shape[1] == 64
    assert forward_until(r, x, ["layer1.0.conv2"])["layer1.0.conv2"].shape == (1, 64, 16, 16)

    Pair = namedtuple("Pair", "a b")

    class TupleOut(nn.Module):
        def forward(self, x):
            return Pair(x * 2, x * 3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Identity(), TupleOut())

        def forward(self, x):
            return self.block(x).b

    t = forward_until(Net(), torch.ones(1, 2, 2, 2), ["block.1"])["block.1"]
    assert torch.equal(t, torch.full((1, 2, 2, 2), 2.0))
    with pytest.raises(UnknownLayerError, match="layer1.0.conv2"):
        get_module(r, "layer1.0.conv3")


# ------------------------------------------------------------------------------- receptive field
def test_receptive_field_of_known_conv_stacks():
    two = LoadedModel("two", nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)), input_size=S)
    rf = receptive_field(two, "1")
    assert rf.size == (5, 5) and rf.stride_h == 1
    assert rf.box(7, 7) == (5, 5, 10, 10)  # 5x5 centred on pixel 7
    assert rf.box(0, 0) == (0, 0, 3, 3)  # clipped at the border
    # no padding + stride 2: RF 3 + 2*2 = 7, stride 2, position 0 covers pixels 0..6
    strided = LoadedModel("s", nn.Sequential(nn.Conv2d(3, 2, 3, stride=2), nn.Conv2d(2, 2, 3)), input_size=S)
    rf = receptive_field(strided, "1")
    assert rf.size == (7, 7) and rf.stride_w == 2
    assert rf.box(0, 0) == (0, 0, 7, 7) and rf.box(2, 1) == (2, 4, 9, 11)


# ------------------------------------------------------------------------------ streaming pass
def _entries(t):
    return [[e.image_index for e in ch] for ch in t]


def test_pass_equals_brute_force_and_skips_unreadable():
    m, ds = tiny_model(), TinyImages(23, bad={4, 17})
    skipped = []
    tallies = compute_dataset_examples(m, ds, ["2", "4"], k=3, batch_size=5, skipped=skipped, progress=False)
    assert skipped == [("tiny/004", "truncated file"), ("tiny/017", "truncated file")]
    for layer in ("2", "4"):
        top, bottom, a = brute_force(m, ds, layer, 3, 5)
        t = tallies[layer]
        assert _entries(t.top) == top and _entries(t.bottom) == bottom
        assert t.images == 21
        st = t.stats(1)
        assert st["count"] == a[:, 1].numel()
        assert st["max"] == pytest.approx(float(a[:, 1].max()), rel=1e-6)
        assert st["mean"] == pytest.approx(float(a[:, 1].mean()), rel=1e-5, abs=1e-7)
        assert st["sparsity"] == pytest.approx(float((a[:, 1] > 0).double().mean()))


def test_positions_are_argmax_and_argmin():
    m, ds = tiny_model(), TinyImages(12)
    t = compute_dataset_examples(m, ds, ["4"], k=12, batch_size=4, progress=False)["4"]
    _, _, a = brute_force(m, ds, "4", 12, 4)
    W = t.map_shape[1]
    for c in range(t.num_channels):
        for e in t.top[c]:
            assert (e.y, e.x) == divmod(int(a[e.image_index, c].argmax()), W)
            assert e.value == float(a[e.image_index, c].max())
        for e in t.bottom[c]:
            assert (e.y, e.x) == divmod(int(a[e.image_index, c].argmin()), W)


class Kill(Exception):
    pass


def _state(tallies):
    return {name: t.state_dict() for name, t in tallies.items()}


def _assert_same(s1, s2):
    if isinstance(s1, torch.Tensor):
        assert torch.equal(s1, s2)
    elif isinstance(s1, dict):
        assert s1.keys() == s2.keys()
        for key in s1:
            _assert_same(s1[key], s2[key])
    else:
        assert s1 == s2


def test_checkpoint_resume_is_identical_to_uninterrupted(tmp_path):
    m, layers = tiny_model(), ["0", "2", "4"]
    ref = compute_dataset_examples(m, TinyImages(30, bad={7}), layers, k=3, batch_size=4, progress=False)

    ckpt = tmp_path / "ckpt" / "examples.pt"
    seen = []

    def kill_after_5(done, total):
        seen.append(done)
        if len(seen) == 5:
            raise Kill()

    skipped1 = []
    with pytest.raises(Kill):
        compute_dataset_examples(m, TinyImages(30, bad={7}), layers, k=3, batch_size=4, checkpoint_path=ckpt,
                                 checkpoint_every=2, skipped=skipped1, progress=False, on_batch=kill_after_5)
    assert ckpt.exists() and seen == [4, 8, 12, 16, 20] and skipped1 == [("tiny/007", "truncated file")]
    assert not list(ckpt.parent.glob("*.tmp*"))  # atomic write left no temporary behind

    ds2, skipped2, progress = TinyImages(30, bad={7}), [], []
    resumed = compute_dataset_examples(m, ds2, layers, k=3, batch_size=4, checkpoint_path=ckpt, checkpoint_every=2,
                                       skipped=skipped2, progress=False, on_batch=lambda d, t: progress.append(d))
    assert progress[0] == 20  # continued after the checkpoint at batch 4 (16 images), redoing batch 5
    assert ds2.loads == 30 - 16
    assert skipped2 == [("tiny/007", "truncated file")]  # reported once, from the checkpoint
    _assert_same(_state(ref), _state(resumed))

    # a finished checkpoint returns at once; one made with other settings is ignored
    ds3 = TinyImages(30, bad={7})
    again = compute_dataset_examples(m, ds3, layers, k=3, batch_size=4, checkpoint_path=ckpt, progress=False)
    assert ds3.loads == 0
    _assert_same(_state(ref), _state(again))
    other = compute_dataset_examples(m, TinyImages(30, bad={7}), layers, k=2, batch_size=4, checkpoint_path=ckpt,
                                     progress=False)
    assert other["0"].k == 2


def test_shards_merge_to_the_single_pass():
    m, layers = tiny_model(), ["2", "4"]
    full = compute_dataset_examples(m, TinyImages(19, bad={2}), layers, k=3, batch_size=4, progress=False)
    shards = [
        compute_dataset_examples(m, TinyImages(19, bad={2}), layers, k=3, batch_size=4, progress=False, shard=(i, 3))
        for i in range(3)
    ]
    merged = {name: shards[2][name].merge(shards[0][name]).merge(shards[1][name]) for name in layers}
    for name in layers:
        for kind in ("top", "bottom"):
            a, b = getattr(full[name], kind).state_dict(), getattr(merged[name], kind).state_dict()
            assert torch.equal(a["index"], b["index"]) and torch.equal(a["ys"], b["ys"])
            # conv outputs may differ in the last bit between batch compositions
            torch.testing.assert_close(a["values"], b["values"], rtol=1e-5, atol=1e-6)
        s1, s2 = full[name].stats(0), merged[name].stats(0)
        assert s1["count"] == s2["count"] and s1["images"] == s2["images"] == 18
        assert s1["mean"] == pytest.approx(s2["mean"], rel=1e-5) and s1["std"] == pytest.approx(s2["std"], rel=1e-5)


def test_all_unreadable_is_a_clear_error():
    from circuitscope.datasets.base import DatasetError

    with pytest.raises(DatasetError, match="No readable images"):
        compute_dataset_examples(tiny_model(), TinyImages(3, bad={0, 1, 2}), ["0"], k=2, progress=False)


# ----------------------------------------------------------------------------------- rendering
def _decode(b: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(b))
    assert im.format == "WEBP"
    return im


def test_render_examples_records():
    m, ds = tiny_model(), TinyImages(10, bad={3})
    tallies = compute_dataset_examples(m, ds, ["2", "4"], k=2, batch_size=4, progress=False)
    ds_render = TinyImages(10, bad={3})
    recs = render_all_examples(m, ds_render, tallies)
    winners = tallies["2"].top.image_indices() | tallies["2"].bottom.image_indices()
    winners |= tallies["4"].top.image_indices() | tallies["4"].bottom.image_indices()
    assert ds_render.loads == len(winners)  # each winning image loaded once for both layers
    one = render_examples(m, ds, "4", tallies["4"])
    assert set(one) == set(range(4)) and set(recs["4"]) == set(range(4))
    for c, lst in one.items():
        assert [(r.kind, r.rank) for r in lst] == [("top", 0), ("top", 1), ("bottom", 0), ("bottom", 1)]
        for r, e in zip(lst, tallies["4"].top[c] + tallies["4"].bottom[c]):
            assert isinstance(r, ExampleRecord)
            assert (r.image_index, r.activation, r.y, r.x) == (e.image_index, e.value, e.y, e.x)
            assert r.image_ref == f"tiny/{r.image_index:03d}" and r.label == r.image_index % 2
            x0, y0, x1, y1 = r.box
            assert 0 <= x0 < x1 <= S and 0 <= y0 < y1 <= S
            # layer 4 = conv, pool, conv: RF 3+2=5 -> pool 6 -> conv 10 px, stride 2
            assert x1 - x0 <= 10 and y1 - y0 <= 10
            cy, cx = 2 * r.y + 1, 2 * r.x + 1  # centre pixel of that map position
            assert y0 <= cy < y1 and x0 <= cx < x1
            assert min(_decode(r.crop_webp).size) >= 64
            assert _decode(r.image_webp).size == (S, S)
            heat = _decode(r.heatmap_webp)
            assert heat.size == (S, S) and heat.mode == "RGBA"
    # the overlay is opaque red at the strongest positive response, blue at the most negative one
    flat = [r for lst in one.values() for r in lst]
    for r, red in ((max(flat, key=lambda r: r.activation), True), (min(flat, key=lambda r: r.activation), False)):
        heat = np.asarray(_decode(r.heatmap_webp).convert("RGBA")).astype(int)[2 * r.y + 1, 2 * r.x + 1]
        assert (heat[0] > heat[2]) == red and heat[3] > 80, (r.activation, heat)


# ------------------------------------------------------------------- layers ending in a ReLU
def relu_model(inplace: bool = False) -> LoadedModel:
    """"0" = conv->ReLU block (ends in a ReLU), "1" = a bare conv (does not), "2" = the ReLU module itself."""
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(inplace=inplace)),
        nn.Conv2d(5, 4, 3, padding=1),
        nn.ReLU(inplace=inplace),
    )
    return LoadedModel("relu-tiny", net.eval(), input_size=S, mean=(0.5,) * 3, std=(0.5,) * 3)


def _pre_relu_maps(model: LoadedModel, dataset: TinyImages, batch_size: int) -> tuple[list[int], torch.Tensor]:
    """The pre-ReLU map of block "0" (its conv's output) for every readable image, batched like the pass."""
    from circuitscope.datasets.loader import model_transform

    tf = model_transform(model.input_size)
    idx, maps = [], []
    with torch.no_grad():
        for s in range(0, len(dataset), batch_size):
            ok = [i for i in range(s, min(s + batch_size, len(dataset))) if i not in dataset.bad]
            x = torch.stack([tf(dataset.load(i)) for i in ok])
            idx += ok
            maps.append(model.module[0][0](model.normalize(x)))
    return idx, torch.cat(maps).flatten(2).double()


@pytest.mark.parametrize("inplace", [False, True])
def test_bottom_of_a_relu_layer_ranks_the_pre_relu_min(inplace):
    m, ds, k, bs = relu_model(inplace), TinyImages(21, bad={5}), 4, 4
    tallies = compute_dataset_examples(m, ds, ["0", "1"], k=k, batch_size=bs, progress=False)
    t = tallies["0"]
    assert t.bottom_measure == "pre_relu" and tallies["1"].bottom_measure == "output"
    # top-k and statistics: the layer's real (post-ReLU) output, as before
    top, bottom_out, a = brute_force(m, ds, "0", k, bs)
    assert _entries(t.top) == top
    assert t.stats(0)["min"] >= 0 and t.stats(0)["max"] == pytest.approx(float(a[:, 0].max()), rel=1e-6)
    # bottom-k: lowest spatial min of the pre-ReLU map (ties: lower output mean, lower index)
    idx, pre = _pre_relu_maps(m, ds, bs)
    mean = a.mean(2)
    W = t.map_shape[1]
    for c in range(t.num_channels):
        order = sorted(range(len(idx)), key=lambda j: (pre[j, c].min(), mean[j, c], idx[j]))[:k]
        assert [e.image_index for e in t.bottom[c]] == [idx[j] for j in order]
        for e, j in zip(t.bottom[c], order):
            assert e.value < 0
            assert e.value == pytest.approx(float(pre[j, c].min()), rel=1e-5, abs=1e-6)
            assert (e.y, e.x) == divmod(int(pre[j, c].argmin()), W)
    # a layer without a final ReLU is unchanged
    top1, bottom1, _ = brute_force(m, ds, "1", k, bs)
    assert _entries(tallies["1"].top) == top1 and _entries(tallies["1"].bottom) == bottom1

    # rendering: bottom records carry the pre-ReLU value and are marked so; the heatmap is of that map
    recs = render_examples(m, TinyImages(21, bad={5}), "0", t)
    for c, lst in recs.items():
        for r, e in zip(lst, t.top[c] + t.bottom[c]):
            assert (r.image_index, r.activation, r.y, r.x) == (e.image_index, e.value, e.y, e.x)
            assert r.measure == ("pre_relu" if r.kind == "bottom" else "output")
            if r.kind == "bottom" and r.rank == 0:  # the most negative response is drawn blue
                heat = np.asarray(_decode(r.heatmap_webp).convert("RGBA")).astype(int)[r.y, r.x]
                assert heat[2] > heat[0] and heat[3] > 40, heat
    assert all(r.measure == "output" for lst in render_examples(m, ds, "1", tallies["1"]).values() for r in lst)


def test_relu_layer_tallies_survive_checkpoint_and_fingerprint_changed(tmp_path):
    from circuitscope.records.examples import LayerTallies, _fingerprint

    m, ds = relu_model(), TinyImages(9)
    ckpt = tmp_path / "examples.pt"
    ref = compute_dataset_examples(m, ds, ["0", "2"], k=2, batch_size=4, progress=False, checkpoint_path=ckpt)
    assert ref["2"].bottom_measure == "pre_relu"  # the layer that is itself the ReLU
    again = compute_dataset_examples(m, TinyImages(9), ["0", "2"], k=2, batch_size=4, progress=False,
                                     checkpoint_path=ckpt)
    _assert_same(_state(ref), _state(again))
    restored = LayerTallies.from_state_dict(ref["0"].state_dict())
    assert restored.bottom_measure == "pre_relu"
    assert '"bottom": "pre_relu_if_final_relu"' in _fingerprint(m, ds, ["0"], 2, 64)


# ------------------------------------------------------------------- examples across the deciles
def test_quantile_sample_is_a_seeded_uniform_sample_split_into_deciles():
    from circuitscope.records.examples.quantile_sample import hash_keys
    from circuitscope.records.examples.record import QUANTILE_RANK_STRIDE

    m, ds = tiny_model(), TinyImages(60, bad={5})
    tallies = compute_dataset_examples(m, ds, ["2", "4"], k=2, batch_size=7, progress=False, quantile_sample=20)
    _, _, a = brute_force(m, ds, "4", 2, 7)
    ok = [i for i in range(60) if i != 5]
    keys = hash_keys(torch.tensor(ok), 0).tolist()
    expected = sorted(sorted(zip(keys, ok))[:20], key=lambda p: p[1])
    t = tallies["4"]
    W = t.map_shape[1]
    for c in range(t.num_channels):
        kept = t.sample.entries(c)
        # the sample = the 20 images with the smallest seeded hash (the same for every channel)
        assert sorted(e.image_index for e in kept) == [i for _, i in expected]
        picks = t.sample.picks(c, per_decile=1)
        assert [p.decile for p in picks] == list(range(10))
        values = [p.entry.value for p in picks]
        assert values == sorted(values)  # decile 0 holds the weakest responses, decile 9 the strongest
        row = {i: j for j, i in enumerate(ok)}
        for p in picks:
            amap = a[row[p.entry.image_index], c]
            assert p.entry.value == pytest.approx(float(amap.max()), rel=1e-6)
            assert (p.entry.y, p.entry.x) == divmod(int(amap.argmax()), W)
        # each decile group has 2 images: with 2 per decile, every sampled image is shown exactly once
        assert sorted(p.entry.image_index for p in t.sample.picks(c, per_decile=2)) == [i for _, i in expected]

    # another seed draws another sample; shards merge to exactly the single pass
    other = compute_dataset_examples(m, ds, ["4"], k=2, batch_size=7, progress=False, quantile_sample=20,
                                     quantile_seed=1)["4"]
    assert {e.image_index for e in other.sample.entries(0)} != {e.image_index for e in t.sample.entries(0)}
    shards = [compute_dataset_examples(m, ds, ["4"], k=2, batch_size=5, progress=False, quantile_sample=20,
                                       shard=(i, 3))["4"] for i in range(3)]
    merged = shards[1].merge(shards[0]).merge(shards[2])
    assert torch.equal(merged.sample.index, t.sample.index) and torch.equal(merged.sample.keys, t.sample.keys)
    assert torch.equal(merged.sample.ys, t.sample.ys) and torch.equal(merged.sample.xs, t.sample.xs)
    torch.testing.assert_close(merged.sample.values, t.sample.values, rtol=1e-5, atol=1e-6)

    # pass 2 renders them: kind "quantile", rank = decile * stride + slot, activation = the image's max
    recs = render_examples(m, ds, "4", t, per_decile=2)
    for c, lst in recs.items():
        q = [r for r in lst if r.kind == "quantile"]
        assert len(q) == 20
        assert sorted({r.rank // QUANTILE_RANK_STRIDE for r in q}) == list(range(10))
        assert {r.rank % QUANTILE_RANK_STRIDE for r in q} == {0, 1}
        by_index = {p.entry.image_index: p for p in t.sample.picks(c, per_decile=2)}
        for r in q:
            assert r.activation == by_index[r.image_index].entry.value
            assert min(_decode(r.crop_webp).size) >= 64 and r.measure == "output"
