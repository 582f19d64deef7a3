"""Writing the demo: refuse a database in use, bulk-insert the rows, move id sequences on."""

from __future__ import annotations

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from guanxi.errors import Conflict
from guanxi.services.demo.context import ProgressFn, Row
from guanxi.storage.models import Base

CHUNK = 10_000


def check_empty(session: Session) -> None:
    """Raise Conflict unless the shop tables are empty (the demo assigns ids from 1)."""
    tables = Base.metadata.tables
    customers = session.scalar(select(func.count()).select_from(tables["customer"])) or 0
    if customers:
        raise Conflict(
            f"the database already holds {customers:,} customers: the demo builds only into an "
            "empty database; give it a new file, e.g. guanxi --db demo.db demo"
        )
    for name in ("store", "staff", "product", "purchase"):
        if session.scalar(select(func.count()).select_from(tables[name])):
            raise Conflict(
                f"the database already holds rows in table {name!r}: the demo builds only into "
                "an empty database; give it a new file, e.g. guanxi --db demo.db demo"
            )


def insert_all(session: Session, rows: dict[str, list[Row]], progress: ProgressFn) -> None:
    """Bulk-insert every table in chunks, reporting rows written."""
    total = sum(len(r) for r in rows.values())
    done = 0
    progress("Writing rows", done, total)
    for name, table_rows in rows.items():
        table: Table = Base.metadata.tables[name]
        for at in range(0, len(table_rows), CHUNK):
            chunk = table_rows[at : at + CHUNK]
            session.execute(insert(table), chunk)
            done += len(chunk)
            progress("Writing rows", done, total)


def reset_sequences(session: Session) -> None:
    """On PostgreSQL, move each id sequence past the ids the demo assigned itself."""
    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.c["id"].primary_key:
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'COALESCE(MAX(id), 0) + 1, false) FROM "{table.name}"'
                )
            )
