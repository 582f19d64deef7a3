"""Customised services (专属服务): a plan of dated steps for one customer, a structural bond.

A plan (a tea-cellar storage plan, a teaware maintenance schedule, a skin-care plan) belongs to
one customer, has an owner (the staff member who looks after it) and the customer's store, and
is made of steps, each due on a business date. Ticking a step records the business date of the
plan's store it was done on and who did it; ticking it again changes nothing. When the last
open step is done the plan completes by itself; it can also be completed by hand, or cancelled
with a reason (the reason goes on the customer's timeline, the audit names only the plan).

Staff who may edit customers (clerks included) change the plans of the customers in their scope
(``customer_edits.get_editable_customer``). Every change is one transaction with its audit entry
(``SERVICE_PLAN_SAVED``: the plan, the customer and what was done, never the words typed).

Ready-made plans (``PLAN_TEMPLATES``) list their steps with day offsets from a start date, e.g.
a Pu'er storage check on days 0, 90, 180 and 365; their names are English msgids that the web
layer translates before it creates the plan. ``service_step_items`` is the agenda's source of
steps due within ``AGENDA_DAYS`` days or overdue.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from guanxi.domain.staff import Role
from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, NotFound
from guanxi.importers import values as v
from guanxi.services import audit
from guanxi.services.customer_edits import get_editable_customer, scope_store
from guanxi.services.customer_forms import FormErrors
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerNote,
    ServicePlan,
    ServiceStep,
    Staff,
    Store,
)

if TYPE_CHECKING:  # the agenda imports its sources: no import of it at load time
    from guanxi.care.agenda import AgendaItem, AgendaQuery

DEFAULT_ZONE = "Asia/Shanghai"
MAX_NAME = 100
MAX_STEP_NAME = 200
MAX_TEXT = 2000
MAX_STEPS = 60
MAX_AHEAD_DAYS = 3660  # a step is due at most ten years ahead...
MAX_BACK_DAYS = 366  # ...and at most a year back (a plan started before it was recorded)
AGENDA_DAYS = 3  # the agenda shows steps due within this many days, and overdue ones
STATUSES = ("active", "completed", "cancelled")


@dataclass(frozen=True)
class PlanTemplate:
    """A ready-made plan: its name and steps as English msgids, each step ``days`` after the
    plan's start."""

    key: str
    name: str
    description: str
    steps: tuple[tuple[str, int], ...]


PLAN_TEMPLATES: tuple[PlanTemplate, ...] = (
    PlanTemplate("puer_storage", gettext_noop("Pu'er storage check"),
                 gettext_noop("The customer's Pu'er cakes stored in the shop's cellar: check "
                              "humidity, smell and wrapping."),
                 ((gettext_noop("Storage check"), 0), (gettext_noop("Storage check"), 90),
                  (gettext_noop("Storage check"), 180), (gettext_noop("Yearly tasting"), 365))),
    PlanTemplate("teaware_care", gettext_noop("Teaware maintenance"),
                 gettext_noop("Clay teapots and teaware bought here: cleaning and seasoning."),
                 ((gettext_noop("Check-in call"), 7), (gettext_noop("Maintenance visit"), 90),
                  (gettext_noop("Maintenance visit"), 180),
                  (gettext_noop("Yearly maintenance"), 365))),
    PlanTemplate("skin_care", gettext_noop("Skin-care plan"),
                 gettext_noop("A personal skin-care routine with regular reviews."),
                 ((gettext_noop("Consultation"), 0), (gettext_noop("Follow-up"), 14),
                  (gettext_noop("Review results"), 30), (gettext_noop("Refill and review"), 60))),
    PlanTemplate("interior_design", gettext_noop("Interior-design consultation"),
                 gettext_noop("From the first visit to the final walkthrough."),
                 ((gettext_noop("First consultation"), 0), (gettext_noop("Design proposal"), 14),
                  (gettext_noop("Revision"), 30), (gettext_noop("Final walkthrough"), 60))),
)  # fmt: skip

TEMPLATES_BY_KEY = {t.key: t for t in PLAN_TEMPLATES}


# --- what the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class StepRow:
    """One step of a plan as shown."""

    id: int
    plan_id: int
    position: int
    name: str
    due_on: date
    done_on: date | None
    done_by_name: str | None
    note: str | None

    def overdue(self, day: date) -> bool:
        return self.done_on is None and self.due_on < day


