"""Model sources (load_model) and layer discovery (list_layers / resolve_layers)."""
from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from circuitscope.models import (
    MODEL_KINDS,
    LoadedModel,
    ModelLoadError,
    UnknownLayerError,
    get_layer,
    is_scripted,
    layer_names,
    list_layers,
    load_model,
    require_hooks,
    resolve_layers,
)
from circuitscope.models.sources import LUCENT_MEAN, LUCENT_STD
from circuitscope.models.sources.torchvision import _tv_meta

pytestmark = pytest.mark.usefixtures("offline_hub")


@pytest.fixture(scope="module")
def googlenet():
    return load_model({"kind": "torchvision", "name": "googlenet", "weights": None}, Path("."))


@pytest.fixture(scope="module")
def resnet18():
    return load_model({"kind": "torchvision", "name": "resnet18"}, Path("."))


@pytest.fixture(scope="module")
def lucent_model():
    return load_model({"kind": "lucent", "pretrained": False}, Path("."))


# ----------------------------------------------------------------------------- sources

def test_kinds_registry_and_unknown_kind(tmp_path):
    assert {"demo", "torchvision", "lucent", "checkpoint", "torchscript", "factory"} <= set(MODEL_KINDS)
    with pytest.raises(ModelLoadError, match="Unknown model kind 'torchvison'.*torchvision"):
        load_model({"kind": "torchvison", "name": "resnet18"}, tmp_path)
    with pytest.raises(ModelLoadError, match="kind"):
        load_model({"name": "resnet18"}, tmp_path)


def test_torchvision_random_weights(resnet18):
    assert isinstance(resnet18, LoadedModel)
    assert not resnet18.module.training
    assert resnet18.input_size == 224 and resnet18.mean == (0.485, 0.456, 0.406)
    assert resnet18.source == {"kind": "torchvision", "name": "resnet18"}
    assert resnet18.name == "resnet18"


def test_torchvision_unknown_name_lists_close_matches(tmp_path):
    with pytest.raises(ModelLoadError, match="no model 'resnet181'.*resnet18"):
        load_model({"kind": "torchvision", "name": "resnet181"}, tmp_path)


def test_torchvision_unknown_weights(tmp_path):
    with pytest.raises(ModelLoadError, match="Unknown weights 'IMAGENET9K'.*IMAGENET1K_V1"):
        load_model({"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET9K"}, tmp_path)


def test_torchvision_offline_download_says_where_to_put_the_file(tmp_path):
    with pytest.raises(ModelLoadError) as ei:
        load_model({"kind": "torchvision", "name": "googlenet", "weights": "IMAGENET1K_V1"}, tmp_path)
    msg = str(ei.value)
    expected = Path(torch.hub.get_dir()) / "checkpoints" / "googlenet-1378be20.pth"
    assert str(expected) in msg and "weights_file" in msg and "network is unreachable" in msg


def test_torchvision_meta_from_weights_enum():
    from torchvision.models import get_model_weights
    meta = _tv_meta(get_model_weights("inception_v3").IMAGENET1K_V1)
    assert meta["input_size"] == 299 and len(meta["class_names"]) == 1000
    meta = _tv_meta(get_model_weights("resnet18").IMAGENET1K_V1)
    assert meta["input_size"] == 224 and meta["class_names"][0] == "tench"


