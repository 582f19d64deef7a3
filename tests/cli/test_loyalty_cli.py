"""``guanxi loyalty nightly``: expiry, tier downgrades and the ledger check, each once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerTier, PointsBalance
from tests.loyalty.test_tiers import _buy, _refund, _shop

runner = CliRunner()


def _shop_with_history(url: str) -> int:
    """A silver member whose purchase was refunded (spend 0), holding 50 points that were
    valid until 2026-01-31."""
    db = Database(url)
    db.migrate()
    store = _shop(db)
    purchase, customer, _ = _buy(db, store, "A1", "1200", "2026-01-10T10:00")
    _refund(db, purchase, "2026-01-12T03:00")
    ledger.earn(db, customer, 50, source_type="purchase", source_id=99,
                expires_on=date(2026, 1, 31), reason="old", explanation={},
                idempotency_key=None)  # fmt: skip
    db.dispose()
    return customer


def _nightly(url: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", url, "loyalty", "nightly", *extra])
    return result.exit_code, result.output


def test_nightly_expires_and_downgrades_once_when_run_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    customer = _shop_with_history(url)
    code, out = _nightly(url, "--date", "2026-02-09", "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "date": "2026-02-09",
        "expired": {"points": 50, "lots": 1, "customers": 1},
        "downgrades": [{"customer_id": customer, "from": "silver", "to": "normal",
                        "spend": "0.00"}],
        "mismatches": [],
        "stored_value_mismatches": [],
        "idempotency_keys_purged": 0,
        "ok": True,
    }  # fmt: skip
    code, out = _nightly(url, "--date", "2026-02-09", "--json")
    assert code == 0, out
    again = json.loads(out)
    assert again["expired"] == {"points": 0, "lots": 0, "customers": 0}
    assert again["downgrades"] == [] and again["ok"] is True
    db = Database(url)
    assert ledger.balance(db, customer) == 0
    with db.read() as s:
        assert s.get(CustomerTier, customer).tier_key == "normal"  # type: ignore[union-attr]
    db.dispose()


def test_nightly_waits_for_the_grace_days_and_prints_a_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    customer = _shop_with_history(url)
    code, out = _nightly(url, "--date", "2026-01-20")  # silver held 10 days of 30
    text = " ".join(out.split())
    assert code == 0, out
    assert "Nightly loyalty run for 2026-01-20:" in text
    assert "expired 0 points in 0 lots" in text
    assert "0 customers moved down a tier" in text
    assert "every points and stored-value balance equals the sum of its entries" in text
    assert "0 API idempotency keys older than 7 days deleted" in text
    code, out = _nightly(url, "--date", "2026-02-09")
    text = " ".join(out.split())
    assert f"customer {customer}: silver → normal (12-month spend ¥0.00)" in text
    assert "expired 50 points in 1 lots (1 customers)" in text


def test_nightly_exits_1_when_a_balance_differs_from_the_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    customer = _shop_with_history(url)
    db = Database(url)
    with db.write() as s:
        s.execute(update(PointsBalance).where(PointsBalance.customer_id == customer)
                  .values(points=999))  # fmt: skip
    db.dispose()
    code, out = _nightly(url, "--date", "2026-01-20", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["mismatches"] == [{"customer_id": customer, "cached": 999, "ledger": 50}]
    code, out = _nightly(url, "--date", "2026-01-20")
    assert code == 1 and "1 balances differ from their ledger" in " ".join(out.split())


def test_a_tier_s_own_grace_days_override_the_default(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.loyalty.test_tiers import TIERS

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    db = Database(url)
    db.migrate()
    store = _shop(db, tuple(replace(t, grace_days=5) if t.key == "silver" else t for t in TIERS))
    purchase, customer, _ = _buy(db, store, "A1", "1200", "2026-01-10T10:00")
    _refund(db, purchase, "2026-01-12T03:00")
    db.dispose()
    code, out = _nightly(url, "--date", "2026-01-14", "--json")  # held 4 days of 5
    assert code == 0 and json.loads(out)["downgrades"] == []
    code, out = _nightly(url, "--date", "2026-01-15", "--json")  # held 5 days: down
    assert [m["to"] for m in json.loads(out)["downgrades"]] == ["normal"]
