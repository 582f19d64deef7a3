"""Service plans (专属服务): creating, steps, ticking, auto-complete, scope, validation, the
list of steps due and the agenda source; on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from guanxi.care.agenda import AgendaQuery
from guanxi.club import service_plans as sp
from guanxi.domain.staff import Role
from guanxi.errors import Conflict, NotFound
from guanxi.services.customer_forms import FormErrors
from guanxi.services.staff import StaffMember, add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, CustomerNote, ServicePlan, ServiceStep, Store
from tests.factories import make_customer

HASHER = make_hasher(cheap=True)
# 2026-12-07 10:00 in Shanghai; 2026-12-06 23:30 UTC is already the 7th there
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 7)


@dataclass
class Shop:
    a: int
    b: int
    owner: StaffMember
    manager: StaffMember
    clerk: StaffMember
    clerk_b: StaffMember


@pytest.fixture
def shop(db: Database) -> Shop:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        ids = a.id, b.id

    def staff(name: str, role: Role, store: int | None) -> StaffMember:
        return add_staff(db, name, role, hasher=HASHER, store_id=store)

    return Shop(ids[0], ids[1], staff("老板", Role.OWNER, None),
                staff("店长", Role.MANAGER, ids[0]), staff("小王", Role.CLERK, ids[0]),
                staff("小李", Role.CLERK, ids[1]))  # fmt: skip


def _plan(db: Database, shop: Shop, customer: int, steps: str, **kw: str) -> int:
    draft = sp.PlanDraft(name=kw.pop("name", "普洱仓储服务"), steps=steps, **kw)
    return sp.create_plan(db, customer, draft, actor=shop.clerk, now=NOW)


def _steps(db: Database, plan_id: int) -> list[ServiceStep]:
    with db.read() as s:
        return list(s.scalars(select(ServiceStep).where(ServiceStep.plan_id == plan_id)
                              .order_by(ServiceStep.position)))  # fmt: skip


def _status(db: Database, plan_id: int) -> str:
    with db.read() as s:
        plan = s.get(ServicePlan, plan_id)
        assert plan is not None
        return plan.status


def test_create_with_dated_and_offset_steps(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    plan_id = _plan(db, shop, c, "2026-12-20 入仓检查\n+90 仓储检查\n\n+365 年度品鉴",
                    description="三饼 2019 年易武", start="2026-12-01")  # fmt: skip
    steps = _steps(db, plan_id)
    assert [(s.name, s.due_on) for s in steps] == [
        ("入仓检查", date(2026, 12, 20)), ("仓储检查", date(2027, 3, 1)),
        ("年度品鉴", date(2027, 12, 1)),
    ]  # fmt: skip
    with db.read() as s:
        plan = s.get(ServicePlan, plan_id)
        assert plan is not None
        assert (plan.owner_staff_id, plan.store_id, plan.status) == (
            shop.clerk.id,
            shop.a,
            "active",
        )
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "service_plan.saved")).one()
    assert entry.target_id == str(plan_id)
    assert entry.detail["change"] == "created" and entry.detail["steps"] == 3
    assert "易武" not in str(entry.detail)  # never the words typed


def test_validation_names_every_field(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    draft = sp.PlanDraft(name=" ", owner_staff_id="x", steps="2026-13-40 检查\n", start="明天")
    with pytest.raises(FormErrors) as caught:
        sp.create_plan(db, c, draft, actor=shop.clerk, now=NOW)
    assert set(caught.value.errors) == {"name", "owner_staff_id", "steps", "start"}
    assert "line 1" in caught.value.errors["steps"]
    with pytest.raises(FormErrors) as caught:
        sp.create_plan(db, c, sp.PlanDraft(name="x", steps=""), actor=shop.clerk, now=NOW)
    assert "at least one step" in caught.value.errors["steps"]
    with pytest.raises(FormErrors) as caught:
        sp.create_plan(db, c, sp.PlanDraft(name="x", steps="2020-01-01 old"), actor=shop.clerk,
                       now=NOW)  # fmt: skip
    assert "more than a year ago" in caught.value.errors["steps"]
    with pytest.raises(FormErrors) as caught:
        sp.create_plan(db, c, sp.PlanDraft(name="x", steps="+30"), actor=shop.clerk, now=NOW)
    assert "say what is to be done" in caught.value.errors["steps"]
    with db.read() as s:
        assert s.scalars(select(ServicePlan)).all() == []


def test_owner_must_be_of_the_customers_store(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    with pytest.raises(FormErrors) as caught:
        _plan(db, shop, c, "+0 check", owner_staff_id=str(shop.clerk_b.id))
    assert "another store" in caught.value.errors["owner_staff_id"]
    plan_id = _plan(db, shop, c, "+0 check", owner_staff_id=str(shop.owner.id))
    with db.read() as s:
        plan = s.get(ServicePlan, plan_id)
        assert plan is not None and plan.owner_staff_id == shop.owner.id


def test_scope_other_store_is_not_found_and_erased_is_conflict(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    with pytest.raises(NotFound):
        sp.create_plan(db, c, sp.PlanDraft(name="x", steps="+0 a"), actor=shop.clerk_b, now=NOW)
    plan_id = _plan(db, shop, c, "+0 a")
    step = _steps(db, plan_id)[0]
    with pytest.raises(NotFound):
        sp.complete_step(db, step.id, actor=shop.clerk_b, now=NOW)
    with pytest.raises(NotFound):
        sp.plan_customer(db, plan_id, shop.clerk_b)
    assert sp.plan_customer(db, plan_id, shop.owner) == c
    gone = make_customer(db, home_store_id=shop.a, erased_at=NOW)
    with pytest.raises(Conflict):
        sp.create_plan(db, gone, sp.PlanDraft(name="x", steps="+0 a"), actor=shop.clerk, now=NOW)


def test_tick_is_idempotent_on_business_date_and_last_step_completes(
    db: Database, shop: Shop
) -> None:
    c = make_customer(db, home_store_id=shop.a)
    plan_id = _plan(db, shop, c, "+0 一\n+30 二")
    first, second = _steps(db, plan_id)
    late_evening_utc = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # the 7th in Shanghai
    assert sp.complete_step(db, first.id, actor=shop.clerk, now=late_evening_utc) is True
    assert sp.complete_step(db, first.id, actor=shop.manager, now=NOW) is False
    done = _steps(db, plan_id)[0]
    assert (done.done_on, done.done_by_staff_id) == (TODAY, shop.clerk.id)
    assert _status(db, plan_id) == "active"
    assert sp.complete_step(db, second.id, actor=shop.clerk, now=NOW) is True
    assert _status(db, plan_id) == "completed"
    with pytest.raises(Conflict):
        sp.add_step(db, plan_id, sp.StepDraft("三", "2027-01-01"), actor=shop.clerk, now=NOW)
    assert sp.reopen_step(db, second.id, actor=shop.clerk) is True
    assert _status(db, plan_id) == "active"
    assert sp.reopen_step(db, second.id, actor=shop.clerk) is False


def test_steps_added_edited_and_plan_edited(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    plan_id = _plan(db, shop, c, "+0 一")
    step_id = sp.add_step(db, plan_id, sp.StepDraft("二", "2027-01-10", "带茶刀"),
                          actor=shop.clerk, now=NOW)  # fmt: skip
    assert [s.position for s in _steps(db, plan_id)] == [0, 1]
    with pytest.raises(FormErrors) as caught:
        sp.add_step(db, plan_id, sp.StepDraft("", "soon"), actor=shop.clerk, now=NOW)
    assert set(caught.value.errors) == {"step_name", "due_on"}
    changed = sp.update_step(db, step_id, sp.StepDraft("二次检查", "2027-01-10", "带茶刀"),
                             actor=shop.clerk, now=NOW)  # fmt: skip
    assert changed == ["name"]
    assert sp.update_plan(db, plan_id, name="普洱仓储", description="", owner_staff_id=str(
        shop.manager.id), actor=shop.clerk) == ["name", "owner_staff_id"]  # fmt: skip
    assert sp.update_plan(db, plan_id, name="普洱仓储", description="", owner_staff_id="",
                          actor=shop.clerk) == []  # fmt: skip
    with pytest.raises(FormErrors):
        sp.update_plan(db, plan_id, name="", description="", owner_staff_id="", actor=shop.clerk)


def test_complete_by_hand_and_cancel_with_reason(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a)
    done_id, cancel_id = _plan(db, shop, c, "+0 一"), _plan(db, shop, c, "+0 一")
    sp.complete_plan(db, done_id, actor=shop.clerk, now=NOW)
    assert _status(db, done_id) == "completed"
    with pytest.raises(FormErrors):
        sp.cancel_plan(db, cancel_id, " ", actor=shop.clerk)
    sp.cancel_plan(db, cancel_id, "客户搬家了", actor=shop.clerk, now=NOW)
    assert _status(db, cancel_id) == "cancelled"
    with pytest.raises(Conflict):
        sp.cancel_plan(db, cancel_id, "again", actor=shop.clerk)
    with pytest.raises(Conflict):
        sp.complete_step(db, _steps(db, cancel_id)[0].id, actor=shop.clerk, now=NOW)
    with db.read() as s:
        notes = s.scalars(select(CustomerNote.text).where(CustomerNote.customer_id == c)).all()
        details = s.scalars(select(AuditEntry.detail)).all()
    assert any("客户搬家了" in n for n in notes)
    assert all("搬家" not in str(d) for d in details)


def test_section_lists_plans_active_first(db: Database, shop: Shop) -> None:
    c = make_customer(db, home_store_id=shop.a, owner_staff_id=shop.clerk.id)
    old = _plan(db, shop, c, "+0 一", name="旧")
    sp.cancel_plan(db, old, "不需要了", actor=shop.clerk, now=NOW)
    new = _plan(db, shop, c, "+10 二\n+0 一", name="新")
    with db.read() as s:
        section = sp.service_plan_section(s, c, now=NOW)
    assert [p.id for p in section["plans"]] == [new, old]
    assert [st.name for st in section["plans"][0].steps] == ["一", "二"]  # by due date
    assert section["today"] == TODAY and section["owner_default"] == shop.clerk.id
    owners = {i for i, _ in section["owners"]}
    assert {shop.owner.id, shop.manager.id, shop.clerk.id} <= owners
    assert shop.clerk_b.id not in owners


def test_open_steps_and_agenda_source(db: Database, shop: Shop) -> None:
    mine = make_customer(db, home_store_id=shop.a, name="张三")
    other = make_customer(db, home_store_id=shop.b)
    plan_id = _plan(db, shop, mine, "2026-12-01 逾期\n2026-12-07 今天\n2026-12-10 三天后\n"
                                    "2026-12-11 四天后")  # fmt: skip
    sp.create_plan(db, other, sp.PlanDraft(name="B", steps="2026-12-07 b"), actor=shop.clerk_b,
                   now=NOW)  # fmt: skip
    sp.complete_step(db, _steps(db, plan_id)[1].id, actor=shop.clerk, now=NOW)
    with db.read() as s:
        due = sp.open_steps(s, until=TODAY + timedelta(days=30),
                            store_id=shop.a)  # fmt: skip
        assert [d.name for d in due] == ["逾期", "三天后", "四天后"]
        assert due[0].overdue(TODAY) and not due[1].overdue(TODAY)
        assert sp.open_steps(s, until=TODAY, owner_staff_id=shop.clerk_b.id)[0].name == "b"
        items = list(sp.service_step_items(s, AgendaQuery(TODAY, staff_id=shop.clerk.id)))
        store_items = list(sp.service_step_items(s, AgendaQuery(TODAY, store_id=shop.b)))
    assert [(i.params["step"], i.due_on) for i in items] == [
        ("逾期", date(2026, 12, 1)), ("三天后", date(2026, 12, 10))
    ]  # fmt: skip
    assert items[0].kind == "task" and "was due" in items[0].reason
    assert "is due on" in items[1].reason and items[1].urgency < items[0].urgency
    assert items[0].customer_name == "张三" and items[0].owner_staff_id == shop.clerk.id
    assert [i.customer_id for i in store_items] == [other]
    assert "due today" in store_items[0].reason


def test_agenda_builds_with_the_source(db: Database, shop: Shop) -> None:
    from guanxi.care.agenda import build_agenda

    c = make_customer(db, home_store_id=shop.a)
    _plan(db, shop, c, "2026-12-07 今天")
    agenda = build_agenda(db, TODAY, staff_id=shop.clerk.id, sources=[sp.service_step_items])
    assert [(i.customer_id, i.kind) for i in agenda.items] == [(c, "task")]


def test_template_steps_fill_the_steps_field() -> None:
    template = sp.TEMPLATES_BY_KEY["puer_storage"]
    text = sp.template_steps(template, [name for name, _ in template.steps])
    steps = sp.parse_steps(text, start=TODAY, today=TODAY)
    assert [d for _, d in steps] == [TODAY, date(2027, 3, 7), date(2027, 6, 5), date(2027, 12, 7)]


def _plan_rows(db: Database) -> list[tuple[object, ...]]:
    with db.read() as s:
        return [tuple(r) for r in s.execute(
            select(ServicePlan.customer_id, ServicePlan.name, ServicePlan.status,
                   ServiceStep.due_on, ServiceStep.done_on)
            .join(ServiceStep, ServiceStep.plan_id == ServicePlan.id)
            .order_by(ServiceStep.id))]  # fmt: skip


def test_demo_plans(sqlite_db: Database, tmp_path: Path) -> None:
    from guanxi.care.agenda import build_agenda
    from guanxi.services.demo import DEMO_END, build_demo
    from guanxi.services.demo.service_plans import PLANS, build_service_plans

    build_demo(sqlite_db, customers=300, seed=3)
    assert sqlite_db.url.database is not None
    with sqlite_db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(sqlite_db.url.database, tmp_path / "copy.db")
    copy = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    demo = build_service_plans(sqlite_db, DEMO_END, seed=3)
    assert build_service_plans(copy, DEMO_END, seed=3) == demo  # deterministic
    assert _plan_rows(copy) == _plan_rows(sqlite_db)
    copy.dispose()
    assert demo.plans == PLANS
    assert demo.active + demo.completed + demo.cancelled == PLANS
    assert demo.completed > 0 and demo.steps_done > 0
    assert demo.steps_overdue > 0 and demo.steps_due_soon > 0
    assert [label for label, _ in demo.rows()] == ["Service plans", "Service steps"]
    with sqlite_db.read() as s:
        plans = s.scalars(select(ServicePlan)).all()
        assert len({p.owner_staff_id for p in plans}) > 1 and len({p.store_id for p in plans}) > 1
        steps = s.scalars(select(ServiceStep)).all()
        assert len(steps) == demo.steps
        assert all(st.done_on is None or st.done_on <= DEMO_END for st in steps)
    agenda = build_agenda(sqlite_db, DEMO_END, sources=[sp.service_step_items])
    assert len(agenda.items) >= demo.steps_due_soon
