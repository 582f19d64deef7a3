"""Engine and session set-up for SQLite (WAL, foreign keys, IMMEDIATE writes) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from guanxi.config import Settings
from guanxi.errors import ConfigError
from guanxi.storage.faults import storage_errors

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_IMMEDIATE = "guanxi_immediate"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that SQLAlchemy's "begin" event
    # below decides how a transaction starts (DEFERRED for reads, IMMEDIATE for writes).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # 64 MiB page cache (default 2 MiB): index updates of large imports stay in memory.
    cursor.execute("PRAGMA cache_size = -65536")
    # LIKE 'prefix%' can then use the plain indexes on name_pinyin / name_initials / phone.
    cursor.execute("PRAGMA case_sensitive_like = ON")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One database: an engine for reads, one for writes, and session factories for both.

    On SQLite every write transaction begins IMMEDIATE, so two writers queue on the busy
    timeout instead of failing later with "database is locked" on upgrade from a read lock.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                parent = Path(self.url.database).expanduser().resolve().parent
                if not parent.is_dir():
                    raise ConfigError(
                        f"SQLite folder {parent} does not exist: create it or change "
                        "GUANXI_DATABASE_URL"
                    )
            kwargs["connect_args"] = {"timeout": busy_timeout_s}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        self.write_engine: Engine = self.engine.execution_options(**{_IMMEDIATE: True})
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.write_engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with storage_errors(self.url), self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session for one use case: committed on success, rolled back on error.

        A read-only database or a full disk raises ``StorageUnavailable`` (storage/faults.py).
        """
        with storage_errors(self.url), self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # -- migrations ---------------------------------------------------------------------------

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.write_engine
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` in one transaction: all pending revisions or none.

        See migrations/env.py: a crash or a failing revision leaves the database at the
        revision it had, with its data.
        """
        command.upgrade(self.alembic_config(), revision)

    def migrate_within(self, connection: Connection, revision: str = "head") -> None:
        """Upgrade PostgreSQL through ``connection``, inside the transaction the caller opened
        (and commits or rolls back): schema and data of a transfer land together or not at all.
        """
        cfg = self.alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def is_up_to_date(self) -> bool:
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        return self.current_revision() == head
