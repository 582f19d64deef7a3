"""``guanxi token``: API tokens for POS systems (create, list, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from guanxi.cli.common import console, err_console, state
from guanxi.services.api_tokens import Scope, create_token, list_tokens, revoke_token

app = typer.Typer(help="API tokens for POS systems and other programs.", no_args_is_help=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


@app.command("create")
def create_command(
    ctx: typer.Context,
    staff: Annotated[int, typer.Option(help="Id of the staff member the token acts as.")],
    name: Annotated[str, typer.Option(help="What uses the token, e.g. POS1.")],
    scope: Annotated[
        list[Scope],
        typer.Option(help="What the token may do; repeat the option for several scopes."),
    ],
) -> None:
    """Create an API token and print it once; only its hash is stored.

    \b
    Example:
      guanxi token create --staff 2 --name POS1 --scope customers:read --scope purchases:write
    """
    plain, info = create_token(state(ctx).database(), staff, name, [s.value for s in scope])
    console.print(f"Token {info.id} ({info.name}) for {info.staff_name}, scopes: "
                  f"{' '.join(info.scopes)}", highlight=False)  # fmt: skip
    err_console.print("Copy it now: it is shown only this once.", style="yellow")
    typer.echo(plain)


@app.command("list")
def list_command(
    ctx: typer.Context,
    staff: Annotated[int | None, typer.Option(help="Only this staff member's tokens.")] = None,
) -> None:
    """List API tokens (never the tokens themselves) with their scopes and last use.

    Example: guanxi token list --staff 2
    """
    table = Table("id", "name", "staff", "scopes", "created", "last used", "revoked")
    for t in list_tokens(state(ctx).database(), staff_id=staff):
        table.add_row(str(t.id), t.name, f"{t.staff_name} ({t.staff_id})", " ".join(t.scopes),
                      _when(t.created_at), _when(t.last_used_at), _when(t.revoked_at))  # fmt: skip
    console.print(table)


@app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id from 'guanxi token list'.")],
) -> None:
    """Revoke an API token at once: requests with it are answered 401 from now on.

    Example: guanxi token revoke 3
    """
    info = revoke_token(state(ctx).database(), token_id)
    console.print(f"Token {info.id} ({info.name}) of {info.staff_name} is revoked "
                  f"since {_when(info.revoked_at)}", highlight=False)  # fmt: skip
