"""The built-in demo model: architecture, deterministic training, checkpoint caching and recovery.

Everything here trains on a tiny budget (a few optimizer steps); the full training that must reach
90 % held-out accuracy is marked slow.
"""
from __future__ import annotations

import logging
import os

import pytest
import torch

from circuitscope.datasets import CONCEPT_CLASSES
from circuitscope.models import demo
from circuitscope.models.base import LoadedModel
from circuitscope.models.demo import (
    ConceptNet,
    DemoTrainConfig,
    demo_checkpoint_info,
    demo_checkpoint_path,
    load_or_train_demo,
    train_demo_model,
)

TINY = DemoTrainConfig(train_images=96, epochs=1, heldout_images=33, batch_size=32)


def test_conceptnet_layers_and_batchnorm_folding():
    net = ConceptNet(batchnorm=True)
    names = [n for n, _ in net.named_modules()]
    for i in range(1, 6):
        assert f"conv{i}" in names and f"conv{i}.conv" in names and f"conv{i}.relu" in names
    assert "fc" in names and names.index("conv1") < names.index("conv5")
    torch.manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    net.eval()
    plain = net.folded()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(net(x), plain(x), atol=1e-4)
    # block output = post-ReLU activation of its conv
    acts = {}
    plain.conv2.register_forward_hook(lambda m, i, o: acts.__setitem__("block", o))
    plain.conv2.conv.register_forward_hook(lambda m, i, o: acts.__setitem__("pre", o.clone()))
    plain(x)
    assert torch.equal(acts["block"], acts["pre"].clamp(min=0))
    channels = [getattr(plain, f"conv{i}").conv.out_channels for i in range(1, 6)]
    assert channels == [16, 32, 64, 96, 128]


def test_training_is_deterministic_and_checkpoint_complete(tmp_path):
    p1 = train_demo_model(tmp_path / "a", seed=0, progress=False, config=TINY)
    p2 = train_demo_model(tmp_path / "b", seed=0, progress=False, config=TINY)
    p3 = train_demo_model(tmp_path / "c", seed=1, progress=False, config=TINY)
    assert p1 == demo_checkpoint_path(tmp_path / "a", 0) == tmp_path / "a" / "demo" / "conceptnet-seed0.pt"
    assert p3.name == "conceptnet-seed1.pt"
    c1, c2, c3 = (torch.load(p, weights_only=True) for p in (p1, p2, p3))
    assert c1["state_dict"].keys() == c2["state_dict"].keys()
    assert all(torch.equal(c1["state_dict"][k], c2["state_dict"][k]) for k in c1["state_dict"])
    assert not all(torch.equal(c1["state_dict"][k], c3["state_dict"][k]) for k in c1["state_dict"])
    for key in ("arch", "class_names", "accuracy", "dataset", "config", "train_range", "heldout_range"):
        assert key in c1
    assert c1["class_names"] == CONCEPT_CLASSES
    assert c1["dataset"] == {"kind": "concepts", "seed": 0, "size": 20000, "resolution": 64}
    tr, ho = c1["train_range"], c1["heldout_range"]
    assert tr[1] <= ho[0]  # held-out images are a disjoint index range
    assert 0.0 <= c1["accuracy"] <= 1.0
    assert sorted(x.name for x in p1.parent.iterdir() if not x.name.endswith(".lock")) == ["conceptnet-seed0.pt"]
    # training leaves the caller's torch settings alone
    assert not torch.are_deterministic_algorithms_enabled()


def test_load_or_train_reuses_the_checkpoint(tmp_path, monkeypatch):
    lm = load_or_train_demo(tmp_path, seed=0, progress=False, config=TINY)
    assert isinstance(lm, LoadedModel)
    assert lm.input_size == 64 and lm.mean == (0.5, 0.5, 0.5) and lm.std == (0.5, 0.5, 0.5)
    assert lm.class_names == CONCEPT_CLASSES and lm.source == {"kind": "demo", "seed": 0}
    assert not lm.module.training
    x = torch.rand(2, 3, 64, 64)
    out = lm.module(lm.normalize(x))
    assert out.shape == (2, len(CONCEPT_CLASSES))
    path = demo_checkpoint_path(tmp_path, 0)
    mtime = path.stat().st_mtime_ns

    def no_training(*a, **k):
        raise AssertionError("retrained although a valid checkpoint exists")

    monkeypatch.setattr(demo, "train_demo_model", no_training)
    again = load_or_train_demo(tmp_path, seed=0, progress=False, config=TINY)
    assert path.stat().st_mtime_ns == mtime
    assert torch.equal(again.module(again.normalize(x)), out)
    assert load_or_train_demo(tmp_path, seed=0, progress=False).name == lm.name  # no config: any checkpoint
    assert demo_checkpoint_info(tmp_path, 0)["config"]["train_images"] == TINY.train_images


@pytest.mark.parametrize("garbage", [b"", b"not a torch file at all", "truncate"])
def test_corrupt_checkpoint_is_reported_and_retrained(tmp_path, caplog, garbage):
    path = demo_checkpoint_path(tmp_path, 0)
    if garbage == "truncate":
        train_demo_model(tmp_path, seed=0, progress=False, config=TINY)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="circuitscope.models.demo"):
        lm = load_or_train_demo(tmp_path, seed=0, progress=False, config=TINY)
    assert any("unreadable" in r.getMessage() and "retraining" in r.getMessage() for r in caplog.records)
    assert lm.module(torch.zeros(1, 3, 64, 64)).shape == (1, len(CONCEPT_CLASSES))
    assert demo_checkpoint_info(tmp_path, 0) is not None  # the new checkpoint is valid


def test_wrong_architecture_checkpoint_is_retrained(tmp_path, caplog):
    path = train_demo_model(tmp_path, seed=0, progress=False, config=TINY)
    ckpt = torch.load(path, weights_only=True)
    ckpt["arch"]["channels"] = [8, 8, 8, 8, 8]
    torch.save(ckpt, path)
    with caplog.at_level(logging.WARNING, logger="circuitscope.models.demo"):
        load_or_train_demo(tmp_path, seed=0, progress=False, config=TINY)
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert torch.load(path, weights_only=True)["arch"]["channels"] == [16, 32, 64, 96, 128]


def test_train_config_rejects_overlapping_ranges(tmp_path):
    with pytest.raises(ValueError, match="overlap"):
        train_demo_model(tmp_path, progress=False, config=DemoTrainConfig(train_images=19000, heldout_images=2000))


def _slow_selected(config) -> bool:
    expr = config.option.markexpr or ""
    return bool(os.environ.get("CIRCUITSCOPE_RUN_SLOW")) or ("slow" in expr and "not slow" not in expr)


@pytest.mark.slow
def test_full_demo_training_reaches_90_percent(tmp_path, request):
    """~70 s of CPU (4+ min wall on a contended 2-core box): runs with `-m slow` or CIRCUITSCOPE_RUN_SLOW=1."""
    if not _slow_selected(request.config):
        pytest.skip("full demo training: run with -m slow or CIRCUITSCOPE_RUN_SLOW=1")
    lm = load_or_train_demo(tmp_path, seed=0, progress=False)
    info = demo_checkpoint_info(tmp_path, 0)
    assert info["accuracy"] >= 0.90, info["per_class_accuracy"]
    assert lm.class_names == CONCEPT_CLASSES
