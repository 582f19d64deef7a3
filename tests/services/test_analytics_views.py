"""The analytics page's figures and the behavioural features, on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.analytics.features import customer_features, monthly_activity
from guanxi.services.analytics_views import Filters, dashboard
from guanxi.services.scoring import ScoringOptions, score_history
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Product, Purchase, PurchaseLine, PurchaseReturn, Store
from tests.factories import make_customer
from tests.services.test_scoring import AS_OF, _shop


def test_dashboard_figures_agree_with_each_other(db: Database) -> None:
    _shop(db, 120)
    score_history(db, ScoringOptions(as_of=AS_OF), months=3)
    board = dashboard(db, Filters())
    assert board.month == date(2025, 12, 1) and board.previous_month == date(2025, 11, 1)
    k = board.kpis
    assert k["customers"] == 121 and k["buyers"] == 120
    assert sum(c.count for c in board.rungs) == 121
    assert sum(c.count for c in board.segments) == 120
    assert sum(sum(row) for row in board.segment_grid) == 120
    assert sum(c.count for c in board.china_classes) == 120
    assert board.movements is not None
    keys, matrix = board.movements
    assert sum(map(sum, matrix)) == 121 and keys[0] == "new_to_archive"
    assert board.concentration is not None and 0.2 <= board.concentration.top_share_of_total <= 1
    assert 0 <= board.kpis["gini"] <= 1  # type: ignore[operator]
    table = board.cohort_table
    assert table is not None and np.allclose(table.shares[:, 0][table.sizes > 0], 1.0)
    assert board.bucket is not None and board.bucket.months.size == 12
    assert int(board.bucket.new.sum()) == 120  # everyone's first purchase was in 2025
    assert board.clv_histogram and sum(n for _, _, n in board.clv_histogram) == 120
    assert board.retention is not None and board.retention.net_value.shape == (10, 3)
    assert set(board.model) == {"bgnbd", "gamma_gamma"}
    assert [g.customers for g in board.stores] == [121]


def test_dashboard_before_scoring_and_out_of_scope(db: Database) -> None:
    assert dashboard(db, Filters()).month is None
    _shop(db, 30)
    score_history(db, ScoringOptions(as_of=AS_OF), months=1)
    elsewhere = dashboard(db, Filters(store_scope=999))
    assert elsewhere.kpis["customers"] == 0 and elsewhere.concentration is None


Line = tuple[int, str, str]  # product, amount, discount


def _buy(
    session: Session,
    store: int,
    customer: int,
    at: datetime,
    lines: list[Line],
    *,
    promo: bool = False,
) -> int:
    total = sum(Decimal(a) for _, a, _ in lines)
    purchase = Purchase(store_id=store, external_order_id=f"{customer}-{at:%Y%m%d%H}",
                        customer_id=customer, purchased_at=at, total_amount=total,
                        is_promotion=promo)  # fmt: skip
    session.add(purchase)
    session.flush()
    for n, (product, amount, discount) in enumerate(lines, start=1):
        price = Decimal(amount) + Decimal(discount)
        session.add(PurchaseLine(purchase_id=purchase.id, line_no=n, product_id=product,
                                 quantity=Decimal(1), unit_price=price,
                                 discount=Decimal(discount), amount=Decimal(amount)))  # fmt: skip
    return purchase.id


def test_features_from_purchases_lines_returns_and_referrals(db: Database) -> None:
    a = make_customer(db)
    friend = make_customer(db, referred_by_id=a)
    make_customer(db, referred_by_id=a)  # referred but never bought: does not count
    day = datetime(2025, 3, 1, 4, tzinfo=UTC)
    with db.write() as session:
        store = Store(code="S", name="S")
        tea, cup, pot = (Product(sku=s, name=s, category=c)
                         for s, c in (("t", "tea"), ("c", "ware"), ("p", "ware")))  # fmt: skip
        session.add_all([store, tea, cup, pot])
        session.flush()
        _buy(session, store.id, a, day, [(tea.id, "100", "0")])
        _buy(session, store.id, a, day + timedelta(days=10), [(cup.id, "50", "10")], promo=True)
        _buy(session, store.id, a, day + timedelta(days=30), [(tea.id, "50", "0")])
        returned = _buy(session, store.id, a, day + timedelta(days=40), [(pot.id, "80", "0")])
        session.add(PurchaseReturn(purchase_id=returned, returned_at=day + timedelta(days=41),
                                   refund_amount=Decimal(80)))  # fmt: skip
        _buy(session, store.id, friend, day, [(tea.id, "10", "0")])
        session.add(Product(sku="x", name="x", category="gifts"))
    with db.read() as session:
        f = customer_features(session, as_of=date(2025, 12, 31))
        activity = monthly_activity(session, as_of=date(2025, 12, 31))
    assert f.customer_id.tolist() == [a, friend]
    assert f.categories_total == 3
    assert f.promo_share[0] == pytest.approx(50 / 200)  # the refunded purchase nets to 0
    assert f.full_price_share[0] == pytest.approx(230 / 280)  # of line value, returns included
    assert f.categories_bought.tolist() == [2, 1]
    # Purchase days 1, 11, 31 (the returned day is no visit): gaps 10 and 20.
    assert f.interval_cv[0] == pytest.approx(np.std([10, 20]) / 15)
    assert np.isnan(f.interval_cv[1])
    assert f.referrals.tolist() == [1, 0]
    assert activity.customer_id.tolist() == [a, friend]
    assert activity.first_month.tolist() == [2025 * 12 + 2] * 2
    assert activity.active_month.tolist() == [2025 * 12 + 2] * 2  # April was returned whole
    with db.read() as session:
        assert session.get(Customer, friend) is not None


def test_the_dashboard_sees_a_new_purchase_at_once(db: Database) -> None:
    _shop(db, 30)
    score_history(db, ScoringOptions(as_of=AS_OF), months=1)
    before = dashboard(db, Filters())
    again = dashboard(db, Filters())  # activity kept in memory: the same figures
    assert before.bucket is not None and again.bucket is not None
    assert int(again.bucket.new.sum()) == int(before.bucket.new.sum())
    newcomer = make_customer(db)
    with db.write() as session:
        store = session.execute(select(Store.id)).scalar_one()
        session.add(Purchase(store_id=store, external_order_id="late", customer_id=newcomer,
                             purchased_at=datetime(2025, 12, 20, 3, tzinfo=UTC),
                             total_amount=Decimal(10)))  # fmt: skip
    after = dashboard(db, Filters())
    assert after.bucket is not None
    assert int(after.bucket.new.sum()) == int(before.bucket.new.sum()) + 1
