"""`circuitscope circuits test CIRCUIT_ID`: test a circuit in the foreground and store it as evidence."""
from __future__ import annotations

import json
import sys

import typer

circuits_app = typer.Typer(help="Circuit hypotheses: test them (ablations against random sets).",
                           no_args_is_help=True)


@circuits_app.command("test")
def test_cmd(
    circuit_id: int,
    kinds: str = typer.Option("zero,mean,resample", help="ablation kinds, comma-separated: zero,mean,resample"),
    random_sets: int = typer.Option(100, "--random-sets", help="random control sets (same size, same layers)"),
    images: int = typer.Option(200, help="the targets' top images to test on"),
    seed: int = typer.Option(0, help="seed for random sets, context and donor images (same seed, same numbers)"),
    targets: str | None = typer.Option(None, help="target nodes 'layer:index,...' (default: the deepest layer's)"),
    context_images: int = typer.Option(50, "--context-images", help="random other images, for context"),
    scan_limit: int | None = typer.Option(None, "--scan-limit", help="scan only the first N dataset images"),
    device: str = typer.Option("cpu", help="cpu | cuda[:i] | mps"),
    as_json: bool = typer.Option(False, "--json", help="print the result document as JSON"),
    user: str | None = typer.Option(None, help="recorded as who ran the test"),
) -> None:
    """Necessity (vs random sets), sufficiency, minimality per ablation kind, and edge attributions; the
    result is stored against the circuit's current version (the circuit page shows it)."""
    from ..errors import DomainError
    from ..settings import get_settings
    from ..store.db import get_database
    from .plan import TestParams
    from .runner import TestFailed, run_circuit_test

    params = TestParams(kinds=[k for k in kinds.split(",") if k.strip()], random_sets=random_sets, images=images,
                        seed=seed, targets=[t.strip() for t in targets.split(",") if t.strip()] if targets else None,
                        context_images=context_images, scan_limit=scan_limit)

    def progress(stage: str, n: int, total: int) -> None:
        if not as_json:
            typer.echo(f"\r{stage}: {n}/{total}", nl=False, err=True)

    try:
        test_id, doc = run_circuit_test(get_database(), get_settings(), circuit_id, params, user=user,
                                        progress=progress, device=device)
    except DomainError as err:
        typer.secho(f"error: {err.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except TestFailed as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        typer.echo("", err=True)
        typer.echo(f"circuit {circuit_id} v{doc['version']} (test {test_id}): {doc['verdict']}")
        typer.echo(f"suggested status: {doc['suggested_status']}")
