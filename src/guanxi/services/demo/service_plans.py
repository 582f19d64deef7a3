"""The demo shop's customised services (专属服务): about 60 plans of good customers as of the
demo's last day (``end``), so the customer pages, the steps-due list, the agenda and the bonds
report have structural bonds to show.

Runs after ``build_demo`` (it needs the customers, their purchases and the staff), in one
transaction, inserting rows directly. Each plan is one of four tea-shop services (Pu'er cellar
storage, clay-teapot care, a company's festival tea gifts, tea-art lessons) for a customer who
bought, owned by a clerk or manager of the customer's store, started 10 to 400 days before
``end``. Steps due before ``end`` were mostly done (on their day or up to three days late, by
the owner), some missed (still open: overdue); steps due later are open, and a few plans have a
step due within three days (the agenda shows them). A plan whose steps are all done is
completed; a few were cancelled, with the reason on the customer's timeline.

Deterministic: one ``random.Random`` seeded from the demo's seed draws over rows read in id
order, and every timestamp comes from ``end``, never the clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from guanxi.services.demo.context import SHANGHAI
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerNote, Purchase, ServicePlan, ServiceStep, Staff

PLANS = 60
DUE_SOON = 8  # plans given a step due within three days of ``end``
DONE_SHARE = 0.8  # steps due before ``end`` that were done
CANCELLED_SHARE = 0.05
CANCEL_REASONS = ("客户搬家了，不方便再来店里。", "客户说暂时不需要了。")

# name, description, steps (name, days after the start)
SERVICES: tuple[tuple[str, str, tuple[tuple[str, int], ...]], ...] = (
    ("普洱仓储服务", "客户寄存在店里茶仓的普洱：定期检查温湿度、气味和包装。",
     (("入仓登记", 0), ("仓储检查", 90), ("仓储检查", 180), ("年度品鉴", 365))),
    ("紫砂壶养护", "在店里买的紫砂壶：开壶、清洁和养护。",
     (("回访使用情况", 7), ("养护", 90), ("养护", 180), ("年度保养", 365))),
    ("企业节日茶礼", "公司客户的节日茶礼：选茶、定制包装、按时送达。",
     (("选茶试饮", 0), ("确定包装", 14), ("送达", 30))),
    ("茶艺私教课", "每月一次的茶艺课，在店里的茶室。",
     (("第一课", 0), ("第二课", 30), ("第三课", 60), ("第四课", 90))),
)  # fmt: skip


@dataclass(frozen=True)
class ServicePlanDemo:
    """What the demo's service plans hold: counts for the CLI's summary and the tests."""

    plans: int
    active: int
    completed: int
    cancelled: int
    steps: int
    steps_done: int
    steps_overdue: int
    steps_due_soon: int

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        return [
            ("Service plans", f"{self.plans} ({self.active} active, {self.completed} completed, "
                              f"{self.cancelled} cancelled)"),
            ("Service steps", f"{self.steps} ({self.steps_done} done, {self.steps_overdue} "
                              f"overdue, {self.steps_due_soon} due within 3 days)"),
        ]  # fmt: skip


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def _candidates(session: Session) -> list[tuple[int, int]]:
    """(customer, home store) of the customers who bought, in id order."""
    bought = select(Purchase.customer_id).distinct().subquery()
    rows = session.execute(
        select(Customer.id, Customer.home_store_id)
        .where(Customer.id.in_(select(bought.c.customer_id)), Customer.home_store_id.is_not(None),
               Customer.erased_at.is_(None))
        .order_by(Customer.id)
    )  # fmt: skip
    return [(int(c), int(s)) for c, s in rows if s is not None]


def _owners(session: Session) -> dict[int, list[int]]:
    """Store -> its active clerks and managers, in id order."""
    found: dict[int, list[int]] = {}
    for staff_id, store_id in session.execute(
        select(Staff.id, Staff.store_id)
        .where(Staff.is_active.is_(True), Staff.role.in_(("clerk", "manager")),
               Staff.store_id.is_not(None))
        .order_by(Staff.id)
    ):  # fmt: skip
        if store_id is not None:
            found.setdefault(int(store_id), []).append(int(staff_id))
    return found


def build_service_plans(db: Database, end: date, *, seed: int = 42) -> ServicePlanDemo:
    """Give the demo shop its service plans as of ``end`` (module docstring)."""
    rng = random.Random(seed * 1_000_003 + 7)
    with db.write() as session:
        owners = _owners(session)
        pool = [c for c in _candidates(session) if owners.get(c[1])]
        chosen = sorted(rng.sample(pool, min(PLANS, len(pool))))
        made = [_plan(rng, end, n, customer_id, store_id, owners[store_id])
                for n, (customer_id, store_id) in enumerate(chosen)]  # fmt: skip
        rows: list[dict[str, Any]] = []
        for plan, steps, _note in made:
            plan_id = session.execute(
                insert(ServicePlan).values(**plan).returning(ServicePlan.id)
            ).scalar_one()
            rows.extend({**step, "plan_id": plan_id} for step in steps)
        if rows:
            session.execute(insert(ServiceStep), rows)
        notes = [note for _plan_row, _steps, note in made if note is not None]
        if notes:
            session.execute(insert(CustomerNote), notes)
    return _summary(made, end)


Made = tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]


def _plan(
    rng: random.Random, end: date, n: int, customer_id: int, store_id: int, staff: list[int]
) -> Made:
    """One plan, its steps and (cancelled) the note with the reason."""
    name, description, template = SERVICES[rng.randrange(len(SERVICES))]
    owner = staff[rng.randrange(len(staff))]
    if n < DUE_SOON:  # a step falls due within three days of the end
        offset = template[rng.randrange(1, len(template))][1]
        start = end + timedelta(days=rng.randint(0, 3)) - timedelta(days=offset)
    else:
        start = end - timedelta(days=rng.randint(10, 400))
    steps = []
    for position, (step, days) in enumerate(template):
        due = start + timedelta(days=days)
        done = None
        if due < end and rng.random() < DONE_SHARE:
            done = min(due + timedelta(days=rng.choice((0, 0, 0, 1, 2, 3))), end)
        steps.append({"position": position, "name": step, "due_on": due, "done_on": done,
                      "done_by_staff_id": owner if done else None, "note": None})  # fmt: skip
    created = _at(start - timedelta(days=rng.randint(0, 3)), 11)
    plan: dict[str, Any] = {"customer_id": customer_id, "name": name, "description": description,
                            "owner_staff_id": owner, "store_id": store_id, "status": "active",
                            "created_at": created, "completed_at": None}  # fmt: skip
    done_days = [s["done_on"] for s in steps if isinstance(s["done_on"], date)]
    note = None
    if len(done_days) == len(steps):
        plan["status"], plan["completed_at"] = "completed", _at(max(done_days), 17)
    elif n >= DUE_SOON and rng.random() < CANCELLED_SHARE:
        plan["status"] = "cancelled"
        day = min(start + timedelta(days=rng.randint(20, 120)), end)
        reason = CANCEL_REASONS[rng.randrange(len(CANCEL_REASONS))]
        note = {"customer_id": customer_id, "staff_id": owner, "at": _at(day, 16),
                "text": f"专属服务取消: {name} — {reason}"}  # fmt: skip
    return plan, steps, note


def _summary(made: list[Made], end: date) -> ServicePlanDemo:
    status = [plan["status"] for plan, _steps, _note in made]
    steps = [step for _plan, group, _note in made for step in group]
    open_steps = [step for plan, group, _note in made if plan["status"] == "active"
                  for step in group if step["done_on"] is None]  # fmt: skip
    soon = end + timedelta(days=3)
    return ServicePlanDemo(
        plans=len(made), active=status.count("active"), completed=status.count("completed"),
        cancelled=status.count("cancelled"), steps=len(steps),
        steps_done=sum(1 for step in steps if step["done_on"] is not None),
        steps_overdue=sum(1 for step in open_steps if step["due_on"] < end),
        steps_due_soon=sum(1 for step in open_steps if end <= step["due_on"] <= soon),
    )  # fmt: skip
