"""``guanxi backup``, ``guanxi restore`` and ``guanxi migrate-to-postgres``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from guanxi.cli.common import console, err_console, stage_bar, state
from guanxi.config import normalise_database_url
from guanxi.storage.backup import backup, restore
from guanxi.storage.db import Database
from guanxi.storage.transfer import migrate_to_postgres


def _configured(ctx: typer.Context) -> Database:
    """The configured database as it is: a backup or a restore must not migrate it first."""
    return Database.from_settings(state(ctx).settings)


def backup_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Backup file to write (replaced when complete).")
    ],
) -> None:
    """Back up the database to FILE while the shop keeps working.

    SQLite: a consistent online copy, checked with PRAGMA integrity_check. PostgreSQL:
    pg_dump --format=custom (the PostgreSQL client programs must be installed).

    Example: guanxi --db shop.db backup backups/shop-2026-12-07.db
    """
    database = _configured(ctx)
    try:
        info = backup(database, file)
    finally:
        database.dispose()
    console.print(
        f"Backed up to {info.path} ({info.kind}, {info.size:,} bytes, schema revision "
        f"{info.revision or 'none'}, {info.customers:,} customers)",
        highlight=False,
        soft_wrap=True,
    )


def restore_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Backup file written by guanxi backup.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds data.")
    ] = False,
) -> None:
    """Restore the database from FILE (stop guanxi serve first).

    Refuses to replace a database that holds data unless --force is given. The restored
    database is migrated to the current schema when the backup is older, and its rows are
    counted against the backup's.

    Example: guanxi --db shop.db restore backups/shop-2026-12-07.db --force
    """
    database = _configured(ctx)
    try:
        report = restore(database, file, force=force)
    finally:
        database.dispose()
    if report.migrated:
        console.print(
            f"The backup had schema revision {report.backup_revision}: migrated to "
            f"{report.revision}.",
            highlight=False,
        )
    rows = sum(n for t, n in report.counts.items() if t != "alembic_version")
    console.print(
        f"Restored {file} ({rows:,} rows, {report.counts.get('customer', 0):,} customers; "
        "every table has the backup's row count)",
        highlight=False,
        soft_wrap=True,
    )


def migrate_to_postgres_command(
    ctx: typer.Context,
    postgres_url: Annotated[
        str,
        typer.Argument(
            metavar="POSTGRES_URL",
            help="Empty target database, e.g. postgresql://guanxi@127.0.0.1:5432/shop",
        ),
    ],
) -> None:
    """Move the configured SQLite shop into an empty PostgreSQL database.

    All or nothing: the schema, every table, the id sequences and a check of counts and
    balances happen in one transaction on the target. Afterwards point GUANXI_DATABASE_URL
    at the PostgreSQL database.

    Example: guanxi --db shop.db migrate-to-postgres postgresql://guanxi@db:5432/shop
    """
    source = state(ctx).database()
    with stage_bar("Starting", to=err_console) as report:
        result = migrate_to_postgres(source, normalise_database_url(postgres_url), progress=report)
    table = Table(
        "table", "SQLite", "PostgreSQL", title="Moved to PostgreSQL", title_justify="left"
    )
    table.add_row("schema revision", *result.revision)
    for name, (left, right) in [*result.counts.items(), *result.sums.items()]:
        table.add_row(name, f"{left:,}", f"{right:,}")
    console.print(table)
    console.print("All counts and sums are equal. Set GUANXI_DATABASE_URL to the new database.")
