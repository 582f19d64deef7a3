"""Storage faults a user can act on: a read-only database and a full disk.

The database drivers report them as low-level errors (SQLite: SQLITE_READONLY, SQLITE_FULL, or
"unable to open database file" on a read-only file system; PostgreSQL: SQLSTATE 25006
read-only transaction, 53100 disk full). ``translated`` turns them into ``StorageUnavailable``,
a ``GuanxiError`` with one clear line and a stable ``code``, so that the CLI prints one line
and the web layer answers 503 (JSON ``{"error": {"code": ...}}`` under /api, an error page
for browsers). The transaction that met the fault was rolled back: nothing was half-written.
Every other database error passes through unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from guanxi.errors import GuanxiError

READ_ONLY = "database_read_only"
DISK_FULL = "disk_full"

# SQLite primary result codes (the low byte of the extended code).
_SQLITE_READONLY, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 13, 14
_PG_STATES = {"25006": READ_ONLY, "53100": DISK_FULL}


class StorageUnavailable(GuanxiError):
    """The database cannot store anything now (read-only, or its disk is full); nothing of the
    failed operation was saved. ``code`` is ``database_read_only`` or ``disk_full``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _sqlite_file(url: URL) -> Path | None:
    name = url.database or ""
    if url.get_backend_name() != "sqlite" or name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name).expanduser().resolve()


def _read_only_media(path: Path) -> bool:
    """Whether the file (or its folder, where SQLite keeps the -wal and -shm files) cannot be
    written: a read-only mount, an immutable file, or missing permissions."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


def _kind(exc: DBAPIError, url: URL) -> str | None:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return _PG_STATES.get(state)
    code = getattr(orig, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    primary = code & 0xFF
    if primary == _SQLITE_READONLY:
        return READ_ONLY
    if primary == _SQLITE_FULL:
        return DISK_FULL
    path = _sqlite_file(url)
    if primary == _SQLITE_CANTOPEN and path is not None and _read_only_media(path):
        return READ_ONLY
    return None


def translated(exc: DBAPIError, url: URL) -> StorageUnavailable | None:
    """The ``StorageUnavailable`` that ``exc`` means, or None when it is another error."""
    kind = _kind(exc, url)
    if kind is None:
        return None
    path = _sqlite_file(url)
    if kind == READ_ONLY:
        if path is not None:
            what = f"the database file {path} is read-only"
            fix = "make the file and its folder writable (permissions, mount) and try again"
        else:
            what = "the database is read-only (a standby server or a read-only transaction)"
            fix = "point GUANXI_DATABASE_URL at the writable primary server"
        return StorageUnavailable(f"{what}: nothing was saved; {fix}", READ_ONLY)
    where = f"the disk holding the database file {path}" if path is not None else (
        "the database server's disk")  # fmt: skip
    return StorageUnavailable(
        f"{where} is full: nothing was saved; free some space and try again", DISK_FULL
    )


@contextmanager
def storage_errors(url: URL) -> Iterator[None]:
    """Raise ``StorageUnavailable`` instead of the driver's read-only / disk-full errors."""
    try:
        yield
    except DBAPIError as exc:
        fault = translated(exc, url)
        if fault is None:
            raise
        raise fault from exc


__all__ = ["DISK_FULL", "READ_ONLY", "StorageUnavailable", "storage_errors", "translated"]
