"""The circuit-test engine on a network with a hand-planted circuit (tests/model_sources/circuit_test_models.py):
the planted set is necessary and sufficient, an unwired set is not; a unit with no outgoing weight
changes nothing; batched ablations equal the naive loop bit for bit; a seed reproduces everything;
edge attributions are exact for a linear step."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from support.paths import MODEL_SOURCES

sys.path.insert(0, str(MODEL_SOURCES))
from circuit_test_models import PLANTED, UNWIRED, NoiseImages, PlantedNet  # noqa: E402

from circuitscope.activations import Trace  # noqa: E402
from circuitscope.circuit_tests.ablation import (  # noqa: E402
    AblationSetup,
    clean_pass,
    evaluate,
    evaluate_naive,
    prefix_sharing_valid,
)
from circuitscope.circuit_tests.engine import TestInputs, run_test  # noqa: E402
from circuitscope.circuit_tests.images import load_images, select_images  # noqa: E402
from circuitscope.circuit_tests.statistics import build_configs, draw_random_sets, max_random_sets  # noqa: E402
from circuitscope.circuit_tests.target_slice import find_target_shortcut, sliced_module  # noqa: E402

NORM = staticmethod(lambda x: (x - 0.5) / 0.5)


def norm(x):
    return (x - 0.5) / 0.5


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return PlantedNet().eval()


@pytest.fixture(scope="module")
def data():
    return NoiseImages(160)


def inputs(net, data, members, kinds=("zero",), **kw):
    edges = [(f"conv1:{u}", "conv2:0", float(net.conv2.conv.weight[0, u].sum())) for u in members]
    base = dict(random_sets=40, images=60, context_images=20, seed=0)
    base.update(kw)
    return TestInputs(net, norm, data, 16, "conv2", [0], {"conv1": list(members)}, {"conv1": 64},
                      {"conv1": 0, "pool": 1, "conv2": 2}, edges=edges, kinds=list(kinds), **base)


def test_planted_circuit_is_necessary_and_sufficient_and_unwired_set_is_not(net, data):
    planted = run_test(inputs(net, data, PLANTED))["results"]["zero"]
    assert planted["necessity"]["z"] >= 3 and planted["necessity"]["p"] == 0
    assert planted["sufficiency"]["preserved"] >= 0.8
    unwired = run_test(inputs(net, data, UNWIRED[:2]))["results"]["zero"]
    assert unwired["necessity"]["drop"] == 0
    assert abs(unwired["necessity"]["z"]) < 2
    assert unwired["necessity"]["p"] > 0.05


def test_member_without_outgoing_weight_changes_nothing(net, data):
    doc = run_test(inputs(net, data, PLANTED + [UNWIRED[3]], kinds=("zero", "mean", "resample"), random_sets=10))
    for kind, res in doc["results"].items():
        m = {r["unit"]: r for r in res["members"]}
        dead = m[f"conv1:{UNWIRED[3]}"]
        assert dead["drop"] == 0 and dead["sufficiency_loss"] == 0, kind
        assert m[f"conv1:{PLANTED[0]}"]["drop"] > 0, kind
    edge = next(e for e in doc["edges"] if e["source"] == f"conv1:{UNWIRED[3]}")
    assert edge["attribution"] == 0


@pytest.mark.parametrize("share_prefix,slice_target", [(True, True), (True, False), (False, False)])
def test_batched_equals_naive_exactly(net, data, share_prefix, slice_target):
    sel = select_images(net, norm, data, 16, "conv2", [0], ["conv1"], {}, 24, 0, seed=1)
    x = load_images(data, 16, norm, sel.test)
    setup = AblationSetup(net, "conv2", [0], ["conv1"], {"conv1": 64}, sel.means)
    assert prefix_sharing_valid(setup, x)
    if slice_target:
        setup.shortcut = find_target_shortcut(net, "conv2", [0], ["conv1"], x, setup.device)
        assert setup.shortcut is not None and setup.shortcut[0] == "pool"
    donors = clean_pass(setup, load_images(data, 16, norm, sel.donors))[0]
    sets = draw_random_sets({"conv1": PLANTED}, {"conv1": 64}, 12, seed=3)
    configs = build_configs({"conv1": PLANTED}, {"conv1": 64}, sets)
    for kind in ("zero", "mean", "resample"):
        d = donors if kind == "resample" else None
        got = evaluate(setup, kind, configs, x, d, max_batch=100, image_batch=10, share_prefix=share_prefix)
        ref = evaluate_naive(setup, kind, configs, x, d)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1]), kind
        assert not torch.equal(got[0][0], got[0][1])  # the configs really differ


def test_same_seed_same_numbers_other_seed_other_sets(net, data):
    a = run_test(inputs(net, data, PLANTED, kinds=("zero", "resample"), random_sets=15, seed=7))
    b = run_test(inputs(net, data, PLANTED, kinds=("zero", "resample"), random_sets=15, seed=7))
    c = run_test(inputs(net, data, PLANTED, kinds=("zero", "resample"), random_sets=15, seed=8))
    assert a == b
    assert a["random_set_units"] != c["random_set_units"]


def test_random_sets_are_distinct_same_size_per_layer_and_bounded():
    members = {"a": [0, 1], "b": [3]}
    channels = {"a": 6, "b": 4}
    assert max_random_sets(members, channels) == 6 * 3  # C(4,2) * C(3,1)
    sets = draw_random_sets(members, channels, 18, seed=0)
    assert len({tuple(map(tuple, (s["a"], s["b"]))) for s in sets}) == 18
    for s in sets:
        assert len(s["a"]) == 2 and len(s["b"]) == 1 and not set(s["a"]) & {0, 1} and 3 not in s["b"]


class Residual(nn.Module):
    """A skip from before the member layer rejoins after it: the prefix cannot be shared."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        return self.head(torch.relu(self.body(s)) + s)


