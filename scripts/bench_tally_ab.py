#!/usr/bin/env python
"""A/B of the examples pass's per-batch tallies (LayerTallies.update, incl. concept histograms and the
quantile sample) between a git revision and the working tree, in ONE process.

The whole-pass ratios of bench_examples.py swing by +-30 % on a shared machine (the bare forward's own
CPU time does); here both implementations fold the same captured activations, alternating which goes
first batch by batch, so load drift hits both alike. The old revision's package is extracted with
`git archive` and imported as `circuitscope_before`. Checks that both give identical tallies.

  python scripts/bench_tally_ab.py --before fv2 --images 1024 --repeats 6 --threads 1
"""
from __future__ import annotations

import argparse
import atexit
import io
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def extract_before(rev: str, into: Path) -> None:
    """backend/circuitscope at `rev` -> into/circuitscope_before, its absolute imports renamed."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "backend/circuitscope"], capture_output=True,
                         check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    pkg = into / "circuitscope_before"
    (into / "backend" / "circuitscope").rename(pkg)
    pat = re.compile(r"^(\s*)(from|import) circuitscope\b", re.M)  # import lines only (not e.g. format strings)
    for f in pkg.rglob("*.py"):
        f.write_text(pat.sub(r"\1\2 circuitscope_before", f.read_text()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="git revision to compare against (branch, tag, commit)")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1, help="torch threads while the tallies run")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tally-ab-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    extract_before(a.before, tmp)
    sys.path.insert(0, str(tmp))
    from circuitscope_before.concepts.vocabulary import concept_vocabulary as vocab_old
    from circuitscope_before.records.examples.tally import LayerTallies as Old
    from circuitscope_before.records.stats import Scratch as ScratchOld

    import bench_examples as be  # noqa: E402  (after sys.path)
    from circuitscope.activations.capture import forward_until_pre_relu
    from circuitscope.concepts.vocabulary import concept_vocabulary
    from circuitscope.datasets.loader import iterate_batches, model_transform
    from circuitscope.records.examples.tally import LayerTallies as New
    from circuitscope.records.stats import Scratch as ScratchNew

    model, dataset, layers, what = be.build(a.images, "demo")
    cached = be._Cached(dataset, a.images)
    vocabs = {"before": vocab_old(cached), "after": concept_vocabulary(cached)}
    batches = []
    with torch.no_grad():
        for idx, imgs in iterate_batches(cached, model_transform(model.input_size), a.batch_size, 0):
            batches.append((idx, *forward_until_pre_relu(model.module, model.normalize(imgs), layers, layers)))
    torch.set_num_threads(a.threads)
    spent_all: dict[str, list[float]] = {"before": [], "after": []}
    for rep in range(a.repeats):
        impl = {"before": (Old, ScratchOld(), {}), "after": (New, ScratchNew(), {})}
        spent = {"before": 0.0, "after": 0.0}
        with torch.no_grad():
            for bi, (idx, acts, pres) in enumerate(batches):
                for name in (("before", "after") if (bi + rep) % 2 == 0 else ("after", "before")):
                    cls, scratch, tallies = impl[name]
                    c = time.process_time()
                    m = vocabs[name].membership(idx)
                    for n in layers:
                        x = acts[n]
                        if n not in tallies:
                            tallies[n] = cls.create(n, x.shape[1], x.shape[2:], 10, "cpu", 64,
                                                    bottom_measure="pre_relu" if pres[n] is not None else "output",
                                                    concepts=vocabs[name].names, sample_size=100)
                        tallies[n].update(x, idx, scratch, pre=pres[n], membership=m)
                    spent[name] += time.process_time() - c
        for k, v in spent.items():
            spent_all[k].append(v)
        if rep == 0:
            for n in layers:
                old, new = impl["before"][2][n].state_dict(), impl["after"][2][n].state_dict()
                where = _diff(old, new, n)
                if where:
                    raise SystemExit(f"tallies differ: {where}")
    med = statistics.median
    print(f"{what}; {a.images} images, batch {a.batch_size}, torch threads {a.threads}, {a.repeats} repeats; "
          f"tallies identical: yes")
    for k, v in spent_all.items():
        print(f"  {k:7s} ({a.before if k == 'before' else 'working tree'}): tally CPU median {med(v):.3f} s "
              f"(min {min(v):.3f}; {' '.join(f'{x:.3f}' for x in v)})")
    print(f"  after/before: median of per-repeat ratios {med(n / o for n, o in zip(spent_all['after'], spent_all['before'])):.3f}")


def _diff(a, b, path: str) -> str:
    """'' when equal (NaN equal to NaN), else the path of the first difference."""
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return path
        return next((d for k in a if (d := _diff(a[k], b[k], f"{path}/{k}"))), "")
    if isinstance(a, torch.Tensor):
        return "" if a.shape == b.shape and torch.equal(a, b) or (
            a.shape == b.shape and a.is_floating_point() and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)) else path
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return path
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _diff(x, y, f"{path}[{i}]"))), "")
    return "" if a == b else path


if __name__ == "__main__":
    main()
