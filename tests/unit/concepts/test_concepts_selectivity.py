"""Concept selectivity: hand-set units get the right best concept, histogram AUC equals the exact AUC,
shards merge exactly, memory does not grow with the dataset."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from circuitscope.concepts.suggest import suggestion
from circuitscope.concepts.tally import ConceptTallies
from circuitscope.concepts.vocabulary import concept_vocabulary, orientation_bin
from circuitscope.datasets.concepts import CLASSES, ConceptDataset
from circuitscope.models.base import LoadedModel
from circuitscope.records.examples import LayerTallies, compute_dataset_examples
from support.paths import MODEL_SOURCES

sys.path.insert(0, str(MODEL_SOURCES))
from handset_units import HandSet  # noqa: E402


def exact_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC by comparing every positive with every negative (ties count one half)."""
    p, n = scores[positive], scores[~positive]
    wins = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(wins / (len(p) * len(n)))


class StraightContours:
    """The concept dataset's images whose orientation is an image-level property (edges, lines,
    stripes): elsewhere (curves, circles, polygons) any local 45-degree contour drives a Gabor too."""

    attribute_schema = "concepts"
    name, classes = "straight-contours", list(CLASSES)

    def __init__(self, n: int, seed: int = 0):
        self.base = ConceptDataset(seed=seed, size=n * 4)
        keep = {CLASSES.index(c) for c in ("edge", "line", "stripes")}
        self.indices = [i for i in range(len(self.base)) if self.base.label(i) in keep][:n]

    def __len__(self):
        return len(self.indices)

    def ref(self, i):
        return self.base.ref(self.indices[i])

    def load(self, i):
        return self.base.load(self.indices[i])

    def label(self, i):
        return self.base.label(self.indices[i])

    def attributes(self, i):
        return self.base.attributes(self.indices[i])

    def describe(self):
        return {"kind": "straight-contours", "n": len(self)}


@pytest.fixture(scope="module")
def handset_pass():
    model = LoadedModel("handset", HandSet(theta=45.0).eval(), input_size=64, mean=(0.0,) * 3, std=(1.0,) * 3)
    ds = StraightContours(480)
    vocab = concept_vocabulary(ds)
    tallies = compute_dataset_examples(model, ds, ["units"], k=3, batch_size=64, progress=False, concepts=vocab)
    # every image's spatial max, by brute force, for the exact AUC
    with torch.no_grad():
        imgs = torch.stack([torch.from_numpy(np.asarray(ds.load(i), dtype=np.float32) / 255).permute(2, 0, 1)
                            for i in range(len(ds))])
        vmax = model.module(imgs).amax(dim=(2, 3)).numpy()
    member = vocab.membership(list(range(len(ds)))).numpy()
    return tallies["units"].concepts, vocab, vmax, member


def test_handset_units_have_their_concept_as_best_with_auc_at_least_0_9(handset_pass):
    ct, _, _, _ = handset_pass
    red, gabor, centre = (ct.ranked(c) for c in range(3))
    assert red[0]["concept"] == "colour=red" and red[0]["auc"] >= 0.9, red[:3]
    assert red[0]["diff"] > 0
    assert gabor[0]["concept"] == "orientation=45" and gabor[0]["auc"] >= 0.9, gabor[:3]
    # its neighbours in orientation score clearly lower: the AUC is orientation tuning, not contrast
    others = {r["concept"]: r["auc"] for r in gabor}
    assert others["orientation=135"] < 0.6 and others["orientation=0"] < 0.75
    # the centre-surround unit is selective for neither a colour nor an orientation, so no label is suggested
    assert not any(r["auc"] >= 0.9 for r in centre), centre[:3]
    assert suggestion(red)["label"] == "red"
    assert suggestion(gabor)["label"].startswith("orientation ≈ 45")
    assert suggestion(centre) is None


def test_histogram_auc_equals_the_exact_auc(handset_pass):
    ct, vocab, vmax, member = handset_pass
    s = ct.scores()
    checked = 0
    for k, name in enumerate(vocab.names):
        pos = member[:, k]
        if pos.all() or not pos.any():
            assert math.isnan(float(s["auc"][k, 0]))
            continue
        for c in range(3):
            exact = exact_auc(vmax[:, c].astype(np.float64), pos)
            got = float(s["auc"][k, c])
            assert abs(got - exact) <= 0.01, (name, c, got, exact)
            assert abs(got - exact) <= float(s["auc_err"][k, c]) + 1e-6  # the reported bound holds
            diff = vmax[pos, c].mean() - vmax[~pos, c].mean()
            assert abs(float(s["diff"][k, c]) - diff) < 1e-4
            checked += 1
    assert checked > 50


def test_shards_merge_to_the_single_pass_and_growing_ranges_lose_nothing():
    torch.manual_seed(1)
    K, C = 4, 6
    names = [f"tag=t{k}" for k in range(K)]
    whole, a, b = (ConceptTallies(names, C, bins=64) for _ in range(3))
    values, members = [], []
    for step in range(30):
        m = torch.rand(40, K) < 0.25
        # ReLU-like: many exact zeros; the range grows 30x over the pass, forcing re-binning
        v = torch.relu(torch.randn(40, C) * (1 + step) + 3 * m[:, :1].float() * (1 + step))
        whole.update(v, m)
        (a if step % 2 else b).update(v, m)
        values.append(v)
        members.append(m)
    a.merge(b)
    V, M = torch.cat(values).double().numpy(), torch.cat(members).numpy()
    sw, sa = whole.scores(), a.scores()
    assert int(whole.hist_all.sum()) == len(V) * C  # nothing dropped or clamped
    for k in range(K):
        for c in range(C):
            exact = exact_auc(V[:, c], M[:, k])
            assert abs(float(sw["auc"][k, c]) - exact) <= max(0.01, float(sw["auc_err"][k, c]) + 1e-9)
            assert abs(float(sa["auc"][k, c]) - exact) <= max(0.01, float(sa["auc_err"][k, c]) + 1e-9)
    assert torch.allclose(sw["diff"], sa["diff"], atol=1e-9)


