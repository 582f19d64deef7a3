"""``guanxi backup`` / ``guanxi restore`` on real SQLite files and a real PostgreSQL server.

What each test proves: a backup restores to the same rows, value for value; a restore never
replaces a shop's data unless forced, and a damaged backup leaves the shop as it was; an old
backup comes back migrated to the current schema; a backup taken while a POS process keeps
recording purchases (which earn points) is internally consistent; pg_dump / pg_restore do
the same on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.errors import Conflict, GuanxiError, InvalidInput
from guanxi.storage.backup import backup, backup_kind, restore
from guanxi.storage.db import Database
from guanxi.storage.transfer import migrate_to_postgres
from tests.storage.purchase_writer import ORDER_PREFIX
from tests.storage.shop_rows import all_rows, fill_first_revision, row_counts
from tests.support import scratch_database

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def _sqlite(path: Path) -> Database:
    return Database(f"sqlite:///{path}")


@pytest.mark.slow
def test_sqlite_backup_restores_every_row(demo_shop: Path, tmp_path: Path) -> None:
    file = tmp_path / "nightly.db"
    result = runner.invoke(app, ["--db", str(demo_shop), "backup", str(file)])
    assert result.exit_code == 0, result.output
    assert "schema revision 0016" in result.output and "40 customers" in result.output
    assert backup_kind(file) == "sqlite"
    with sqlite3.connect(file) as conn:  # one self-contained file, no WAL beside it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    restored = tmp_path / "restored" / "shop.db"
    restored.parent.mkdir()
    result = runner.invoke(app, ["--db", str(restored), "restore", str(file)])
    assert result.exit_code == 0, result.output
    assert "40 customers" in result.output and "migrated" not in result.output
    assert sorted(p.name for p in restored.parent.iterdir()) == ["shop.db"]  # no staging left
    source, target = _sqlite(demo_shop), _sqlite(restored)
    assert all_rows(target) == all_rows(source)
    source.dispose()
    target.dispose()


def test_restore_replaces_a_shop_only_when_forced(demo_shop: Path, tmp_path: Path) -> None:
    empty = _sqlite(tmp_path / "empty.db")
    empty.migrate()
    file = tmp_path / "empty-backup.db"
    backup(empty, file)
    shop = _sqlite(demo_shop)
    with pytest.raises(Conflict, match="--force"):
        restore(shop, file)
    with shop.read() as session:
        assert session.execute(text("SELECT COUNT(*) FROM customer")).scalar_one() == 40
    report = restore(shop, file, force=True)
    assert report.counts["customer"] == 0
    with shop.read() as session:
        assert session.execute(text("SELECT COUNT(*) FROM customer")).scalar_one() == 0
    shop.dispose()
    empty.dispose()


def test_a_damaged_backup_leaves_the_shop_as_it_was(demo_shop: Path, tmp_path: Path) -> None:
    shop = _sqlite(demo_shop)
    file = tmp_path / "backup.db"
    backup(shop, file)
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 3])  # a copy cut short
    before = all_rows(shop)
    with pytest.raises(GuanxiError):
        restore(shop, file, force=True)
    assert all_rows(shop) == before
    assert not [p for p in demo_shop.parent.iterdir() if ".restore-" in p.name]
    shop.dispose()


def test_an_older_backup_is_migrated_on_restore(tmp_path: Path) -> None:
    old = _sqlite(tmp_path / "old.db")
    old.migrate("0001")
    with old.write_engine.begin() as conn:
        fill_first_revision(conn, customers=30)
    with old.engine.connect() as conn:
        before = row_counts(conn)
    file = tmp_path / "old-backup.db"
    info = backup(old, file)
    assert (info.revision, info.customers) == ("0001", 30)
    target = tmp_path / "new.db"
    result = runner.invoke(app, ["--db", str(target), "restore", str(file)])
    assert result.exit_code == 0, result.output
    assert "revision 0001: migrated to 0016" in result.output
    restored = _sqlite(target)
    assert restored.is_up_to_date()
    with restored.engine.connect() as conn:
        assert row_counts(conn) == before
    restored.dispose()
    old.dispose()


def test_what_is_not_a_backup_of_this_database_is_refused(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database")
    shop = _sqlite(tmp_path / "shop.db")
    with pytest.raises(InvalidInput, match="not a Guanxi backup"):
        restore(shop, text_file)
    sqlite_backup = tmp_path / "b.db"
    shop.migrate()
    backup(shop, sqlite_backup)
    postgres = Database("postgresql+psycopg://guanxi@127.0.0.1:1/none")  # never reached
    with pytest.raises(InvalidInput, match="migrate-to-postgres"):
        restore(postgres, sqlite_backup)
    with pytest.raises(InvalidInput, match="does not exist"):
        backup(shop, tmp_path / "no" / "such" / "folder.db")
    with sqlite3.connect(sqlite_backup) as conn:  # as if made by a newer Guanxi
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    fresh = _sqlite(tmp_path / "fresh.db")
    with pytest.raises(InvalidInput, match="9999, unknown"):
        restore(fresh, sqlite_backup)
    assert not (tmp_path / "fresh.db").exists()
    shop.dispose()


def _points_consistent(path: Path) -> int:
    """Check a backup copy; return how many of the writer's purchases it holds."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        mismatched = conn.execute(
            "SELECT b.customer_id FROM points_balance b LEFT JOIN (SELECT customer_id, "
            "SUM(points) AS s FROM points_entry GROUP BY customer_id) e "
            "ON e.customer_id = b.customer_id WHERE b.points <> COALESCE(e.s, 0)"
        ).fetchall()
        assert mismatched == []
        orders = conn.execute(
            "SELECT COUNT(*), COUNT(e.id) FROM purchase p LEFT JOIN points_entry e "
            "ON e.source_type = 'purchase' AND e.source_id = CAST(p.id AS TEXT) "
            "WHERE p.external_order_id LIKE ?",
            (f"{ORDER_PREFIX}%",),
        ).fetchone()
        assert orders[0] == orders[1]  # every purchase came with its points, none without
        return int(orders[0])


