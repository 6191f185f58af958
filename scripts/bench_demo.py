#!/usr/bin/env python
"""The demo's whole compute (what `circuitscope demo --no-serve` runs after training), timed per stage.

Runs exactly the demo's run description (cli.demo_run_config) into a scratch data dir and prints, per
stage, the process's CPU seconds (all threads; what a loaded machine cannot inflate much) and wall
seconds, the load average, and the fidelity summary. The demo model is trained there the first time
(~2 min), or copied from --checkpoint.

    python scripts/bench_demo.py --data-dir /tmp/cs-demo --fresh           # the demo as shipped
    python scripts/bench_demo.py --fresh --fv '{"diversity_n": 3}'        # a variant of [featurevis]
    python scripts/bench_demo.py --fresh --no-featurevis                  # examples + weights only

--fresh deletes the database, blobs and checkpoints of the data dir (never the trained model).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend"))


def cpu_seconds() -> float:
    return time.process_time()  # user + system of every thread of this process


class StageClock:
    """CPU and wall seconds per stage, split at each change of (stage, phase) in the run's progress reports."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}
        self.key: str | None = None
        self.cpu0 = cpu_seconds()
        self.wall0 = time.perf_counter()

    def switch(self, key: str | None) -> None:
        if key == self.key:
            return
        cpu, wall = cpu_seconds(), time.perf_counter()
        if self.key is not None:
            row = self.rows.setdefault(self.key, [0.0, 0.0])
            row[0] += cpu - self.cpu0
            row[1] += wall - self.wall0
            print(f"  {self.key:32s} {row[0]:8.1f} CPU s {row[1]:8.1f} wall s  (load {os.getloadavg()[0]:.1f})",
                  flush=True)
        self.key, self.cpu0, self.wall0 = key, cpu, wall

    def report(self, stage: str, layer: str | None, done: int, total: int) -> None:
        if stage == "examples":
            self.switch("examples pass" if layer is None else "examples render + store")
        elif stage == "featurevis":
            self.switch(f"featurevis {layer}")
        else:
            self.switch(stage)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="/tmp/circuitscope-bench-demo")
    ap.add_argument("--checkpoint", help="a trained demo checkpoint to copy in (else trained there if missing)")
    ap.add_argument("--fresh", action="store_true", help="delete the data dir's database, blobs and checkpoints first")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=0, help="feature-vis steps (default: the demo's)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--fv", default="{}", help="JSON object merged into [featurevis], e.g. '{\"diversity_n\": 3}'")
    ap.add_argument("--examples", default="{}", help="JSON object merged into [examples]")
    ap.add_argument("--no-featurevis", action="store_true")
    ap.add_argument("--layers", help="comma-separated subset of the demo's layers (default: all)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    data = Path(args.data_dir)
    os.environ["CIRCUITSCOPE_DATA_DIR"] = str(data)
    if args.fresh:
        for name in ("circuitscope.db", "circuitscope.db-wal", "circuitscope.db-shm"):
            (data / name).unlink(missing_ok=True)
        for name in ("blobs", "checkpoints"):
            shutil.rmtree(data / name, ignore_errors=True)
    import torch

    from circuitscope.cli import DEMO_STEPS, demo_run_config
    from circuitscope.compute.config import parse_run_config
    from circuitscope.compute.pipeline import run_compute
    from circuitscope.models.demo import demo_checkpoint_path, load_or_train_demo
    from circuitscope.records.featurevis.fidelity import format_summary
    from circuitscope.settings import Settings

    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = demo_checkpoint_path(data)
    if args.checkpoint and not ckpt.exists():
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.checkpoint, ckpt)
    load_or_train_demo(data)
    config = demo_run_config(args.images, args.steps or DEMO_STEPS, "cpu").model_dump(mode="json")
    config["featurevis"].update(json.loads(args.fv))
    config["examples"].update(json.loads(args.examples))
    if args.layers:
        config["layers"] = args.layers.split(",")
    if args.no_featurevis:
        config["featurevis"]["enabled"] = False
    config = parse_run_config(config, "bench_demo")

    load0 = os.getloadavg()
    clock = StageClock()
    clock.switch("load model + dataset")
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    result = run_compute(config, Settings(data_dir=data), progress=clock.report, show_progress_bars=False)
    clock.switch(None)
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    load1 = os.getloadavg()

    print(f"demo compute, {args.images} images, featurevis {json.dumps(config.featurevis.model_dump(mode='json'))}")
    print(f"torch threads {torch.get_num_threads()}, load average at start {load0[0]:.1f}, at end {load1[0]:.1f} "
          f"(1 min), {os.cpu_count()} CPUs")
    print(f"{'stage':32s} {'CPU s':>8s} {'wall s':>8s}")
    for key, (c, w) in clock.rows.items():
        print(f"{key:32s} {c:8.1f} {w:8.1f}")
    print(f"{'total':32s} {cpu:8.1f} {wall:8.1f}")
    if result.fidelity:
        print(format_summary(result.fidelity))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "config": config.model_dump(mode="json"), "threads": torch.get_num_threads(),
            "load": [load0, load1], "stages": clock.rows, "total": [cpu, wall], "fidelity": result.fidelity,
        }, indent=1))


if __name__ == "__main__":
    main()
