"""The three bonds per customer (financial, social, structural) with their evidence, the counts
for many customers, and the report by rung with retention; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest

from guanxi.club import bonds
from guanxi.loyalty.tiers import Tier, tiers_as_json
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Club,
    ClubEvent,
    ClubMember,
    Commitment,
    Coupon,
    CouponCampaign,
    CustomerScore,
    CustomerTier,
    EventRsvp,
    LoyaltyProgram,
    PointsBalance,
    Purchase,
    ServicePlan,
    Store,
    StoredValueBalance,
)
from tests.factories import make_customer

AS_OF = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 11, 1, 2, 0, tzinfo=UTC)  # more than 12 months before AS_OF
TIERS = (Tier("normal", "普通", Decimal(0)), Tier("silver", "银卡", Decimal(1000)))
_orders = count(1)


def _add(db: Database, *rows: object) -> None:
    with db.write() as s:
        s.add_all(rows)


@pytest.fixture
def store(db: Database) -> int:
    with db.write() as s:
        s.add(LoyaltyProgram(rules={}, points_valid_months=None, tiers=tiers_as_json(TIERS)))
        row = Store(code="A", name="旗舰店")
        s.add(row)
        s.flush()
        return row.id


def _club(db: Database, name: str = "茶友会") -> int:
    with db.write() as s:
        club = Club(name=name)
        s.add(club)
        s.flush()
        event = ClubEvent(club_id=club.id, name="品茶会", starts_at=NOW - timedelta(days=30))
        s.add(event)
        s.flush()
        return event.id


def _coupon(db: Database, customer_id: int, *, status: str = "active",
            valid_until: datetime | None = None) -> None:  # fmt: skip
    with db.write() as s:
        campaign = CouponCampaign(name="满100减10", kind="fixed", value=Decimal(10),
                                  valid_until=valid_until)  # fmt: skip
        s.add(campaign)
        s.flush()
        s.add(Coupon(code=f"C{next(_orders):06d}", campaign_id=campaign.id,
                     customer_id=customer_id, status=status))  # fmt: skip


def _buy(db: Database, store: int, customer_id: int, at: datetime) -> None:
    order = f"O{next(_orders)}"
    _add(db, Purchase(store_id=store, external_order_id=order, customer_id=customer_id,
                      purchased_at=at, total_amount=Decimal(100)))  # fmt: skip


def test_no_bonds(db: Database, store: int) -> None:
    c = make_customer(db, home_store_id=store)
    with db.read() as s:
        found = bonds.customer_bonds(s, c, AS_OF)
    assert found.count == 0
    assert [b.holds for b in found.levels] == [False, False, False]


def test_lapsed_evidence_does_not_count(db: Database, store: int) -> None:
    c = make_customer(db, home_store_id=store)
    friend_event = _club(db)
    with db.read() as s:
        club_id = s.get(ClubEvent, friend_event).club_id  # type: ignore[union-attr]
    assert club_id is not None
    _add(db, CustomerTier(customer_id=c, tier_key="normal", since=AS_OF, evaluated_on=AS_OF),
         PointsBalance(customer_id=c, points=0),
         ClubMember(club_id=club_id, customer_id=c, joined_at=LONG_AGO, left_at=NOW),
         EventRsvp(event_id=friend_event, customer_id=c, status="confirmed",
                   checked_in_at=LONG_AGO),
         ServicePlan(customer_id=c, name="旧计划", status="cancelled"),
         Commitment(customer_id=c, promise="到货通知", due_on=date(2025, 11, 1), status="kept",
                    fulfilled_on=date(2025, 11, 1)))  # fmt: skip
    _coupon(db, c, status="used_up")
    _coupon(db, c, valid_until=NOW - timedelta(days=1))
    with db.read() as s:
        found = bonds.customer_bonds(s, c, AS_OF)
        counts = bonds.bonds_counts(s, [c], AS_OF)
    assert found.count == 0 and counts == {c: 0}
    with db.read() as s:  # a year earlier: coupon not yet expired, member, promise just kept
        earlier = bonds.customer_bonds(s, c, date(2025, 12, 1))
    assert [len(b.evidence) for b in earlier.levels] == [1, 2, 1]


def test_the_social_bond_counts_what_engagement_counts(db: Database, store: int) -> None:
    from guanxi.club.engagement import engagement_scores

    c = make_customer(db, home_store_id=store)
    event = _club(db)
    with db.write() as s:
        row = s.get(ClubEvent, event)
        assert row is not None and row.club_id is not None
        row.status = "cancelled"
        club = s.get(Club, row.club_id)
        assert club is not None
        club.is_active = False
        s.add_all([ClubMember(club_id=club.id, customer_id=c, joined_at=LONG_AGO),
                   EventRsvp(event_id=event, customer_id=c, status="confirmed",
                             checked_in_at=NOW - timedelta(days=30))])  # fmt: skip
    with db.read() as s:  # an inactive club's membership, a cancelled event's check-in
        found = bonds.customer_bonds(s, c, AS_OF)
        counts = bonds.bonds_counts(s, [c], AS_OF)
        score = engagement_scores(s, [c], NOW)
    assert found.social.holds is False and not found.social.evidence
    assert counts == {c: 0} and score == {c: 0.0}
    with db.write() as s:
        row = s.get(ClubEvent, event)
        assert row is not None
        row.status = "done"
    with db.read() as s:
        found = bonds.customer_bonds(s, c, AS_OF)
        counts = bonds.bonds_counts(s, [c], AS_OF)
        score = engagement_scores(s, [c], NOW)
    assert found.social.holds is True and counts == {c: 1} and score[c] > 0


def _crafted(db: Database, store: int) -> dict[str, int]:
    """Customers holding 0, 1, 2 and 3 bonds."""
    event = _club(db)
    with db.read() as s:
        club_id = s.get(ClubEvent, event).club_id  # type: ignore[union-attr]
    ids = {k: make_customer(db, home_store_id=store) for k in ("none", "one", "two", "three")}
    _add(db,
         CustomerTier(customer_id=ids["one"], tier_key="silver", since=date(2026, 3, 1),
                      evaluated_on=AS_OF),
         PointsBalance(customer_id=ids["two"], points=320),
         ClubMember(club_id=club_id, customer_id=ids["two"], joined_at=LONG_AGO),
         StoredValueBalance(customer_id=ids["three"], paid=Decimal("500"), bonus=Decimal("50")),
         EventRsvp(event_id=event, customer_id=ids["three"], status="confirmed",
                   checked_in_at=NOW - timedelta(days=30)),
         ServicePlan(customer_id=ids["three"], name="普洱仓储服务", status="active",
                     created_at=NOW - timedelta(days=60)))  # fmt: skip
    return ids


def test_crafted_customers_hold_zero_to_three_bonds(db: Database, store: int) -> None:
    ids = _crafted(db, store)
    with db.read() as s:
        found = {k: bonds.customer_bonds(s, c, AS_OF) for k, c in ids.items()}
        counts = bonds.bonds_counts(s, ids.values(), AS_OF)
    assert {k: b.count for k, b in found.items()} == {"none": 0, "one": 1, "two": 2, "three": 3}
    assert counts == {ids[k]: b.count for k, b in found.items()}
    one = found["one"].financial.evidence
    assert [(e.text, e.params) for e in one] == [
        ("Tier {tier} since {date}", {"tier": "银卡", "date": date(2026, 3, 1)})
    ]  # fmt: skip
    assert found["two"].financial.evidence[0].params == {"points": 320}
    assert found["two"].social.evidence[0].params["club"] == "茶友会"
    three = found["three"]
    assert three.financial.evidence[0].params == {"amount": Decimal("550")}
    assert three.social.evidence[0].params["event"] == "品茶会"
    assert three.structural.evidence[0].params["plan"] == "普洱仓储服务"


def test_referral_coupon_and_kept_promise(db: Database, store: int) -> None:
    referrer = make_customer(db, home_store_id=store)
    make_customer(db, home_store_id=store, referred_by_id=referrer, created_at=NOW)
    _coupon(db, referrer)
    _add(db, Commitment(customer_id=referrer, promise="到货通知", due_on=date(2026, 11, 1),
                        status="kept", fulfilled_on=date(2026, 10, 30)))  # fmt: skip
    with db.read() as s:
        found = bonds.customer_bonds(s, referrer, AS_OF)
        before = bonds.customer_bonds(s, referrer, date(2026, 10, 1))
    assert found.count == 3
    assert found.financial.evidence[0].params == {"count": 1}
    assert found.social.evidence[0].params == {"count": 1}
    assert found.structural.evidence[0].params == {"count": 1, "date": date(2026, 10, 30)}
    assert before.social.holds is False and before.structural.holds is False


def test_report_counts_and_retention(db: Database, store: int) -> None:
    ids = _crafted(db, store)
    prior = NOW - timedelta(days=500)  # in the 12 months before the last 12
    recent = NOW - timedelta(days=20)
    for key in ("none", "one", "two", "three"):
        _buy(db, store, ids[key], prior)
    for key in ("two", "three"):
        _buy(db, store, ids[key], recent)
    extra = make_customer(db, home_store_id=store)  # bought only recently: not in the base
    _buy(db, store, extra, recent)
    make_customer(db, home_store_id=store, erased_at=NOW)  # erased: never counted
    month = date(2026, 12, 1)
    _add(db, *(CustomerScore(customer_id=ids[k], month=month, computed_on=AS_OF, rung=r)
               for k, r in (("none", "lapsed"), ("one", "lapsed"), ("two", "loyal"),
                            ("three", "loyal"))))  # fmt: skip
    with db.read() as s:
        report = bonds.bonds_report(s, AS_OF, rungs=("loyal", "lapsed"))
    assert report.month == month and report.customers == 5
    assert list(report.rows) == ["loyal", "lapsed", bonds.NOT_SCORED]
    lapsed = report.rows["lapsed"]
    assert [(c.customers, c.base, c.retained) for c in lapsed] == [
        (1, 1, 0),
        (1, 1, 0),
        (0, 0, 0),
        (0, 0, 0),
    ]
    loyal = report.rows["loyal"]
    assert [(c.customers, c.retained) for c in loyal] == [(0, 0), (0, 0), (1, 1), (1, 1)]
    assert [c.retention for c in report.total] == [0.0, 0.0, 1.0, 1.0]
    assert report.rows[bonds.NOT_SCORED][0].customers == 1  # the recent buyer
    assert report.rows[bonds.NOT_SCORED][0].retention is None  # not in the base
    with db.read() as s:
        other = bonds.bonds_report(s, AS_OF, store_id=store + 1000)
    assert other.customers == 0 and other.rows == {}
