"""A full disk during an import: one clear line, nothing half-written, the shop works after.

A customer import is one transaction (see services/customer_import.py): when SQLite cannot
grow its WAL (SQLITE_FULL) the whole import rolls back, so the honest report is "nothing was
saved", which the error says. Two real ways to fill the disk: a tmpfs filled up to a few KiB
(``guanxi import customers`` as a real process; needs root to mount) and SQLite's own page
limit (``PRAGMA max_page_count``, the same SQLITE_FULL path, in-process, runs everywhere).
Afterwards ``PRAGMA integrity_check`` is ok, no customer and no import batch was stored, and
the same import succeeds once space is freed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from guanxi.services.customer_import import import_customers
from guanxi.services.imports import ImportOptions
from guanxi.storage.db import Database
from guanxi.storage.faults import DISK_FULL, StorageUnavailable
from guanxi.storage.models import Customer, ImportBatch
from tests.factories import write_csv
from tests.faults.conftest import Tmpfs, error_line, guanxi, integrity, new_database

ROWS = 300


def _customer_file(folder: Path) -> Path:
    rows = [[f"客户{n}", f"1380013{n:04d}", f"c{n}@example.cn", "VIP"] for n in range(ROWS)]
    return write_csv(folder / "customers.csv", ["name", "phone", "email", "tags"], rows)


def _stored(path: Path) -> tuple[int, int]:
    """(customers, import batches) in the database file, read with a fresh engine."""
    database = Database(f"sqlite:///{path}")
    try:
        with database.read() as s:
            customers = s.execute(select(func.count()).select_from(Customer)).scalar_one()
            batches = s.execute(select(func.count()).select_from(ImportBatch)).scalar_one()
            return int(customers), int(batches)
    finally:
        database.dispose()


def _import_succeeds(path: Path, csv_file: Path) -> None:
    database = Database(f"sqlite:///{path}")
    try:
        report = import_customers(database, csv_file, ImportOptions())
    finally:
        database.dispose()
    assert report.committed and report.inserted == ROWS and report.rejected == 0
    assert _stored(path) == (ROWS, 1)
    assert integrity(path) == "ok"


@pytest.mark.slow
def test_import_into_a_full_file_system(tmpfs: Tmpfs, tmp_path: Path) -> None:
    path = tmpfs.path / "shop.db"
    new_database(path).dispose()
    csv_file = _customer_file(tmp_path)
    tmpfs.fill(leave_kib=40)  # room for the -shm index and a few pages, not for the import

    done = guanxi(f"sqlite:///{path}", "import", "customers", str(csv_file))
    assert done.returncode == 1, done.stdout + done.stderr
    line = error_line(done)
    assert f"the disk holding the database file {path.resolve()} is full" in line
    assert "nothing was saved" in line
    assert integrity(path) == "ok"
    assert _stored(path) == (0, 0)

    tmpfs.free()
    _import_succeeds(path, csv_file)


def test_import_past_the_page_limit(sqlite_db: Database, tmp_path: Path) -> None:
    path = Path(str(sqlite_db.url.database))
    sqlite_db.dispose()
    csv_file = _customer_file(tmp_path)
    limited = Database(f"sqlite:///{path}")
    with limited.read() as s:
        pages = int(s.connection().exec_driver_sql("PRAGMA page_count").scalar_one())

    def limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 4}")

    limited.dispose()
    event.listen(limited.engine, "connect", limit)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            import_customers(limited, csv_file, ImportOptions())
    finally:
        limited.dispose()
    assert caught.value.code == DISK_FULL
    assert "is full: nothing was saved" in str(caught.value)
    assert integrity(path) == "ok"
    assert _stored(path) == (0, 0)

    _import_succeeds(path, csv_file)
