#!/usr/bin/env python
"""Benchmark: the batched circuit test against the naive loop (one forward per ablation config).

A 3-member circuit on the demo model (conv3 units with the largest kernels into one conv4 unit),
100 random sets x 3 kinds (zero, mean, resample) x 200 images. The naive loop runs the same configs
one forward each (the same hook primitive, also stopped at the target layer) - by default on an evenly
spread sample of configs per kind, timed and extrapolated to all (``--naive-all`` runs every one) - and
its numbers are compared with the batched ones config by config.

    PYTHONPATH=backend .venv/bin/python scripts/bench_circuit_test.py [--data-dir data] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--random-sets", type=int, default=100)
    ap.add_argument("--scan", type=int, default=2000, help="dataset images scanned to pick the test images")
    ap.add_argument("--target", type=int, default=0, help="conv4 unit used as the target")
    ap.add_argument("--naive-sample", type=int, default=24, help="configs per kind run naively (timed, extrapolated)")
    ap.add_argument("--naive-all", action="store_true", help="run every config naively")
    ap.add_argument("--no-slice", action="store_true", help="run the full target layer (no target-channel shortcut)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from circuitscope.circuit_tests.ablation import (
        KINDS,
        AblationSetup,
        clean_pass,
        evaluate,
        evaluate_naive,
        prefix_sharing_valid,
    )
    from circuitscope.circuit_tests.images import load_images, select_images
    from circuitscope.circuit_tests.statistics import build_configs, draw_random_sets
    from circuitscope.circuit_tests.target_slice import find_target_shortcut
    from circuitscope.datasets import build_dataset
    from circuitscope.models.demo import load_or_train_demo

    model = load_or_train_demo(args.data_dir, progress=False)
    module = model.module.eval()
    w = module.conv4.conv.weight[args.target].detach()  # [64, 3, 3]
    members = sorted(int(i) for i in w.flatten(1).norm(dim=1).topk(3).indices)
    dataset = build_dataset({"kind": "concepts", "size": args.scan, "seed": 1})
    t0 = time.perf_counter()
    sel = select_images(module, model.normalize, dataset, model.input_size, "conv4", [args.target], ["conv3"], {},
                        args.images, 0, seed=0)
    x = load_images(dataset, model.input_size, model.normalize, sel.test)
    donor_x = load_images(dataset, model.input_size, model.normalize, sel.donors)
    t_select = time.perf_counter() - t0

    setup = AblationSetup(module, "conv4", [args.target], ["conv3"], {"conv3": 64}, sel.means)
    donors = clean_pass(setup, donor_x)[0]
    sets = draw_random_sets({"conv3": members}, {"conv3": 64}, args.random_sets, seed=0)
    configs = build_configs({"conv3": members}, {"conv3": 64}, sets)
    shared = prefix_sharing_valid(setup, x)
    if not args.no_slice:
        setup.shortcut = find_target_shortcut(module, "conv4", [args.target], ["conv3"], x, setup.device)

    t0, c0 = time.perf_counter(), time.process_time()
    batched = {k: evaluate(setup, k, configs, x, donors if k == "resample" else None, share_prefix=shared)
               for k in KINDS}
    t_batched, c_batched = time.perf_counter() - t0, time.process_time() - c0

    step = 1 if args.naive_all else max(1, len(configs) // args.naive_sample)
    sample = list(range(0, len(configs), step))
    t0, c0 = time.perf_counter(), time.process_time()
    max_diff = 0.0
    equal = True
    for k in KINDS:
        got, _ = evaluate_naive(setup, k, [configs[i] for i in sample], x, donors if k == "resample" else None)
        ref = batched[k][0][sample]
        equal &= bool(torch.equal(got, ref))
        max_diff = max(max_diff, float((got - ref).abs().max()))
    t_naive_sample, c_naive_sample = time.perf_counter() - t0, time.process_time() - c0
    t_naive = t_naive_sample * len(configs) / len(sample)
    c_naive = c_naive_sample * len(configs) / len(sample)
    print(json.dumps({
        "circuit": {"target": f"conv4:{args.target}", "members": [f"conv3:{m}" for m in members]},
        "images": len(x), "random_sets": len(sets), "kinds": list(KINDS), "configs_per_kind": len(configs),
        "threads": torch.get_num_threads(), "prefix_shared": shared, "target_sliced": setup.shortcut is not None,
        "select_images_s": round(t_select, 2), "scanned": sel.scanned,
        "batched_s": round(t_batched, 2),
        "naive_configs_run": len(sample) * len(KINDS), "naive_sample_s": round(t_naive_sample, 2),
        "naive_s" + ("" if args.naive_all else "_extrapolated"): round(t_naive, 2),
        "speedup": round(t_naive / t_batched, 2),
        "batched_cpu_s": round(c_batched, 2), "naive_cpu_s_extrapolated": round(c_naive, 2),
        "speedup_cpu_time": round(c_naive / c_batched, 2),
        "load_average_1min": round(__import__("os").getloadavg()[0], 1),
        "naive_equals_batched_bitwise": equal, "max_abs_diff": max_diff,
    }, indent=1))


if __name__ == "__main__":
    main()
