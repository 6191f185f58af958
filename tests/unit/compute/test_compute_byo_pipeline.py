"""Bring your own model and images: the whole pipeline (examples, feature vis, weights) on torchvision
architectures with random weights loaded from files, a Python factory, TorchScript files, torchvision's
weights enum resolved offline from the hub cache, and an image folder with a corrupt, a grayscale and an
RGBA image. Kept small for CPU: input size 64, renders at the input size (render sizes below a layer's
receptive field are refused), 2 optimisation steps, few images.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from circuitscope.compute.config import RunConfigError, parse_run_config
from circuitscope.compute.pipeline import run_compute
from circuitscope.models.base import ModelLoadError
from circuitscope.models.sources import load_model
from circuitscope.store import BlobStore, Database
from circuitscope.store.tables.records import (
    Connection,
    DatasetExample,
    DatasetImage,
    FeatureVis,
    Layer,
    LayerStage,
    Model,
    Run,
    Unit,
)
from support.paths import TINY_MODELS

BYO = TINY_MODELS
READABLE = ["cats/cat0.png", "cats/cat1.png", "cats/cat2.jpg", "cats/gray.png",
            "dogs/dog0.png", "dogs/dog1.png", "dogs/dog2.jpg", "dogs/rgba.png"]
FV = {"steps": 2, "size": None, "objectives": ["channel", "neuron"], "batch_channels": 64}


pytestmark = pytest.mark.usefixtures("offline_hub")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Two class subfolders: RGB PNGs and JPEGs of different sizes, one grayscale (L) image, one RGBA
    image with partial transparency, and one file with an image extension that is not an image."""
    root = tmp_path_factory.mktemp("byo") / "images"
    rng = np.random.default_rng(0)
    for cls, colour in (("cats", (210, 80, 40)), ("dogs", (40, 90, 210))):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            w, h = 48 + 16 * i, 40 + 8 * i
            img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            ImageDraw.Draw(img).ellipse((4 + 3 * i, 4, w - 6, h - 4), fill=colour)
            img.save(root / cls / f"{cls[:-1]}{i}.{'jpg' if i == 2 else 'png'}")
    gray = Image.fromarray(rng.integers(0, 255, (56, 56), dtype=np.uint8), mode="L")
    gray.save(root / "cats" / "gray.png")
    Image.new("RGBA", (50, 50), (255, 0, 0, 100)).save(root / "dogs" / "rgba.png")
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF truncated, not a real jpeg")
    return root


def make_config(model: dict, layers: list[str], dataset: dict, slug: str, k: int = 2, **over):
    data = {"model": model, "model_slug": slug, "dataset": dataset, "layers": layers,
            "examples": {"k": k, "batch_size": 16}, "featurevis": dict(FV), "weights": {"top_n": 5}}
    data.update(over)
    return parse_run_config(data)


def layer_units(s, slug: str, layer: str) -> list[Unit]:
    return s.scalars(select(Unit).join(Layer).join(Model).where(Model.slug == slug, Layer.name == layer)
                     .order_by(Unit.index)).all()


def stored_kernels(s, slug: str, src: str, dst: str) -> dict[tuple[int, int], Connection]:
    """{(dst channel, src channel): Connection} of the stored connections between two layers."""
    src_ids = {u.id: u.index for u in layer_units(s, slug, src)}
    dst_ids = {u.id: u.index for u in layer_units(s, slug, dst)}
    rows = s.scalars(select(Connection).where(Connection.dst_unit_id.in_(dst_ids))).all()
    assert all(c.src_unit_id in src_ids for c in rows)
    return {(dst_ids[c.dst_unit_id], src_ids[c.src_unit_id]): c for c in rows}