@dataclass(frozen=True)
class PlanRow:
    """One plan with its steps (by due date)."""

    id: int
    customer_id: int
    name: str
    description: str | None
    owner_staff_id: int | None
    owner_name: str | None
    store_id: int | None
    status: str
    created_at: datetime
    completed_at: datetime | None
    steps: list[StepRow]

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if s.done_on is not None)

    @property
    def next_step(self) -> StepRow | None:
        return next((s for s in self.steps if s.done_on is None), None)


@dataclass(frozen=True)
class OpenStep:
    """An open step of an active plan, for the list of steps due."""

    id: int
    plan_id: int
    plan_name: str
    name: str
    due_on: date
    customer_id: int
    customer_name: str
    owner_staff_id: int | None
    owner_name: str | None

    def overdue(self, day: date) -> bool:
        return self.due_on < day


# --- drafts: what was typed ------------------------------------------------------------------


@dataclass
class StepDraft:
    """A step as typed (every field text)."""

    name: str = ""
    due_on: str = ""
    note: str = ""

    def clean(self, today: date) -> tuple[str, date, str | None]:
        """(name, due date, note); FormErrors names every field that is wrong."""
        errors: dict[str, str] = {}
        name = _one_line(self.name)
        if not name:
            errors["step_name"] = "say what is to be done, e.g. 仓储检查 or storage check"
        elif len(name) > MAX_STEP_NAME:
            errors["step_name"] = f"too long: at most {MAX_STEP_NAME} characters"
        try:
            due = check_due(self.due_on, today)
        except ValueError as exc:
            errors["due_on"] = str(exc)
        note = self.note.strip()
        if len(note) > MAX_TEXT:
            errors["note"] = f"too long: at most {MAX_TEXT} characters (found {len(note)})"
        if errors:
            raise FormErrors(errors)
        return name, due, note or None


@dataclass
class PlanDraft:
    """A plan as typed: name, description, owner (a staff id as text; empty: the actor), and
    its steps, one a line: ``2027-03-01 storage check`` or ``+90 storage check`` (days after
    ``start``, which is empty for today)."""

    name: str = ""
    description: str = ""
    owner_staff_id: str = ""
    steps: str = ""
    start: str = ""
    template: str = ""

    def clean_fields(self, errors: dict[str, str]) -> CleanPlan:
        """The name, description and owner (no steps); what is wrong goes into ``errors``."""
        name = _one_line(self.name)
        if not name:
            errors["name"] = "the plan needs a name, e.g. 普洱仓储服务 or Pu'er storage"
        elif len(name) > MAX_NAME:
            errors["name"] = f"too long: at most {MAX_NAME} characters (found {len(name)})"
        description = self.description.strip()
        if len(description) > MAX_TEXT:
            errors["description"] = f"too long: at most {MAX_TEXT} characters"
        owner = self.owner_staff_id.strip()
        if owner and not owner.isdigit():
            errors["owner_staff_id"] = f"choose the owner from the list (found {owner!r})"
        return CleanPlan(name, description or None, int(owner) if owner.isdigit() else None)

    def clean(self, today: date) -> CleanPlan:
        """The plan to save; FormErrors names every field that is wrong."""
        errors: dict[str, str] = {}
        fields = self.clean_fields(errors)
        start = today
        if self.start.strip():
            try:
                start = v.parse_date(self.start.strip())
            except ValueError as exc:
                errors["start"] = str(exc)
        steps: list[tuple[str, date]] = []
        try:
            steps = parse_steps(self.steps, start=start, today=today)
        except ValueError as exc:
            errors["steps"] = str(exc)
        if errors:
            raise FormErrors(errors)
        return CleanPlan(fields.name, fields.description, fields.owner_staff_id, steps)


@dataclass(frozen=True)
class CleanPlan:
    """A validated plan draft."""

    name: str
    description: str | None
    owner_staff_id: int | None
    steps: list[tuple[str, date]] = field(default_factory=list)


def _one_line(text: str) -> str:
    return " ".join(v.to_halfwidth(text).split())


