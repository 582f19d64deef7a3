"""``guanxi migrate-to-postgres``: move a shop from its SQLite file to an empty PostgreSQL.

Everything happens in ONE transaction on the target: the schema (migrated to head), every
table copied in foreign-key order in batches, the id sequences set past the copied ids, and a
verification of per-table counts and of the money-like sums (points balances and ledger,
stored-value balances and ledger) against the source. Any difference, or any error, rolls
the target back to what it was. The source is read in one read transaction: one consistent
snapshot even while the shop is still serving.

Rows go through the models' column types (UTC datetimes, scaled decimals, JSON, booleans),
so each value arrives as the same Python value it left. A row whose self-reference (a
referred-by customer, the lot a reversal is about) points to a later row is inserted with the
reference empty and completed after its table is copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from guanxi.errors import Conflict, GuanxiError, InvalidInput
from guanxi.storage.backup import has_rows
from guanxi.storage.db import Database
from guanxi.storage.models import Base

BATCH_ROWS = 2000
Progress = Callable[[str, int, int], None]

CHECKED_SUMS: tuple[tuple[str, str, str], ...] = (
    ("points balances", "points_balance", "points"),
    ("points ledger", "points_entry", "points"),
    ("stored value paid balances", "stored_value_balance", "paid"),
    ("stored value bonus balances", "stored_value_balance", "bonus"),
    ("stored value paid ledger", "stored_value_entry", "paid"),
    ("stored value bonus ledger", "stored_value_entry", "bonus"),
    ("purchase totals", "purchase", "total_amount"),
)
"""(label, table, column) whose SUM must be equal on both sides; money sums are in fen."""


@dataclass
class TransferReport:
    """Per-table row counts and the checked sums, each as (source, target)."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    sums: dict[str, tuple[int, int]] = field(default_factory=dict)
    revision: tuple[str, str] = ("", "")

    def differences(self) -> list[str]:
        both: dict[str, tuple[object, object]] = {
            **self.counts,
            **self.sums,
            "schema revision": self.revision,
        }
        return [f"{name}: {s} ≠ {t}" for name, (s, t) in both.items() if s != t]


def migrate_to_postgres(
    source: Database, target_url: str, *, progress: Progress | None = None
) -> TransferReport:
    """Copy the SQLite shop ``source`` into the empty PostgreSQL database at ``target_url``."""
    if not source.is_sqlite:
        raise InvalidInput("the configured database is not SQLite: nothing to move")
    if not source.is_up_to_date():
        raise Conflict("the SQLite database is not at the current schema: run guanxi init first")
    target = Database(target_url)
    try:
        if target.is_sqlite:
            raise InvalidInput(f"{target_url!r} is not a PostgreSQL URL (postgresql://…)")
        if has_rows(target):
            shown = target.url.render_as_string(hide_password=True)
            raise Conflict(f"{shown} already holds data: move a shop only into an empty database")
        report = progress or (lambda _stage, _done, _total: None)
        with source.read() as reading, target.write_engine.connect() as conn, conn.begin():
            report("Creating the schema", 0, 1)
            target.migrate_within(conn)
            _copy_all(reading.connection(), conn, report)
            result = _verify(reading.connection(), conn)
            differences = result.differences()
            if differences:  # raising here rolls the target back
                raise GuanxiError("copy differs, nothing kept: " + "; ".join(differences))
        return result
    finally:
        target.dispose()


def _copy_all(src: Connection, dst: Connection, report: Progress) -> None:
    tables = Base.metadata.sorted_tables
    totals = {t.name: int(src.execute(select(func.count()).select_from(t)).scalar_one())
              for t in tables}  # fmt: skip
    for table in tables:
        _copy_table(src, dst, table, totals[table.name], report)
        _reset_sequence(dst, table)


def _self_references(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


def _copy_table(
    src: Connection, dst: Connection, table: Table, total: int, report: Progress
) -> None:
    stage = f"Copying {table.name}"
    report(stage, 0, total)
    if total == 0:
        return
    later = _self_references(table)
    pending: list[dict[str, Any]] = []  # self-references to rows not yet copied
    copied: set[Any] = set()
    done = 0
    rows = src.execution_options(yield_per=BATCH_ROWS).execute(
        select(table).order_by(*table.primary_key.columns)
    )
    for batch in rows.mappings().partitions():
        values = [dict(row) for row in batch]
        if later:
            for row in values:
                copied.add(row["id"])
                forward = {c: row[c] for c in later if row[c] is not None and row[c] not in copied}
                if forward:
                    pending.append({"row_id": row["id"], **forward})
                    row.update(dict.fromkeys(forward))
        dst.execute(table.insert(), values)
        done += len(values)
        report(stage, done, total)
    for fix in pending:
        row_id = fix.pop("row_id")
        dst.execute(table.update().where(table.c.id == row_id).values(**fix))


def _reset_sequence(dst: Connection, table: Table) -> None:
    """Let PostgreSQL hand out ids after the copied ones (tables with a serial ``id``)."""
    if list(table.primary_key.columns.keys()) != ["id"]:
        return
    dst.execute(
        text(
            "SELECT setval(pg_get_serial_sequence(:t, 'id'), COALESCE(MAX(id), 1), "
            f'MAX(id) IS NOT NULL) FROM "{table.name}"'
        ),
        {"t": f'"{table.name}"'},
    )


def _verify(src: Connection, dst: Connection) -> TransferReport:
    result = TransferReport()
    for table in Base.metadata.sorted_tables:
        query = select(func.count()).select_from(table)
        result.counts[table.name] = (
            int(src.execute(query).scalar_one()),
            int(dst.execute(query).scalar_one()),
        )
    for label, table_name, column in CHECKED_SUMS:
        sql = text(f'SELECT COALESCE(SUM("{column}"), 0) FROM "{table_name}"')
        result.sums[label] = (
            int(src.execute(sql).scalar_one()),
            int(dst.execute(sql).scalar_one()),
        )
    revision = "SELECT version_num FROM alembic_version"
    result.revision = (
        str(src.execute(text(revision)).scalar_one()),
        str(dst.execute(text(revision)).scalar_one()),
    )
    return result
