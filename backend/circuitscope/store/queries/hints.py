"""What a reader is told when a name is wrong (the valid names, the closest match) or a layer is not computed
(the command that computes it, from the model's stored spec and its latest dataset)."""
from __future__ import annotations

import difflib
import shlex
from typing import Any

from sqlalchemy.orm import Session

from ...errors import NotFound
from ..tables.records import Layer, Model
from . import compute_hint
from .sql import rows

MAX_LIST_IN_ERROR = 40
SQL_MODEL_SLUGS = f'SELECT "slug" FROM {Model.__tablename__} ORDER BY "slug"'
SQL_LAYER_NAMES = f'SELECT "name" FROM {Layer.__tablename__} WHERE "model_id" = :mid ORDER BY "position"'


def suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def listing(options: list[str]) -> str:
    shown = ", ".join(options[:MAX_LIST_IN_ERROR])
    return shown + (f" ... ({len(options)} in all)" if len(options) > MAX_LIST_IN_ERROR else "")


def unknown_model(session: Session, slug: str) -> NotFound:
    slugs = [r.slug for r in rows(session, SQL_MODEL_SLUGS)]
    if not slugs:
        return NotFound(
            f"No model '{slug}': no models have been computed yet. "
            "Run: circuitscope compute --model <model> --layers <layers> (or circuitscope demo)",
            models=[],
        )
    return NotFound(f"No model '{slug}'.{suggest(slug, slugs)} Models: {listing(slugs)}", models=slugs)


def unknown_layer(session: Session, model_id: int, slug: str, name: str) -> NotFound:
    names = [r.name for r in rows(session, SQL_LAYER_NAMES, mid=model_id)]
    return NotFound(
        f"Model '{slug}' has no layer '{name}'.{suggest(name, names)} Layers: {listing(names) or '(none)'}",
        layers=names,
    )


def unit_index_out_of_range(slug: str, layer: str, channels: int, index: int) -> NotFound:
    return NotFound(
        f"Layer '{layer}' of model '{slug}' has {channels} units: "
        f"the index must be between 0 and {channels - 1}, not {index}.",
        channels=channels,
    )


def unknown_unit_id(unit_id: int) -> NotFound:
    return NotFound(f"No unit with id {unit_id}.")


def placeholder_command(slug: str, layer: str) -> str:
    """Placeholder until with_commands fills in the real command (it needs the model's stored spec)."""
    return f"circuitscope compute --model-slug {shlex.quote(slug)} --layers {shlex.quote(layer)}"


def with_commands(session: Session, layers_by_slug: dict[str, list[dict[str, Any]]]) -> None:
    """Set each layer's compute_command from its model's stored spec and latest dataset (compute_hint)."""
    specs = compute_hint.commands_for_models(session, list(layers_by_slug))
    for slug, layers in layers_by_slug.items():
        model_spec, dataset_spec = specs.get(slug, (None, None))
        for lyr in layers:
            lyr["compute_command"] = compute_hint.command(slug, lyr["name"], model_spec, dataset_spec)