def check_due(text: str, today: date) -> date:
    """A step's due date (2027-03-01, 2027/3/1, 2027年3月1日) within a year back and ten years
    ahead of ``today``; ValueError says what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("give the date the step is due, e.g. 2027-03-01")
    due = v.parse_date(text)
    if due < today - timedelta(days=MAX_BACK_DAYS):
        raise ValueError(f"{due.isoformat()} is more than a year ago: type a later date")
    if due > today + timedelta(days=MAX_AHEAD_DAYS):
        raise ValueError(f"{due.isoformat()} is more than ten years ahead: type an earlier date")
    return due


def parse_steps(text: str, *, start: date, today: date) -> list[tuple[str, date]]:
    """Steps typed one a line, ``<date> <name>`` or ``+<days> <name>`` (days after ``start``);
    at least one. ValueError names the line that is wrong."""
    steps = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("list at least one step, one a line: 2027-03-01 storage check, or "
                         "+90 storage check for 90 days after the start")  # fmt: skip
    if len(lines) > MAX_STEPS:
        raise ValueError(f"at most {MAX_STEPS} steps (found {len(lines)})")
    for number, line in enumerate(lines, start=1):
        when, _sep, name = v.to_halfwidth(line).partition(" ")
        name = " ".join(name.split())
        try:
            if when.startswith("+") and when[1:].isdigit():
                due = start + timedelta(days=int(when[1:]))
                if due > today + timedelta(days=MAX_AHEAD_DAYS):
                    raise ValueError(f"{due.isoformat()} is more than ten years ahead")
            else:
                due = check_due(when, today)
        except ValueError as exc:
            raise ValueError(f"line {number} ({line!r}): {exc}") from None
        if not name:
            raise ValueError(f"line {number} ({line!r}): say what is to be done after the date")
        if len(name) > MAX_STEP_NAME:
            raise ValueError(f"line {number}: the step's name is longer than {MAX_STEP_NAME}")
        steps.append((name, due))
    return steps


def template_steps(template: PlanTemplate, names: Sequence[str]) -> str:
    """The template's steps as the steps field holds them (``+days name``), with ``names``
    the step names in the viewer's language."""
    return "\n".join(
        f"+{days} {name}" for (_msgid, days), name in zip(template.steps, names, strict=True)
    )


# --- reading ---------------------------------------------------------------------------------


def business_day(session: Session, store_id: int | None, now: datetime | None = None) -> date:
    """Today (at ``now``) in the store's zone; the shop's default zone without a store."""
    zone = DEFAULT_ZONE
    if store_id is not None:
        zone = session.execute(select(Store.timezone).where(Store.id == store_id)).scalar() or zone
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()


def plans_of(session: Session, customer_id: int) -> list[PlanRow]:
    """The customer's plans: active first, then completed and cancelled, newest first."""
    plans = session.execute(
        select(ServicePlan, Staff.name)
        .outerjoin(Staff, Staff.id == ServicePlan.owner_staff_id)
        .where(ServicePlan.customer_id == customer_id)
        .order_by(ServicePlan.id.desc())
    ).all()
    if not plans:
        return []
    steps = _steps_of(session, [p.id for p, _ in plans])
    rows = [PlanRow(p.id, p.customer_id, p.name, p.description, p.owner_staff_id, owner,
                    p.store_id, p.status, p.created_at, p.completed_at, steps.get(p.id, []))
            for p, owner in plans]  # fmt: skip
    return sorted(rows, key=lambda r: STATUSES.index(r.status))


def _steps_of(session: Session, plan_ids: list[int]) -> dict[int, list[StepRow]]:
    done_by = Staff.__table__.alias("done_by")
    found: dict[int, list[StepRow]] = {}
    for s, name in session.execute(
        select(ServiceStep, done_by.c.name)
        .outerjoin(done_by, done_by.c.id == ServiceStep.done_by_staff_id)
        .where(ServiceStep.plan_id.in_(plan_ids))
        .order_by(ServiceStep.due_on, ServiceStep.position, ServiceStep.id)
    ):  # fmt: skip
        found.setdefault(s.plan_id, []).append(
            StepRow(s.id, s.plan_id, s.position, s.name, s.due_on, s.done_on, name, s.note)
        )
    return found


def owner_choices(session: Session, store_id: int | None) -> list[tuple[int, str]]:
    """(id, name) of the active staff who may own a plan of a customer of ``store_id``: the
    store's staff and the owners."""
    stmt = select(Staff.id, Staff.name).where(Staff.is_active.is_(True))
    if store_id is not None:
        stmt = stmt.where(or_(Staff.store_id == store_id, Staff.role == Role.OWNER.value))
    return [(i, n) for i, n in session.execute(stmt.order_by(Staff.name, Staff.id))]


