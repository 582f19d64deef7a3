"""``guanxi backup`` / ``guanxi restore``: a consistent copy of the shop, and the way back.

SQLite: the online backup API copies one consistent snapshot while the shop keeps serving
(WAL: writers are not blocked), into a single self-contained file (journal_mode=DELETE) that
passes ``PRAGMA integrity_check`` before it takes the backup's name. PostgreSQL: ``pg_dump
--format=custom``. The file format says what a backup is (``SQLite format 3`` / ``PGDMP``).

A restore never leaves a half-restored shop: SQLite is rebuilt in a temporary file next to the
database (copied, checked, migrated to the current schema, counted) and then renamed over it;
PostgreSQL runs the dump's SQL after dropping the old tables, all in one transaction. Either
refuses to replace a database that holds rows unless forced.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text

from guanxi.errors import ConfigError, Conflict, GuanxiError, InvalidInput
from guanxi.storage import pgtools
from guanxi.storage.db import Database

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds: for the summary line of ``guanxi backup``."""

    path: Path
    kind: str  # "sqlite" or "postgresql"
    size: int
    revision: str | None
    customers: int


@dataclass
class RestoreReport:
    """What a restore did: the backup's revision, whether it was migrated, rows per table."""

    kind: str
    backup_revision: str | None
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def migrated(self) -> bool:
        return self.backup_revision != self.revision


def backup_kind(path: Path) -> str:
    """'sqlite' or 'postgresql', read from the file's first bytes."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InvalidInput(f"cannot read backup {path}: {exc.strerror}") from exc
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise InvalidInput(f"{path} is not a Guanxi backup (neither a SQLite file nor a pg_dump file)")


def backup(database: Database, target: Path) -> BackupInfo:
    """Write a consistent backup of ``database`` to ``target`` (replaced only when complete)."""
    target = target.expanduser().resolve()
    if not target.parent.is_dir():
        raise InvalidInput(f"folder {target.parent} does not exist: create it first")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        if database.is_sqlite:
            _sqlite_backup(_sqlite_path(database), partial)
            revision, counts = _sqlite_contents(partial)
            customers = counts.get("customer", 0)
        else:
            with database.read() as session:
                revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
                customers = int(session.execute(text("SELECT COUNT(*) FROM customer")).scalar_one())
            pgtools.run_tool("pg_dump", ["--format=custom", "--file", str(partial)], database.url)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    kind = "sqlite" if database.is_sqlite else "postgresql"
    return BackupInfo(target, kind, target.stat().st_size, revision, customers)


def restore(database: Database, source: Path, *, force: bool = False) -> RestoreReport:
    """Replace ``database`` by the backup ``source``, then bring it to the current schema."""
    source = source.expanduser().resolve()
    kind = backup_kind(source)
    wanted = "sqlite" if database.is_sqlite else "postgresql"
    if kind != wanted:
        hint = ""
        if wanted == "postgresql":
            hint = " (to move a shop to PostgreSQL use guanxi migrate-to-postgres)"
        raise InvalidInput(f"{source} is a {kind} backup but the database is {wanted}{hint}")
    if not force and has_rows(database):
        raise Conflict(
            "the database already holds data: restoring would replace it; "
            "stop the shop and add --force to replace it anyway"
        )
    if database.is_sqlite:
        return _sqlite_restore(database, source)
    return _postgres_restore(database, source)


def has_rows(database: Database) -> bool:
    """Whether any table of the database (besides alembic_version) holds a row."""
    if database.is_sqlite and not _sqlite_path(database).exists():
        return False
    with database.read() as session:
        tables = inspect(session.connection()).get_table_names()
        for table in tables:
            if (
                table != "alembic_version"
                and session.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first()
            ):
                return True
    return False


# -- SQLite -------------------------------------------------------------------------------------


def _sqlite_path(database: Database) -> Path:
    name = database.url.database
    if not name or name == ":memory:":
        raise ConfigError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name).expanduser().resolve()


def _sqlite_backup(source: Path, target: Path, *, timeout_s: float = 30.0) -> None:
    """Copy ``source`` to ``target`` with the online backup API and check the copy."""
    if not source.exists():
        raise InvalidInput(f"no database at {source}")
    src = sqlite3.connect(source, timeout=timeout_s)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one snapshot
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        result = dst.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise GuanxiError(f"cannot copy {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    if result is None or result[0] != "ok":
        raise GuanxiError(f"the copy of {source} failed its integrity check: {result}")


def _sqlite_contents(path: Path) -> tuple[str | None, dict[str, int]]:
    """The Alembic revision and the rows per table of a SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _contents(conn)
    except sqlite3.DatabaseError as exc:
        raise GuanxiError(f"cannot read {path}: {exc}") from exc
    finally:
        conn.close()


