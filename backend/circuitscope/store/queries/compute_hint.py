"""The command that computes (or resumes) a layer, for the "compute this layer" hints.

`circuitscope compute --model` wants a model *spec* (torchvision:resnet18:…, factory:FILE.py:FUNC), not the
stored model's slug, and it needs the dataset of the earlier runs: both come from the database (the model's
stored source spec and its latest run). Where a spec has options the command line cannot express
(input_size, mean, std of a factory model), the hint points at a run description instead.
"""
from __future__ import annotations

import shlex
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..tables.records import Dataset, Model, Run

# Spec keys the `--model` string carries for each kind; any other key needs a run description.
_CLI_KEYS = {
    "demo": {"kind"},
    "torchvision": {"kind", "name", "weights"},
    "lucent": {"kind", "pretrained"},
    "checkpoint": {"kind", "path", "arch"},
    "torchscript": {"kind", "path"},
    "factory": {"kind", "target"},
}


def model_arg(spec: dict[str, Any]) -> str | None:
    """The `--model` value that rebuilds `spec`, or None when the command line cannot say it."""
    kind = spec.get("kind")
    extra = {k for k, v in spec.items() if v not in (None, "", [])} - _CLI_KEYS.get(str(kind), set())
    if kind not in _CLI_KEYS or extra:
        return None
    if kind == "demo":
        return "demo"
    if kind == "torchvision":
        return f"torchvision:{spec['name']}" + (f":{spec['weights']}" if spec.get("weights") else "")
    if kind == "lucent":
        return "lucent" if spec.get("pretrained", True) else "lucent:random"
    if kind == "checkpoint":
        return f"checkpoint:{spec['path']}" + (f":{spec['arch']}" if spec.get("arch") else "")
    if kind == "torchscript":
        return f"torchscript:{spec['path']}"
    return f"factory:{spec['target']}"


def dataset_args(spec: dict[str, Any] | None) -> list[str]:
    """`--dataset … [--max-images N] [--seed S]` for a stored dataset spec ([] when unknown)."""
    if not spec:
        return []
    seed = spec.get("seed")
    seed_args = ["--seed", str(seed)] if seed not in (None, 0) else []
    if spec.get("kind") == "concepts":
        return ["--dataset", f"concepts:{spec.get('size', 10000)}", *seed_args]
    if spec.get("kind") == "folder" and spec.get("root"):
        cap = ["--max-images", str(spec["max_images"])] if spec.get("max_images") else []
        return ["--dataset", str(spec["root"]), *cap, *seed_args]
    return []


def command(slug: str, layer: str, model_spec: dict[str, Any] | None, dataset_spec: dict[str, Any] | None) -> str:
    arg = model_arg(model_spec or {})
    if arg is None:
        # e.g. a factory model stored with input_size/mean/std: only a run description can carry those
        return (f"circuitscope compute RUN.toml --model-slug {shlex.quote(slug)} --layers {shlex.quote(layer)}"
                "  # RUN.toml: the model and dataset of the earlier run (see the job's run description)")
    parts = ["circuitscope", "compute", "--model", arg, *dataset_args(dataset_spec), "--layers", layer,
             "--model-slug", slug]
    return " ".join(shlex.quote(p) for p in parts)


def commands_for_models(session: Session, slugs: list[str] | None = None) -> dict[str, tuple[dict | None, dict | None]]:
    """{slug: (model source spec, dataset spec of its latest run)} in one query."""
    latest_run = select(func.max(Run.id)).where(Run.model_id == Model.id).correlate(Model).scalar_subquery()
    q = (select(Model.slug, Model.source, Dataset.spec)
         .outerjoin(Run, Run.id == latest_run)
         .outerjoin(Dataset, Dataset.id == Run.dataset_id))
    if slugs is not None:
        q = q.where(Model.slug.in_(slugs))
    return {slug: (source, spec) for slug, source, spec in session.execute(q)}