def service_plan_section(
    session: Session, customer_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """What the customer page's service-plans block (``customers/_service_plans.html``) shows:
    the plans, who may own a new one, the ready-made plans, today and the refused ``form``."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist: find the customer in the list")
    return {
        "customer_id": customer_id,
        "erased": customer.erased_at is not None,
        "plans": plans_of(session, customer_id),
        "owners": owner_choices(session, customer.home_store_id),
        "owner_default": customer.owner_staff_id,
        "templates": PLAN_TEMPLATES,
        "today": business_day(session, customer.home_store_id, now),
        "form": None,
    }


def open_steps(
    session: Session,
    *,
    until: date,
    store_id: int | None = None,
    owner_staff_id: int | None = None,
    limit: int = 500,
) -> list[OpenStep]:
    """Open steps of active plans due by ``until`` (overdue ones too), soonest first, of the
    customers of ``store_id`` (None: every store) and/or one owner; never of erased customers."""
    stmt = (
        select(ServiceStep.id, ServicePlan.id, ServicePlan.name, ServiceStep.name,
               ServiceStep.due_on, Customer.id, Customer.name, ServicePlan.owner_staff_id,
               Staff.name)
        .join(ServicePlan, ServicePlan.id == ServiceStep.plan_id)
        .join(Customer, Customer.id == ServicePlan.customer_id)
        .outerjoin(Staff, Staff.id == ServicePlan.owner_staff_id)
        .where(ServiceStep.done_on.is_(None), ServiceStep.due_on <= until,
               ServicePlan.status == "active", Customer.erased_at.is_(None))
        .order_by(ServiceStep.due_on, ServiceStep.id)
        .limit(limit)
    )  # fmt: skip
    if store_id is not None:
        stmt = stmt.where(Customer.home_store_id == store_id)
    if owner_staff_id is not None:
        stmt = stmt.where(ServicePlan.owner_staff_id == owner_staff_id)
    return [OpenStep(*row) for row in session.execute(stmt)]


# --- changing --------------------------------------------------------------------------------


def _record(session: Session, actor: StaffMember, plan: ServicePlan, what: str,
            ip: str | None, **extra: Any) -> None:  # fmt: skip
    audit.record(session, audit.Action.SERVICE_PLAN_SAVED, actor_id=actor.id,
                 target_type="service_plan", target_id=plan.id,
                 detail={"customer_id": plan.customer_id, "change": what, **extra},
                 ip=ip)  # fmt: skip


def _owner(session: Session, owner_id: int, customer: Customer) -> Staff:
    owner = session.get(Staff, owner_id)
    if owner is None or not owner.is_active:
        raise FormErrors({"owner_staff_id": f"staff member {owner_id} is not active: choose "
                                            "someone from the list"})  # fmt: skip
    if (owner.role != Role.OWNER.value and customer.home_store_id is not None
            and owner.store_id != customer.home_store_id):  # fmt: skip
        raise FormErrors({"owner_staff_id": f"{owner.name} works in another store: choose "
                                            "someone of the customer's store"})  # fmt: skip
    return owner


def _plan(session: Session, plan_id: int, actor: StaffMember, *, lock: bool = True) -> ServicePlan:
    """The plan of a customer in the actor's scope (NotFound otherwise), locked on PostgreSQL."""
    stmt = select(ServicePlan).where(ServicePlan.id == plan_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    plan = session.scalars(stmt.execution_options(populate_existing=True)).first()
    if plan is None:
        raise NotFound(f"service plan {plan_id} does not exist: reload the customer's page")
    try:
        get_editable_customer(session, plan.customer_id, actor)
    except NotFound:
        raise NotFound(
            f"service plan {plan_id} does not exist: reload the customer's page"
        ) from None
    return plan


def _active(plan: ServicePlan) -> None:
    if plan.status != "active":
        raise Conflict(f"service plan {plan.id} ({plan.name}) is {plan.status}: it can no longer "
                       "be changed")  # fmt: skip


def _step(session: Session, step_id: int, actor: StaffMember) -> tuple[ServiceStep, ServicePlan]:
    step = session.get(ServiceStep, step_id)
    if step is None:
        raise NotFound(f"step {step_id} does not exist: it may have been removed; reload the page")
    return step, _plan(session, step.plan_id, actor)


def create_plan(
    db: Database,
    customer_id: int,
    draft: PlanDraft,
    *,
    actor: StaffMember,
    ip: str | None = None,
    now: datetime | None = None,
) -> int:
    """Give the customer a plan with its steps; returns its id. The owner (default: the actor)
    must be active and of the customer's store, or an owner of the shop."""
    now = now or datetime.now(UTC)
    with db.write() as session:
        customer = get_editable_customer(session, customer_id, actor)
        clean = draft.clean(business_day(session, customer.home_store_id, now))
        owner = _owner(session, clean.owner_staff_id or actor.id, customer)
        store_id = customer.home_store_id if customer.home_store_id is not None else owner.store_id
        plan = ServicePlan(customer_id=customer_id, name=clean.name,
                           description=clean.description, owner_staff_id=owner.id,
                           store_id=store_id, status="active", created_at=now)  # fmt: skip
        session.add(plan)
        session.flush()
        for position, (name, due) in enumerate(clean.steps):
            session.add(ServiceStep(plan_id=plan.id, position=position, name=name, due_on=due))
        _record(session, actor, plan, "created", ip, steps=len(clean.steps),
                owner_staff_id=owner.id, template=draft.template or None)  # fmt: skip
        return plan.id


def update_plan(
    db: Database,
    plan_id: int,
    *,
    name: str,
    description: str,
    owner_staff_id: str,
    actor: StaffMember,
    ip: str | None = None,
) -> list[str]:
    """Change the plan's name, description or owner; the names of the fields that changed."""
    errors: dict[str, str] = {}
    clean = PlanDraft(name, description, owner_staff_id).clean_fields(errors)
    if errors:
        raise FormErrors(errors)
    with db.write() as session:
        plan = _plan(session, plan_id, actor)
        customer = session.get(Customer, plan.customer_id)
        assert customer is not None
        owner_id = plan.owner_staff_id if clean.owner_staff_id is None else clean.owner_staff_id
        if owner_id is not None and owner_id != plan.owner_staff_id:
            _owner(session, owner_id, customer)
        wanted = {"name": clean.name, "description": clean.description, "owner_staff_id": owner_id}
        changed = sorted(k for k, x in wanted.items() if getattr(plan, k) != x)
        for k in changed:
            setattr(plan, k, wanted[k])
        if changed:
            _record(session, actor, plan, "updated", ip, fields=changed)
        return changed


def add_step(
    db: Database,
    plan_id: int,
    draft: StepDraft,
    *,
    actor: StaffMember,
    ip: str | None = None,
    now: datetime | None = None,
) -> int:
    """Add a step to an active plan; returns its id."""
    with db.write() as session:
        plan = _plan(session, plan_id, actor)
        _active(plan)
        name, due, note = draft.clean(business_day(session, plan.store_id, now))
        count, last = session.execute(
            select(func.count(), func.max(ServiceStep.position))
            .where(ServiceStep.plan_id == plan_id)
        ).one()  # fmt: skip
        if count >= MAX_STEPS:
            raise FormErrors({"step_name": f"the plan already has {count} steps: the most is "
                                           f"{MAX_STEPS}"})  # fmt: skip
        step = ServiceStep(plan_id=plan_id, position=(last or 0) + 1 if count else 0, name=name,
                           due_on=due, note=note)  # fmt: skip
        session.add(step)
        session.flush()
        _record(session, actor, plan, "step_added", ip, step_id=step.id)
        return step.id


def update_step(
    db: Database,
    step_id: int,
    draft: StepDraft,
    *,
    actor: StaffMember,
    ip: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Change a step's name, due date or note; the names of the fields that changed."""
    with db.write() as session:
        step, plan = _step(session, step_id, actor)
        if plan.status == "cancelled":
            _active(plan)
        name, due, note = draft.clean(business_day(session, plan.store_id, now))
        wanted = {"name": name, "due_on": due, "note": note}
        changed = sorted(k for k, x in wanted.items() if getattr(step, k) != x)
        for k in changed:
            setattr(step, k, wanted[k])
        if changed:
            _record(session, actor, plan, "step_updated", ip, step_id=step_id, fields=changed)
        return changed


def complete_step(
    db: Database,
    step_id: int,
    *,
    actor: StaffMember,
    ip: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Tick a step done on today's business date of the plan's store; False if it was done
    already (nothing changes). The plan completes when no open step is left."""
    now = now or datetime.now(UTC)
    with db.write() as session:
        step, plan = _step(session, step_id, actor)
        if step.done_on is not None:
            return False
        _active(plan)
        step.done_on = business_day(session, plan.store_id, now)
        step.done_by_staff_id = actor.id
        session.flush()
        left = session.execute(
            select(func.count())
            .where(ServiceStep.plan_id == plan.id, ServiceStep.done_on.is_(None))
        ).scalar_one()  # fmt: skip
        if left == 0:
            plan.status, plan.completed_at = "completed", now
        _record(session, actor, plan, "step_done", ip, step_id=step_id,
                done_on=step.done_on.isoformat(), plan_completed=left == 0)  # fmt: skip
        return True


def reopen_step(db: Database, step_id: int, *, actor: StaffMember, ip: str | None = None) -> bool:
    """Undo a tick made by mistake; a plan that had completed by itself is active again.
    False if the step was open already."""
    with db.write() as session:
        step, plan = _step(session, step_id, actor)
        if step.done_on is None:
            return False
        if plan.status == "cancelled":
            _active(plan)
        step.done_on, step.done_by_staff_id = None, None
        plan.status, plan.completed_at = "active", None
        _record(session, actor, plan, "step_reopened", ip, step_id=step_id)
        return True


def complete_plan(
    db: Database, plan_id: int, *, actor: StaffMember, ip: str | None = None,
    now: datetime | None = None,
) -> None:  # fmt: skip
    """Mark an active plan completed by hand (its open steps stay as they are)."""
    with db.write() as session:
        plan = _plan(session, plan_id, actor)
        _active(plan)
        plan.status, plan.completed_at = "completed", now or datetime.now(UTC)
        _record(session, actor, plan, "completed", ip)


def cancel_plan(
    db: Database,
    plan_id: int,
    reason: str,
    *,
    actor: StaffMember,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    """Cancel an active plan; the reason goes on the customer's timeline (not the audit)."""
    reason = reason.strip()
    if not reason:
        raise FormErrors({"reason": "say why the plan is cancelled, e.g. 客户不再需要"})
    if len(reason) > MAX_TEXT:
        raise FormErrors({"reason": f"too long: at most {MAX_TEXT} characters"})
    now = now or datetime.now(UTC)
    with db.write() as session:
        plan = _plan(session, plan_id, actor)
        _active(plan)
        plan.status = "cancelled"
        session.add(CustomerNote(customer_id=plan.customer_id, staff_id=actor.id, at=now,
                                 text=f"专属服务取消: {plan.name} — {reason}"))  # fmt: skip
        _record(session, actor, plan, "cancelled", ip)


def plan_customer(db: Database, plan_id: int, actor: StaffMember) -> int:
    """The customer a plan belongs to (NotFound outside the actor's scope)."""
    with db.read() as session:
        plan = session.get(ServicePlan, plan_id)
        if plan is None:
            raise NotFound(f"service plan {plan_id} does not exist: reload the page")
        _in_scope(session, plan.customer_id, actor, f"service plan {plan_id}")
        return plan.customer_id


def step_customer(db: Database, step_id: int, actor: StaffMember) -> int:
    """The customer a step's plan belongs to (NotFound outside the actor's scope)."""
    with db.read() as session:
        row = session.execute(
            select(ServicePlan.customer_id)
            .join(ServiceStep, ServiceStep.plan_id == ServicePlan.id)
            .where(ServiceStep.id == step_id)
        ).scalar()  # fmt: skip
        if row is None:
            raise NotFound(f"step {step_id} does not exist: reload the page")
        _in_scope(session, row, actor, f"step {step_id}")
        return int(row)


def _in_scope(session: Session, customer_id: int, actor: StaffMember, what: str) -> None:
    scope = scope_store(actor)
    home = session.execute(
        select(Customer.home_store_id).where(Customer.id == customer_id)
    ).scalar()
    if scope is not None and home != scope:
        raise NotFound(f"{what} does not exist: reload the page")


# --- the agenda ------------------------------------------------------------------------------

_DUE = (gettext_noop("Service plan {plan}: {step} is due today."),
        gettext_noop("Service plan {plan}: {step} is due on {date}."),
        gettext_noop("Service plan {plan}: {step} was due on {date}."))  # fmt: skip


def service_step_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Open steps of active plans due within ``AGENDA_DAYS`` days or overdue, of the plans the
    staff member owns (``q.staff_id``) and/or of the store's customers (kind "task")."""
    from guanxi.care.agenda import item

    due = open_steps(session, until=q.day + timedelta(days=AGENDA_DAYS), store_id=q.store_id,
                     owner_staff_id=q.staff_id, limit=q.cap)  # fmt: skip
    for step in due:
        when = step.due_on
        reason = _DUE[0] if when == q.day else (_DUE[1] if when > q.day else _DUE[2])
        yield item(step.customer_id, "task", reason,
                   {"plan": step.plan_name, "step": step.name, "date": when}, when, q.day,
                   customer_name=step.customer_name or "",
                   owner_staff_id=step.owner_staff_id)  # fmt: skip
