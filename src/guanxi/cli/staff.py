"""``guanxi staff``: add staff members and give them a sign-in."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from guanxi.cli.common import console, state
from guanxi.domain.staff import Role
from guanxi.services.staff import add_staff, list_staff, make_hasher

app = typer.Typer(help="Staff members and their sign-ins.", no_args_is_help=True)


@app.command("add")
def add_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The staff member's name, e.g. 李娜.")],
    role: Annotated[Role, typer.Option(help="owner, manager or clerk.")] = Role.CLERK,
    username: Annotated[str | None, typer.Option(help="User name for signing in.")] = None,
    store: Annotated[int | None, typer.Option(help="Store id (managers and clerks).")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (asked for when --username is given without it).",
            envvar="GUANXI_NEW_PASSWORD",
        ),
    ] = None,
) -> None:
    """Add a staff member; with --username they can sign in to the web UI.

    Example: guanxi staff add 林婉清 --role owner --username owner
    """
    if username and password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    member = add_staff(state(ctx).database(), name, role, hasher=make_hasher(),
                       username=username, password=password, store_id=store)  # fmt: skip
    console.print(
        f"Added {member.name} ({member.role.value}), id {member.id}"
        + (f", signs in as {member.username}" if member.username else "")
    )


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List staff members with their roles and user names.

    Example: guanxi staff list
    """
    table = Table("id", "name", "role", "store", "user name")
    for m in list_staff(state(ctx).database()):
        table.add_row(str(m.id), m.name, m.role.value, str(m.store_id or ""), m.username or "")
    console.print(table)
