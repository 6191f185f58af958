"""Command line for accounts: `circuitscope users …` and `tokens …`.

All commands use the configured database (CIRCUITSCOPE_DATA_DIR / CIRCUITSCOPE_DATABASE_URL).
"""
from __future__ import annotations

import getpass

import typer

from ..cli_support import run_in_session

users_app = typer.Typer(help="User accounts and roles (viewer, annotator, admin).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (sent as 'Authorization: Bearer <token>').", no_args_is_help=True)


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
    run_in_session(lambda s: users.create_user(s, name, role, password, display_name))
    typer.echo(f"created user {name} ({role}){'' if password else ' without a password (token sign-in only)'}")


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    from . import users

    for u in run_in_session(lambda s: [users.user_dict(x) for x in users.list_users(s)]):
        flags = ("" if u["has_password"] else " (no password)") + (" (disabled)" if u["disabled"] else "")
        typer.echo(f"{u['name']:<24} {u['role']:<10}{flags}")


@users_app.command("set-role")
def users_set_role(name: str, role: str) -> None:
    """Change a user's role (viewer | annotator | admin)."""
    from . import users

    run_in_session(lambda s: users.set_role(s, name, role))
    typer.echo(f"{name} is now {role}")


@users_app.command("set-password")
def users_set_password(name: str, password: str | None = typer.Option(None, help="Prompted when omitted")) -> None:
    """Set a user's password (needed after a project import, which carries no passwords)."""
    from . import users

    password = password or getpass.getpass(f"new password for {name}: ")
    run_in_session(lambda s: users.set_password(s, name, password))
    typer.echo(f"password of {name} changed")


# --- tokens ------------------------------------------------------------------------------------------

@tokens_app.command("create")
def tokens_create(user: str, name: str = typer.Option("", help="What the token is for"),
                  expires_days: int | None = typer.Option(None, help="Expire after N days")) -> None:
    """Create an API token for a user; prints the secret once."""
    from . import users

    secret = run_in_session(lambda s: users.create_token(s, users.require_user(s, user), name, expires_days=expires_days)[1])
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list(user: str | None = typer.Argument(None)) -> None:
    """List API tokens (of one user, or all)."""
    from . import users

    def work(s):
        u = users.require_user(s, user) if user else None
        return [users.token_dict(t) for t in users.list_tokens(s, u)]

    for t in run_in_session(work):
        state = "revoked" if t["revoked"] else "active"
        typer.echo(f"{t['id']:>5} {t['user']:<20} {t['prefix']}…  {state:<8} {t['name']}  last used {t['last_used_at']}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id (see `tokens list`)."""
    from . import users

    run_in_session(lambda s: users.revoke_token(s, token_id))
    typer.echo(f"token {token_id} revoked")
