"""The built-in demo network: ConceptNet, a small CNN trained on generated concept images.

Trained in about a minute on two CPU cores (deterministic for a given seed and thread count), it
gives every install a model whose early units are edge, colour, curve and texture detectors, with
ground-truth attributes for every input.

Layers (dotted module names), for a 64x64 input:
    conv1  5x5,  3 -> 16   64x64   then pool1 (max 2x2) -> 32x32
    conv2  3x3, 16 -> 32   32x32   then pool2           -> 16x16
    conv3  3x3, 32 -> 64   16x16   then pool3           ->  8x8
    conv4  3x3, 64 -> 96    8x8
    conv5  3x3, 96 -> 128   8x8
    gap (global average) -> fc (128 -> 11 classes)
Each `convN` is a block (`convN.conv` -> `convN.relu`) whose output is the units' post-ReLU
activation; `convN.conv` is the pre-activation. Training uses batch norm,
which is folded into the convolutions before saving, so the shipped module is plain conv + ReLU and
its weights are the real input weights between units. Inputs are [0, 1] RGB normalized with mean =
std = 0.5 by LoadedModel.normalize (outside the module).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .base import LoadedModel

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "circuitscope.demo.conceptnet/1"
DEMO_MEAN = (0.5, 0.5, 0.5)
DEMO_STD = (0.5, 0.5, 0.5)
DEMO_INPUT_SIZE = 64
DEFAULT_ARCH: dict[str, Any] = {
    "channels": [16, 32, 64, 96, 128],
    "kernels": [5, 3, 3, 3, 3],
    "pools": [True, True, True, False, False],
    "num_classes": 11,
}


class ConvBlock(nn.Module):
    """conv -> [bn] -> relu; the block's output is the units' (post-ReLU) activation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, batchnorm: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=not batchnorm)
        self.bn = nn.BatchNorm2d(c_out) if batchnorm else None
        self.relu = nn.ReLU(inplace=False)  # not in place: a hook on `conv` sees the pre-activation intact

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)


