"""Command line for exchange: `circuitscope export …` (circuits, labels, the whole project) and `import …`.

All commands use the configured database (CIRCUITSCOPE_DATA_DIR / CIRCUITSCOPE_DATABASE_URL).
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..cli_support import fail, read_json_file, run_in_session, write_output

export_cmd = typer.Typer(help="Export circuits, labels or the whole project.", no_args_is_help=True)
import_cmd = typer.Typer(help="Import a project export or a circuit (graph JSON).", no_args_is_help=True)


# --- export ------------------------------------------------------------------------------------------

@export_cmd.command("project")
def export_project(out: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)"),
                   model: list[str] | None = typer.Option(None, help="Only these models (repeatable)")) -> None:
    """Labels with history, families, circuits and the user names they use, as one JSON file."""
    from .project import export_project as run

    doc = run_in_session(lambda s: run(s, model))
    write_output(out, json.dumps(doc, indent=1))


@export_cmd.command("labels")
def export_labels(model: str, format: str = typer.Option("csv", help="csv | json"),
                  out: Path | None = typer.Option(None, "-o", "--output")) -> None:
    """All labels of a model (one row per unit x annotator, with the consensus)."""
    from .labels_export import labels_csv, labels_json

    if format not in ("csv", "json"):
        fail("--format must be csv or json")
    write_output(out, run_in_session(lambda s: labels_csv(s, model) if format == "csv" else json.dumps(labels_json(s, model), indent=1)))


@export_cmd.command("circuit")
def export_circuit(circuit_id: int, format: str = typer.Option("graph-json", help="graph-json | node-link | graphml | html"),
                   out: Path | None = typer.Option(None, "-o", "--output")) -> None:
    """One circuit: Neuronpedia graph JSON, networkx node-link JSON, GraphML, or a self-contained HTML report."""
    from ..settings import get_settings
    from ..store.blobs import BlobStore
    from . import graph_json, html_report, networkx_export

    def work(s):
        if format == "graph-json":
            return json.dumps(graph_json.circuit_to_graph(s, circuit_id), indent=1)
        if format == "node-link":
            return json.dumps(networkx_export.node_link(s, circuit_id), indent=1)
        if format == "graphml":
            return networkx_export.graphml(s, circuit_id)
        if format == "html":
            return html_report.circuit_report_html(s, circuit_id, BlobStore(get_settings().blob_dir))
        fail("--format must be graph-json, node-link, graphml or html")

    write_output(out, run_in_session(work))


# --- import ------------------------------------------------------------------------------------------

@import_cmd.command("project")
def import_project(path: Path, allow_missing_units: bool = typer.Option(
        False, help="Keep annotations of units this database does not have, detached (reported)")) -> None:
    """Import a project export into this database, all or nothing (the first problem is reported)."""
    from .project import import_project as run

    doc = read_json_file(path)
    result = run_in_session(lambda s: run(s, doc, allow_missing_units=allow_missing_units))
    typer.echo(f"imported {result['labels']} labels, {result['families']} families, {result['circuits']} circuits "
               f"({result['users_created']} new users; set their passwords with `circuitscope users set-password`)")
    for w in result["warnings"]:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)


@import_cmd.command("circuit")
def import_circuit(path: Path, user: str = typer.Option(..., help="Who imports it (recorded as the author)")) -> None:
    """Create a circuit from attribution-graph JSON (as written by `export circuit`)."""
    from ..annotate import users
    from .graph_json import import_graph_circuit

    doc = read_json_file(path)
    cid = run_in_session(lambda s: import_graph_circuit(s, doc, users.identity(users.require_user(s, user))).id)
    typer.echo(f"created circuit {cid}")
