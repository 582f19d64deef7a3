"""``guanxi migrate-to-postgres``: the demo shop (every area filled) moves from SQLite to a
PostgreSQL database row for row, value for value, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.errors import Conflict
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, PointsBalance, PointsEntry
from guanxi.storage.transfer import migrate_to_postgres
from tests.factories import make_customer
from tests.storage.shop_rows import all_rows
from tests.support import scratch_database

pytestmark = pytest.mark.postgres
runner = CliRunner()


@pytest.mark.slow
def test_every_row_arrives_identical_and_ids_continue(
    demo_shop: Path, postgres_db: Database
) -> None:
    """Into the shared (empty, migrated) test database; the next test starts from nothing."""
    source = Database(f"sqlite:///{demo_shop}")
    url = postgres_db.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["--db", str(demo_shop), "migrate-to-postgres", url])
    assert result.exit_code == 0, result.output
    assert "All counts and sums are equal" in result.output
    target = Database(url)
    assert target.is_up_to_date()
    before, after = all_rows(source), all_rows(target)
    for table, rows in before.items():
        assert after[table] == rows, table
    assert sum(len(rows) for rows in before.values()) > 2000  # a shop, not an empty schema
    filled = ("points_entry", "stored_value_entry", "survey_answer", "complaint_event",
              "event_rsvp", "customer_score", "coupon_redemption", "care_task")  # fmt: skip
    assert all(before[t] for t in filled)
    with target.read() as session:  # each balance is still the sum of its ledger
        ledger = dict(session.execute(
            select(PointsEntry.customer_id, func.sum(PointsEntry.points))
            .group_by(PointsEntry.customer_id)
        ).all())  # fmt: skip
        balances = dict(
            session.execute(select(PointsBalance.customer_id, PointsBalance.points)).all()
        )
        assert {c: p for c, p in balances.items() if p} == {c: p for c, p in ledger.items() if p}
        top = session.execute(select(func.max(Customer.id))).scalar_one()
    assert make_customer(target, name="新客") == top + 1  # sequences start after the copy
    target.dispose()
    source.dispose()


def test_refuses_a_target_that_holds_data(demo_shop: Path, postgres_database: str) -> None:
    source = Database(f"sqlite:///{demo_shop}")
    with scratch_database(postgres_database) as url:
        target = Database(url)
        with target.write_engine.begin() as conn:
            conn.execute(text("CREATE TABLE customer (id integer PRIMARY KEY)"))
            conn.execute(text("INSERT INTO customer VALUES (1)"))
        with pytest.raises(Conflict, match="already holds data"):
            migrate_to_postgres(source, url)
        with target.read() as session:
            assert session.execute(text("SELECT COUNT(*) FROM customer")).scalar_one() == 1
            assert inspect(session.connection()).get_table_names() == ["customer"]
        target.dispose()
    source.dispose()


def test_a_failure_midway_leaves_the_target_untouched(
    demo_shop: Path, postgres_database: str
) -> None:
    def fail_at_purchase_lines(stage: str, done: int, total: int) -> None:
        if stage == "Copying purchase_line" and done:
            raise RuntimeError("power cut")

    source = Database(f"sqlite:///{demo_shop}")
    with scratch_database(postgres_database) as url:
        with pytest.raises(RuntimeError, match="power cut"):
            migrate_to_postgres(source, url, progress=fail_at_purchase_lines)
        target = Database(url)
        with target.engine.connect() as conn:
            assert inspect(conn).get_table_names() == []  # not even the schema stayed
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        target.dispose()
    source.dispose()
