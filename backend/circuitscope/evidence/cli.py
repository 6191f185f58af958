"""`circuitscope tuning MODEL LAYER INDEX --param ...`: a stored unit's tuning curve, as text or JSON."""
from __future__ import annotations

import json
from enum import Enum

import typer

from ..settings import get_settings


class TuningParam(str, Enum):
    orientation = "orientation"
    curvature = "curvature"
    hue = "hue"
    frequency = "frequency"
    rotation = "rotation"


def tuning_cmd(
    model: str = typer.Argument(..., help="model slug in the store (as in the browser's URLs)"),
    layer: str = typer.Argument(..., help="dotted layer name (a computed layer)"),
    index: int = typer.Argument(..., help="unit (channel) index"),
    param: TuningParam = typer.Option(TuningParam.orientation, "--param", help="swept parameter; orientation, "
                                      "hue and rotation in degrees (concept dataset convention)"),
    stimulus: str = typer.Option("auto", help="auto (the unit's preferred kind) or grating, stripes, edge, line, "
                                 "curve, field"),
    as_json: bool = typer.Option(False, "--json", help='print {"param", "values", "responses", "preferred", ...}'),
    device: str = typer.Option(None, help="torch device (default: CIRCUITSCOPE_DEVICE)"),
) -> None:
    """Sweep one stimulus parameter and print the unit's response (its spatial max) at each value."""
    from ..errors import DomainError
    from ..store import BlobStore, Database
    from .unit_tuning import unit_tuning

    settings = get_settings()
    db = Database(settings.sqlalchemy_url)
    try:
        with db.session() as session:
            out = unit_tuning(session, settings.data_dir, BlobStore(settings.blob_dir), model, layer, index,
                              param.value, stimulus, device=device or settings.device)
    except DomainError as err:
        typer.secho(f"error: {err.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    s = out["stimulus"]
    typer.echo(f"{model} {layer}:{index}  {out['param']} ({out['convention']})")
    typer.echo("stimulus: " + ", ".join(f"{k}={v}" for k, v in s.items() if k != "probe"))
    typer.echo(f"measure: {out['measure']}")
    for v, r in zip(out["values"], out["responses"]):
        mark = "  <- preferred" if out["preferred"] is not None and v == out["preferred"] else ""
        typer.echo(f"{v:10.3f} {r:12.5f}{mark}")
    if out["flat"]:
        typer.echo("the unit does not respond differently to these stimuli (flat curve): no preferred value")
