"""Random control sets, the configs of one test, and necessity / sufficiency / minimality statistics.

Necessity: the target's drop when the members are ablated, against R random sets of the same size
drawn from the same layers (same count per layer, members excluded): z-score and the empirical
p-value (share of random sets dropping at least as much). Sufficiency: ablate every *other* channel
of the member layers; the fraction of the target's activation preserved (and the faithfulness
(F(circuit) - F(all ablated)) / (F(model) - F(all ablated))), against the same random sets kept
alone. Minimality: per member, the drop when it alone is removed and the loss of sufficiency when it
is left out of the kept set.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .ablation import Config


def max_random_sets(members: dict[str, list[int]], channels: dict[str, int]) -> int:
    """How many distinct random sets exist: same count per layer, drawn from the non-members."""
    total = 1
    for layer, picked in members.items():
        total *= math.comb(channels[layer] - len(picked), len(picked))
    return total


def draw_random_sets(members: dict[str, list[int]], channels: dict[str, int], count: int,
                     seed: int) -> list[dict[str, list[int]]]:
    """``count`` distinct random sets (same seed -> same sets); the caller checks ``max_random_sets``."""
    rng = np.random.default_rng(seed)
    layers = sorted(members)
    pools = {l: np.array([c for c in range(channels[l]) if c not in set(members[l])]) for l in layers}
    seen: set[tuple] = set()
    out: list[dict[str, list[int]]] = []
    while len(out) < count:
        pick = {l: sorted(int(c) for c in rng.choice(pools[l], size=len(members[l]), replace=False))
                for l in layers}
        key = tuple(tuple(pick[l]) for l in layers)
        if key in seen:
            continue
        seen.add(key)
        out.append(pick)
    return out


def _mask(channels: int, on: Sequence[int], invert: bool = False) -> torch.Tensor:
    m = torch.zeros(channels, dtype=torch.bool)
    m[list(on)] = True
    return ~m if invert else m


def build_configs(members: dict[str, list[int]], channels: dict[str, int],
                  random_sets: list[dict[str, list[int]]]) -> list[Config]:
    """Every ablation one kind needs, in a fixed order (see ``summarize`` for how they are read)."""
    layers = sorted(members)

    def ablate(units: dict[str, list[int]]) -> Config:
        return Config("", {l: _mask(channels[l], units.get(l, [])) for l in layers})

    def keep_only(units: dict[str, list[int]]) -> Config:
        return Config("", {l: _mask(channels[l], units.get(l, []), invert=True) for l in layers})

    configs = [ablate(members), keep_only(members), keep_only({})]
    configs[0].name, configs[1].name, configs[2].name = "circuit", "keep-circuit", "all"
    for r, s in enumerate(random_sets):
        configs.append(Config(f"random-{r}", ablate(s).ablate))
    for r, s in enumerate(random_sets):
        configs.append(Config(f"keep-random-{r}", keep_only(s).ablate))
    for layer in layers:
        for c in members[layer]:
            configs.append(Config(f"drop-{layer}:{c}", ablate({layer: [c]}).ablate))
            rest = {l: [u for u in members[l] if (l, u) != (layer, c)] for l in layers}
            configs.append(Config(f"keep-without-{layer}:{c}", keep_only(rest).ablate))
    return configs


def _z(value: float, sample: np.ndarray) -> float | None:
    """z of ``value`` against ``sample``; None where the sample has no spread and value differs."""
    mu, sd = float(sample.mean()), float(sample.std(ddof=1)) if len(sample) > 1 else 0.0
    if sd > 0:
        return (value - mu) / sd
    return 0.0 if math.isclose(value, mu, rel_tol=1e-9, abs_tol=1e-12) else None


def _r(v: float | None, digits: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def summarize(configs: list[Config], clean_max: torch.Tensor, clean_mean: torch.Tensor, got_max: torch.Tensor,
              got_mean: torch.Tensor, n_random: int) -> dict:
    """The result block of one ablation kind (JSON-ready) from the [K, n] measures of ``configs``."""
    f_model = float(clean_max.double().mean())
    f_model_mean = float(clean_mean.double().mean())
    per = got_max.double().mean(1).numpy()  # mean over images, per config
    per_mean = got_mean.double().mean(1).numpy()
    idx = {c.name: i for i, c in enumerate(configs)}
    rand = np.array([per[idx[f"random-{r}"]] for r in range(n_random)])
    keep_rand = np.array([per[idx[f"keep-random-{r}"]] for r in range(n_random)])
    drop = f_model - per[idx["circuit"]]
    random_drops = f_model - rand
    denom = f_model if f_model != 0 else float("nan")
    preserved = per[idx["keep-circuit"]] / denom
    random_preserved = keep_rand / denom
    f_all = per[idx["all"]]
    faith_den = f_model - f_all
    faithfulness = (per[idx["keep-circuit"]] - f_all) / faith_den if faith_den != 0 else float("nan")
    members = []
    for c in configs:
        if c.name.startswith("drop-"):
            unit = c.name[len("drop-"):]
            without = per[idx[f"keep-without-{unit}"]] / denom
            members.append({"unit": unit, "drop": _r(f_model - per[idx[c.name]]),
                            "relative_drop": _r((f_model - per[idx[c.name]]) / denom),
                            "sufficiency_loss": _r(preserved - without)})
    return {
        "clean": {"max": _r(f_model), "mean": _r(f_model_mean)},
        "necessity": {
            "drop": _r(drop), "relative_drop": _r(drop / denom),
            "drop_mean": _r(f_model_mean - per_mean[idx["circuit"]]),
            "z": _r(_z(drop, random_drops), 4), "p": _r(float((random_drops >= drop).mean()), 4),
            "random_mean": _r(float(random_drops.mean())), "random_std": _r(float(random_drops.std(ddof=1))),
            "random_drops": [_r(v) for v in random_drops],
        },
        "sufficiency": {
            "preserved": _r(preserved), "faithfulness": _r(faithfulness), "all_ablated": _r(f_all),
            "z": _r(_z(preserved, random_preserved), 4),
            "p": _r(float((random_preserved >= preserved).mean()), 4),
            "random_mean": _r(float(random_preserved.mean())),
            "random_std": _r(float(random_preserved.std(ddof=1))),
            "random_preserved": [_r(v) for v in random_preserved],
        },
        "members": members,
    }
