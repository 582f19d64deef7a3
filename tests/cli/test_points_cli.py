"""``guanxi points``: backfill imported purchases, show, check, expire."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.storage.db import Database
from guanxi.storage.models import Product, Purchase, PurchaseLine, Store
from tests.factories import make_customer

runner = CliRunner()


def _imported_shop(url: str) -> int:
    """Purchases written as an import writes them: no points yet."""
    db = Database(url)
    db.migrate()
    customer = make_customer(db)
    with db.write() as session:
        store = Store(code="S", name="S")
        tea = Product(sku="tea", name="Tea", category="tea")
        session.add_all([store, tea])
        session.flush()
        days = [(datetime(2026, 1, 1, 3, tzinfo=UTC), "100.90"),
                (datetime(2026, 1, 20, 3, tzinfo=UTC), "50"),
                (datetime(2026, 2, 9, 3, tzinfo=UTC), "0")]  # fmt: skip
        for n, (at, amount) in enumerate(days):
            purchase = Purchase(store_id=store.id, external_order_id=f"o{n}", customer_id=customer,
                                purchased_at=at, total_amount=Decimal(amount))  # fmt: skip
            session.add(purchase)
            session.flush()
            session.add(PurchaseLine(purchase_id=purchase.id, line_no=1, product_id=tea.id,
                                     quantity=Decimal(1), unit_price=Decimal(amount),
                                     amount=Decimal(amount)))  # fmt: skip
    db.dispose()
    return customer


def test_accrue_show_check_and_expire(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    customer = _imported_shop(url)
    first = runner.invoke(app, ["--db", url, "points", "accrue", "--since", "2026-01-01", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"purchases": 3, "credited": 2, "points": 150}
    again = runner.invoke(app, ["--db", url, "points", "accrue", "--since", "2026-01-01", "--json"])
    assert json.loads(again.output)["credited"] == 0
    shown = runner.invoke(app, ["--db", url, "points", "show", str(customer)])
    out = " ".join(shown.output.split())
    assert shown.exit_code == 0 and f"Customer {customer}: 150 points" in out
    assert "2028-01-01" in out and "+100" in out  # 24 months by default
    assert runner.invoke(app, ["--db", url, "points", "check"]).exit_code == 0
    expired = runner.invoke(app, ["--db", url, "points", "expire", "--date", "2028-01-15"])
    assert "Expired 100 points in 1 lots as of 2028-01-15." in " ".join(expired.output.split())
    twice = runner.invoke(app, ["--db", url, "points", "expire", "--date", "2028-01-15"])
    assert "Expired 0 points" in twice.output


def test_the_tier_evaluation_moves_down_once(tmp_path: Path) -> None:
    from tests.loyalty.test_tiers import _buy, _refund, _shop

    url = f"sqlite:///{tmp_path / 'tiers.db'}"
    db = Database(url)
    db.migrate()
    store = _shop(db)
    purchase, customer, _ = _buy(db, store, "A1", "1200", "2026-01-10T10:00")
    _refund(db, purchase, "2026-01-12T03:00")
    db.dispose()
    early = runner.invoke(app, ["--db", url, "points", "tiers", "--date", "2026-01-20"])
    assert early.exit_code == 0, early.output
    assert "0 customers moved down as of 2026-01-20." in early.output
    moved = runner.invoke(app, ["--db", url, "points", "tiers", "--date", "2026-02-09"])
    out = " ".join(moved.output.split())
    assert f"customer {customer}: silver → normal (12-month spend ¥0.00)" in out
    assert "1 customers moved down" in out
    again = runner.invoke(app, ["--db", url, "points", "tiers", "--date", "2026-02-09"])
    assert "0 customers moved down" in again.output
