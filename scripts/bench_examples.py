#!/usr/bin/env python
"""Benchmark the dataset-examples pass against a bare forward pass, and its memory growth.

Uses the demo ConceptNet on generated ConceptDataset images when those modules exist, otherwise a
stand-in CNN of similar size on random images. Prints a table:
  (a) the streaming pass (top/bottom-k + statistics for every channel of every layer)
  (b) a bare forward pass over the same images with the same loader      -> ratio a/b (goal <= 1.15)
  (c) the streaming pass plus concept-selectivity tallies (concepts/tally.py) -> ratio c/a (goal <= 1.10)
  (c) peak RSS growth of the pass (in a fresh subprocess) at N and 10N images -> ratio (goal < 1.2)
Timings alternate a/b `--repeats` times and keep the fastest of each (the machine may be shared).
Two settings are timed: images pre-decoded in memory (isolates model + tallies), and images
generated/decoded on the fly by the loader (what a real run does).

  python scripts/bench_examples.py --images 512 --batch-size 64 --device cpu
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from circuitscope.activations.capture import forward_until
from circuitscope.datasets.loader import iterate_batches, model_transform
from circuitscope.models.base import LoadedModel
from circuitscope.records import examples as ex


# ----------------------------------------------------------------------------- model and data
class _StandIn(nn.Module):
    """ConceptNet's architecture (models/demo.py docstring) for when that module cannot be imported:
    conv1 5x5 3->16 @64, pool, conv2 16->32 @32, pool, conv3 32->64 @16, pool, conv4 64->96 @8,
    conv5 96->128 @8, global average pool, fc 128->11; each convN = conv -> ReLU."""

    def __init__(self, classes: int = 11):
        super().__init__()
        chans, kernels, pools = (16, 32, 64, 96, 128), (5, 3, 3, 3, 3), (True, True, True, False, False)
        self._order, c_in = [], 3
        for i, (c, k, p) in enumerate(zip(chans, kernels, pools), start=1):
            setattr(self, f"conv{i}", nn.Sequential(nn.Conv2d(c_in, c, k, padding=k // 2), nn.ReLU()))
            self._order.append(f"conv{i}")
            if p:
                setattr(self, f"pool{i}", nn.MaxPool2d(2))
                self._order.append(f"pool{i}")
            c_in = c
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x):
        for n in self._order:
            x = getattr(self, n)(x)
        return self.fc(x.mean(dim=(2, 3)))


class _RandomImages:
    name, classes = "random", []

    def __init__(self, n: int, res: int = 64):
        self.n, self.res = n, res

    def __len__(self):
        return self.n

    def ref(self, i):
        return f"random/{i:06d}"

    def load(self, i):
        rng = np.random.default_rng(i)
        return Image.fromarray(rng.integers(0, 256, (self.res, self.res, 3), dtype=np.uint8))

    def label(self, i):
        return None

    def attributes(self, i):
        return {}

    def describe(self):
        return {"kind": "random", "size": self.n, "resolution": self.res}


class _Cached:
    """The first n images of a dataset, decoded once and held in memory (with their attributes, so the
    concept tallies see the same concepts as on the live dataset)."""

    def __init__(self, base, n: int):
        self.base, self.name, self.classes = base, base.name, base.classes
        self.attribute_schema = getattr(base, "attribute_schema", None)
        self.images = [base.load(i) for i in range(n)]
        self.attrs = [base.attributes(i) for i in range(n)]

    def __len__(self):
        return len(self.images)

    def ref(self, i):
        return self.base.ref(i)

    def load(self, i):
        return self.images[i]

    def label(self, i):
        return self.base.label(i)

    def attributes(self, i):
        return self.attrs[i]

    def describe(self):
        return {"cached": self.base.describe(), "n": len(self.images)}


def _unit_layers(module: nn.Module) -> list[str]:
    """Layers whose channels are units: the outputs of ReLU modules, else of conv / linear modules."""
    names = [n for n, m in module.named_modules() if isinstance(m, nn.ReLU)]
    if not names:
        names = [n for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return names


def build(n: int, which: str = "auto") -> tuple[LoadedModel, Any, list[str], str]:
    """(model, dataset, layers, description); which = auto | demo | standin."""
    try:
        from circuitscope.datasets.concepts import ConceptDataset

        dataset = ConceptDataset(size=n)
        dname = "ConceptDataset"
    except ImportError:
        dataset, dname = _RandomImages(n), "random images"
    model, layers, why = None, None, "not requested"
    try:
        if which == "standin":
            raise ImportError("stand-in requested")
        from circuitscope.models import demo

        path = demo.demo_checkpoint_path(os.environ.get("CIRCUITSCOPE_DATA_DIR", "data"))
        if path.exists():  # the trained demo model, if this install has one (never trains here)
            model = demo.load_or_train_demo(path.parent.parent, progress=False)
            mname = "demo ConceptNet (trained)"
        else:  # same architecture, random weights: the cost of the pass does not depend on them
            model = LoadedModel("conceptnet", demo.ConceptNet().eval(), input_size=demo.DEMO_INPUT_SIZE,
                                mean=demo.DEMO_MEAN, std=demo.DEMO_STD)
            mname = "demo ConceptNet (untrained)"
        layers = [n for n in model.module._order if n.startswith("conv")]
    except Exception as e:  # noqa: BLE001 - missing or (while being edited) broken: use the stand-in
        why = f"{type(e).__name__}: {e}"
    if model is None:
        if which == "demo":
            raise SystemExit(f"demo model not usable: {why}")
        torch.manual_seed(0)
        model = LoadedModel("standin", _StandIn().eval(), input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
        layers = [n for n in model.module._order if n.startswith("conv")]
        mname = f"stand-in CNN (models/demo.py not usable: {why[:80]})"
    if not isinstance(model, LoadedModel):
        raise SystemExit(f"demo loader returned {type(model).__name__}, expected LoadedModel")
    layers = layers or _unit_layers(model.module)
    return model, dataset, layers, f"{mname} on {dname}"


# ----------------------------------------------------------------------------- runs
def bare_forward(model: LoadedModel, dataset, batch_size: int, device: str, num_workers: int, until=None):
    """(wall seconds, process CPU seconds) of a plain forward over the dataset."""
    module = model.module.to(device).eval()
    t, c = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for _idx, imgs in iterate_batches(dataset, model_transform(model.input_size), batch_size, num_workers):
            x = model.normalize(imgs.to(device))
            out = forward_until(module, x, until) if until else module(x)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    del out
    return time.perf_counter() - t, time.process_time() - c


TALLY_THREADS: int | None = 1
QUANTILE_SAMPLE = 100  # images kept per channel for examples across the deciles (0 = none: the pass before them)


def examples_pass(model, dataset, layers, batch_size, device, num_workers, k=10, concepts=False):
    """(wall seconds, process CPU seconds) of compute_dataset_examples over the dataset; with `concepts`,
    the dataset's concept vocabulary is tallied too (the vocabulary is built outside the timing)."""
    vocab = None
    if concepts:
        from circuitscope.concepts.vocabulary import concept_vocabulary

        vocab = concept_vocabulary(dataset)
    t, c = time.perf_counter(), time.process_time()
    tallies = ex.compute_dataset_examples(
        model, dataset, layers, k=k, batch_size=batch_size, device=device, progress=False, num_workers=num_workers,
        tally_threads=TALLY_THREADS, quantile_sample=QUANTILE_SAMPLE, concepts=vocab,
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    el = time.perf_counter() - t, time.process_time() - c
    del tallies
    return el


def breakdown(model, dataset, layers, batch_size, device) -> dict[str, float]:
    """Process CPU seconds of one pass with concept tallies, and the part spent inside the tallies:
    measured inside one run, so unlike the a/b/c ratios it does not swing with other load."""
    from circuitscope.concepts.tally import ConceptTallies
    from circuitscope.concepts.vocabulary import ConceptVocabulary

    spent = {"example tallies (LayerTallies.update, incl. concepts)": 0.0, "concept histograms": 0.0,
             "concept membership": 0.0}
    originals = []

    def wrap(cls, name, key):
        orig = getattr(cls, name)

        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return orig(*args, **kwargs)
            finally:
                spent[key] += time.process_time() - t

        originals.append((cls, name, orig))
        setattr(cls, name, timed)

    wrap(ex.LayerTallies, "update", "example tallies (LayerTallies.update, incl. concepts)")
    wrap(ConceptTallies, "update", "concept histograms")
    wrap(ConceptVocabulary, "membership", "concept membership")
    try:
        total = examples_pass(model, dataset, layers, batch_size, device, 0, concepts=True)[1]
    finally:
        for cls, name, orig in originals:
            setattr(cls, name, orig)
    return {"pass": total, **spent}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mem_child(n: int, batch_size: int, device: str, which: str) -> None:
    """Run in a fresh process: peak RSS of one pass over n images, overall and per tenth of the pass
    (printed as JSON); a pass whose memory grew with the dataset would show rising tenths."""
    model, dataset, layers, _ = build(n, which)
    # warm up allocator, kernels and lazy imports with a short pass (4 batches reach the steady state:
    # the first batches take the full argmax path) so that the baseline is the steady state
    examples_pass(model, _Cached(dataset, min(4 * batch_size, n)), layers, batch_size, device, 0)
    gc.collect()
    base = _rss_bytes()
    peak, window, tenths = [base], [base], []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            r = _rss_bytes()
            peak[0], window[0] = max(peak[0], r), max(window[0], r)
            time.sleep(0.002)

    def on_batch(done, total):
        if done * 10 // total > len(tenths):
            tenths.append(window[0])
            window[0] = 0

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t = time.perf_counter()
    ex.compute_dataset_examples(
        model, dataset, layers, k=10, batch_size=batch_size, device=device, progress=False, on_batch=on_batch
    )
    el = time.perf_counter() - t
    stop.set()
    th.join()
    peak[0] = max(peak[0], _rss_bytes())
    print(json.dumps({"n": n, "base": base, "peak": peak[0], "growth": peak[0] - base, "seconds": el,
                      "tenths": tenths}))


def run_mem(n: int, batch_size: int, device: str, which: str, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--mem-child", str(n), "--batch-size", str(batch_size), "--device", device,
         "--model", which, "--threads", str(threads), "--tally-threads", str(TALLY_THREADS or 0)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-workers", type=int, default=0)
    ap.add_argument("--mem-factor", type=int, default=10)
    ap.add_argument("--skip-mem", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-concepts", action="store_true", help="do not time (c), the pass with concept tallies")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = leave)")
    ap.add_argument("--model", choices=["auto", "demo", "standin"], default="auto")
    ap.add_argument("--tally-threads", type=int, default=1, help="compute_dataset_examples(tally_threads=); 0 = None")
    ap.add_argument("--quantile-sample", type=int, default=100,
                    help="compute_dataset_examples(quantile_sample=); 0 = without examples across the deciles")
    ap.add_argument("--mem-child", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global TALLY_THREADS, QUANTILE_SAMPLE
    TALLY_THREADS = a.tally_threads or None
    QUANTILE_SAMPLE = a.quantile_sample
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.mem_child:
        mem_child(a.mem_child, a.batch_size, a.device, a.model)
        return

    model, dataset, layers, what = build(a.images, a.model)
    which = "standin" if what.startswith("stand-in") else "demo"
    model.to(a.device)
    with torch.inference_mode():
        acts = forward_until(
            model.module, model.normalize(torch.rand(2, 3, model.input_size, model.input_size, device=a.device)), layers
        )
    shapes = {n: tuple(t.shape[1:]) for n, t in acts.items()}
    channels = sum(s[0] for s in shapes.values())
    print(f"model: {what}; device {a.device}; torch threads {torch.get_num_threads()}, tally threads {TALLY_THREADS}")
    print(f"layers ({len(layers)}, {channels} channels): " + ", ".join(f"{n} {list(s)}" for n, s in shapes.items()))
    print(f"N = {a.images} images, batch {a.batch_size}, k = 10 top + 10 bottom, fastest of {a.repeats}\n")

    rows = []
    cached = _Cached(dataset, a.images) if not a.skip_speed else None
    for label, ds in (("pre-decoded images", cached), ("images generated by the loader", dataset)) * (not a.skip_speed):
        bare, until, full, conc = [], [], [], []
        examples_pass(model, _Cached(dataset, a.batch_size), layers, a.batch_size, a.device, 0)  # warm-up
        for _ in range(a.repeats):
            bare.append(bare_forward(model, ds, a.batch_size, a.device, a.num_workers))
            until.append(bare_forward(model, ds, a.batch_size, a.device, a.num_workers, until=layers))
            full.append(examples_pass(model, ds, layers, a.batch_size, a.device, a.num_workers))
            if not a.skip_concepts:
                conc.append(examples_pass(model, ds, layers, a.batch_size, a.device, a.num_workers, concepts=True))
        for kind, j in (("wall", 0), ("CPU", 1)):
            rows.append((f"{label} [{kind}]", *(min(r[j] for r in runs) if runs else float("nan")
                                                 for runs in (bare, until, full, conc))))
    if rows:
        print(f"{'setting [clock]':42s} {'(b) bare fwd':>12s} {'fwd to last':>12s} {'(a) examples':>12s} {'a/b':>6s}"
              f" {'(c) +concepts':>13s} {'c/a':>6s} {'c/b':>6s}")
    for label, b, u, f, cc in rows:
        print(f"{label:42s} {b:11.2f}s {u:11.2f}s {f:11.2f}s {f / b:6.2f} {cc:12.2f}s {cc / f:6.2f} {cc / b:6.2f}")
    if rows:
        print("goals: a/b <= 1.15, c/a <= 1.10 (CPU = process CPU time, less sensitive to other load on a shared "
              "machine)\n")

    if cached is not None and not a.skip_concepts:
        parts = breakdown(model, cached, layers, a.batch_size, a.device)
        total = parts.pop("pass")
        print(f"inside one pass with concepts (pre-decoded images, process CPU {total:.2f} s):")
        for name, sec in parts.items():
            print(f"  {name:55s} {sec:6.2f} s  {100 * sec / total:5.1f} %")
        conc = parts["concept histograms"] + parts["concept membership"]
        print(f"  concept tallies cost {100 * conc / max(total - conc, 1e-9):.1f} % on top of the examples pass "
              f"(goal <= 10 %)\n")

    if not a.skip_mem:
        m1 = run_mem(a.images, a.batch_size, a.device, which, a.threads)
        m2 = run_mem(a.images * a.mem_factor, a.batch_size, a.device, which, a.threads)
        mb = 1 / 2**20
        print(f"{'images':>8s} {'RSS before':>11s} {'peak RSS':>10s} {'growth':>9s} {'pass':>8s}  peak RSS per tenth of the pass (MB)")
        for m in (m1, m2):
            tenths = " ".join(f"{v * mb:.0f}" for v in m["tenths"])
            print(f"{m['n']:8d} {m['base'] * mb:9.1f}MB {m['peak'] * mb:8.1f}MB {m['growth'] * mb:7.1f}MB "
                  f"{m['seconds']:7.1f}s  {tenths}")
        print(f"peak RSS ratio {a.mem_factor}N / N: {m2['peak'] / m1['peak']:.3f} (goal < 1.2); "
              f"growth above the warmed-up baseline: ratio {m2['growth'] / max(m1['growth'], 1):.2f} "
              f"(includes allocator fluctuation of +-10-30 MB; see the flat per-tenth peaks)")


if __name__ == "__main__":
    main()
