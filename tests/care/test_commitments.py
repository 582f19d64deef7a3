"""Promises: made with an owner and a due date, reminded, closed, and the kept-on-time rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from guanxi.care.commitments import (
    close_commitment,
    due_commitments,
    kept_rates,
    list_commitments,
    make_commitment,
)
from guanxi.care.tasks import ensure_tasks
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, CareTask, Commitment, CustomerNote, Staff, Store
from tests.factories import make_customer

DAY = date(2026, 11, 23)


@dataclass
class Shop:
    a: int
    b: int
    wang: int  # clerk, store A
    li: int  # manager, store A
    zhao: int  # clerk, store B
    boss: int  # owner, no store


@pytest.fixture
def shop(db: Database) -> Shop:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        people = [
            Staff(name="小王", role="clerk", store_id=a.id),
            Staff(name="店长李", role="manager", store_id=a.id),
            Staff(name="小赵", role="clerk", store_id=b.id),
            Staff(name="老板", role="owner", store_id=None),
        ]
        s.add_all(people)
        s.flush()
        return Shop(a.id, b.id, *(p.id for p in people))


def promise(
    db: Database,
    shop: Shop,
    customer: int,
    due: date,
    *,
    owner: int | None = None,
    remind: int = 1,
    text: str = "到货通知 M 码",
) -> int:
    return make_commitment(
        db,
        customer_id=customer,
        promise=text,
        due_on=due,
        owner_staff_id=owner or shop.wang,
        remind_days=remind,
        actor_id=shop.wang,
        scope=None,
    )


def test_a_promise_is_recorded_with_its_owner_store_note_and_audit(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, home_store_id=shop.a)
    cid = make_commitment(
        db,
        customer_id=c,
        promise="  到货后打电话  ",
        due_on=date(2026, 11, 30),
        owner_staff_id=shop.li,
        remind_days=2,
        actor_id=shop.wang,
        scope=shop.a,
        day=DAY,
    )
    with db.read() as s:
        row = s.get(Commitment, cid)
        assert row is not None
        assert (
            row.customer_id,
            row.owner_staff_id,
            row.store_id,
            row.promise,
            row.due_on,
            row.remind_days,
            row.status,
            row.created_by_staff_id,
        ) == (c, shop.li, shop.a, "到货后打电话", date(2026, 11, 30), 2, "open", shop.wang)
        notes = s.execute(select(CustomerNote.text).where(CustomerNote.customer_id == c))
        assert notes.scalars().all() == ["承诺: 到货后打电话（2026-11-30 前，店长李）"]
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == audit.Action.COMMITMENT_SAVED)
        ).scalar_one()
        assert entry.target_id == str(cid)
        assert "到货" not in str(entry.detail)  # the promise's words stay out of the audit
    # Defaults: the actor owns it when no owner is given.
    own = make_commitment(
        db,
        customer_id=c,
        promise="p",
        due_on=DAY,
        owner_staff_id=None,
        actor_id=shop.wang,
        scope=shop.a,
    )
    with db.read() as s:
        assert s.get(Commitment, own).owner_staff_id == shop.wang  # type: ignore[union-attr]


def test_promises_are_checked(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    other = make_customer(db, home_store_id=shop.b)
    kw = {
        "promise": "p",
        "due_on": DAY,
        "owner_staff_id": shop.wang,
        "actor_id": shop.wang,
        "day": DAY,
    }
    with pytest.raises(InvalidInput, match="promise"):
        make_commitment(db, customer_id=c, scope=shop.a, **{**kw, "promise": " "})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="past"):
        make_commitment(db, customer_id=c, scope=shop.a, **{**kw, "due_on": date(2026, 11, 22)})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="remind_days"):
        make_commitment(db, customer_id=c, scope=shop.a, remind_days=99, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="another store"):
        make_commitment(db, customer_id=c, scope=None, **{**kw, "owner_staff_id": shop.zhao})  # type: ignore[arg-type]
    with pytest.raises(NotFound):  # a customer of another store
        make_commitment(db, customer_id=other, scope=shop.a, **kw)  # type: ignore[arg-type]
    gone = make_customer(db, home_store_id=shop.a, erased_at=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(Conflict):
        make_commitment(db, customer_id=gone, scope=shop.a, **kw)  # type: ignore[arg-type]
    # The owner of the shop may keep a promise to any store's customer.
    make_commitment(db, customer_id=c, scope=None, **{**kw, "owner_staff_id": shop.boss})  # type: ignore[arg-type]
    with db.read() as s:
        assert s.execute(select(Commitment.owner_staff_id)).scalars().all() == [shop.boss]


def test_due_commitments_start_remind_days_before_and_stay_until_closed(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, name="张女士", home_store_id=shop.a)
    d = make_customer(db, name="李先生", home_store_id=shop.b)
    soon = promise(db, shop, c, date(2026, 11, 25), remind=2)
    later = promise(db, shop, c, date(2026, 12, 10), remind=3)
    late = promise(db, shop, c, date(2026, 11, 20))
    theirs = promise(db, shop, d, date(2026, 11, 23), owner=shop.zhao, remind=0)
    with db.read() as s:
        assert [r.id for r in due_commitments(s, until=date(2026, 11, 22))] == [late]
        due = due_commitments(s, until=DAY)
        assert [r.id for r in due] == [late, theirs, soon]
        assert due[0].customer_name == "张女士" and due[0].owner_name == "小王"
        assert due[0].overdue(DAY) and not due[2].overdue(DAY)
        assert [r.id for r in due_commitments(s, until=DAY, staff_id=shop.zhao)] == [theirs]
        assert [r.id for r in due_commitments(s, until=DAY, store_id=shop.a)] == [late, soon]
        assert later in [r.id for r in due_commitments(s, until=date(2026, 12, 7))]
    close_commitment(db, late, kept=True, day=DAY, actor_id=shop.wang, scope=shop.a)
    with db.read() as s:
        assert [r.id for r in due_commitments(s, until=DAY, store_id=shop.a)] == [soon]


def test_closing_a_promise_kept_broken_or_cancelled(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    kept = promise(db, shop, c, DAY)
    broken = promise(db, shop, c, DAY)
    dropped = promise(db, shop, c, DAY)
    close_commitment(
        db, kept, kept=True, day=date(2026, 11, 24), actor_id=shop.li, scope=shop.a, note="已通知"
    )
    close_commitment(db, broken, kept=False, day=DAY, actor_id=shop.li, scope=None)
    close_commitment(db, dropped, kept=None, day=DAY, actor_id=shop.li, scope=None)
    with db.read() as s:
        rows = {r.id: r for r in list_commitments(s, status=None, customer_id=c)}
        assert (rows[kept].status, rows[kept].fulfilled_on, rows[kept].note) == (
            "kept",
            date(2026, 11, 24),
            "已通知",
        )
        assert rows[kept].on_time is False  # kept a day late
        assert (rows[broken].status, rows[broken].fulfilled_on) == ("broken", None)
        assert rows[dropped].status == "cancelled"
        texts = s.execute(select(CustomerNote.text).order_by(CustomerNote.id)).scalars().all()
        assert texts[-3:] == [
            "承诺已兑现: 到货通知 M 码 — 已通知",
            "承诺未兑现: 到货通知 M 码",
            "承诺已取消: 到货通知 M 码",
        ]
        details = s.execute(
            select(AuditEntry.detail)
            .where(AuditEntry.action == audit.Action.COMMITMENT_CLOSED)
            .order_by(AuditEntry.id)
        ).scalars()
        assert [(d["status"], d["on_time"]) for d in details] == [
            ("kept", False),
            ("broken", False),
            ("cancelled", False),
        ]
    with pytest.raises(Conflict):
        close_commitment(db, kept, kept=True, day=DAY, actor_id=shop.li, scope=None)
    other = promise(db, shop, c, DAY)
    with pytest.raises(NotFound):
        close_commitment(db, other, kept=True, day=DAY, actor_id=shop.zhao, scope=shop.b)


def test_a_new_need_from_a_task_links_the_promise(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    with db.write() as s:
        ensure_tasks(
            s,
            [
                {
                    "kind": "followup",
                    "customer_id": c,
                    "due_on": DAY,
                    "title": "回访",
                    "source_key": "followup:1:1",
                }
            ],
        )
        task = s.execute(select(CareTask.id)).scalar_one()
    cid = make_commitment(
        db,
        customer_id=c,
        promise="找 M 码",
        due_on=DAY,
        owner_staff_id=shop.wang,
        actor_id=shop.wang,
        scope=shop.a,
        from_task_id=task,
    )
    with db.read() as s:
        assert s.get(CareTask, task).commitment_id == cid  # type: ignore[union-attr]


def test_kept_on_time_rates_per_staff_and_per_store(db: Database, shop: Shop) -> None:
    a = make_customer(db, home_store_id=shop.a)
    b = make_customer(db, home_store_id=shop.b)
    nov = date(2026, 11, 10)

    def closed(customer: int, owner: int, due: date, kept: bool | None, on: date) -> None:
        cid = promise(db, shop, customer, due, owner=owner)
        close_commitment(db, cid, kept=kept, day=on, actor_id=owner, scope=None)

    closed(a, shop.wang, nov, True, nov)  # on time
    closed(a, shop.wang, nov, True, date(2026, 11, 9))  # early: on time
    closed(a, shop.wang, nov, True, date(2026, 11, 12))  # late
    closed(a, shop.wang, nov, False, nov)  # broken
    closed(a, shop.wang, nov, None, nov)  # cancelled: does not count
    promise(db, shop, a, date(2026, 11, 20), owner=shop.wang)  # open and overdue on DAY
    promise(db, shop, a, date(2026, 11, 28), owner=shop.wang)  # open, not yet due: not counted
    closed(a, shop.li, nov, True, nov)
    closed(b, shop.zhao, date(2026, 9, 1), True, date(2026, 9, 1))  # outside the period
    closed(b, shop.zhao, nov, False, nov)
    with db.read() as s:
        staff = {
            r.key: r
            for r in kept_rates(
                s, start=date(2026, 11, 1), end=date(2026, 11, 30), by="staff", day=DAY
            )
        }
        stores = kept_rates(s, start=date(2026, 11, 1), end=date(2026, 11, 30), by="store", day=DAY)
        only_a = kept_rates(
            s, start=date(2026, 11, 1), end=date(2026, 11, 30), by="staff", store_id=shop.a, day=DAY
        )
        as_of_end = kept_rates(s, start=date(2026, 11, 1), end=date(2026, 11, 30), by="staff")
    w = staff["小王"]
    assert (w.kept_on_time, w.kept_late, w.broken, w.open_overdue) == (2, 1, 1, 1)
    assert w.rate == pytest.approx(2 / 5) and w.id == shop.wang
    assert staff["店长李"].rate == 1.0
    z = staff["小赵"]
    assert (z.kept_on_time, z.broken, z.rate) == (0, 1, 0.0)
    assert [r.key for r in stores] == ["旗舰店", "社区店"]  # best rate first
    assert (stores[0].kept_on_time, stores[0].counted) == (3, 6)
    assert {r.key for r in only_a} == {"小王", "店长李"}
    assert {r.key: r.open_overdue for r in as_of_end}["小王"] == 2  # both open ones by 11-30
    with db.read() as s, pytest.raises(InvalidInput):
        kept_rates(s, start=DAY, end=date(2026, 11, 1))