def _contents(conn: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )]  # fmt: skip
    counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    return revision, counts


def _sqlite_restore(database: Database, source: Path) -> RestoreReport:
    target = _sqlite_path(database)
    if not target.parent.is_dir():
        raise InvalidInput(f"folder {target.parent} does not exist")
    backup_revision, expected = _sqlite_contents(source)
    _check_known(database, backup_revision)
    staging = target.with_name(f".{target.name}.restore-{os.getpid()}")
    try:
        _sqlite_backup(source, staging)
        staged = Database(f"sqlite:///{staging}")
        try:
            _migrate(staged, backup_revision)
        finally:
            staged.dispose()
        _checkpoint_or_refuse(staging)
        revision, counts = _sqlite_contents(staging)
        _check_counts(expected, counts)
        database.dispose()
        if target.exists():
            _checkpoint_or_refuse(target)
        os.replace(staging, target)
        _fsync_dir(target.parent)
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            leftover.unlink(missing_ok=True)
    return RestoreReport("sqlite", backup_revision, revision, counts)


def _checkpoint_or_refuse(path: Path) -> None:
    """Empty the file's WAL into it; refuse when another process keeps the WAL in use."""
    conn = sqlite3.connect(path, timeout=5)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    if busy or (wal.exists() and wal.stat().st_size):
        raise Conflict(f"{path} is in use by another program: stop guanxi serve, then restore")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- PostgreSQL ---------------------------------------------------------------------------------


def _postgres_restore(database: Database, source: Path) -> RestoreReport:
    backup_revision, expected = pgtools.dump_contents(source)
    _check_known(database, backup_revision)
    with database.read() as session:
        tables = inspect(session.connection()).get_table_names()
    preamble = "".join(f'DROP TABLE IF EXISTS public."{t}" CASCADE;' for t in tables) or "SELECT 1;"
    database.dispose()
    pgtools.run_script_from_dump(source, database.url, preamble)
    _migrate(database, backup_revision)
    with database.read() as session:
        counts = {
            t: int(session.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one())
            for t in inspect(session.connection()).get_table_names()
        }
    _check_counts(expected, counts)
    return RestoreReport("postgresql", backup_revision, database.current_revision(), counts)


def _check_known(database: Database, backup_revision: str | None) -> None:
    """Refuse, before anything changes, a backup whose schema this Guanxi cannot read."""
    if backup_revision is None:
        raise InvalidInput("the backup holds no Guanxi schema (no alembic_version row)")
    try:
        ScriptDirectory.from_config(database.alembic_config()).get_revision(backup_revision)
    except CommandError as exc:
        raise InvalidInput(
            f"the backup has schema revision {backup_revision}, unknown to this Guanxi: "
            "restore it with the newer version that made it"
        ) from exc


def _migrate(database: Database, backup_revision: str | None) -> None:
    """Bring a restored database to the current schema; a backup of a newer Guanxi is refused."""
    try:
        database.migrate()
    except CommandError as exc:
        raise GuanxiError(
            f"the backup has schema revision {backup_revision}, which this Guanxi does not know "
            f"(made by a newer version?): {exc}"
        ) from exc


def _check_counts(expected: dict[str, int], actual: dict[str, int]) -> None:
    """Every table of the backup arrived with all its rows (the version row may change)."""
    wrong = [
        f"{t}: {n} in the backup, {actual.get(t, 0)} restored"
        for t, n in expected.items()
        if t != "alembic_version" and actual.get(t, 0) != n
    ]
    if wrong:
        raise GuanxiError("restore check failed: " + "; ".join(wrong))
