"""The per-customer summary: one aggregate query on SQLite and PostgreSQL, and the file path."""

from __future__ import annotations

import csv
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from guanxi.analytics.summary import (
    Period,
    customer_summary,
    summarise_transactions,
)
from guanxi.errors import InvalidInput
from guanxi.storage.db import Database
from guanxi.storage.models import Purchase, PurchaseReturn, Store
from tests.factories import make_customer

SHANGHAI = 480


def _store(db: Database, code: str = "S1") -> int:
    with db.write() as session:
        store = Store(code=code, name=code)
        session.add(store)
        session.flush()
        return store.id


def _buy(
    db: Database,
    store_id: int,
    customer_id: int,
    local: datetime,
    amount: str,
    *,
    refund: str | None = None,
    refunded_at: datetime | None = None,
) -> None:
    """A purchase at local Shanghai wall time ``local``, optionally refunded."""
    at = (local - timedelta(minutes=SHANGHAI)).replace(tzinfo=UTC)
    with db.write() as session:
        purchase = Purchase(
            store_id=store_id,
            external_order_id=f"o{random.getrandbits(48)}",
            customer_id=customer_id,
            purchased_at=at,
            total_amount=Decimal(amount),
        )
        session.add(purchase)
        session.flush()
        if refund is not None:
            session.add(
                PurchaseReturn(
                    purchase_id=purchase.id,
                    returned_at=refunded_at or at + timedelta(days=1),
                    refund_amount=Decimal(refund),
                )
            )


def test_summary_counts_days_nets_returns_and_uses_local_dates(db: Database) -> None:
    store = _store(db)
    a = make_customer(db)
    b = make_customer(db)
    c = make_customer(db)  # only after the calibration end: not in the summary
    never = make_customer(db)  # no purchase: not in the summary
    # a: first day 1 Jan; two purchases on 5 Jan (one day); 10 Jan returned whole (no day);
    # 23:30 local on 20 Jan is still 20 Jan in Shanghai (15:30 UTC); 12 Feb is in the holdout.
    _buy(db, store, a, datetime(2025, 1, 1, 10), "100.00")
    _buy(db, store, a, datetime(2025, 1, 5, 9), "30.00")
    _buy(db, store, a, datetime(2025, 1, 5, 18), "20.50", refund="0.50")
    _buy(db, store, a, datetime(2025, 1, 10, 12), "80.00", refund="80.00")
    _buy(db, store, a, datetime(2025, 1, 20, 23, 30), "60.00")
    _buy(db, store, a, datetime(2025, 2, 12, 8), "40.00")
    # b: one purchase day only, 0:30 local on 15 Jan (16:30 UTC on 14 Jan).
    _buy(db, store, b, datetime(2025, 1, 15, 0, 30), "10.00")
    _buy(db, store, c, datetime(2025, 2, 2, 10), "10.00")
    assert never

    with db.read() as session:
        s = customer_summary(
            session,
            calibration_end=date(2025, 1, 31),
            observation_end=date(2025, 2, 28),
            period=Period.DAY,
            utc_offset_minutes=SHANGHAI,
        )
    assert s.customer_id.tolist() == [a, b]
    assert s.frequency.tolist() == [2.0, 0.0]  # 5 Jan and 20 Jan are repeats
    assert s.recency.tolist() == [19.0, 0.0]
    assert s.T.tolist() == [30.0, 16.0]
    assert s.monetary.tolist() == pytest.approx([(50.0 + 60.0) / 2, 0.0])
    assert s.total_spend.tolist() == pytest.approx([210.0, 10.0])
    assert s.holdout_frequency.tolist() == [1, 0]
    assert s.holdout_spend.tolist() == pytest.approx([40.0, 0.0])
    assert s.first_day.tolist() == [date(2025, 1, 1), date(2025, 1, 15)]
    assert s.last_day.tolist() == [date(2025, 1, 20), date(2025, 1, 15)]
    assert s.days_since_last.tolist() == [11, 16]
    assert s.holdout_length == 28.0


def test_summary_in_weeks_and_per_store(db: Database) -> None:
    one, two = _store(db, "A"), _store(db, "B")
    a = make_customer(db)
    _buy(db, one, a, datetime(2025, 1, 1, 10), "10.00")
    _buy(db, two, a, datetime(2025, 1, 8, 10), "10.00")
    _buy(db, one, a, datetime(2025, 1, 15, 10), "10.00")
    with db.read() as session:
        weeks = customer_summary(session, calibration_end=date(2025, 1, 29))
        store_one = customer_summary(
            session, calibration_end=date(2025, 1, 29), store_id=one, period=Period.DAY
        )
    assert (weeks.frequency[0], weeks.recency[0], weeks.T[0]) == (2.0, 2.0, 4.0)
    assert (store_one.frequency[0], store_one.recency[0]) == (1.0, 14.0)


