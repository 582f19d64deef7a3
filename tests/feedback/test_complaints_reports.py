"""The complaint report on a small known dataset: volume by category and month, SLA compliance,
time to first response, recovery rate against the matched comparison group (both DBs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from guanxi.feedback import complaint_steps as steps
from guanxi.feedback.complaint_reports import build_report, nearest_rank
from guanxi.feedback.complaints import open_complaint
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.feedback.complaint_shop import Shop, make_purchase, make_shop

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)
ZONE = "Asia/Shanghai"


def _at(y: int, m: int, d: int, h: int = 4) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=UTC)


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


def _complaint(db: Database, shop: Shop, customer: int | None, store: int, at: datetime, *,
               category: str, severity: str, respond_h: float | None = None,
               resolve_h: float | None = None) -> int:  # fmt: skip
    with db.write() as s:
        cid = open_complaint(s, customer_id=customer, store_id=store, category=category,
                             severity=severity, channel="counter", summary="x", actor_id=None,
                             now=at)  # fmt: skip
        if respond_h is not None:
            steps.respond(s, cid, "ok", actor_id=None, now=at + timedelta(hours=respond_h))
        if resolve_h is not None:
            steps.resolve(s, cid, steps.Recovery("apology"), "ok",
                          actor=shop.member(shop.manager_a),
                          now=at + timedelta(hours=resolve_h))  # fmt: skip
        return cid


def test_the_report_on_a_known_dataset(db: Database, shop: Shop) -> None:
    c1, c2, c3, c4, c5 = (make_customer(db, home_store_id=shop.a) for _ in range(5))
    # A: in time, resolved 2026-05-10, bought again three weeks later: recovered
    _complaint(db, shop, c1, shop.a, _at(2026, 5, 10), category="product", severity="high",
               respond_h=2, resolve_h=10)  # fmt: skip
    make_purchase(db, c1, shop.a, _at(2026, 6, 1))
    # B: late on both clocks, resolved 2026-06-19, never bought again
    _complaint(db, shop, c2, shop.a, _at(2026, 6, 15), category="service", severity="medium",
               respond_h=30, resolve_h=100)  # fmt: skip
    # C: opened yesterday, nothing due yet; D: store B, unanswered for weeks
    _complaint(db, shop, None, shop.a, NOW - timedelta(hours=20), category="price",
               severity="low")  # fmt: skip
    _complaint(db, shop, None, shop.b, _at(2026, 11, 1), category="product", severity="low")
    # comparison: May buyers c3 (back in July) and c4 (never back); June buyer c5 (again in
    # June only, not in the 90 days after the month)
    make_purchase(db, c3, shop.a, _at(2026, 5, 20))
    make_purchase(db, c3, shop.a, _at(2026, 7, 15))
    make_purchase(db, c4, shop.a, _at(2026, 5, 3))
    make_purchase(db, c5, shop.a, _at(2026, 6, 10))
    make_purchase(db, c5, shop.a, _at(2026, 6, 25))

    with db.read() as s:
        report = build_report(s, today=TODAY, now=NOW, zone=ZONE, scope=None)
        store_a = build_report(s, today=TODAY, now=NOW, zone=ZONE, scope=shop.a)

    assert report.months[0] == date(2025, 12, 1) and report.months[-1] == date(2026, 11, 1)
    may, june, nov = 5, 6, 11
    assert report.volume["product"][may] == 1 and report.volume["product"][nov] == 1
    assert report.volume["service"][june] == 1 and report.volume["price"][nov] == 1
    assert sum(report.totals) == 4
    assert store_a.volume["product"][nov] == 0  # D is store B's
    assert (report.first_response_sla.part, report.first_response_sla.whole) == (1, 3)
    assert (report.resolution_sla.part, report.resolution_sla.whole) == (1, 3)
    assert (store_a.first_response_sla.part, store_a.first_response_sla.whole) == (1, 2)
    assert (report.first_response_median_h, report.first_response_p90_h) == (2.0, 30.0)
    assert (report.complainants.part, report.complainants.whole) == (1, 2)
    assert report.complainants.rate == 0.5
    assert (report.comparison.part, report.comparison.whole) == (1, 3)
    assert report.comparison_rate == pytest.approx(0.25)  # May 1/2 and June 0/1, weighted 1:1
    assert report.as_json()["recovery"]["complainants"]["rate"] == 0.5


def test_an_empty_report_has_no_rates(db: Database, shop: Shop) -> None:
    with db.read() as s:
        report = build_report(s, today=TODAY, now=NOW, zone=ZONE, scope=shop.a)
    assert report.first_response_sla.rate is None and report.comparison_rate is None
    assert report.first_response_median_h is None and sum(report.totals) == 0


def test_nearest_rank() -> None:
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([5.0, 1.0, 3.0], 0.5) == 3.0
    assert nearest_rank([float(n) for n in range(1, 11)], 0.9) == 9.0
