"""Fault-test helpers: real small file systems (tmpfs) that can be filled or made read-only,
the real ``guanxi`` CLI as a subprocess, and SQLite's own integrity check.

Mounting needs root (CAP_SYS_ADMIN); where it is refused, the tests that need a mount say so
in their skip reason and the in-process variants (``PRAGMA max_page_count``, an immutable or
permission-less file) still run.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from guanxi.storage.db import Database

GUANXI = [sys.executable, "-m", "guanxi"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


@dataclass
class Tmpfs:
    """A tmpfs mounted for one test: ``fill`` leaves only a few KiB free, ``free`` undoes it,
    ``read_only`` remounts it read-only (``writable`` back)."""

    path: Path

    def fill(self, leave_kib: int) -> None:
        free = os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize
        size = max(0, free - leave_kib * 1024)
        with (self.path / "filler.bin").open("wb") as fh:
            fh.truncate(0)
            chunk = b"\0" * (1 << 16)
            while size > 0:  # written, not sparse: tmpfs counts written pages only
                fh.write(chunk[: min(size, len(chunk))])
                size -= len(chunk)

    def free(self) -> None:
        (self.path / "filler.bin").unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        done = _run("mount", "-o", f"remount,{mode}", str(self.path))
        assert done.returncode == 0, done.stderr


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 4 MiB tmpfs under the test's folder (skipped, with the reason, where mounting is
    not allowed: the max_page_count and file-level variants cover the same code paths)."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root: the in-process variants ran instead")
    done = _run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield Tmpfs(mount)
    finally:
        _run("mount", "-o", "remount,rw", str(mount))
        _run("umount", "-l", str(mount))


def new_database(path: Path) -> Database:
    """A migrated SQLite database at ``path`` (WAL checkpointed, so the file stands alone)."""
    database = Database(f"sqlite:///{path}")
    database.migrate()
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the SQLite file, read-only (``ok`` when sound)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def guanxi(
    db_url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (a new process) on ``db_url``; wide terminal so lines are not cut."""
    full_env = {**os.environ, "GUANXI_DATABASE_URL": db_url, "COLUMNS": "200",
                "NO_COLOR": "1", **(env or {})}  # fmt: skip
    return subprocess.run([*GUANXI, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, check=False)  # fmt: skip


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The CLI's error: exactly one non-empty line on stderr, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]
