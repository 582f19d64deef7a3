"""Escalation past the SLA (to the manager, else the owner; idempotent; a stage of the daily
run) and the agenda items of complaints near or past their deadline (both DBs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from guanxi.care.agenda import AgendaQuery, english
from guanxi.care.daily import run_daily
from guanxi.care.outbox import SendPolicy
from guanxi.feedback import complaint_steps as steps
from guanxi.feedback.complaints import get_complaint, open_complaint
from guanxi.feedback.escalation import complaint_items, run_escalations
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, CareTask, Staff
from tests.factories import make_customer
from tests.feedback.complaint_shop import Shop, make_shop

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


def _open(db: Database, customer: int | None, store: int | None, *, severity: str = "high",
          at: datetime = NOW) -> int:  # fmt: skip
    with db.write() as s:
        return open_complaint(s, customer_id=customer, store_id=store, category="product",
                              severity=severity, channel="phone", summary="漏发赠品",
                              actor_id=None, now=at)  # fmt: skip


def test_breached_complaints_go_to_the_stores_manager_once(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    late = _open(db, c, shop.a)
    answered = _open(db, None, shop.b)
    with db.write() as s:
        steps.respond(s, answered, "ok", actor_id=shop.clerk_b, now=NOW + timedelta(hours=1))
    assert run_escalations(db, now=NOW + timedelta(hours=23)) == 0  # not yet due
    assert run_escalations(db, now=NOW + timedelta(hours=25)) == 1  # late's first response
    assert run_escalations(db, now=NOW + timedelta(hours=26)) == 0  # idempotent
    with db.read() as s:
        row = get_complaint(s, late)
        assert (row.escalated_at, row.escalated_to_staff_id) == (
            NOW + timedelta(hours=25), shop.manager_a
        )  # fmt: skip
        task = s.execute(select(CareTask)).scalar_one()
        assert (task.kind, task.assignee_staff_id, task.customer_id, task.source_key) == (
            "other", shop.manager_a, c, f"complaint-escalation:{late}"
        )  # fmt: skip
        assert task.due_on == date(2026, 11, 21)
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert actions.count(audit.Action.COMPLAINT_ESCALATED) == 1
    # the answered one breaches its resolution (48 h) later and goes to store B's manager
    assert run_escalations(db, now=NOW + timedelta(hours=49)) == 1
    with db.read() as s:
        assert get_complaint(s, answered).escalated_to_staff_id == shop.manager_b


def test_without_a_manager_the_owner_gets_it(db: Database, shop: Shop) -> None:
    with db.write() as s:
        s.get(Staff, shop.manager_a).is_active = False  # type: ignore[union-attr]
    cid = _open(db, None, shop.a)
    assert run_escalations(db, now=NOW + timedelta(days=3)) == 1
    with db.read() as s:
        assert get_complaint(s, cid).escalated_to_staff_id == shop.owner
        assert s.execute(select(CareTask.id)).first() is None  # no customer: no task


def test_resolved_complaints_are_never_escalated(db: Database, shop: Shop) -> None:
    cid = _open(db, None, shop.a)
    with db.write() as s:
        steps.resolve(s, cid, steps.Recovery("apology"), "ok", actor=shop.member(shop.clerk_a),
                      now=NOW + timedelta(hours=50))  # fmt: skip
    assert run_escalations(db, now=NOW + timedelta(days=5)) == 0


def test_the_daily_run_escalates_and_reports_the_count(db: Database, shop: Shop) -> None:
    _open(db, make_customer(db, home_store_id=shop.a), shop.a)
    later = NOW + timedelta(days=2)
    report = run_daily(db, date(2026, 11, 22), zone="Asia/Shanghai", now=later, channels={},
                       policy=SendPolicy(), send=False)  # fmt: skip
    assert report.escalated == 1
    assert report.as_json()["escalated"] == 1
    again = run_daily(db, date(2026, 11, 22), zone="Asia/Shanghai", now=later, channels={},
                      policy=SendPolicy(), send=False)  # fmt: skip
    assert again.escalated == 0


def test_agenda_items_near_or_past_the_deadline(db: Database, shop: Shop) -> None:
    c1 = make_customer(db, home_store_id=shop.a, name="李雷")
    c2 = make_customer(db, home_store_id=shop.a)
    c3 = make_customer(db, home_store_id=shop.b)
    day = date(2026, 11, 21)
    noon = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)  # the moment a past day is judged at
    near = _open(db, c1, shop.a, at=noon - timedelta(hours=20))  # 4 h left of 24
    over = _open(db, c2, shop.a, at=noon - timedelta(hours=30))  # first response overdue
    _open(db, c3, shop.b, at=noon - timedelta(hours=1))  # plenty of time
    with db.write() as s:
        steps.assign(s, near, shop.clerk_a, actor_id=shop.manager_a, now=noon)
    with db.read() as s:
        store_items = list(complaint_items(s, AgendaQuery(day=day, store_id=shop.a)))
        clerk_items = list(complaint_items(s, AgendaQuery(day=day, staff_id=shop.clerk_a)))
        all_items = list(complaint_items(s, AgendaQuery(day=day)))
    assert sorted(i.customer_id for i in store_items) == [c1, c2]
    assert [i.customer_id for i in clerk_items] == [c1]
    assert len(all_items) == 2
    by_customer = {i.customer_id: i for i in store_items}
    assert by_customer[c1].kind == "complaint_sla"
    assert by_customer[c1].params == {"id": near, "category": "product", "hours": 4}
    assert english(by_customer[c1]) == f"Complaint #{near} (Product): first response due in 4 hours"
    assert by_customer[c2].params["date"] == date(2026, 11, 21)
    assert "overdue since" in english(by_customer[c2]) and str(over) in english(by_customer[c2])


def test_the_escalation_task_stands_for_the_complaint_until_it_is_resolved(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, home_store_id=shop.a)
    day = date(2026, 11, 21)
    noon = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    late = _open(db, c, shop.a, at=noon - timedelta(hours=30))
    assert run_escalations(db, now=noon) == 1
    with db.read() as s:
        manager_items = list(complaint_items(s, AgendaQuery(day=day, staff_id=shop.manager_a)))
        store_items = list(complaint_items(s, AgendaQuery(day=day, store_id=shop.a)))
    assert manager_items == []  # the open escalation task is on their agenda instead
    assert [i.customer_id for i in store_items] == [c]
    with db.write() as s:
        steps.resolve(s, late, steps.Recovery("apology"), "ok",
                      actor=shop.member(shop.manager_a), now=noon)  # fmt: skip
    with db.read() as s:
        task = s.execute(select(CareTask)).scalar_one()
    assert (task.source_key, task.status) == (f"complaint-escalation:{late}", "cancelled")
