"""Alembic environment: runs on the engine of ``Database.alembic_config`` (or, for
``Database.migrate_within``, inside the PostgreSQL transaction the caller opened).

The whole upgrade (every pending revision) runs in ONE transaction, on SQLite and on
PostgreSQL alike: a crash or a failing revision leaves the database exactly at the revision
it started from, with its data, never half-way. SQLite's DDL is transactional through our own
``BEGIN IMMEDIATE`` (pysqlite's isolation_level is None). Foreign keys are switched off for the
upgrade on SQLite, because batch-mode table rebuilds drop and re-create tables (with foreign
keys on, dropping a parent table would cascade-delete or fail) and ``PRAGMA foreign_keys``
cannot change inside a transaction; ``PRAGMA foreign_key_check`` then proves, before the
commit, that the rebuilt tables still reference existing rows. On PostgreSQL an advisory lock
makes concurrent starts (several server workers) wait for each other instead of colliding.

``GUANXI_TEST_MIGRATION_TRACE`` (tests only): a file to which the id of each applied revision
is appended (then a 0.05 s pause), so a test can kill the upgrade at a known point.
"""

from __future__ import annotations

import os
import time
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine

from guanxi.storage.models import Base

TRACE_ENV = "GUANXI_TEST_MIGRATION_TRACE"
_PG_MIGRATION_LOCK = 0x6775616E7869  # "guanxi": one advisory lock id for all migrators


def _trace(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    """Test hook: record that a revision was applied (inside the still-open transaction)."""
    with open(os.environ[TRACE_ENV], "a", encoding="utf-8") as trace:
        trace.write(f"{step.up_revision_id}\n")
    time.sleep(0.05)


def _set_sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    # Straight on the driver connection: through SQLAlchemy it would open a transaction first,
    # and inside one SQLite ignores this pragma.
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    cursor.close()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise RuntimeError(
            f"migration left rows with missing references in {', '.join(tables)}: rolled back"
        )


def _run_in_transaction(connection: Connection, is_sqlite: bool) -> None:
    """Every pending revision inside the transaction already open on ``connection``."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        on_version_apply=_trace if os.environ.get(TRACE_ENV) else None,
    )
    with context.begin_transaction():  # joins the open transaction
        context.run_migrations()
    if is_sqlite:
        _check_sqlite_foreign_keys(connection)


def run_upgrade(engine: Engine) -> None:
    with engine.connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        if is_sqlite:
            _set_sqlite_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                _run_in_transaction(connection, is_sqlite)
        finally:
            if is_sqlite:
                _set_sqlite_foreign_keys(connection, on=True)


_given = context.config.attributes.get("connection")
if isinstance(_given, Connection):  # Database.migrate_within: the caller's transaction
    if _given.dialect.name != "postgresql" or not _given.in_transaction():
        raise RuntimeError("migrate_within needs a PostgreSQL connection in a transaction")
    _run_in_transaction(_given, is_sqlite=False)
else:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations through guanxi (Database.migrate), not the alembic CLI")
    run_upgrade(engine)