def test_layer_tallies_with_concepts_survive_a_checkpoint_round_trip():
    t = LayerTallies.create("x", 3, (4, 4), k=2, concepts=["class=a", "class=b"])
    x = torch.randn(8, 3, 4, 4)
    m = torch.zeros(8, 2, dtype=torch.bool)
    m[:4, 0] = True
    m[4:, 1] = True
    t.update(x, torch.arange(8), membership=m)
    again = LayerTallies.from_state_dict(t.state_dict())
    assert torch.equal(again.concepts.hist_with, t.concepts.hist_with)
    with pytest.raises(ValueError, match="membership"):
        t.update(x, torch.arange(8, 16))


def test_orientation_bins_are_centred_on_multiples_of_22_5():
    assert orientation_bin(0) == "0" and orientation_bin(179) == "0" and orientation_bin(11.2) == "0"
    assert orientation_bin(11.3) == "22.5" and orientation_bin(44) == "45" and orientation_bin(157.4) == "157.5"


MEM_CHILD = r"""
import json, resource, sys
import numpy as np, torch
from PIL import Image
from torch import nn
from circuitscope.concepts.vocabulary import concept_vocabulary
from circuitscope.models.base import LoadedModel
from circuitscope.records.examples import compute_dataset_examples

class Classes:
    name, classes = "classes", [f"c{i}" for i in range(10)]
    def __init__(self, n): self.n = n
    def __len__(self): return self.n
    def ref(self, i): return f"c{i % 10}/{i:06d}.png"
    def load(self, i):
        return Image.fromarray(np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    def label(self, i): return i % 10
    def attributes(self, i): return {}
    def describe(self): return {"kind": "classes", "n": self.n}

torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())
model = LoadedModel("m", net.eval(), input_size=16, mean=(0.5,) * 3, std=(0.5,) * 3)
ds = Classes(int(sys.argv[1]))
warm = compute_dataset_examples(model, Classes(64), ["1", "3"], k=5, batch_size=32, progress=False,
                                concepts=concept_vocabulary(Classes(64)))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = compute_dataset_examples(model, ds, ["1", "3"], k=5, batch_size=32, progress=False,
                             concepts=concept_vocabulary(ds))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"state": sum(x.concepts.memory_bytes() for x in t.values()), "base_kb": base, "peak_kb": peak,
                  "images": t["1"].concepts.n_all}))
"""


def test_concept_tally_memory_is_flat_when_the_dataset_grows_10x(tmp_path):
    script = tmp_path / "mem_child.py"
    script.write_text(MEM_CHILD)
    runs = []
    for n in (300, 3000):
        out = subprocess.run([sys.executable, str(script), str(n)], capture_output=True, text=True, check=True,
                             env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    small, big = runs
    assert (small["images"], big["images"]) == (300, 3000)
    assert small["state"] == big["state"]  # the tallies' tensors do not depend on the number of images
    # peak RSS of the whole process (model, loader, tallies) grows by less than 10 % for 10x the images
    assert big["peak_kb"] <= 1.10 * small["peak_kb"], runs


def test_a_sharded_pass_with_concepts_merges_through_its_state_like_one_pass():
    """What the Ray engine does: shards of the pass, their tallies packed to plain state, unpacked
    and merged in index order; the concept counts and sums equal one pass, AUC within its bound."""
    from torch import nn

    from circuitscope.compute.engine_ray import merge_tallies, pack_tallies, unpack_tallies

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, stride=2), nn.ReLU())
    model = LoadedModel("tiny", net.eval(), input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    ds = ConceptDataset(seed=2, size=120, resolution=32)
    vocab = concept_vocabulary(ds)
    whole = compute_dataset_examples(model, ds, ["1", "3"], k=3, batch_size=16, progress=False, concepts=vocab)
    merged: dict = {}
    for i in range(3):
        shard = compute_dataset_examples(model, ds, ["1", "3"], k=3, batch_size=16, progress=False,
                                         concepts=vocab, shard=(i, 3))
        merge_tallies(merged, unpack_tallies(pack_tallies(shard)))
    for name in ("1", "3"):
        a, b = whole[name].concepts, merged[name].concepts
        assert a.n_all == b.n_all == 120 and torch.equal(a.n_with, b.n_with)
        assert int(a.hist_all.sum()) == int(b.hist_all.sum()) == 120 * a.channels
        assert torch.equal(a.hist_with.sum(-1), b.hist_with.sum(-1))
        assert torch.allclose(a.sum_with, b.sum_with, rtol=1e-9, atol=1e-9)
        sa, sb = a.scores(), b.scores()
        ok = ~torch.isnan(sa["auc"])
        gap = (sa["auc"] - sb["auc"]).abs()[ok]
        assert (gap <= (sa["auc_err"] + sb["auc_err"])[ok] + 1e-9).all()
