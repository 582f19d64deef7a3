"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from guanxi.storage.db import Database
from guanxi.storage.models import Base


def test_no_drift_between_models_and_migrations(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert db.is_up_to_date()


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_db: Database) -> None:
    with sqlite_db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
