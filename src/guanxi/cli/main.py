"""The ``guanxi`` command: builds settings once, hands a Database to each command group."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from guanxi import __version__
from guanxi.cli import (
    agenda,
    analytics,
    backup,
    calendar,
    campaigns,
    clubs,
    complaints,
    customers,
    daily,
    demo,
    exports,
    imports,
    interests,
    loyalty,
    outbox,
    points,
    serve,
    staff,
    surveys,
    tokens,
)
from guanxi.cli.common import State, console, err_console, state
from guanxi.config import Settings
from guanxi.domain.staff import Role
from guanxi.errors import GuanxiError
from guanxi.services.staff import list_staff

app = typer.Typer(
    name="guanxi",
    help="Guanxi (关系): customer relationship and loyalty system for shops.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"guanxi {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="GUANXI_DATABASE_URL",
            help="Database: a SQLite file path or a SQLAlchemy URL (default guanxi.db).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Guanxi (关系): customer relationship and loyalty system for shops."""
    try:
        settings = Settings(database_url=db) if db else Settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]) for e in exc.errors())
        raise GuanxiError(f"configuration: {messages}") from exc
    ctx.obj = State(settings=settings, debug=debug)


@app.command("init")
def init_command(ctx: typer.Context) -> None:
    """Create or upgrade the database schema.

    Example: guanxi --db shop.db init
    """
    database = state(ctx).database()
    console.print(f"Database ready at {database.url.render_as_string(hide_password=True)}")
    if not any(m.role is Role.OWNER and m.username for m in list_staff(database)):
        console.print(
            "No owner can sign in yet. Create the first one with:\n"
            "  guanxi staff add <name> --role owner --username owner",
            highlight=False,
        )


app.add_typer(imports.app, name="import")
app.add_typer(customers.app, name="customers")
app.add_typer(customers.customer_app, name="customer")
app.add_typer(exports.app, name="export")
app.add_typer(staff.app, name="staff")
app.add_typer(tokens.app, name="token")
app.add_typer(analytics.app, name="analytics")
app.add_typer(analytics.clv_app, name="clv")
app.add_typer(points.app, name="points")
app.add_typer(loyalty.app, name="loyalty")
app.add_typer(campaigns.app, name="campaign")
app.add_typer(outbox.app, name="outbox")
app.add_typer(complaints.app, name="complaints")
app.add_typer(surveys.app, name="surveys")
app.add_typer(clubs.app, name="clubs")
app.add_typer(clubs.events_app, name="events")
app.command("calendar")(calendar.calendar_command)
app.command("agenda")(agenda.agenda_command)
app.command("daily")(daily.daily_command)
app.command("interests")(interests.interests_command)
app.command("demo")(demo.demo_command)
app.command("serve")(serve.serve_command)
app.command("backup")(backup.backup_command)
app.command("restore")(backup.restore_command)
app.command("migrate-to-postgres")(backup.migrate_to_postgres_command)


def run() -> None:
    """Console-script entry: a GuanxiError becomes one red line and exit code 1."""
    try:
        app()
    except GuanxiError as exc:
        if "--debug" in sys.argv:
            raise
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
        sys.exit(1)