def assert_every_stage_stored(db, settings, slug: str, layers: list[str], k: int, renders_per_unit: int,
                              images: int) -> dict[str, int]:
    """Every unit of every layer has stats, k top + k bottom examples (blobs on disk) and its renders;
    every layer's stages are marked done. Returns {layer: channels}."""
    blobs = BlobStore(settings.blob_dir)
    channels = {}
    with db.session() as s:
        for name in layers:
            units = layer_units(s, slug, name)
            channels[name] = len(units)
            assert units and [u.index for u in units] == list(range(len(units)))
            for u in units:
                assert u.mean is not None and math.isfinite(u.mean) and 0 <= u.sparsity <= 1
                # one spatial maximum per image that was read: proves how many images were used
                assert sum(u.max_histogram["counts"]) == images
            ids = [u.id for u in units]
            kinds = s.execute(select(DatasetExample.kind, func.count()).where(DatasetExample.unit_id.in_(ids))
                              .group_by(DatasetExample.kind)).all()
            assert dict(kinds) == {"top": k * len(units), "bottom": k * len(units)}
            ex = s.scalars(select(DatasetExample).where(DatasetExample.unit_id == ids[-1])
                           .order_by(DatasetExample.kind.desc(), DatasetExample.rank)).all()
            tops = [e.activation for e in ex if e.kind == "top"]
            assert tops == sorted(tops, reverse=True)
            assert blobs.path(ex[0].crop_hash).exists() and blobs.path(ex[0].heatmap_hash).exists()
            fv = s.scalars(select(FeatureVis).where(FeatureVis.unit_id.in_(ids))).all()
            assert len(fv) == renders_per_unit * len(units)
            assert {f.objective for f in fv} == {"channel", "neuron"}
            assert all(math.isfinite(f.activation) for f in fv) and blobs.path(fv[0].image_hash).exists()
            stages = {st.stage: st.status for st in
                      s.scalars(select(LayerStage).join(Layer).join(Model)
                                .where(Model.slug == slug, Layer.name == name))}
            want = {"examples": "done", "featurevis": "done"} | ({"weights": "done"} if name != layers[0] else {})
            assert stages == want, (name, stages)
        run = s.scalars(select(Run).join(Model).where(Model.slug == slug).order_by(Run.id.desc())).first()
        assert run.status == "done" and run.error is None
    return channels


# ----------------------------------------------------------------------------- torchvision architectures