@pytest.mark.slow
def test_backup_while_purchases_are_recorded_is_consistent(demo_shop: Path, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    command = [sys.executable, "-m", "tests.storage.purchase_writer", f"sqlite:///{demo_shop}"]
    writer = subprocess.Popen([*command, str(stop)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    try:
        seen = [int(writer.stdout.readline()) for _ in range(5)]  # it is writing
        held = []
        for n in range(3):
            result = runner.invoke(
                app, ["--db", str(demo_shop), "backup", str(tmp_path / f"{n}.db")]
            )
            assert result.exit_code == 0, result.output
            held.append(_points_consistent(tmp_path / f"{n}.db"))
            seen.append(int(writer.stdout.readline()))  # and keeps writing between backups
    finally:
        stop.touch()
        remaining = writer.stdout.read().split()
        assert writer.wait(timeout=30) == 0
    written = int(remaining[-1]) if remaining else seen[-1]
    assert 0 < held[0] < held[2] <= written  # the backups caught the shop mid-flow
    assert written >= 8


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_backup_and_restore(
    demo_shop: Path, postgres_db: Database, postgres_database: str, tmp_path: Path
) -> None:
    file = tmp_path / "shop.dump"
    url = postgres_db.url.render_as_string(hide_password=False)
    migrate_to_postgres(_sqlite(demo_shop), url)  # the shared test database, already at head
    result = runner.invoke(app, ["--db", url, "backup", str(file)])
    assert result.exit_code == 0, result.output
    assert "postgresql" in result.output and "40 customers" in result.output
    assert backup_kind(file) == "postgresql"
    with scratch_database(postgres_database) as other:
        target = Database(other)
        report = restore(target, file)  # into an empty database
        assert report.counts["customer"] == 40 and not report.migrated
        assert all_rows(target) == all_rows(postgres_db)
        with pytest.raises(Conflict):
            restore(target, file)
        with target.write_engine.begin() as conn:  # a change the forced restore must undo
            conn.execute(text("DELETE FROM customer_tag"))
        restore(target, file, force=True)
        assert all_rows(target) == all_rows(postgres_db)
        target.dispose()