def test_prefix_sharing_refused_where_a_branch_rejoins_and_results_stay_exact(data):
    net = Residual().eval()
    x = load_images(data, 16, norm, list(range(12)))
    setup = AblationSetup(net, "head", [1], ["body"], {"body": 8}, {"body": torch.zeros(8, 16, 16)})
    assert not prefix_sharing_valid(setup, x)
    assert find_target_shortcut(net, "head", [1], ["body"], x, setup.device) is None  # its input is no module's output
    configs = build_configs({"body": [2]}, {"body": 8}, draw_random_sets({"body": [2]}, {"body": 8}, 5, 0))
    got = evaluate(setup, "zero", configs, x, share_prefix=False, max_batch=30)
    assert torch.equal(got[0], evaluate_naive(setup, "zero", configs, x)[0])


def test_edge_attribution_is_weight_times_activation_for_a_linear_step(net, data):
    doc = run_test(inputs(net, data, PLANTED, random_sets=5, images=20))
    sel = select_images(net, norm, data, 16, "conv2", [0], ["conv1"], {"conv2:0": ("conv2", 0)}, 20, 0, seed=0)
    x = load_images(data, 16, norm, sel.node_top["conv2:0"])
    with torch.no_grad(), Trace(net, ["pool", "conv2"], stop=True) as tr:
        tr.forward(x)
    a, out = tr.output["pool"], tr.output["conv2"][:, 0]
    w = net.conv2.conv.weight[0]
    expected = {u: 0.0 for u in PLANTED}
    for i in range(len(x)):  # contribution of unit u to the target at its spatial max: kernel . window
        pos = int(out[i].flatten().argmax())
        yy, xx = divmod(pos, out.shape[-1])
        padded = torch.nn.functional.pad(a[i], (1, 1, 1, 1))
        for u in PLANTED:
            expected[u] += float((padded[u, yy:yy + 3, xx:xx + 3] * w[u]).sum())
    got = {int(e["source"].split(":")[1]): e["attribution"] for e in doc["edges"]}
    for u in PLANTED:
        assert got[u] == pytest.approx(expected[u] / len(x), rel=1e-4)


def test_target_slice_only_for_known_blocks():
    block = nn.Sequential(nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), nn.ReLU()).eval()
    with torch.no_grad():
        block[1].running_mean.uniform_(-1, 1)
        block[1].running_var.uniform_(0.5, 2)
    x = torch.randn(3, 4, 8, 8)
    sliced = sliced_module(block, [1, 4])
    assert torch.allclose(sliced(x), block(x)[:, [1, 4]], atol=1e-6)
    mixing = nn.Sequential(nn.Conv2d(4, 6, 3), nn.Conv2d(6, 6, 1))  # the second map mixes channels
    assert sliced_module(mixing, [0]) is None
    assert sliced_module(nn.MaxPool2d(2), [0]) is None
