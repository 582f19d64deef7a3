"""Complaints: opening with deadlines, the status flow, recovery through the loyalty engine,
closing the loop (satisfaction link + service message), satisfaction (both DBs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.feedback import complaint_steps as steps
from guanxi.feedback.complaint_lists import Filters, list_complaints, timeline
from guanxi.feedback.complaint_steps import Recovery
from guanxi.feedback.complaints import (
    DEFAULT_POLICY,
    clocks,
    get_complaint,
    open_complaint,
    record_satisfaction,
)
from guanxi.feedback.links import LinkRefused, check_link
from guanxi.feedback.sla import ClockState, SlaPolicy
from guanxi.loyalty import ledger
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Coupon, Message, PointsEntry, PublicLink
from tests.factories import make_customer
from tests.feedback.complaint_shop import Shop, make_campaign, make_shop

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # Friday 11:00 in Shanghai
URL = "https://shop.example"


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


def _open(db: Database, shop: Shop, customer: int | None, **kw: object) -> int:
    values: dict[str, object] = {"store_id": None, "category": "product", "severity": "high",
                                 "channel": "counter", "summary": "茶叶受潮",
                                 "actor_id": shop.clerk_a, "now": NOW}  # fmt: skip
    values.update(kw)
    with db.write() as s:
        return open_complaint(s, customer_id=customer, **values)  # type: ignore[arg-type]


def _actions(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


def test_opening_fixes_the_deadlines_and_records_an_event(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    cid = _open(db, shop, c)
    with db.read() as s:
        row = get_complaint(s, cid)
        assert (row.store_id, row.status, row.severity) == (shop.a, "open", "high")  # home store
        assert row.first_response_due_at == NOW + timedelta(hours=24)
        assert row.resolution_due_at == NOW + timedelta(hours=48)
        assert [e.kind for e in timeline(s, cid)] == ["opened"]
    assert _actions(db) == [audit.Action.COMPLAINT_OPENED]
    with db.read() as s:
        detail = s.execute(select(AuditEntry.detail)).scalar_one()
    assert "茶叶" not in str(detail)  # the summary (possibly personal) stays out of the log


def test_opening_with_paused_weekends_uses_the_stores_zone(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    friday_20h = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    cid = _open(db, shop, c, now=friday_20h, policy=SlaPolicy(pause_weekends=True))
    with db.read() as s:
        assert get_complaint(s, cid).first_response_due_at == friday_20h + timedelta(days=3)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [("category", "smell", "category"), ("severity", "urgent", "severity"),
     ("channel", "fax", "channel"), ("summary", "  ", "summary")],
)  # fmt: skip
def test_opening_refuses_unknown_values(
    db: Database, shop: Shop, field: str, value: str, says: str
) -> None:
    with pytest.raises(InvalidInput, match=says):
        _open(db, shop, None, **{field: value})
    with pytest.raises(NotFound):
        _open(db, shop, 99999)


def test_the_status_flow_and_impossible_steps(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    cid = _open(db, shop, c)
    later = NOW + timedelta(hours=2)
    clerk = shop.member(shop.clerk_a)
    with db.write() as s:
        steps.add_note(s, cid, "查了批次", actor_id=shop.clerk_a, now=later)
        assert get_complaint(s, cid).status == "open"  # a note is not a response
        steps.respond(s, cid, "已致电客户", actor_id=shop.clerk_a, now=later)
        steps.assign(s, cid, shop.manager_a, actor_id=shop.manager_a, now=later)
    with pytest.raises(Conflict, match="cannot be closed"), db.write() as s:
        steps.close(s, cid, actor_id=shop.clerk_a, now=later)
    with pytest.raises(Conflict, match="cannot be reopened"), db.write() as s:
        steps.reopen(s, cid, "again", actor_id=shop.clerk_a, now=later)
    with db.write() as s:
        steps.resolve(s, cid, Recovery("replacement"), "换了一盒新茶", actor=clerk, now=later)
    with pytest.raises(Conflict, match="is resolved: it cannot be answered"), db.write() as s:
        steps.respond(s, cid, "x", actor_id=shop.clerk_a, now=later)
    with db.write() as s:
        steps.reopen(s, cid, "客户说还是受潮", actor_id=shop.clerk_a, now=later)
        row = get_complaint(s, cid)
        assert (row.status, row.resolved_at, row.first_response_at) == ("in_progress", None, later)
        steps.resolve(s, cid, Recovery("apology"), "道歉", actor=clerk, now=later)
        steps.close(s, cid, actor_id=shop.clerk_a, now=later)
        row = get_complaint(s, cid)
        assert (row.status, row.closed_at, row.recovery_action) == ("closed", later, "apology")
        kinds = [e.kind for e in timeline(s, cid)]
    assert kinds == ["opened", "note", "responded", "assigned", "resolved", "reopened",
                     "resolved", "closed"]  # fmt: skip
    assert _actions(db).count(audit.Action.COMPLAINT_RESOLVED) == 2


def test_resolving_an_open_complaint_counts_as_its_first_response(db: Database, shop: Shop) -> None:
    cid = _open(db, shop, None, store_id=shop.a)
    at = NOW + timedelta(hours=30)  # first response was due at 24 h: late
    with db.write() as s:
        result = steps.resolve(s, cid, Recovery("apology"), "当面道歉",
                               actor=shop.member(shop.clerk_a), now=at)  # fmt: skip
        row = get_complaint(s, cid)
        first, resolution = clocks(row, now=at, policy=DEFAULT_POLICY)
    assert (result.token, result.why_not) == (None, "no_customer")
    assert row.first_response_at == at
    assert (first.state, resolution.state) == (ClockState.BREACHED, ClockState.MET)


def test_points_recovery_goes_through_the_ledger_exactly_once(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    cid = _open(db, shop, c)
    manager = shop.member(shop.manager_a)
    with db.write() as s:
        steps.resolve(s, cid, Recovery("points", points=300), "补偿积分", actor=manager, now=NOW)
    assert ledger.balance(db, c) == 300
    with db.write() as s:
        steps.reopen(s, cid, "not fixed", actor_id=shop.manager_a, now=NOW)
    with pytest.raises(Conflict, match="already gave 300 points"), db.write() as s:
        steps.resolve(s, cid, Recovery("points", points=300), "again", actor=manager, now=NOW)
    assert ledger.balance(db, c) == 300
    with db.read() as s:
        entry = s.execute(select(PointsEntry)).scalar_one()
        assert (entry.idempotency_key, entry.source_type, entry.expires_on) == (
            f"complaint:{cid}:points", "complaint", None
        )  # fmt: skip
        assert get_complaint(s, cid).recovery_points == 300


def test_coupon_recovery_issues_one_code_of_the_campaign(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    campaign = make_campaign(db)
    cid = _open(db, shop, c)
    with db.write() as s:
        result = steps.resolve(s, cid, Recovery("coupon", coupon_campaign_id=campaign), "送券",
                               actor=shop.member(shop.owner), now=NOW)  # fmt: skip
    with db.read() as s:
        coupon = s.execute(select(Coupon)).scalar_one()
        assert (coupon.campaign_id, coupon.customer_id) == (campaign, c)
        assert get_complaint(s, cid).recovery_coupon_id == coupon.id
    assert result.coupon_code is not None and coupon.code == result.coupon_code.replace("-", "")
    assert audit.Action.COUPONS_ISSUED in _actions(db)


def test_clerks_may_not_compensate_and_a_failure_rolls_everything_back(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, home_store_id=shop.a)
    cid = _open(db, shop, c)
    with pytest.raises(NotAllowed, match="only a manager or the owner"), db.write() as s:
        steps.resolve(s, cid, Recovery("points", points=100), "x",
                      actor=shop.member(shop.clerk_a), now=NOW)  # fmt: skip
    with pytest.raises(NotFound), db.write() as s:  # no such campaign
        steps.resolve(s, cid, Recovery("coupon", coupon_campaign_id=999), "x",
                      actor=shop.member(shop.manager_a), now=NOW)  # fmt: skip
    for recovery, says in [(Recovery("gift"), "not one of"),
                           (Recovery("points", points=0), "1 to"),
                           (Recovery("refund"), "amount")]:  # fmt: skip
        with pytest.raises(InvalidInput, match=says), db.write() as s:
            steps.resolve(s, cid, recovery, "x", actor=shop.member(shop.manager_a), now=NOW)
    with db.read() as s:
        assert get_complaint(s, cid).status == "open"
        assert s.execute(select(func.count()).select_from(PublicLink)).scalar_one() == 0


def test_refund_amount_is_recorded_in_the_event_and_the_audit(db: Database, shop: Shop) -> None:
    cid = _open(db, shop, make_customer(db, home_store_id=shop.a))
    with db.write() as s:
        steps.resolve(s, cid, Recovery("refund", refund=steps.parse_refund("58.5")), "退款",
                      actor=shop.member(shop.clerk_a), now=NOW)  # fmt: skip
        assert timeline(s, cid)[-1].note == "refund 58.50: 退款"
        details = s.execute(
            select(AuditEntry.detail).where(AuditEntry.action == audit.Action.COMPLAINT_RESOLVED)
        ).scalar_one()  # fmt: skip
    assert details["refund"] == "58.50"
    with pytest.raises(InvalidInput):
        steps.parse_refund("-3")
    assert steps.parse_refund("") is None and steps.parse_refund("7") == Decimal("7.00")


def test_resolution_issues_a_satisfaction_link_and_queues_a_service_message(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, home_store_id=shop.a, name="王芳", gender="female")  # no consent
    cid = _open(db, shop, c)
    with db.write() as s:
        result = steps.resolve(s, cid, Recovery("apology"), "已道歉",
                               actor=shop.member(shop.clerk_a), now=NOW, public_url=URL + "/",
                               shop="茶舍")  # fmt: skip
    assert (result.channel, result.why_not) == ("sms", None)
    assert result.token is not None
    with db.read() as s:
        link = check_link(s, result.token, now=NOW, purpose="satisfaction")
        assert (link.complaint_id, link.customer_id, link.max_uses) == (cid, c, 1)
        message = s.execute(select(Message)).scalar_one()
    assert (message.customer_id, message.channel, message.is_marketing) == (c, "sms", False)
    assert f"{URL}/f/{result.token}" in message.body and "王女士" in message.body
    assert message.dedupe_key == f"complaint:{cid}:satisfaction:1"
    with db.write() as s:
        record_satisfaction(s, cid, 4, now=NOW)
    with db.read() as s:
        assert get_complaint(s, cid).satisfaction == 4
        assert timeline(s, cid)[-1].kind == "satisfaction"
    with pytest.raises(InvalidInput, match="1 to 5"), db.write() as s:
        record_satisfaction(s, cid, 6, now=NOW)


def test_the_message_goes_by_the_complaints_channel_or_waits_for_an_address(
    db: Database, shop: Shop
) -> None:
    both = make_customer(db, home_store_id=shop.a, wechat_id="wx_wang")
    nothing = make_customer(db, home_store_id=shop.a, phone=None)
    by_wechat = _open(db, shop, both, channel="wechat")
    unreachable = _open(db, shop, nothing)
    clerk = shop.member(shop.clerk_a)
    with db.write() as s:
        one = steps.resolve(s, by_wechat, Recovery("apology"), "x", actor=clerk, now=NOW,
                            public_url=URL)  # fmt: skip
        two = steps.resolve(s, unreachable, Recovery("apology"), "x", actor=clerk, now=NOW,
                            public_url=URL)  # fmt: skip
    assert one.channel == "wechat"
    assert (two.channel, two.why_not) == (None, "no_address")
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 1
    blank = _open(db, shop, both)
    with db.write() as s:
        three = steps.resolve(s, blank, Recovery("apology"), "x", actor=clerk, now=NOW)
    assert (three.channel, three.why_not) == (None, "no_public_url") and three.token


def test_escalating_by_hand_keeps_the_first(db: Database, shop: Shop) -> None:
    cid = _open(db, shop, None, store_id=shop.a)
    with db.write() as s:
        steps.escalate(s, cid, shop.manager_a, actor_id=shop.clerk_a, now=NOW, note="客户很生气")
        steps.escalate(s, cid, shop.owner, actor_id=shop.manager_a, now=NOW + timedelta(hours=1))
        row = get_complaint(s, cid)
        assert (row.escalated_at, row.escalated_to_staff_id) == (NOW, shop.manager_a)
    with pytest.raises(InvalidInput, match="not active"), db.write() as s:
        steps.assign(s, cid, 99999, actor_id=shop.manager_a, now=NOW)


def test_the_list_filters_and_scopes(db: Database, shop: Shop) -> None:
    a1 = _open(db, shop, None, store_id=shop.a, category="service")
    a2 = _open(db, shop, None, store_id=shop.a, severity="low")
    b1 = _open(db, shop, None, store_id=shop.b)
    late = NOW + timedelta(hours=30)  # first responses overdue for all
    with db.write() as s:
        steps.respond(s, a2, "ok", actor_id=shop.clerk_a, now=NOW + timedelta(hours=1))

    def ids(scope: int | None, **kw: object) -> list[int]:
        with db.read() as s:
            rows = list_complaints(s, scope=scope, filters=Filters(**kw),  # type: ignore[arg-type]
                                   now=late, policy=DEFAULT_POLICY)  # fmt: skip
        return sorted(r.id for r in rows)

    assert ids(None) == [a1, a2, b1]
    assert ids(shop.a) == [a1, a2]
    assert ids(shop.b, category="service") == []
    assert ids(None, category="service") == [a1]
    assert ids(None, status="in_progress") == [a2]
    assert ids(None, breached=True) == [a1, b1]  # a2 answered in time, resolution not yet due
    with pytest.raises(InvalidInput, match="status"):
        ids(None, status="done")


def test_a_used_satisfaction_link_is_refused(db: Database, shop: Shop) -> None:
    cid = _open(db, shop, make_customer(db, home_store_id=shop.a))
    with db.write() as s:
        result = steps.resolve(s, cid, Recovery("apology"), "x",
                               actor=shop.member(shop.clerk_a), now=NOW)  # fmt: skip
    assert result.token is not None
    from guanxi.feedback.links import use_link

    with db.write() as s:
        use_link(s, result.token, now=NOW, purpose="satisfaction")
    with pytest.raises(LinkRefused), db.read() as s:
        check_link(s, result.token, now=NOW, purpose="satisfaction")
