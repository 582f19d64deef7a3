"""Follow-up plans → care tasks (per category, days after, holidays, assignee, idempotent) and
outcomes (timeline note, audit, a complaint opened in the same transaction)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from guanxi.care import tasks
from guanxi.care.tasks import (
    Outcome,
    ensure_tasks,
    log_outcome,
    open_tasks,
    schedule_followups,
    schedule_for_purchase,
)
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.sla import SlaPolicy
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    CareTask,
    Complaint,
    ComplaintEvent,
    CustomerNote,
    FollowupPlan,
    Product,
    Purchase,
    PurchaseLine,
    Staff,
    Store,
)
from tests.factories import make_customer

SH = 8  # Asia/Shanghai is UTC+8 all year


@dataclass
class Shop:
    a: int
    b: int
    manager_a: int
    clerk_a: int
    manager_b: int
    tea: int
    cup: int
    snack: int


@pytest.fixture
def shop(db: Database) -> Shop:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        staff = [
            Staff(name="店长甲", role="manager", store_id=a.id),
            Staff(name="小王", role="clerk", store_id=a.id),
            Staff(name="店长乙", role="manager", store_id=b.id),
        ]
        products = [
            Product(sku="T1", name="龙井", category="茶叶"),
            Product(sku="C1", name="茶杯", category="瓷器"),
            Product(sku="S1", name="瓜子", category=None),
        ]
        s.add_all([*staff, *products])
        s.flush()
        return Shop(
            a.id,
            b.id,
            staff[0].id,
            staff[1].id,
            staff[2].id,
            products[0].id,
            products[1].id,
            products[2].id,
        )


_orders = iter(range(1, 10**6))


def buy(
    db: Database,
    customer: int,
    store: int,
    local: datetime,
    products: list[int],
    *,
    recorded: datetime | None = None,
) -> int:
    """A purchase at a Shanghai local time; ``recorded`` is when it reached the system."""
    at = (local - timedelta(hours=SH)).replace(tzinfo=UTC)
    with db.write() as s:
        p = Purchase(
            store_id=store,
            external_order_id=f"R{next(_orders)}",
            customer_id=customer,
            purchased_at=at,
            total_amount=Decimal(10 * len(products)),
            created_at=recorded or at,
        )
        s.add(p)
        s.flush()
        for n, product in enumerate(products, 1):
            s.add(
                PurchaseLine(
                    purchase_id=p.id,
                    line_no=n,
                    product_id=product,
                    quantity=Decimal(1),
                    unit_price=Decimal(10),
                    amount=Decimal(10),
                )
            )
        return p.id


def plan(
    db: Database,
    name: str,
    category: str | None,
    days: int,
    *,
    skip: bool = False,
    active: bool = True,
) -> int:
    with db.write() as s:
        row = FollowupPlan(
            name=name,
            category=category,
            days_after=days,
            action=f"{name}：问问",
            skip_holidays=skip,
            is_active=active,
        )
        s.add(row)
        s.flush()
        return row.id


def schedule(db: Database, purchase: int) -> int:
    with db.write() as s:
        return schedule_for_purchase(s, purchase)


def all_tasks(db: Database) -> list[CareTask]:
    with db.read() as s:
        rows = list(s.scalars(select(CareTask).order_by(CareTask.id)))
        s.expunge_all()
        return rows


# --- scheduling --------------------------------------------------------------------------------


def test_plans_match_by_category_and_count_days_from_the_local_purchase_date(
    db: Database, shop: Shop
) -> None:
    tea = plan(db, "茶叶 7 天回访", "茶叶", 7)
    anything = plan(db, "30 天回访", None, 30)
    plan(db, "瓷器 3 天回访", "瓷器", 3)
    plan(db, "停用的计划", "茶叶", 1, active=False)
    c = make_customer(db, home_store_id=shop.a, owner_staff_id=shop.clerk_a)
    # 2026-06-11 04:00 in Shanghai is still 2026-06-10 in UTC: the business date counts.
    p = buy(db, c, shop.a, datetime(2026, 6, 11, 4, 0), [shop.tea, shop.snack])
    assert schedule(db, p) == 2
    made = {t.plan_id: t for t in all_tasks(db)}
    assert set(made) == {tea, anything}
    t = made[tea]
    assert (t.kind, t.customer_id, t.status, t.store_id) == ("followup", c, "open", shop.a)
    assert t.due_on == date(2026, 6, 18)
    assert made[anything].due_on == date(2026, 7, 11)
    assert t.title == "茶叶 7 天回访"
    assert t.source_key == f"followup:{tea}:{p}" and t.purchase_id == p
    assert "龙井" in (t.detail or "") and "瓜子" not in (t.detail or "")  # the category's items
    assert "2026-06-11" in (t.detail or "")
    assert "瓜子" in (made[anything].detail or "")
    # A purchase of cups only: the cups plan and the any-purchase plan.
    cups = buy(db, c, shop.a, datetime(2026, 6, 12, 15, 0), [shop.cup])
    assert schedule(db, cups) == 2
    due = {t.title: t.due_on for t in all_tasks(db) if t.purchase_id == cups}
    assert due == {"瓷器 3 天回访": date(2026, 6, 15), "30 天回访": date(2026, 7, 12)}


def test_scheduling_is_idempotent(db: Database, shop: Shop) -> None:
    plan(db, "茶叶 7 天回访", "茶叶", 7)
    c = make_customer(db, home_store_id=shop.a)
    p = buy(db, c, shop.a, datetime(2026, 6, 10, 10), [shop.tea])
    assert schedule(db, p) == 1
    assert schedule(db, p) == 0
    assert schedule_followups(db, date(2026, 6, 12)) == 0
    assert len(all_tasks(db)) == 1
    with db.write() as s:  # ensure_tasks itself skips known keys, also within one batch
        row = {
            "kind": "other",
            "customer_id": c,
            "due_on": date(2026, 6, 1),
            "title": "x",
            "source_key": "k:1",
        }
        assert ensure_tasks(s, [row, dict(row)]) == 1
        assert ensure_tasks(s, [row]) == 0


def test_no_active_plan_costs_no_query_after_the_first(db: Database, shop: Shop) -> None:
    plan(db, "停用", None, 7, active=False)
    c = make_customer(db, home_store_id=shop.a)
    p1 = buy(db, c, shop.a, datetime(2026, 6, 10, 10), [shop.tea])
    p2 = buy(db, c, shop.a, datetime(2026, 6, 11, 10), [shop.tea])
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    with db.write() as s:
        assert schedule_for_purchase(s, p1) == 0
        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert schedule_for_purchase(s, p2) == 0  # the cached "no plans" answer
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    assert all_tasks(db) == []


def test_assignee_is_the_account_owner_else_the_manager_of_the_store(
    db: Database, shop: Shop
) -> None:
    plan(db, "回访", None, 2)
    with db.write() as s:
        gone = Staff(name="离职", role="clerk", store_id=shop.a, is_active=False)
        s.add(gone)
        s.flush()
        gone_id = gone.id
    owned = make_customer(db, home_store_id=shop.a, owner_staff_id=shop.clerk_a)
    left = make_customer(db, home_store_id=shop.a, owner_staff_id=gone_id)
    nobody = make_customer(db, home_store_id=shop.b)
    homeless = make_customer(db, home_store_id=None)
    at = datetime(2026, 6, 10, 10)
    # Bought in store B, but the task belongs to the home store A, whose manager can open them.
    bought = {c: buy(db, c, shop.b, at, [shop.snack]) for c in (owned, left, nobody, homeless)}
    for p in bought.values():
        schedule(db, p)
    by_customer = {t.customer_id: t for t in all_tasks(db)}
    assert by_customer[owned].assignee_staff_id == shop.clerk_a
    assert by_customer[owned].store_id == shop.a
    assert by_customer[left].assignee_staff_id == shop.manager_a  # the owner left the shop
    assert by_customer[nobody].assignee_staff_id == shop.manager_b
    assert (by_customer[homeless].assignee_staff_id, by_customer[homeless].store_id) == (
        shop.manager_b,
        shop.b,
    )  # no home store: the purchase's
    with db.write() as s:
        s.get(Staff, shop.manager_b).is_active = False  # type: ignore[union-attr]
    lonely = make_customer(db, home_store_id=shop.b)
    schedule(db, buy(db, lonely, shop.b, at, [shop.snack]))
    task = next(t for t in all_tasks(db) if t.customer_id == lonely)
    assert (task.assignee_staff_id, task.store_id) == (None, shop.b)  # the store's, unassigned


def test_due_dates_skip_holidays_only_when_the_plan_says_so(
    db: Database, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    days_off = {date(2026, 10, d) for d in range(1, 8)}

    def next_workday(day: date) -> date:
        while day in days_off or day.weekday() >= 5:
            day += timedelta(days=1)
        return day

    monkeypatch.setattr(tasks, "_next_workday", next_workday)
    skipping = plan(db, "跳过假日", None, 7, skip=True)
    keeping = plan(db, "不跳过", None, 7, skip=False)
    c = make_customer(db, home_store_id=shop.a)
    schedule(db, buy(db, c, shop.a, datetime(2026, 9, 24, 12), [shop.tea]))
    due = {t.plan_id: t.due_on for t in all_tasks(db)}
    assert due == {skipping: date(2026, 10, 8), keeping: date(2026, 10, 1)}


@pytest.mark.skipif(
    importlib.util.find_spec("guanxi.care.holidays") is None,
    reason="guanxi.care.holidays (the calendar) is not there yet",
)
def test_due_dates_use_the_statutory_holiday_calendar(db: Database, shop: Shop) -> None:
    from guanxi.care.holidays import is_workday, next_workday

    skipping = plan(db, "国庆后回访", None, 7, skip=True)
    c = make_customer(db, home_store_id=shop.a)
    schedule(db, buy(db, c, shop.a, datetime(2026, 9, 24, 12), [shop.tea]))
    (task,) = [t for t in all_tasks(db) if t.plan_id == skipping]
    assert not is_workday(date(2026, 10, 1))  # 国庆节
    assert task.due_on == next_workday(date(2026, 10, 1))
    assert task.due_on > date(2026, 10, 7) and is_workday(task.due_on)


def test_a_purchase_recorded_long_after_its_follow_up_makes_no_stale_task(
    db: Database, shop: Shop
) -> None:
    plan(db, "7 天回访", None, 7)
    c = make_customer(db, home_store_id=shop.a)
    old = buy(
        db,
        c,
        shop.a,
        datetime(2026, 3, 1, 12),
        [shop.tea],
        recorded=datetime(2026, 6, 1, tzinfo=UTC),
    )
    late = buy(
        db,
        c,
        shop.a,
        datetime(2026, 5, 28, 12),
        [shop.tea],
        recorded=datetime(2026, 6, 1, tzinfo=UTC),
    )
    assert schedule(db, old) == 0
    assert schedule(db, late) == 1  # due 2026-06-04, still ahead when recorded


def test_nightly_catch_up_makes_the_follow_ups_of_imported_purchases(
    db: Database, shop: Shop
) -> None:
    tea = plan(db, "茶叶 7 天回访", "茶叶", 7)
    month = plan(db, "30 天回访", None, 30)
    c = make_customer(db, home_store_id=shop.a, owner_staff_id=shop.clerk_a)
    day = date(2026, 6, 20)
    recent = buy(db, c, shop.a, datetime(2026, 6, 15, 12), [shop.tea])
    buy(db, c, shop.a, datetime(2026, 5, 1, 12), [shop.tea])  # stale: tea due 05-08
    other = buy(db, c, shop.a, datetime(2026, 6, 18, 12), [shop.cup])
    future = buy(db, c, shop.a, datetime(2026, 6, 25, 12), [shop.tea])
    done_before = buy(db, c, shop.a, datetime(2026, 6, 16, 12), [shop.tea])
    assert schedule(db, done_before) == 2
    made = schedule_followups(db, day)
    keys = {t.source_key for t in all_tasks(db)}
    assert keys == {
        f"followup:{tea}:{recent}",
        f"followup:{month}:{recent}",
        f"followup:{month}:{other}",
        f"followup:{tea}:{done_before}",
        f"followup:{month}:{done_before}",
    }  # the stale purchase's follow-ups were due over a week before the day
    assert made == 3
    assert f"followup:{tea}:{future}" not in keys  # bought after the day
    assert schedule_followups(db, day) == 0  # idempotent
    assert len(all_tasks(db)) == 5
    # A later night with a longer overdue allowance picks up nothing older than the lookback.
    assert schedule_followups(db, day, lookback_days=10, overdue_days=60) == 0
    assert schedule_followups(db, day, lookback_days=120, overdue_days=60) == 2  # stale ones


# --- reading -----------------------------------------------------------------------------------


def test_open_tasks_by_day_assignee_store_and_erasure(db: Database, shop: Shop) -> None:
    a1 = make_customer(db, name="甲", home_store_id=shop.a)
    b1 = make_customer(db, name="乙", home_store_id=shop.b)
    gone = make_customer(
        db, name="丙", home_store_id=shop.a, erased_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    base = {"kind": "followup", "title": "t", "status": "open"}
    with db.write() as s:
        ensure_tasks(
            s,
            [
                {
                    **base,
                    "customer_id": a1,
                    "assignee_staff_id": shop.clerk_a,
                    "store_id": shop.a,
                    "due_on": date(2026, 6, 1),
                    "source_key": "1",
                },
                {
                    **base,
                    "customer_id": a1,
                    "assignee_staff_id": shop.manager_a,
                    "store_id": shop.a,
                    "due_on": date(2026, 6, 3),
                    "source_key": "2",
                },
                {
                    **base,
                    "customer_id": b1,
                    "assignee_staff_id": shop.manager_b,
                    "store_id": shop.b,
                    "due_on": date(2026, 6, 2),
                    "source_key": "3",
                },
                {
                    **base,
                    "customer_id": gone,
                    "assignee_staff_id": shop.clerk_a,
                    "store_id": shop.a,
                    "due_on": date(2026, 6, 1),
                    "source_key": "4",
                },
                {
                    **base,
                    "customer_id": a1,
                    "store_id": shop.a,
                    "due_on": date(2026, 6, 1),
                    "source_key": "5",
                    "status": "done",
                },
            ],
        )
    with db.read() as s:
        until2 = open_tasks(s, until=date(2026, 6, 2))
        assert [(t.customer_name, t.due_on) for t in until2] == [
            ("甲", date(2026, 6, 1)),
            ("乙", date(2026, 6, 2)),
        ]
        assert until2[0].assignee_name == "小王"
        mine = open_tasks(s, until=date(2026, 6, 30), staff_id=shop.clerk_a)
        assert [t.due_on for t in mine] == [date(2026, 6, 1)]
        store_a = open_tasks(s, until=date(2026, 6, 30), store_id=shop.a)
        assert [t.assignee_staff_id for t in store_a] == [shop.clerk_a, shop.manager_a]


# --- outcomes ----------------------------------------------------------------------------------


def _one_task(db: Database, shop: Shop, customer: int, key: str = "followup:x:1") -> int:
    with db.write() as s:
        ensure_tasks(
            s,
            [
                {
                    "kind": "followup",
                    "customer_id": customer,
                    "store_id": shop.a,
                    "assignee_staff_id": shop.clerk_a,
                    "due_on": date(2026, 6, 17),
                    "title": "茶叶回访",
                    "source_key": key,
                }
            ],
        )
        return int(s.execute(select(CareTask.id).where(CareTask.source_key == key)).scalar_one())


def test_logging_an_outcome_closes_the_task_and_writes_the_timeline(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, home_store_id=shop.a)
    task = _one_task(db, shop, c)
    now = datetime(2026, 6, 17, 3, 0, tzinfo=UTC)
    log_outcome(
        db,
        task,
        Outcome.REACHED,
        "  茶叶很好，下月再来  ",
        actor_id=shop.clerk_a,
        scope=shop.a,
        now=now,
    )
    with db.read() as s:
        row = s.get(CareTask, task)
        assert row is not None
        assert (row.status, row.outcome, row.outcome_note, row.done_by_staff_id) == (
            "done",
            "reached",
            "茶叶很好，下月再来",
            shop.clerk_a,
        )
        assert row.done_at == now
        notes = list(
            s.execute(
                select(CustomerNote.text, CustomerNote.staff_id).where(
                    CustomerNote.customer_id == c
                )
            )
        )
        assert notes == [("回访: reached — 茶叶很好，下月再来", shop.clerk_a)]
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == audit.Action.TASK_OUTCOME_LOGGED)
        ).scalar_one()
        assert entry.target_id == str(task) and entry.actor_staff_id == shop.clerk_a
        assert entry.detail == {"customer_id": c, "kind": "followup", "outcome": "reached"}
        assert open_tasks(s, until=date(2026, 12, 31)) == []
    with pytest.raises(Conflict):
        log_outcome(db, task, "no_answer", "", actor_id=shop.clerk_a, scope=None)


def test_outcome_checks_scope_and_input(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    task = _one_task(db, shop, c)
    with pytest.raises(NotFound):
        log_outcome(db, task, "reached", "", actor_id=shop.manager_b, scope=shop.b)
    with pytest.raises(InvalidInput):
        log_outcome(db, task, "happy", "", actor_id=shop.clerk_a, scope=shop.a)
    with pytest.raises(InvalidInput):
        log_outcome(db, task, "reached", "x" * 2001, actor_id=shop.clerk_a, scope=shop.a)
    with pytest.raises(NotFound):
        log_outcome(db, task + 999, "reached", "", actor_id=shop.clerk_a, scope=None)
    log_outcome(db, task, "no_answer", "", actor_id=shop.clerk_a, scope=shop.a)
    with db.read() as s:
        assert s.execute(select(CustomerNote.text)).scalars().all() == ["回访: no_answer"]


def test_a_complaint_outcome_opens_a_complaint_for_the_store(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    task = _one_task(db, shop, c)
    now = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)  # 6-18 02:00 in Shanghai
    opened = log_outcome(
        db, task, Outcome.COMPLAINT, "茶叶受潮", actor_id=shop.clerk_a, scope=shop.a, now=now
    )
    with db.read() as s:
        row = s.execute(select(Complaint)).scalar_one()
        assert opened == row.id
        assert (row.customer_id, row.store_id, row.channel, row.category, row.severity) == (
            c, shop.a, "followup", "other", "medium"
        )  # fmt: skip
        assert (row.summary, row.source_task_id, row.status, row.opened_at) == (
            "茶叶受潮", task, "open", now
        )  # fmt: skip
        assert row.first_response_due_at == now + timedelta(hours=24)
        assert s.execute(select(ComplaintEvent.kind)).scalars().all() == ["opened"]
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
        assert actions == [audit.Action.TASK_OUTCOME_LOGGED, audit.Action.COMPLAINT_OPENED]
    assert [t.kind for t in all_tasks(db)] == ["followup"]  # no generic manager task


def test_a_refused_complaint_rolls_the_outcome_back(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    task = _one_task(db, shop, c)
    with pytest.raises(ValueError, match="no resolution hours for severity 'medium'"):
        log_outcome(db, task, "complaint", "x", actor_id=shop.clerk_a, scope=None,
                    sla=SlaPolicy(resolution_hours={"critical": 24.0}))  # fmt: skip
    (row,) = all_tasks(db)
    assert row.status == "open"
    with db.read() as s:
        assert s.execute(select(CustomerNote.id)).first() is None
        assert s.execute(select(Complaint.id)).first() is None


def test_an_erased_customers_task_closes_without_a_timeline_note(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a, erased_at=datetime(2026, 1, 1, tzinfo=UTC))
    task = _one_task(db, shop, c)
    log_outcome(db, task, "reached", "新的个人信息", actor_id=shop.clerk_a, scope=shop.a)
    (row,) = all_tasks(db)
    assert row.status == "done"
    with db.read() as s:
        assert s.execute(select(CustomerNote.id)).first() is None