def test_resnet18_random_checkpoint_on_an_image_folder(settings, tmp_path, image_folder):
    """resnet18 state dict saved by the test, kind 'checkpoint' with arch; folder with a corrupt file:
    skipped, counted and listed; gray and RGBA images are read; expanded weights layer1.0 -> layer1.1
    (residual block with BatchNorm) equal the gradient of the block computed here independently."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    ref = resnet18(weights=None).eval()
    for m in ref.modules():  # BatchNorm with non-trivial statistics, so the file's values matter
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.normal_()
    path = tmp_path / "resnet18_random.pt"
    torch.save(ref.state_dict(), path)
    spec = {"kind": "checkpoint", "path": str(path), "arch": "resnet18", "input_size": 64}
    layers = ["layer1.0", "layer1.1"]
    db = Database(settings.sqlalchemy_url)
    result = run_compute(make_config(spec, layers, {"kind": "folder", "root": str(image_folder)}, "byo-resnet18"),
                         settings, db, show_progress_bars=False)

    assert result.layers == layers
    assert [r for r, _ in result.skipped_images] == ["dogs/broken.jpg"] and result.skipped_images[0][1]
    channels = assert_every_stage_stored(db, settings, "byo-resnet18", layers, k=2, renders_per_unit=2,
                                         images=len(READABLE))
    assert channels == {"layer1.0": 64, "layer1.1": 64}
    with db.session() as s:
        run = s.scalars(select(Run).order_by(Run.id.desc())).first()
        assert run.summary["skipped_count"] == 1
        assert run.summary["skipped_images"][0]["ref"] == "dogs/broken.jpg"
        assert run.summary["skipped_images"][0]["reason"]
        model = s.scalar(select(Model).where(Model.slug == "byo-resnet18"))
        assert model.input_size == 64 and model.source == spec
        refs = set(s.scalars(select(DatasetImage.ref)))
        assert refs and refs <= set(READABLE)
        conns = stored_kernels(s, "byo-resnet18", "layer1.0", "layer1.1")

    # Reference: layer1.1 = relu(bn2(conv2(relu(bn1(conv1(x))))) + x), ReLUs linearised, taken at the
    # centre of the 16x16 map (input 64 -> stride 4): gradients w.r.t. x, over the 5x5 support.
    blk = ref.layer1[1]
    x = torch.zeros(64, 64, 16, 16, requires_grad=True)
    y = blk.bn2(blk.conv2(blk.bn1(blk.conv1(x)))) + x
    (g,) = torch.autograd.grad(y[torch.arange(64), torch.arange(64), 8, 8].sum(), x)
    expected = g[:, :, 6:11, 6:11]  # (dst, src, 5, 5)
    assert expected.abs().sum() > 0 and g[:, :, :6].abs().max() == 0  # nothing outside the support
    assert conns and all(c.kind == "expanded" for c in conns.values())
    for (j, i), c in conns.items():
        assert torch.allclose(torch.tensor(c.kernel), expected[j, i], atol=1e-4), (j, i)
        assert c.strength == pytest.approx(float(expected[j, i].sum()), abs=1e-4)
        assert c.l2 == pytest.approx(float(expected[j, i].norm()), rel=1e-3, abs=1e-5)
    l2 = expected.flatten(2).norm(dim=2)
    for j in range(64):  # the 5 strongest inputs of every unit are stored
        assert {int(i) for i in torch.argsort(l2[j], descending=True)[:5]} <= {i for jj, i in conns if jj == j}
    assert any(j == i for j, i in conns)  # the identity path makes each unit feed itself strongly


def test_googlenet_weights_file_with_aux_heads(settings, tmp_path, image_folder):
    """googlenet saved with aux heads (as torchvision's checkpoint is), kind 'torchvision' + weights_file;
    weights inception3a.branch4.1 -> inception3b.branch4.1 go through inception3a's concatenation, the
    3x3 max pool of branch 4 (linearised as an average) and conv + BatchNorm: an expanded kernel that is
    w[j, 224 + i] * bn_scale[j] / 9 on a 3x3 support."""
    from torchvision.models import googlenet

    torch.manual_seed(1)
    ref = googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=True).eval()
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "googlenet_random.pth"
    torch.save(ref.state_dict(), path)
    spec = {"kind": "torchvision", "name": "googlenet", "weights": None, "weights_file": str(path), "input_size": 64}
    layers = ["inception3a.branch4.1", "inception3b.branch4.1"]
    db = Database(settings.sqlalchemy_url)
    result = run_compute(make_config(spec, layers, {"kind": "folder", "root": str(image_folder)}, "byo-googlenet"),
                         settings, db, show_progress_bars=False)
    assert result.layers == layers and [r for r, _ in result.skipped_images] == ["dogs/broken.jpg"]
    channels = assert_every_stage_stored(db, settings, "byo-googlenet", layers, k=2, renders_per_unit=2,
                                         images=len(READABLE))
    assert channels == {"inception3a.branch4.1": 32, "inception3b.branch4.1": 64}

    b41 = ref.inception3b.branch4[1]
    w = b41.conv.weight.detach()[:, 224:256, 0, 0]  # (64, 32): branch 4 of inception3a is channels 224..255
    scale = (b41.bn.weight / torch.sqrt(b41.bn.running_var + b41.bn.eps)).detach()
    expected = (w * scale[:, None] / 9.0)[:, :, None, None].expand(64, 32, 3, 3)
    with db.session() as s:
        conns = stored_kernels(s, "byo-googlenet", *layers)
    assert conns and {c.kind for c in conns.values()} == {"expanded"}
    assert len({j for j, _ in conns}) == 64 and all(len(c.kernel) == 3 for c in conns.values())
    for (j, i), c in conns.items():
        assert torch.allclose(torch.tensor(c.kernel), expected[j, i], atol=1e-5), (j, i)
    for j in range(64):
        assert {int(i) for i in torch.argsort(w[j].abs(), descending=True)[:5]} <= {i for jj, i in conns if jj == j}


# ----------------------------------------------------------------------------- factory and TorchScript

def _save_torchscript(tmp_path: Path, how: str) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location("byo_models_for_ts", BYO)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.small_cnn().eval()
    ts = torch.jit.script(net) if how == "script" else torch.jit.trace(net, torch.rand(1, 3, 32, 32))
    path = tmp_path / f"small_{how}.pt"
    ts.save(str(path))
    return path


@pytest.mark.parametrize("how", ["factory", "script", "trace"])
def test_factory_and_torchscript_models_full_pipeline(settings, tmp_path, image_folder, how):
    """A Python file:function factory, and the same network saved by torch.jit.script / trace: every
    stage stored; k = 8 = every readable image, so the gray and RGBA images are among the examples
    (converted to RGB: gray stays gray, RGBA is composited on white); direct weights = conv2's kernels."""
    if how == "factory":
        spec = {"kind": "factory", "target": f"{BYO}:small_cnn", "input_size": 32}
    else:
        spec = {"kind": "torchscript", "path": str(_save_torchscript(tmp_path, how)), "input_size": 32}
    slug = f"byo-{how}"
    layers = ["conv1", "conv2"]
    db = Database(settings.sqlalchemy_url)
    result = run_compute(make_config(spec, layers, {"kind": "folder", "root": str(image_folder)}, slug, k=8,
                                     weights={"top_n": 3}),
                         settings, db, show_progress_bars=False)
    assert result.layers == layers and [r for r, _ in result.skipped_images] == ["dogs/broken.jpg"]
    assert assert_every_stage_stored(db, settings, slug, layers, k=8, renders_per_unit=2,
                                     images=len(READABLE)) == {"conv1": 6, "conv2": 8}

    blobs = BlobStore(settings.blob_dir)
    with db.session() as s:
        images = {img.ref: img for img in s.scalars(select(DatasetImage))}
        assert sorted(images) == READABLE  # every readable image, the broken one never
        assert images["cats/gray.png"].label == 0 and images["dogs/rgba.png"].label == 1

        def pixels(ref: str) -> np.ndarray:
            return np.asarray(Image.open(io.BytesIO(blobs.path(images[ref].image_hash).read_bytes())).convert("RGB"),
                              dtype=np.float64)
        gray, rgba = pixels("cats/gray.png"), pixels("dogs/rgba.png")
        assert gray.std() > 10 and np.abs(gray[..., 0] - gray[..., 1]).mean() < 3  # R = G = B
        # (255, 0, 0) at alpha 100/255 over white is (255, 155, 155); dropping alpha would give (255, 0, 0)
        assert rgba[..., 0].mean() > 240 and 140 < rgba[..., 1].mean() < 170 and 140 < rgba[..., 2].mean() < 170
        conns = stored_kernels(s, slug, "conv1", "conv2")

    loaded = load_model(spec, settings.data_dir).module
    kernel = dict(loaded.named_modules())["conv2"].weight.detach()
    assert isinstance(loaded, torch.jit.ScriptModule) is False  # TorchScript was made hookable
    assert kernel.shape == (8, 6, 3, 3) and conns
    assert {c.kind for c in conns.values()} == {"direct"}
    for (j, i), c in conns.items():
        assert torch.allclose(torch.tensor(c.kernel), kernel[j, i], atol=1e-6)
        assert c.strength == pytest.approx(float(kernel[j, i].sum()), abs=1e-5)
    for j in range(8):
        top = torch.argsort(kernel[j].flatten(1).norm(dim=1), descending=True)[:3]
        assert {int(i) for i in top} <= {i for jj, i in conns if jj == j}
    if how != "factory":  # the same weights as the Python network
        from importlib.util import module_from_spec, spec_from_file_location
        sp = spec_from_file_location("byo_models_ref", BYO)
        mod = module_from_spec(sp)
        sp.loader.exec_module(mod)
        assert torch.equal(kernel, mod.small_cnn().conv2.weight.detach())


# ----------------------------------------------------------------------------- torchvision weights enum, offline

def test_weights_enum_loads_offline_from_the_hub_cache(settings, tmp_path, image_folder):
    """A file placed where torchvision caches IMAGENET1K_V1 is used without a download: the model gets the
    enum's class names (1000) and normalisation; with no file there the error names the path and
    how to supply weights_file."""
    from torchvision.models import get_model_weights, resnet18

    enum = get_model_weights("resnet18").IMAGENET1K_V1
    ckpt = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    assert str(tmp_path) in str(ckpt)  # the test's hub folder, never the user's cache
    spec = {"kind": "torchvision", "name": "resnet18", "weights": "IMAGENET1K_V1", "input_size": 64}
    config = make_config(spec, ["conv1"], {"kind": "folder", "root": str(image_folder)}, "byo-enum", k=1,
                         featurevis={"enabled": False}, weights={"enabled": False})
    db = Database(settings.sqlalchemy_url)

    with pytest.raises(ModelLoadError) as err:  # no file yet: offline failure that says what to do
        run_compute(config, settings, db, show_progress_bars=False)
    msg = str(err.value)
    assert str(ckpt) in msg and '"weights_file"' in msg and enum.url in msg and "network is unreachable" in msg

    torch.manual_seed(2)
    ref = resnet18(weights=None)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ref.state_dict(), ckpt)
    run_compute(config, settings, db, show_progress_bars=False)
    with db.session() as s:
        model = s.scalar(select(Model).where(Model.slug == "byo-enum"))
        assert len(model.class_names) == 1000 and model.class_names[0] == "tench"
        assert model.mean == pytest.approx([0.485, 0.456, 0.406]) and model.input_size == 64
        assert len(layer_units(s, "byo-enum", "conv1")) == 64
        assert s.scalar(select(Run.status).order_by(Run.id.desc())) == "done"
        source = model.source
    loaded = load_model(source, settings.data_dir)
    assert torch.equal(loaded.module.conv1.weight, ref.conv1.weight)