def test_torchvision_weights_file_googlenet_with_aux_heads(tmp_path):
    from torchvision.models import googlenet
    torch.manual_seed(0)
    ref = googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    path = tmp_path / "googlenet-1378be20.pth"
    torch.save(ref.state_dict(), path)  # what torchvision's checkpoint holds: aux1/aux2 keys included
    lm = load_model({"kind": "torchvision", "name": "googlenet", "weights": "IMAGENET1K_V1",
                     "weights_file": str(path)}, tmp_path)
    m = lm.module
    assert m.aux1 is None and m.aux2 is None and m.transform_input is True
    assert torch.equal(m.inception4a.branch2[1].conv.weight, ref.inception4a.branch2[1].conv.weight)
    assert lm.class_names is not None and len(lm.class_names) == 1000
    with torch.no_grad():
        assert lm.module(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_lucent_random_and_input_convention(lucent_model):
    assert lucent_model.input_size == 224
    assert lucent_model.mean == LUCENT_MEAN and lucent_model.std == LUCENT_STD
    x = torch.rand(1, 3, 4, 4)
    # lucent's preprocess_inceptionv1: x * 255 - 117
    assert torch.allclose(lucent_model.normalize(x), x * 255 - 117, atol=1e-4)


def test_lucent_pretrained_offline_message(tmp_path):
    with pytest.raises(ModelLoadError) as ei:
        load_model({"kind": "lucent"}, tmp_path)
    msg = str(ei.value)
    assert str(Path(torch.hub.get_dir()) / "checkpoints" / "inception5h.pth") in msg
    assert "weights_file" in msg and "pretrained" in msg


def test_lucent_weights_file(tmp_path, lucent_model):
    path = tmp_path / "inception5h.pth"
    torch.save(lucent_model.module.state_dict(), path)
    lm = load_model({"kind": "lucent", "weights_file": "inception5h.pth"}, tmp_path)  # relative to data_dir
    assert torch.equal(lm.module.mixed4a_1x1_pre_relu_conv.weight, lucent_model.module.mixed4a_1x1_pre_relu_conv.weight)


def _tiny():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_checkpoint_state_dict_with_arch_infers_num_classes(tmp_path):
    from torchvision.models import resnet18
    ref = resnet18(weights=None, num_classes=10)
    sd = {"module." + k: v for k, v in ref.state_dict().items()}  # DataParallel-style prefix
    torch.save({"epoch": 3, "state_dict": sd}, tmp_path / "ck.pt")
    lm = load_model({"kind": "checkpoint", "path": str(tmp_path / "ck.pt"), "arch": "resnet18",
                     "class_names": [str(i) for i in range(10)], "input_size": 96}, tmp_path)
    assert lm.module.fc.out_features == 10 and torch.equal(lm.module.fc.weight, ref.fc.weight)
    assert lm.input_size == 96 and lm.class_names[3] == "3" and lm.name == "ck"


def test_checkpoint_full_module_and_errors(tmp_path):
    torch.manual_seed(0)
    m = _tiny()
    torch.save(m, tmp_path / "full.pt")
    with pytest.warns(UserWarning, match="weights_only=False"):
        lm = load_model({"kind": "checkpoint", "path": str(tmp_path / "full.pt")}, tmp_path)
    assert torch.equal(lm.module[0].weight, m[0].weight)
    with pytest.raises(ModelLoadError, match="Sequential.*allow_pickle"):
        load_model({"kind": "checkpoint", "path": str(tmp_path / "full.pt"), "allow_pickle": False}, tmp_path)

    with pytest.raises(ModelLoadError, match="nope.pt.*not found"):
        load_model({"kind": "checkpoint", "path": "nope.pt"}, tmp_path)
    (tmp_path / "junk.pt").write_text("hello, not a checkpoint")
    with pytest.raises(ModelLoadError, match="junk.pt' is not a PyTorch checkpoint"):
        load_model({"kind": "checkpoint", "path": str(tmp_path / "junk.pt")}, tmp_path)
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(ModelLoadError, match="no 'arch'"):
        load_model({"kind": "checkpoint", "path": str(tmp_path / "sd.pt")}, tmp_path)
    with pytest.raises(ModelLoadError, match="Missing keys: .*Unexpected keys: 0.weight"):
        load_model({"kind": "checkpoint", "path": str(tmp_path / "sd.pt"), "arch": "resnet18"}, tmp_path)


def test_checkpoint_with_factory_arch(tmp_path):
    (tmp_path / "arch.py").write_text(
        "from torch import nn\n"
        "def build(width=4):\n"
        "    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(width, 2))\n")
    torch.manual_seed(1)
    ref = _tiny()
    torch.save(ref.state_dict(), tmp_path / "sd.pt")
    lm = load_model({"kind": "checkpoint", "path": "sd.pt", "arch": "arch.py:build", "kwargs": {"width": 4}}, tmp_path)
    assert torch.equal(lm.module[4].weight, ref[4].weight)


def test_torchscript_loads_and_layers_are_static(tmp_path):
    with warnings.catch_warnings():  # torch.jit is deprecated (FutureWarning) but still loads
        warnings.simplefilter("ignore")
        ts = torch.jit.script(_tiny())
        torch.jit.save(ts, str(tmp_path / "m.ts"))
    lm = load_model({"kind": "torchscript", "path": str(tmp_path / "m.ts"), "input_size": 16}, tmp_path)
    assert not is_scripted(lm)  # loading makes it hookable (models.torchscript; tests/unit/models/test_models_torchscript.py)
    with torch.no_grad():
        assert lm.module(torch.zeros(1, 3, 16, 16)).shape == (1, 2)
    assert [i.name for i in list_layers(lm)] == ["0", "1", "2", "4"]  # as for the eager module
    lm = LoadedModel("m", ts, input_size=16)  # a raw ScriptModule: no hooks, static layers only
    assert is_scripted(lm)
    with pytest.raises(ModelLoadError, match="TorchScript.*hooks.*original nn.Module"):
        list_layers(lm)
    layers = list_layers(lm, static=True)
    assert [i.name for i in layers] == ["0", "1", "2", "3", "4"]
    assert layers[0].module_type == "Conv2d" and layers[0].output_shape is None and layers[0].has_weights
    assert resolve_layers(lm, ["0", "[34]"]) == ["0", "3", "4"]
    with pytest.raises(ModelLoadError, match="TorchScript.*hooks"):
        require_hooks(lm)
    torch.save(_tiny().state_dict(), tmp_path / "sd.pt")
    with pytest.raises(ModelLoadError, match="sd.pt.*torch.jit.load"):
        load_model({"kind": "torchscript", "path": str(tmp_path / "sd.pt")}, tmp_path)


def test_factory_file_and_module_targets(tmp_path):
    (tmp_path / "helper.py").write_text("WIDTH = 6\n")
    (tmp_path / "net.py").write_text(
        "from torch import nn\nfrom helper import WIDTH\n"
        "def build(classes=3):\n    return nn.Sequential(nn.Conv2d(3, WIDTH, 3), nn.Flatten(), nn.LazyLinear(classes))\n"
        "def not_a_model():\n    return 42\n"
        "def broken():\n    raise RuntimeError('bad weights here')\n")
    (tmp_path / "names.txt").write_text("a\nb\n\nc\n")
    lm = load_model({"kind": "factory", "target": "net.py:build", "kwargs": {"classes": 5},
                     "class_names": "names.txt", "mean": 0.5, "std": [0.25, 0.25, 0.25], "name": "mine"}, tmp_path)
    assert lm.name == "mine" and lm.class_names == ["a", "b", "c"]
    assert lm.mean == (0.5, 0.5, 0.5) and lm.std == (0.25, 0.25, 0.25)
    assert lm.module[0].out_channels == 6
    assert lm.source["target"] == "net.py:build"

    lm2 = load_model({"kind": "factory", "target": "torchvision.models:resnet18", "kwargs": {"num_classes": 7}}, tmp_path)
    assert lm2.module.fc.out_features == 7 and lm2.name == "resnet18"

    with pytest.raises(ModelLoadError, match="returned int.*nn.Module"):
        load_model({"kind": "factory", "target": "net.py:not_a_model"}, tmp_path)
    with pytest.raises(ModelLoadError, match="net.py:broken.*RuntimeError: bad weights here"):
        load_model({"kind": "factory", "target": "net.py:broken"}, tmp_path)
    with pytest.raises(ModelLoadError, match="no callable 'buld'.*build"):
        load_model({"kind": "factory", "target": "net.py:buld"}, tmp_path)
    (tmp_path / "syntax.py").write_text("def build(:\n")
    with pytest.raises(ModelLoadError, match="syntax.py.*SyntaxError"):
        load_model({"kind": "factory", "target": "syntax.py:build"}, tmp_path)
    with pytest.raises(ModelLoadError, match="no_such_pkg"):
        load_model({"kind": "factory", "target": "no_such_pkg.mod:build"}, tmp_path)


def test_demo_kind_calls_load_or_train_demo(tmp_path, monkeypatch):
    calls = []

    def fake(data_dir, seed=0):
        calls.append((Path(data_dir), seed))
        return LoadedModel("demo", _tiny(), input_size=64)
    fake_mod = types.ModuleType("circuitscope.models.demo")
    fake_mod.load_or_train_demo = fake
    monkeypatch.setitem(sys.modules, "circuitscope.models.demo", fake_mod)
    import circuitscope.models as pkg
    monkeypatch.setattr(pkg, "demo", fake_mod, raising=False)
    lm = load_model({"kind": "demo", "seed": 3}, tmp_path)
    assert calls == [(tmp_path, 3)] and lm.source == {"kind": "demo", "seed": 3} and lm.input_size == 64
    assert not lm.module.training


# ----------------------------------------------------------------------------- layers

def test_list_layers_googlenet(googlenet):
    layers = list_layers(googlenet)
    by = {i.name: i for i in layers}
    assert by["inception4a.branch2.1"].channels == 208
    assert by["inception4a.branch2.1"].output_shape == (208, 14, 14)
    assert by["inception3b"].channels == 480 and by["inception4a"].channels == 512
    assert by["inception3a.branch1.conv"].has_weights and not by["inception3a"].has_weights
    assert by["fc"].output_shape == (1000,)
    # BN whose output the BasicConv2d hands on (in-place ReLU) is named by its parent; containers are not listed
    assert "inception3a.branch1.bn" not in by and "inception3a.branch2" not in by
    orders = [i.order for i in layers]
    assert orders == sorted(orders)
    assert by["inception3a"].order < by["inception3b"].order
    assert list_layers(googlenet) == layers  # stable
    everything = {i.name for i in list_layers(googlenet, include_all=True)}
    assert "inception3a.branch1.bn" in everything and "inception3a.branch2" in everything


def test_list_layers_resnet18_and_vgg11(resnet18):
    by = {i.name: i for i in list_layers(resnet18)}
    assert by["layer1.0.conv2"].channels == 64 and by["layer4.1"].output_shape == (512, 7, 7)
    assert "layer1.0.relu" not in by  # runs twice inside the block
    assert get_layer(resnet18, "layer1.0.relu").calls == 2
    assert "layer1" not in by and "layer1.0" in by
    assert by["bn1"].inplace_modified  # nn.ReLU(inplace=True) rewrites it
    vgg = load_model({"kind": "torchvision", "name": "vgg11"}, Path("."))
    vby = {i.name: i for i in list_layers(vgg, input_size=64)}
    assert vby["features.3"].module_type == "Conv2d" and vby["features.3"].channels == 128
    assert vby["classifier.6"].channels == 1000 and "features" not in vby


def test_list_layers_lucent(lucent_model):
    by = {i.name: i for i in list_layers(lucent_model)}
    assert by["mixed4a"].channels == 508 and by["mixed3b"].channels == 480
    assert by["mixed4c"].output_shape == (512, 14, 14)
    assert by["conv2d2"].module_type == "RedirectedReluLayer"
    assert by["softmax2"].output_shape == (1008,)


def test_resolve_layers_exact_and_glob(googlenet, resnet18):
    assert resolve_layers(googlenet, ["inception4a.branch2.1"]) == ["inception4a.branch2.1"]
    hits = resolve_layers(googlenet, ["inception4*.branch*"])
    assert "inception4a.branch2.1" in hits and "inception4e.branch4.1" in hits
    assert all(h.startswith("inception4") and ".branch" in h for h in hits)
    convs = resolve_layers(googlenet, ["conv*"])
    assert convs[:2] == ["conv1.conv", "conv1"] and "conv3" in convs
    # order as given, duplicates removed; exact names may be any module
    assert resolve_layers(resnet18, ["layer1.0.relu", "layer1.*.conv2", "layer1.0.conv2"]) == \
        ["layer1.0.relu", "layer1.0.conv2", "layer1.1.conv2"]


def test_resolve_layers_unknown_fails_before_forward(resnet18, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("forward must not run")
    fresh = LoadedModel("r", resnet18.module)
    monkeypatch.setattr(fresh.module, "forward", boom)
    with pytest.raises(UnknownLayerError) as ei:
        resolve_layers(fresh, ["layer1.0.conv2", "layer1.0.conv3"])
    assert ei.value.suggestion in ("layer1.0.conv2", "layer1.0.conv1") and "Did you mean" in str(ei.value)
    monkeypatch.undo()
    with pytest.raises(UnknownLayerError) as ei:
        resolve_layers(resnet18, ["layr9*"])
    assert ei.value.valid[0] == "conv1" and ei.value.suggestion is not None
    assert layer_names(resnet18)[0] == "conv1"


def test_weights_placed_in_hub_cache_load_offline(lucent_model):
    """The offline messages' advice works: a file copied into torch.hub.get_dir()/checkpoints is used."""
    from torchvision.models import get_model_weights, resnet18
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(lucent_model.module.state_dict(), ckpt / "inception5h.pth")
    lm = load_model({"kind": "lucent"}, Path("."))
    assert torch.equal(lm.module.mixed3a_1x1_pre_relu_conv.weight, lucent_model.module.mixed3a_1x1_pre_relu_conv.weight)
    w = get_model_weights("resnet18").IMAGENET1K_V1
    ref = resnet18(weights=None)
    torch.save(ref.state_dict(), ckpt / Path(w.url).name)
    lm = load_model({"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1"}, Path("."))
    assert torch.equal(lm.module.conv1.weight, ref.conv1.weight) and lm.class_names[0] == "tench"