def test_a_refund_after_the_observation_end_is_not_known_yet(db: Database) -> None:
    store = _store(db)
    a = make_customer(db)
    _buy(db, store, a, datetime(2025, 1, 1, 10), "10.00")
    late = datetime(2025, 3, 1, tzinfo=UTC)
    _buy(db, store, a, datetime(2025, 1, 2, 10), "10.00", refund="10.00", refunded_at=late)
    with db.read() as session:
        before = customer_summary(session, calibration_end=date(2025, 1, 31), period=Period.DAY)
        after = customer_summary(session, calibration_end=date(2025, 3, 31), period=Period.DAY)
    assert before.frequency.tolist() == [1.0]
    assert after.frequency.tolist() == [0.0]


def test_database_and_file_paths_agree(db: Database) -> None:
    """The same random purchases summarised from the database and from a 'file'."""
    rng = random.Random(7)
    store = _store(db)
    ids = [make_customer(db) for _ in range(12)]
    rows: list[tuple[str, date, Decimal]] = []
    for _ in range(80):
        customer = rng.choice(ids)
        local = datetime(2025, 1, 1, 9) + timedelta(
            days=rng.randrange(120), hours=rng.randrange(14)
        )
        amount = Decimal(rng.randrange(100, 50000)) / 100
        _buy(db, store, customer, local, str(amount))
        rows.append((str(customer), local.date(), amount))
    window = {"calibration_end": date(2025, 3, 1), "observation_end": date(2025, 5, 1)}
    with db.read() as session:
        from_db = customer_summary(session, **window)  # type: ignore[arg-type]
    keyed = summarise_transactions(*zip(*rows, strict=True), **window)  # type: ignore[arg-type]
    from_file = keyed.summary
    order = np.argsort([int(k) for k in keyed.keys])  # file keys sort as text
    assert [int(keyed.keys[i]) for i in order] == from_db.customer_id.tolist()
    for name in ("frequency", "recency", "T", "monetary", "total_spend", "holdout_spend"):
        np.testing.assert_allclose(
            getattr(from_file, name)[order], getattr(from_db, name), err_msg=name
        )
    assert from_file.holdout_frequency[order].tolist() == from_db.holdout_frequency.tolist()


def test_invalid_windows_and_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput, match="must come after"):
        summarise_transactions(
            ["a"], [date(2025, 1, 1)], [Decimal(1)],
            calibration_end=date(2025, 2, 1), observation_end=date(2025, 1, 1),
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="same length"):
        summarise_transactions(["a"], [], [], calibration_end=date(2025, 2, 1))
    with pytest.raises(InvalidInput, match="no transactions"):
        summarise_transactions([], [], [], calibration_end=date(2025, 2, 1))
    with pytest.raises(InvalidInput, match="unknown period"):
        Period.parse("month")
    assert Period.parse("W") is Period.WEEK


def _cdnow_transactions(cdnow_dir: Path) -> tuple[list[str], list[date], list[Decimal]]:
    customers, days, amounts = [], [], []
    with (cdnow_dir / "CDNOW_sample.txt").open(encoding="ascii") as handle:
        for line in handle:
            _, sample_id, ymd, _, dollars = line.split()
            customers.append(sample_id)
            days.append(date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:])))
            amounts.append(Decimal(dollars))
    return customers, days, amounts


def test_cdnow_raw_transactions_reproduce_hardies_summary(cdnow_dir: Path) -> None:
    """Guanxi's own summary of CDNOW_sample.txt equals Hardie's file (2-decimal rounding)."""
    keyed = summarise_transactions(
        *_cdnow_transactions(cdnow_dir),
        calibration_end=date(1997, 9, 30),
        observation_end=date(1998, 6, 30),
        period=Period.WEEK,
    )
    s = keyed.summary
    with (cdnow_dir / "cdnow_customers_summary_with_transactions.csv").open() as handle:
        reference = {int(r["ID"]): r for r in csv.DictReader(handle)}
    assert len(s) == len(reference) == 2357
    order = [reference[int(k)] for k in keyed.keys]
    assert s.frequency.tolist() == [float(r["x"]) for r in order]
    np.testing.assert_allclose(s.recency, [float(r["t_x"]) for r in order], atol=0.005)
    np.testing.assert_allclose(s.T, [float(r["T"]) for r in order], atol=0.005)
    np.testing.assert_allclose(s.monetary, [float(r["zbar"]) for r in order], atol=0.0051)
    assert int(s.holdout_frequency.sum()) == 1882  # repeat purchases in weeks 40-78 (FHL 2005)