def test_cli_layers_with_weights_enum_offline(tmp_path, monkeypatch):
    """`circuitscope layers --model torchvision:resnet18:IMAGENET1K_V1`: without the file a one-line error
    (no traceback) naming the cache path and weights_file; with the file the layers are listed."""
    from typer.testing import CliRunner

    from circuitscope.cli import app
    from circuitscope.settings import get_settings

    monkeypatch.setenv("CIRCUITSCOPE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(app, ["layers", "--model", "torchvision:resnet18:IMAGENET1K_V1"])
        assert out.exit_code == 2, out.output
        ckpt = Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"
        text = out.output.replace("\n", " ")
        assert "error:" in text and str(ckpt) in text and "weights_file" in text
        assert "Traceback" not in out.output and isinstance(out.exception, SystemExit)

        from torchvision.models import resnet18
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save(resnet18(weights=None).state_dict(), ckpt)
        out = runner.invoke(app, ["layers", "--model", "torchvision:resnet18:IMAGENET1K_V1"])
        assert out.exit_code == 0, out.output
        names = [line.split()[0] for line in out.output.splitlines() if line.strip()]
        assert names[0] == "conv1" and "layer1.0" in names and "layer4.1" in names
    finally:
        get_settings.cache_clear()


# ----------------------------------------------------------------------------- device

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_device_without_cuda_fails_clearly_before_any_work(settings, monkeypatch, tmp_path):
    db = Database(settings.sqlalchemy_url)
    config = make_config({"kind": "factory", "target": f"{BYO}:small_cnn", "input_size": 32}, ["conv1"],
                         {"kind": "concepts", "size": 8}, "byo-cuda", device="cuda")
    with pytest.raises(RunConfigError) as err:
        run_compute(config, settings, db, show_progress_bars=False)
    msg = str(err.value)
    assert "'cuda'" in msg and "torch.cuda.is_available() is False" in msg and 'device = "cpu"' in msg
    with db.session() as s:  # nothing was started
        assert s.scalar(select(func.count()).select_from(Run)) == 0
        assert s.scalar(select(func.count()).select_from(Model)) == 0

    # the CLI prints it as one error line, exit code 2
    from typer.testing import CliRunner

    from circuitscope.cli import app
    from circuitscope.settings import get_settings

    monkeypatch.setenv("CIRCUITSCOPE_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["compute", "--model", f"factory:{BYO}:small_cnn", "--layers", "conv1",
                                       "--dataset", "concepts:8", "--device", "cuda:1"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 2 and "error: Device 'cuda:1' was requested" in out.output.replace("\n", " ")
    assert "Traceback" not in out.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_results_match_cpu_up_to_float_noise(tmp_path, image_folder, monkeypatch):
    """The same run on CPU and on CUDA (separate stores): statistics, dataset examples, renders and
    weights agree up to float noise (random numbers are drawn on the CPU in both cases)."""
    from circuitscope.settings import Settings

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # full fp32 convs: noise, not TF32 rounding
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)

    spec = {"kind": "factory", "target": f"{BYO}:small_cnn", "input_size": 32}
    stores = {}
    for device in ("cpu", "cuda"):
        st = Settings(data_dir=tmp_path / device)
        db = Database(st.sqlalchemy_url)
        run_compute(make_config(spec, ["conv1", "conv2"], {"kind": "folder", "root": str(image_folder)}, "byo-dev",
                                k=3, device=device, featurevis={**FV, "steps": 4}),
                    st, db, show_progress_bars=False)
        with db.session() as s:
            units = {(u.layer.name, u.index): (u.mean, u.std, u.max, u.sparsity) for u in s.scalars(select(Unit))}
            examples = {(e.unit_id, e.kind, e.rank): (e.image.ref, e.activation, e.y, e.x)
                        for e in s.scalars(select(DatasetExample))}
            fv = {(f.unit_id, f.objective, f.variant): f.activation for f in s.scalars(select(FeatureVis))}
            conns = {(c.src_unit_id, c.dst_unit_id): c.kernel for c in s.scalars(select(Connection))}
        stores[device] = units, examples, fv, conns
    (u0, e0, f0, c0), (u1, e1, f1, c1) = stores["cpu"], stores["cuda"]
    assert u0.keys() == u1.keys() and e0.keys() == e1.keys() and f0.keys() == f1.keys() and c0.keys() == c1.keys()
    for key in u0:
        assert np.allclose(u0[key], u1[key], rtol=1e-4, atol=1e-5), key
    for key in e0:
        assert e0[key][0] == e1[key][0] and e0[key][2:] == e1[key][2:], key
        assert e0[key][1] == pytest.approx(e1[key][1], rel=1e-4, abs=1e-5)
    for key in f0:
        assert f0[key] == pytest.approx(f1[key], rel=2e-2, abs=1e-3), key
    for key in c0:
        assert np.allclose(c0[key], c1[key], atol=1e-6), key
