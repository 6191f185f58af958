"""Command line for accounts and exchange: `circuitscope users …`, `tokens …`, `export …`, `import …`.

All commands use the configured database (CIRCUITSCOPE_DATA_DIR / CIRCUITSCOPE_DATABASE_URL).
"""
from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import typer

users_app = typer.Typer(help="User accounts and roles (viewer, annotator, admin).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (sent as 'Authorization: Bearer <token>').", no_args_is_help=True)
export_cmd = typer.Typer(help="Export circuits, labels or the whole project.", no_args_is_help=True)
import_cmd = typer.Typer(help="Import a project export or a circuit (graph JSON).", no_args_is_help=True)


def _db():
    from ..store.db import get_database

    return get_database()


def _fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _run(fn):
    """Run fn(session) in one transaction; service errors become a clear message and exit code 2."""
    from ..errors import DomainError

    try:
        with _db().session() as session:
            return fn(session)
    except DomainError as e:
        _fail(e.detail)


def _write(out: Path | None, content: str | bytes) -> None:
    if out is None or str(out) == "-":
        if isinstance(content, bytes):
            sys.stdout.buffer.write(content)
        else:
            sys.stdout.write(content if content.endswith("\n") else content + "\n")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        out.write_bytes(content)
    else:
        out.write_text(content)
    typer.echo(f"wrote {out}", err=True)


# --- users -------------------------------------------------------------------------------------------

@users_app.command("create")
def users_create(
    name: str,
    role: str = typer.Option("annotator", help="viewer | annotator | admin"),
    password: str | None = typer.Option(None, help="Password for browser sign-in (prompted if --prompt)"),
    prompt: bool = typer.Option(False, "--prompt", help="Ask for the password without echoing it"),
    display_name: str = typer.Option("", help="Full name shown next to the login name"),
) -> None:
    """Create a user."""
    from . import users

    if prompt:
        password = getpass.getpass(f"password for {name}: ")
    _run(lambda s: users.create_user(s, name, role, password, display_name))
    typer.echo(f"created user {name} ({role}){'' if password else ' without a password (token sign-in only)'}")


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    from . import users

    for u in _run(lambda s: [users.user_dict(x) for x in users.list_users(s)]):
        flags = ("" if u["has_password"] else " (no password)") + (" (disabled)" if u["disabled"] else "")
        typer.echo(f"{u['name']:<24} {u['role']:<10}{flags}")


@users_app.command("set-role")
def users_set_role(name: str, role: str) -> None:
    """Change a user's role (viewer | annotator | admin)."""
    from . import users

    _run(lambda s: users.set_role(s, name, role))
    typer.echo(f"{name} is now {role}")


@users_app.command("set-password")
def users_set_password(name: str, password: str | None = typer.Option(None, help="Prompted when omitted")) -> None:
    """Set a user's password (needed after a project import, which carries no passwords)."""
    from . import users

    password = password or getpass.getpass(f"new password for {name}: ")
    _run(lambda s: users.set_password(s, name, password))
    typer.echo(f"password of {name} changed")


# --- tokens ------------------------------------------------------------------------------------------

@tokens_app.command("create")
def tokens_create(user: str, name: str = typer.Option("", help="What the token is for"),
                  expires_days: int | None = typer.Option(None, help="Expire after N days")) -> None:
    """Create an API token for a user; prints the secret once."""
    from . import users

    secret = _run(lambda s: users.create_token(s, users.require_user(s, user), name, expires_days=expires_days)[1])
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list(user: str | None = typer.Argument(None)) -> None:
    """List API tokens (of one user, or all)."""
    from . import users

    def work(s):
        u = users.require_user(s, user) if user else None
        return [users.token_dict(t) for t in users.list_tokens(s, u)]

    for t in _run(work):
        state = "revoked" if t["revoked"] else "active"
        typer.echo(f"{t['id']:>5} {t['user']:<20} {t['prefix']}…  {state:<8} {t['name']}  last used {t['last_used_at']}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id (see `tokens list`)."""
    from . import users

    _run(lambda s: users.revoke_token(s, token_id))
    typer.echo(f"token {token_id} revoked")


# --- export ------------------------------------------------------------------------------------------

@export_cmd.command("project")
def export_project(out: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)"),
                   model: list[str] | None = typer.Option(None, help="Only these models (repeatable)")) -> None:
    """Labels with history, families, circuits and the user names they use, as one JSON file."""
    from ..export.project import export_project as run

    doc = _run(lambda s: run(s, model))
    _write(out, json.dumps(doc, indent=1))


@export_cmd.command("labels")
def export_labels(model: str, format: str = typer.Option("csv", help="csv | json"),
                  out: Path | None = typer.Option(None, "-o", "--output")) -> None:
    """All labels of a model (one row per unit x annotator, with the consensus)."""
    from ..export.labels_export import labels_csv, labels_json

    if format not in ("csv", "json"):
        _fail("--format must be csv or json")
    _write(out, _run(lambda s: labels_csv(s, model) if format == "csv" else json.dumps(labels_json(s, model), indent=1)))


@export_cmd.command("circuit")
def export_circuit(circuit_id: int, format: str = typer.Option("graph-json", help="graph-json | node-link | graphml | html"),
                   out: Path | None = typer.Option(None, "-o", "--output")) -> None:
    """One circuit: Neuronpedia graph JSON, networkx node-link JSON, GraphML, or a self-contained HTML report."""
    from ..export import graph_json, html_report, networkx_export
    from ..settings import get_settings
    from ..store.blobs import BlobStore

    def work(s):
        if format == "graph-json":
            return json.dumps(graph_json.circuit_to_graph(s, circuit_id), indent=1)
        if format == "node-link":
            return json.dumps(networkx_export.node_link(s, circuit_id), indent=1)
        if format == "graphml":
            return networkx_export.graphml(s, circuit_id)
        if format == "html":
            return html_report.circuit_report_html(s, circuit_id, BlobStore(get_settings().blob_dir))
        _fail("--format must be graph-json, node-link, graphml or html")

    _write(out, _run(work))


# --- import ------------------------------------------------------------------------------------------

def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        _fail(f"no file {path}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        _fail(f"import refused, nothing was written: {path} is not JSON ({e})")


@import_cmd.command("project")
def import_project(path: Path, allow_missing_units: bool = typer.Option(
        False, help="Keep annotations of units this database does not have, detached (reported)")) -> None:
    """Import a project export into this database, all or nothing (the first problem is reported)."""
    from ..export.project import import_project as run

    doc = _load(path)
    result = _run(lambda s: run(s, doc, allow_missing_units=allow_missing_units))
    typer.echo(f"imported {result['labels']} labels, {result['families']} families, {result['circuits']} circuits "
               f"({result['users_created']} new users; set their passwords with `circuitscope users set-password`)")
    for w in result["warnings"]:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)


@import_cmd.command("circuit")
def import_circuit(path: Path, user: str = typer.Option(..., help="Who imports it (recorded as the author)")) -> None:
    """Create a circuit from attribution-graph JSON (as written by `export circuit`)."""
    from ..export.graph_json import import_graph_circuit
    from . import users

    doc = _load(path)
    cid = _run(lambda s: import_graph_circuit(s, doc, users.identity(users.require_user(s, user))).id)
    typer.echo(f"created circuit {cid}")
