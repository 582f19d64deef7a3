"""An import killed with SIGKILL midway leaves nothing of its file; a finished one leaves all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Purchase, PurchaseLine
from tests.factories import write_csv

LINES = 200_000


def big_file(path: Path, lines: int = LINES) -> Path:
    rows = (
        [
            f"K{i // 3}",
            f"2024-01-{1 + i % 28:02d} 10:00:00",
            f"1380000{i // 3 % 5000:04d}",
            f"SKU{i % 50}",
            "1",
            "12.50",
        ]
        for i in range(lines)
    )
    return write_csv(path, ["订单号", "日期", "手机", "SKU", "数量", "金额"], list(rows))


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as s:
        return tuple(  # type: ignore[return-value]
            int(s.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (Purchase, PurchaseLine, Customer)
        )


def start_import(db: Database, path: Path) -> subprocess.Popen[bytes]:
    url = db.url.render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, "-m", "guanxi", "--db", url, "import", "purchases", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_midway_leaves_nothing_then_a_rerun_imports_all(db: Database, tmp_path: Path) -> None:
    db.migrate()
    path = big_file(tmp_path / "big.csv")
    for delay in (0.0, 0.7):  # just after writing starts, and well into it
        proc = start_import(db, path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not _writing(db):
            time.sleep(0.02)
        time.sleep(delay)
        assert proc.poll() is None, "the import finished before it was killed: use a bigger file"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert counts(db) == (0, 0, 0)
    if db.is_sqlite:
        with db.read() as s:
            assert s.execute(select(func.count()).select_from(Purchase)).scalar() == 0
            assert s.connection().exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    done = start_import(db, path)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()
    assert counts(db) == ((LINES + 2) // 3, LINES, 5000)


def _writing(db: Database) -> bool:
    """True once the importer has started writing (SQLite: the WAL grows; PostgreSQL: the
    backend shows an open transaction that has written)."""
    if db.is_sqlite:
        wal = Path(str(db.url.database) + "-wal")
        return wal.exists() and wal.stat().st_size > 256_000
    with db.engine.connect() as conn:
        n = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
        ).scalar()
    return bool(n)
