#!/usr/bin/env python
"""Benchmark: batched feature visualization (circuitscope) vs lucent's render_vis, one channel at a time.

Both sides get the same model, the same number of Adam steps (lr 0.05), the same image size, the
same FFT + decorrelated-colour parameterization and lucent's standard transforms, and the model
sees ImageNet-normalized input on both (lucent through a forward pre-hook, so its layer names
stay the model's own with '.' -> '_'). The activation reached is measured the same way on both
sides: the channel's spatial mean on the final 8-bit image, without transforms.

The default layer (the middle Conv2d, e.g. ConceptNet's ``conv3.conv``) does not end in a ReLU,
so both sides optimize the same tensor. On a layer that ends in a ReLU (e.g. ``--layer conv3``)
circuitscope optimizes the ReLU's input (Lucid's pre_relu) and lucent the output; both are still
measured on the output.

One difference lucent imposes: render_vis always resizes the transformed image (to 224 px, or to
``fixed_image_size``). We pass ``fixed_image_size = size + 24`` (the size after lucent's pad 12),
an identity resize except on steps whose random scale is > 1, where lucent shrinks the image back.

    python scripts/bench_featurevis.py --steps 128 --channels 16

Uses the demo ConceptNet (models/demo.py ``load_or_train_demo``) when its checkpoint is available,
else a stand-in CNN with random He-initialised weights of similar size; it prints which.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend"))

from circuitscope.models.base import LoadedModel  # noqa: E402
from circuitscope.records.featurevis import (  # noqa: E402
    decode_image,
    measure_activations,
    quantize,
    render_feature_vis,
)


def stand_in_cnn(size: int = 64) -> LoadedModel:
    """A ConceptNet-sized CNN (conv1..conv5 + BN + ReLU, 64 px) with random He-initialised weights."""
    torch.manual_seed(0)
    net = nn.Sequential()
    chans = [3, 32, 64, 128, 128, 256]
    for i in range(1, 6):
        block = nn.Sequential()
        block.add_module("conv", nn.Conv2d(chans[i - 1], chans[i], 3, padding=1, stride=1 if i == 1 else 2))
        block.add_module("bn", nn.BatchNorm2d(chans[i]))
        block.add_module("relu", nn.ReLU())
        net.add_module(f"conv{i}", block)
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flatten", nn.Flatten())
    net.add_module("fc", nn.Linear(256, 10))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return LoadedModel("stand-in-cnn (random weights)", net.eval(), input_size=size)


def load_model(allow_train: bool, stand_in: bool, data_dir: str | None) -> tuple[LoadedModel, str]:
    if stand_in:
        return stand_in_cnn(), "stand-in CNN with random weights (--stand-in)"
    try:
        from circuitscope.models import demo  # type: ignore
    except Exception as exc:  # noqa: BLE001
        return stand_in_cnn(), f"stand-in CNN with random weights (models/demo.py not importable: {exc})"
    fn = getattr(demo, "load_or_train_demo", None)
    if fn is None:
        return stand_in_cnn(), "stand-in CNN with random weights (no load_or_train_demo in models/demo.py)"
    if data_dir is None:
        from circuitscope.settings import get_settings

        data_dir = str(get_settings().data_dir)
    ckpt_path = getattr(demo, "demo_checkpoint_path", None)
    if ckpt_path is not None and not os.path.exists(ckpt_path(data_dir)) and not allow_train:
        return stand_in_cnn(), (f"stand-in CNN with random weights (no demo checkpoint at {ckpt_path(data_dir)}; "
                                "--allow-train trains one)")
    print(f"loading the demo model via load_or_train_demo({data_dir!r}) ...", flush=True)
    try:
        model = fn(data_dir)
    except Exception as exc:  # noqa: BLE001
        return stand_in_cnn(), f"stand-in CNN with random weights (load_or_train_demo failed: {exc})"
    return model, f"demo model '{model.name}' (trained checkpoint via load_or_train_demo)"


def default_layer(model: LoadedModel) -> str:
    names = [n for n, m in model.module.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise SystemExit("no Conv2d layer found; pass --layer")
    return names[len(names) // 2]


def run_lucent(model: LoadedModel, layer: str, channels: list[int], steps: int, size: int, seed: int, device):
    from lucent.optvis import param, render, transform

    lucent_dev = transform.device
    if torch.device(device).type != lucent_dev.type:
        raise SystemExit(f"lucent runs on {lucent_dev} (hard-coded); pass --device {lucent_dev.type}")
    hook = model.module.register_forward_pre_hook(lambda _m, inp: (model.normalize(inp[0]),) + tuple(inp[1:]))
    images = []
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for c in channels:
            torch.manual_seed(seed + c)
            np.random.seed(seed + c)
            out = render.render_vis(
                model.module, f"{layer.replace('.', '_')}:{c}",
                param_f=lambda: param.image(size, fft=True, decorrelate=True),
                transforms=transform.standard_transforms, thresholds=(steps,),
                show_image=False, progress=False, preprocess=False, fixed_image_size=size + 24,
            )
            images.append(torch.from_numpy(out[-1][0]).permute(2, 0, 1))
        elapsed = (time.perf_counter() - t0, time.process_time() - c0)
    finally:
        hook.remove()
    imgs = quantize(torch.stack(images)).to(device)
    acts = measure_activations(model, layer, channels, imgs, "channel")
    return elapsed, acts


def run_ours(model: LoadedModel, layer: str, channels: list[int], steps: int, size: int, seed: int, device,
             batch_channels: int, precision: str = "fp32", style: str = "lucent"):
    t0, c0 = time.perf_counter(), time.process_time()
    recs = list(render_feature_vis(model, layer, channels, objectives=("channel",), steps=steps, size=size,
                                   seed=seed, device=device, batch_channels=batch_channels, precision=precision,
                                   style=style))
    elapsed = (time.perf_counter() - t0, time.process_time() - c0)
    imgs = torch.stack([decode_image(r.image_webp) for r in recs]).to(device)
    acts = measure_activations(model, layer, [r.channel for r in recs], imgs, "channel")
    return elapsed, acts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=128, help="lucent's steps (and ours in the lucent style)")
    ap.add_argument("--fast-steps", default="64",
                    help="comma-separated: most steps of ours in the fast style (it stops early where converged)")
    ap.add_argument("--size", type=int, default=None, help="image size (default: the model's input size)")
    ap.add_argument("--channels", type=int, default=16, help="first N channels of the layer")
    ap.add_argument("--layer", default=None, help="default: the middle Conv2d layer")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides (default 1)")
    ap.add_argument("--batch-channels", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32",
                    help="comma-separated precisions to run ours with: fp32 (like lucent), bf16, fp16 (CUDA)")
    ap.add_argument("--allow-train", action="store_true", help="let load_or_train_demo train if no checkpoint")
    ap.add_argument("--stand-in", action="store_true", help="use the random-weight stand-in CNN, not the demo model")
    ap.add_argument("--data-dir", default=None, help="where the demo checkpoint lives (default: settings data_dir)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    model, which = load_model(args.allow_train, args.stand_in, args.data_dir)
    model.to(args.device).module.eval()
    layer = args.layer or default_layer(model)
    size = args.size or model.input_size
    from circuitscope.records.featurevis import forward_to_layer

    with torch.no_grad():
        n_units = forward_to_layer(model.module, torch.zeros(1, 3, size, size, device=args.device), layer).shape[1]
    channels = list(range(min(args.channels, n_units)))

    print(f"model:   {which}")
    print(f"layer:   {layer} ({n_units} channels), channels 0..{channels[-1]}, {args.steps} steps, {size} px, "
          f"device {args.device}, torch threads {torch.get_num_threads()}")
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    # Warm-up both paths (first-call allocations, kornia import) so neither pays it in the timing.
    for p in precisions:
        for style in ("lucent", "fast"):
            run_ours(model, layer, channels[:1], 2, size, args.seed, args.device, args.batch_channels, p, style)
    run_lucent(model, layer, channels[:1], 2, size, args.seed, args.device)

    ours = {}
    for p in precisions:  # the fast style first: the side-by-side runs share the machine's load
        for fast_steps in [int(x) for x in str(args.fast_steps).split(",")]:
            ours[f"fast {fast_steps} steps, {p}"] = run_ours(model, layer, channels, fast_steps, size, args.seed,
                                                             args.device, args.batch_channels, p, "fast")
        ours[f"lucent style {args.steps} steps, {p}"] = run_ours(model, layer, channels, args.steps, size, args.seed,
                                                                 args.device, args.batch_channels, p, "lucent")
    precisions = list(ours)
    t_luc, a_luc = run_lucent(model, layer, channels, args.steps, size, args.seed, args.device)

    n = len(channels)
    print()
    print("wall = elapsed seconds; cpu = this process's CPU seconds (steadier on a shared machine)")
    print(f"{'method':<52} {'wall s':>7} {'cpu s':>7} {'ch/s wall':>10} {'ch/s cpu':>9} {'mean act':>9} {'median':>7}")
    rows = [(f"circuitscope {p}", *ours[p]) for p in precisions]
    rows.append((f"lucent render_vis {args.steps} steps, per channel", t_luc, a_luc))
    for name, (wall, cpu), acts in rows:
        print(f"{name:<52} {wall:7.1f} {cpu:7.1f} {n / wall:10.3f} {n / cpu:9.3f} {acts.mean():9.3f} {acts.median():7.3f}")
    print()
    for p in precisions:
        (wall, cpu), a_ours = ours[p]
        ratio = float(a_ours.mean() / a_luc.mean()) if float(a_luc.mean()) > 0 else float("nan")
        wins = int((a_ours >= a_luc).sum())
        print(f"[{p}] speed-up vs lucent: {t_luc[0] / wall:.2f}x wall, {t_luc[1] / cpu:.2f}x cpu (goal >= 10x); "
              f"activation ours/lucent mean = {ratio:.3f} (goal >= 1), ours >= lucent on {wins}/{n} channels")
    a_ours = ours[precisions[0]][1]
    print(f"per channel ({precisions[0]} ours / lucent): " + ", ".join(f"{c}:{o:.2f}/{l:.2f}" for c, o, l in zip(channels, a_ours, a_luc)))


if __name__ == "__main__":
    main()
