"""Per-replica throughput of the Ray engine and its scaling from 1 to 2 replicas (README "Scaling out with Ray").

    python scripts/bench_ray.py --model lucent:random --layers mixed3a,mixed4a,mixed5b --images 256

Measures, on a Ray instance started on this machine (or --ray-address), for 1 and 2 replicas and for
the local engine: the dataset pass in images/s (every channel of --layers, top/bottom-k, statistics)
and feature visualization in channel-renders/s (--fv-steps steps, channel objective, --fv-channels
channels of the first layer), replica start-up excluded and reported apart. Renders per second at
Lucid's 512 steps follow by scaling with steps (the optimisation is a fixed cost per step).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from circuitscope.cli import parse_model_arg
from circuitscope.compute.config import parse_run_config
from circuitscope.compute.engine import LocalEngine
from circuitscope.compute.engine_ray import RayEngine
from circuitscope.datasets import build_dataset
from circuitscope.models.layers import resolve_layers
from circuitscope.models.sources import load_model
from circuitscope.settings import Settings


def cpu_seconds(engine) -> float:
    """CPU time of the driver plus every replica: the work done, whatever else runs on the machine."""
    total = time.process_time()
    if isinstance(engine, RayEngine):
        import ray

        total += sum(ray.get([r.cpu_seconds.remote() for r in engine.replicas()]))
    return total


def measure(engine, model, dataset, layers, args) -> dict:
    out = {}
    if isinstance(engine, RayEngine):
        t = time.perf_counter()
        engine.replicas()
        out["startup_s"] = round(time.perf_counter() - t, 2)
    t, c = time.perf_counter(), cpu_seconds(engine)
    engine.compute_dataset_examples(model, dataset, layers, k=10, batch_size=args.batch_size, progress=False)
    dt, dc = time.perf_counter() - t, cpu_seconds(engine) - c
    out["examples_images_per_s"] = round(len(dataset) / dt, 2)
    out["examples_images_per_cpu_s"] = round(len(dataset) / dc, 2)
    chunks = [list(range(i, min(i + args.fv_batch, args.fv_channels))) for i in range(0, args.fv_channels, args.fv_batch)]
    options = dict(objectives=("channel",), steps=args.fv_steps, size=args.fv_size, batch_channels=args.fv_batch,
                   seed=0, precision="fp32")
    t, c = time.perf_counter(), cpu_seconds(engine)
    n = sum(len(records) for _, records in engine.render_feature_vis_chunks(model, layers[0], chunks, options,
                                                                           lambda: None))
    dt, dc = time.perf_counter() - t, cpu_seconds(engine) - c
    out["fv_renders_per_s"] = round(n / dt, 3)
    out["fv_renders_per_cpu_s"] = round(n / dc, 3)
    out["fv_renders_per_s_at_512_steps"] = round(n / dt * args.fv_steps / 512, 4)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lucent:random")
    p.add_argument("--layers", default="mixed3a,mixed4a,mixed5b")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--fv-channels", type=int, default=16)
    p.add_argument("--fv-batch", type=int, default=8)
    p.add_argument("--fv-steps", type=int, default=16)
    p.add_argument("--fv-size", type=int, default=128)
    p.add_argument("--replicas", default="1,2")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--skip-local", action="store_true")
    args = p.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    settings = Settings(data_dir=data_dir)
    spec = parse_model_arg(args.model)
    model = load_model(spec, data_dir, device="cpu")
    layers = resolve_layers(model, [x.strip() for x in args.layers.split(",")])
    dataset_spec = {"kind": "concepts", "size": args.images, "seed": 0}  # resized to the model's input size
    dataset = build_dataset(dataset_spec)
    base = {"model": spec, "dataset": dataset_spec, "layers": layers}
    results: dict = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                     "torch_threads_local": torch.get_num_threads(), "model": args.model,
                     "layers": layers, "images": args.images, "fv_steps": args.fv_steps, "fv_size": args.fv_size,
                     "fv_channels": args.fv_channels}
    if not args.skip_local:
        results["local"] = measure(LocalEngine(parse_run_config(base)), model, dataset, layers, args)
        print(json.dumps({"local": results["local"]}), flush=True)
    for n in [int(x) for x in args.replicas.split(",")]:
        cfg = parse_run_config({**base, "engine": "ray", "ray_replicas": n, "ray_address": args.ray_address})
        engine = RayEngine.connect(cfg, settings)
        try:
            results[f"ray_{n}"] = measure(engine, model, dataset, layers, args)
        finally:
            engine.close()
        print(json.dumps({f"ray_{n}": results[f"ray_{n}"]}), flush=True)
    if "ray_1" in results and "ray_2" in results:
        for key in ("examples_images_per_s", "fv_renders_per_s", "examples_images_per_cpu_s", "fv_renders_per_cpu_s"):
            per_replica = "cpu_s" not in key  # wall: throughput of 2 vs 2x that of 1; CPU: work per CPU-second
            ratio = results["ray_2"][key] / ((2 if per_replica else 1) * results["ray_1"][key])
            results[f"scaling_efficiency_{key}"] = round(ratio, 3)
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
