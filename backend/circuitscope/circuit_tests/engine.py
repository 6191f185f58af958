"""The test of one circuit hypothesis on a loaded model and dataset (no database here).

Steps: select the images (one streaming pass), draw the random control sets, run every ablation
config of every kind batched, summarize, add context numbers on random images and edge attributions.
Same inputs and seed -> the same document, number for number.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .ablation import KINDS, AblationSetup, Config, clean_pass, evaluate, prefix_sharing_valid
from .attribution import edge_attributions
from .images import check_cancel, load_images, select_images
from .statistics import build_configs, draw_random_sets, summarize
from .target_slice import find_target_shortcut

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class TestInputs:
    module: nn.Module
    normalize: Callable[[torch.Tensor], torch.Tensor]
    dataset: object
    input_size: int
    target_layer: str
    targets: list[int]
    members: dict[str, list[int]]  # member layer -> channels
    channels: dict[str, int]  # channels of every member layer
    positions: dict[str, int]  # layer -> execution order
    edges: list[tuple[str, str, float]] = field(default_factory=list)  # (source, target, weight) keys "layer:i"
    kinds: Sequence[str] = KINDS
    random_sets: int = 100
    images: int = 200
    context_images: int = 50
    seed: int = 0
    scan_limit: int | None = None
    device: str = "cpu"
    max_batch: int = 2048
    target_shortcut: bool = True  # compute only the target channels of the target layer where verified


def key(layer: str, index: int) -> str:
    return f"{layer}:{index}"


def run_test(inp: TestInputs, progress: ProgressFn | None = None,
             should_cancel: Callable[[], bool] | None = None) -> dict:
    report = progress or (lambda *a: None)
    module = inp.module.eval()
    member_layers = sorted(inp.members, key=lambda l: inp.positions[l])
    nodes = {key(inp.target_layer, t): (inp.target_layer, t) for t in inp.targets}
    nodes.update({key(l, c): (l, c) for l in member_layers for c in inp.members[l]})

    def scan_progress(done: int, total: int) -> None:
        report("selecting images", done, total)
        check_cancel(should_cancel)

    sel = select_images(module, inp.normalize, inp.dataset, inp.input_size, inp.target_layer, inp.targets,
                        member_layers, nodes, inp.images, inp.context_images, inp.seed,
                        scan_limit=inp.scan_limit, device=inp.device, progress=scan_progress)
    x = load_images(inp.dataset, inp.input_size, inp.normalize, sel.test)
    setup = AblationSetup(module, inp.target_layer, list(inp.targets), member_layers,
                          {l: inp.channels[l] for l in member_layers}, sel.means, torch.device(inp.device))
    shared = prefix_sharing_valid(setup, x)
    if inp.target_shortcut:
        setup.shortcut = find_target_shortcut(module, inp.target_layer, inp.targets, member_layers, x, setup.device)
        if setup.shortcut is not None and not prefix_sharing_valid(setup, x):
            setup.shortcut = None
    random_sets = draw_random_sets(inp.members, inp.channels, inp.random_sets, inp.seed)
    configs = build_configs(inp.members, inp.channels, random_sets)
    context_configs = [c for c in configs if c.name in ("circuit", "keep-circuit")]
    need_donors = "resample" in inp.kinds
    x_ctx = load_images(inp.dataset, inp.input_size, inp.normalize, sel.context) if sel.context else None
    donors = ctx_donors = None
    if need_donors:
        donors = _activations(setup, load_images(inp.dataset, inp.input_size, inp.normalize, sel.donors))
        if x_ctx is not None:
            ctx_donors = _activations(setup, load_images(inp.dataset, inp.input_size, inp.normalize,
                                                         sel.context_donors))
    _, clean_max, clean_mean = clean_pass(setup, x)
    total = len(inp.kinds) * len(configs) * len(x)
    done = [0]

    def on_chunk(n: int) -> None:
        done[0] += n
        report("ablations", done[0], total)
        check_cancel(should_cancel)

    results, context = {}, {}
    for kind in inp.kinds:
        got_max, got_mean = evaluate(setup, kind, configs, x, donors if kind == "resample" else None,
                                     max_batch=inp.max_batch, share_prefix=shared, on_chunk=on_chunk)
        results[kind] = summarize(configs, clean_max, clean_mean, got_max, got_mean, len(random_sets))
        if x_ctx is not None:
            context[kind] = _context(setup, kind, context_configs, x_ctx,
                                     ctx_donors if kind == "resample" else None, shared)
    report("edge attributions", 0, 1)
    check_cancel(should_cancel)
    edge_keys = [(s, t) for s, t, _ in inp.edges]
    cache: dict[str, torch.Tensor] = {}

    def images_for(node: str) -> torch.Tensor:
        if node not in cache:
            cache[node] = load_images(inp.dataset, inp.input_size, inp.normalize, sel.node_top.get(node, sel.test))
        return cache[node]

    attributions = edge_attributions(module, edge_keys, inp.positions, images_for, device=inp.device)
    activation = _node_activations(setup, x, nodes)
    return {
        "targets": [key(inp.target_layer, t) for t in inp.targets],
        "members": [key(l, c) for l in member_layers for c in inp.members[l]],
        "members_by_layer": {l: list(inp.members[l]) for l in member_layers},
        "images": len(sel.test), "random_sets": len(random_sets), "seed": inp.seed, "kinds": list(inp.kinds),
        "test_images": {
            "selection": f"top {len(sel.test)} of {sel.scanned} scanned images by the targets' spatial max "
                         f"(mean over {len(inp.targets)} target(s)); {len(sel.context)} random other images "
                         "for context",
            "scanned": sel.scanned, "top": sel.test, "context": sel.context, "donors": sel.donors,
            "skipped": [list(s) for s in sel.skipped[:20]],
        },
        "random_set_units": [[key(l, c) for l in sorted(s) for c in s[l]] for s in random_sets],
        "prefix_shared": shared,
        "target_sliced": setup.shortcut is not None,
        "node_activation": activation,
        "results": results,
        "context": context,
        "edges": [{"source": s, "target": t, "weight": w, "attribution": _round(attributions.get((s, t)))}
                  for s, t, w in inp.edges],
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)


def _activations(setup: AblationSetup, x: torch.Tensor) -> dict[str, torch.Tensor]:
    parts = [clean_pass(setup, x[i:i + 256])[0] for i in range(0, len(x), 256)]
    return {l: torch.cat([p[l] for p in parts]).cpu() for l in setup.layer_order}


def _context(setup: AblationSetup, kind: str, configs: list[Config], x: torch.Tensor,
             donors: dict[str, torch.Tensor] | None, shared: bool) -> dict:
    _, cmax, _ = clean_pass(setup, x)
    got, _ = evaluate(setup, kind, configs, x, donors, share_prefix=shared)
    f = float(cmax.double().mean())
    circuit, keep = float(got[0].double().mean()), float(got[1].double().mean())
    return {"images": len(x), "clean": round(f, 6), "drop": round(f - circuit, 6),
            "preserved": round(keep / f, 6) if f else None}


def _node_activations(setup: AblationSetup, x: torch.Tensor, nodes: dict[str, tuple[str, int]]) -> dict[str, float]:
    """Each node's mean spatial max on the test images (the target's is the graph's node activation)."""
    from circuitscope.activations import Trace

    layers = list(dict.fromkeys(l for l, _ in nodes.values()))
    sums = {k: 0.0 for k in nodes}
    with torch.no_grad(), Trace(setup.module, layers, stop=True) as tr:
        for i in range(0, len(x), 256):
            tr.forward(x[i:i + 256].to(setup.device))
            for k, (l, c) in nodes.items():
                a = tr.output[l][:, c].float()
                sums[k] += float((a.flatten(1).amax(1) if a.dim() > 1 else a).double().sum())
    return {k: round(v / max(1, len(x)), 6) for k, v in sums.items()}
