"""What the feature packages' commands share: one transaction per command, domain errors as a red one-line
message with exit code 2, and output to a file or stdout."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def run_in_session(fn: Callable[[Any], T]) -> T:
    """Run fn(session) in one transaction on the configured database (CIRCUITSCOPE_DATA_DIR /
    CIRCUITSCOPE_DATABASE_URL); a domain error becomes its message and exit code 2."""
    from .errors import DomainError
    from .store.db import get_database

    try:
        with get_database().session() as session:
            return fn(session)
    except DomainError as e:
        fail(e.detail)


def write_output(out: Path | None, content: str | bytes) -> None:
    """Write to `out`, or to stdout when it is None or '-'."""
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


def read_json_file(path: Path) -> Any:
    """A JSON file to import; a missing or malformed file is refused before anything is written."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"no file {path}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        fail(f"import refused, nothing was written: {path} is not JSON ({e})")