class ConceptNet(nn.Module):
    """conv{i} blocks (conv -> relu), pool{i} after some of them, then gap -> fc."""

    def __init__(self, channels=(16, 32, 64, 96, 128), kernels=(5, 3, 3, 3, 3),
                 pools=(True, True, True, False, False), num_classes: int = 11, batchnorm: bool = False):
        super().__init__()
        if not (len(channels) == len(kernels) == len(pools)):
            raise ValueError("channels, kernels and pools must have the same length")
        self.arch: dict[str, Any] = {"channels": [int(c) for c in channels], "kernels": [int(k) for k in kernels],
                     "pools": [bool(p) for p in pools], "num_classes": int(num_classes)}
        self.batchnorm = batchnorm
        self._order: list[str] = []
        c_in = 3
        for i, (c, k, p) in enumerate(zip(channels, kernels, pools), start=1):
            setattr(self, f"conv{i}", ConvBlock(c_in, int(c), int(k), batchnorm))
            self._order.append(f"conv{i}")
            if p:
                setattr(self, f"pool{i}", nn.MaxPool2d(2))
                self._order.append(f"pool{i}")
            c_in = int(c)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, int(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for n in self._order:
            x = getattr(self, n)(x)
        return self.fc(torch.flatten(self.gap(x), 1))

    @torch.no_grad()
    def folded(self) -> "ConceptNet":
        """A plain (no batch norm) copy computing the same function as this one in eval mode."""
        out = ConceptNet(**self.arch, batchnorm=False)
        if not self.batchnorm:
            out.load_state_dict(self.state_dict())
            return out.eval()
        for i in range(1, len(self.arch["channels"]) + 1):
            src, dst = getattr(self, f"conv{i}"), getattr(out, f"conv{i}").conv
            bn = src.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            dst.weight.copy_(src.conv.weight * scale.view(-1, 1, 1, 1))
            b = src.conv.bias if src.conv.bias is not None else torch.zeros_like(bn.running_mean)
            dst.bias.copy_((b - bn.running_mean) * scale + bn.bias)
        out.fc.load_state_dict(self.fc.state_dict())
        return out.eval()


@dataclass
class DemoTrainConfig:
    """Training budget. The default reaches >= 90 % held-out accuracy (see tests, marked slow)."""

    train_images: int = 12000  # concept indices [0, train_images)
    epochs: int = 2
    heldout_images: int = 2000  # concept indices [dataset_size - heldout_images, dataset_size)
    dataset_size: int = 20000
    batch_size: int = 64
    lr: float = 4e-3
    weight_decay: float = 1e-4
    # conv1 starts 10x smaller than PyTorch's default init: with batch norm after it the scale does not
    # change the function, but Adam's steps then dominate the random start -> smoother, readable filters.
    conv1_init_scale: float = 0.1
    threads: int = 1  # see report: 2 OpenMP threads are ~5-8x slower when the 2 cores are contended

    def check(self) -> None:
        if self.train_images + self.heldout_images > self.dataset_size:
            raise ValueError("train and held-out ranges overlap: train_images + heldout_images > dataset_size")
        if min(self.train_images, self.heldout_images, self.epochs, self.batch_size) < 1:
            raise ValueError("train_images, heldout_images, epochs and batch_size must be >= 1")


def demo_checkpoint_path(data_dir: str | os.PathLike, seed: int = 0) -> Path:
    return Path(data_dir) / "demo" / f"conceptnet-seed{int(seed)}.pt"


@contextlib.contextmanager
def _torch_settings(threads: int):
    """Deterministic, fixed-thread-count torch for the duration; restores the caller's settings."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def _to_input(x_uint8: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> normalized (N, 3, H, W) float, channels-last memory (faster on CPU)."""
    x = x_uint8.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(DEMO_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(DEMO_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[float, list[float | None]]:
    model.eval()
    preds = torch.cat([model(_to_input(x[i:i + 500])).argmax(1) for i in range(0, len(x), 500)])
    correct = preds == y
    per_class = []
    for c in range(num_classes):
        m = y == c
        per_class.append(round(correct[m].float().mean().item(), 4) if m.any() else None)
    return correct.float().mean().item(), per_class


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def train_demo_model(data_dir: str | os.PathLike, seed: int = 0, progress: bool = True,
                     config: DemoTrainConfig | None = None) -> Path:
    """Train ConceptNet on ConceptDataset(seed) and write the checkpoint atomically; returns its path."""
    from tqdm.auto import tqdm

    from ..datasets.concepts import CLASSES, ConceptDataset

    cfg = config or DemoTrainConfig()
    cfg.check()
    path = demo_checkpoint_path(data_dir, seed)
    arch = dict(DEFAULT_ARCH, num_classes=len(CLASSES))
    ds = ConceptDataset(seed=seed, size=cfg.dataset_size, resolution=DEMO_INPUT_SIZE)
    t0, cpu0 = time.perf_counter(), time.process_time()
    with _torch_settings(cfg.threads):
        torch.manual_seed(seed)
        train_idx = range(cfg.train_images)
        held_idx = range(cfg.dataset_size - cfg.heldout_images, cfg.dataset_size)
        gen_bar = tqdm(total=len(train_idx) + len(held_idx), desc="demo: generating concept images",
                       unit="img", disable=not progress, leave=False)
        xs, ys = [], []
        for rng_ in (train_idx, held_idx):
            x = torch.empty((len(rng_), DEMO_INPUT_SIZE, DEMO_INPUT_SIZE, 3), dtype=torch.uint8)
            for j, i in enumerate(rng_):
                x[j] = torch.from_numpy(ds.render(i)[0])
                if j % 256 == 255:
                    gen_bar.update(256)
            gen_bar.update(len(rng_) % 256)
            xs.append(x)
            ys.append(torch.tensor([ds.label(i) for i in rng_], dtype=torch.long))
        gen_bar.close()
        x_train, x_held = xs
        y_train, y_held = ys
        t_gen = time.perf_counter() - t0

        model = ConceptNet(**arch, batchnorm=True)
        with torch.no_grad():
            first_conv = model.get_submodule("conv1.conv")
            assert isinstance(first_conv, nn.Conv2d)
            first_conv.weight.mul_(cfg.conv1_init_scale)
        model = model.to(memory_format=torch.channels_last)
        steps_per_epoch = cfg.train_images // cfg.batch_size or 1
        total = steps_per_epoch * cfg.epochs
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.2)
        g = torch.Generator().manual_seed(seed)
        bar = tqdm(total=total, desc=f"demo: training ConceptNet (seed {seed})", unit="step", disable=not progress)
        running = None
        for _epoch in range(cfg.epochs):
            model.train()
            perm = torch.randperm(cfg.train_images, generator=g)
            for b in range(steps_per_epoch):
                idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                loss = nn.functional.cross_entropy(model(_to_input(x_train[idx])), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
                bar.update(1)
                if b % 20 == 0:
                    bar.set_postfix(loss=f"{running:.3f}")
        bar.close()
        plain = model.folded()
        acc, per_class = _evaluate(plain, x_held, y_held, arch["num_classes"])
    train_seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0
    if not math.isfinite(running or float("nan")):
        raise RuntimeError("demo training diverged (loss is not finite)")
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "state_dict": plain.state_dict(),
        "class_names": list(CLASSES),
        "accuracy": round(acc, 4),
        "per_class_accuracy": dict(zip(CLASSES, per_class)),
        "dataset": ds.describe(),
        "train_range": [0, cfg.train_images],
        "heldout_range": [cfg.dataset_size - cfg.heldout_images, cfg.dataset_size],
        "seed": int(seed),
        "config": asdict(cfg),
        "input_size": DEMO_INPUT_SIZE,
        "mean": list(DEMO_MEAN),
        "std": list(DEMO_STD),
        "train_seconds": round(train_seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "generate_seconds": round(t_gen, 1),
        "torch_version": str(torch.__version__),
    }
    _atomic_save(ckpt, path)
    msg = (f"demo ConceptNet seed {seed}: held-out accuracy {acc:.1%} after {train_seconds:.0f}s "
           f"({cpu_seconds:.0f}s CPU, {cfg.threads} thread(s)) -> {path}")
    (log.warning if acc < 0.9 else log.info)(msg + (" (below the 90% target)" if acc < 0.9 else ""))
    if progress:
        tqdm.write(msg)
    return path


def _load_checkpoint(path: Path) -> tuple[ConceptNet, dict[str, Any]]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a {CHECKPOINT_FORMAT} checkpoint")
    model = ConceptNet(**ckpt["arch"])
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.eval(), ckpt


@contextlib.contextmanager
def _train_lock(path: Path):
    """Only one process trains a given checkpoint at a time (POSIX flock; no-op elsewhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(f".{path.name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_or_train_demo(data_dir: str | os.PathLike, seed: int = 0, progress: bool = True,
                       config: DemoTrainConfig | None = None) -> LoadedModel:
    """The demo model from its checkpoint, training it first when missing or unreadable.

    A corrupt checkpoint is logged and retrained. With an explicit `config`, a checkpoint trained
    with a different config is retrained too.
    """
    path = demo_checkpoint_path(data_dir, seed)

    def try_load() -> tuple[ConceptNet, dict[str, Any]] | None:
        if not path.exists():
            return None
        try:
            model, ckpt = _load_checkpoint(path)
        except Exception as e:  # corrupt, truncated, wrong format, architecture mismatch
            log.warning("Demo checkpoint %s is unreadable (%s: %s); retraining it.", path, type(e).__name__, e)
            return None
        if config is not None and ckpt.get("config") != asdict(config):
            log.info("Demo checkpoint %s was trained with another config; retraining.", path)
            return None
        return model, ckpt

    loaded = try_load()
    if loaded is None:
        with _train_lock(path):
            loaded = try_load()  # another process may have trained it while we waited
            if loaded is None:
                train_demo_model(data_dir, seed=seed, progress=progress, config=config)
                model, ckpt = _load_checkpoint(path)
                loaded = model, ckpt
    model, ckpt = loaded
    return LoadedModel(
        name=f"conceptnet-seed{int(seed)}",
        module=model,
        input_size=int(ckpt.get("input_size", DEMO_INPUT_SIZE)),
        mean=tuple(ckpt.get("mean", DEMO_MEAN)),
        std=tuple(ckpt.get("std", DEMO_STD)),
        class_names=list(ckpt["class_names"]),
        source={"kind": "demo", "seed": int(seed)},
    )


def demo_checkpoint_info(data_dir: str | os.PathLike, seed: int = 0) -> dict[str, Any] | None:
    """Accuracy, dataset spec and training config of an existing checkpoint (None if absent/unreadable)."""
    path = demo_checkpoint_path(data_dir, seed)
    try:
        _, ckpt = _load_checkpoint(path)
    except Exception:
        return None
    return {k: v for k, v in ckpt.items() if k != "state_dict"}
