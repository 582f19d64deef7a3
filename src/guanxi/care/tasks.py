"""Follow-up visits (回访): plans → care tasks, and the outcomes staff log against them.

A follow-up plan (``FollowupPlan``) says "``days_after`` a purchase (in ``category``, or any
purchase when the category is empty) contact the customer to do ``action``". Each purchase that
matches an active plan gets one ``care_task`` row whose ``source_key`` is
``followup:<plan>:<purchase>``, so scheduling twice (a POS retry, the nightly catch-up after an
import) never makes two tasks.

* ``schedule_for_purchase`` runs inside ``record_purchase``'s transaction; the active plans are
  read once per session (``session.info``), so with no plan it costs one small query per session.
* ``schedule_followups`` is the nightly catch-up for imported purchases: a few set-based queries
  per plan, purchases whose follow-up is due from ``overdue_days`` before ``day`` onwards.

The task is due ``days_after`` the purchase's business date (the store's local date), moved to
the next working day (``guanxi.care.holidays.next_workday``) when the plan skips holidays. It is
assigned to the customer's account owner (if active); otherwise to the manager of the task's
store, which is the customer's home store (so the manager can open the customer), or the
purchase's store for a customer without one. With no manager the task is the store's.

Logging an outcome (reached / no answer / feedback / new need / complaint) closes the task,
writes a note on the customer's timeline and an audit entry, all in one transaction. The outcome
"complaint" opens a complaint in the same transaction (``guanxi.feedback.complaints``: channel
``followup``, category ``other``, severity ``medium``, the note as its summary, the task's store),
with its SLA clocks; the complaints list and the agenda take it from there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.orm import Session

from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.complaints import open_complaint
from guanxi.feedback.sla import SlaPolicy
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    CareTask,
    Customer,
    CustomerNote,
    FollowupPlan,
    Product,
    Purchase,
    PurchaseLine,
    Staff,
    Store,
)


class Outcome(StrEnum):
    """What came of a contact."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    FEEDBACK = "feedback"
    NEW_NEED = "new_need"
    COMPLAINT = "complaint"


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.REACHED: gettext_noop("Reached"),
    Outcome.NO_ANSWER: gettext_noop("No answer"),
    Outcome.FEEDBACK: gettext_noop("Feedback"),
    Outcome.NEW_NEED: gettext_noop("New need"),
    Outcome.COMPLAINT: gettext_noop("Complaint"),
}

KINDS = ("followup", "greeting", "commitment", "winback", "other")
# The word that starts the timeline note of each kind of task ("回访: reached — …").
TIMELINE_LABELS = {"followup": "回访", "greeting": "问候", "commitment": "承诺",
                   "winback": "唤回", "other": "跟进"}  # fmt: skip
COMPLAINT_SUMMARY = "回访中客户投诉（未写说明）"  # a complaint logged without a note
MAX_NOTE = 2000
MAX_DAYS_AFTER = 730
OVERDUE_DAYS = 7  # a follow-up already this late when scheduled is not made (stale)
_HOLIDAY_MARGIN = 14  # the longest a holiday can push a due date later, with slack
_CHUNK = 500
PLANS_KEY = "guanxi.followup_plans"


@dataclass(frozen=True)
class Plan:
    """A follow-up plan as the scheduler and the plans page see it."""

    id: int
    name: str
    category: str | None
    days_after: int
    action: str
    skip_holidays: bool
    is_active: bool


@dataclass(frozen=True)
class TaskRow:
    """One care task as lists and the agenda show it."""

    id: int
    kind: str
    customer_id: int
    customer_name: str
    assignee_staff_id: int | None
    store_id: int | None
    due_on: date
    title: str
    detail: str | None
    status: str
    outcome: str | None = None
    outcome_note: str | None = None
    assignee_name: str | None = None
    commitment_id: int | None = None


# --- plans -------------------------------------------------------------------------------------


def _plan(row: FollowupPlan) -> Plan:
    return Plan(row.id, row.name, row.category, int(row.days_after), row.action,
                bool(row.skip_holidays), bool(row.is_active))  # fmt: skip


def active_plans(session: Session) -> tuple[Plan, ...]:
    """The active plans, read once per session (a purchase's transaction asks every time)."""
    cached = session.info.get(PLANS_KEY)
    if isinstance(cached, tuple):
        return cached
    rows = session.scalars(
        select(FollowupPlan).where(FollowupPlan.is_active.is_(True)).order_by(FollowupPlan.id)
    )
    plans = tuple(_plan(r) for r in rows)
    session.info[PLANS_KEY] = plans
    return plans


def list_plans(db: Database) -> list[Plan]:
    """Every plan, active ones first, then by name."""
    with db.read() as session:
        rows = session.scalars(
            select(FollowupPlan).order_by(FollowupPlan.is_active.desc(), FollowupPlan.name,
                                          FollowupPlan.id)
        )  # fmt: skip
        return [_plan(r) for r in rows]


def plan_categories(db: Database) -> list[str]:
    """The product categories the shop sells (for the plan form's suggestions)."""
    with db.read() as session:
        return [c for c in session.scalars(
            select(Product.category).where(Product.category.is_not(None)).distinct()
            .order_by(Product.category)
        ) if c]  # fmt: skip


def save_plan(
    db: Database,
    *,
    name: str,
    category: str | None,
    days_after: int,
    action: str,
    skip_holidays: bool = True,
    actor_id: int,
) -> int:
    """Add a follow-up plan (active); audited. Returns its id."""
    errors = plan_errors(name, category, days_after, action)
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()))
    with db.write() as session:
        row = FollowupPlan(name=name.strip(), category=(category or "").strip() or None,
                           days_after=days_after, action=action.strip(),
                           skip_holidays=skip_holidays, is_active=True)  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(session, audit.Action.FOLLOWUP_PLAN_SAVED, actor_id=actor_id,
                     target_type="followup_plan", target_id=row.id,
                     detail={"name": row.name, "category": row.category,
                             "days_after": days_after, "skip_holidays": skip_holidays,
                             "is_active": True})  # fmt: skip
        return row.id


def plan_errors(
    name: str, category: str | None, days_after: int | None, action: str
) -> dict[str, str]:
    """Field → what is wrong, for the plan form (empty when the plan can be saved)."""
    errors = {}
    if not name.strip():
        errors["name"] = "give the plan a name, e.g. 茶叶 7 天回访"
    elif len(name.strip()) > 100:
        errors["name"] = "too long: at most 100 characters"
    if category is not None and len(category.strip()) > 64:
        errors["category"] = "too long: at most 64 characters"
    if days_after is None or not 0 <= days_after <= MAX_DAYS_AFTER:
        errors["days_after"] = f"a whole number of days from 0 to {MAX_DAYS_AFTER}"
    if not action.strip():
        errors["action"] = "say what to do, e.g. ask how the tea tastes"
    elif len(action) > MAX_NOTE:
        errors["action"] = f"too long: at most {MAX_NOTE} characters"
    return errors


def set_plan_active(db: Database, plan_id: int, active: bool, *, actor_id: int) -> None:
    """Deactivate (no new tasks; open ones stay) or reactivate a plan; audited."""
    with db.write() as session:
        row = session.get(FollowupPlan, plan_id)
        if row is None:
            raise NotFound(f"follow-up plan {plan_id} does not exist: see the plans page")
        if row.is_active == active:
            return
        row.is_active = active
        audit.record(session, audit.Action.FOLLOWUP_PLAN_SAVED, actor_id=actor_id,
                     target_type="followup_plan", target_id=plan_id,
                     detail={"name": row.name, "is_active": active})  # fmt: skip


# --- scheduling --------------------------------------------------------------------------------


def _next_workday(day: date) -> date:
    from guanxi.care.holidays import next_workday  # the calendar module, loaded when needed

    moved: date = next_workday(day)
    return moved


def due_date(bought_on: date, plan: Plan) -> date:
    """When the plan's follow-up of a purchase made on ``bought_on`` is due."""
    due = bought_on + timedelta(days=plan.days_after)
    return _next_workday(due) if plan.skip_holidays else due


@dataclass(frozen=True)
class _Bought:
    purchase_id: int
    customer_id: int
    store_id: int
    purchased_at: datetime


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _zones(session: Session) -> dict[int, ZoneInfo]:
    return {sid: ZoneInfo(tz or "Asia/Shanghai")
            for sid, tz in session.execute(select(Store.id, Store.timezone))}  # fmt: skip


def store_managers(session: Session) -> dict[int, int]:
    """Each store's manager (the active one added first)."""
    rows = session.execute(
        select(Staff.store_id, func.min(Staff.id))
        .where(Staff.role == "manager", Staff.is_active.is_(True), Staff.store_id.is_not(None))
        .group_by(Staff.store_id)
    )
    return {int(store): int(staff) for store, staff in rows if store is not None}


def _customers(session: Session, ids: Iterable[int]) -> dict[int, tuple[int | None, int | None]]:
    """customer → (active account owner, home store), erased customers left out."""
    found: dict[int, tuple[int | None, int | None]] = {}
    for part in _chunks(sorted(set(ids))):
        rows = session.execute(
            select(Customer.id, Staff.id, Customer.home_store_id)
            .outerjoin(Staff, and_(Staff.id == Customer.owner_staff_id, Staff.is_active.is_(True)))
            .where(Customer.id.in_(part), Customer.erased_at.is_(None))
        )
        for cid, owner, home in rows:
            found[int(cid)] = (owner, home)
    return found


def _items(
    session: Session, purchase_ids: Sequence[int], category: str | None
) -> dict[int, list[str]]:
    """purchase → the names of its products (in ``category`` when given), in line order."""
    names: dict[int, list[str]] = defaultdict(list)
    for part in _chunks(list(purchase_ids)):
        query = (
            select(PurchaseLine.purchase_id, Product.name)
            .join(Product, Product.id == PurchaseLine.product_id)
            .where(PurchaseLine.purchase_id.in_(part))
            .order_by(PurchaseLine.purchase_id, PurchaseLine.line_no)
        )
        if category is not None:
            query = query.where(Product.category == category)
        for pid, name in session.execute(query):
            if name not in names[pid]:
                names[pid].append(name)
    return names


def _detail(plan: Plan, bought_on: date, items: list[str]) -> str:
    shown = "、".join(items[:3]) + ("等" if len(items) > 3 else "")
    return f"{plan.action}（{bought_on:%Y-%m-%d} 购买{'：' + shown if shown else ''}）"


def _rows_for(
    session: Session, plan: Plan, bought: Sequence[_Bought], *, not_before: date
) -> list[dict[str, Any]]:
    """The task rows of ``plan`` for these purchases (already known to match its category)."""
    if not bought:
        return []
    zones = _zones(session)
    people = _customers(session, (b.customer_id for b in bought))
    managers = store_managers(session)
    items = _items(session, [b.purchase_id for b in bought], plan.category)
    rows = []
    for b in bought:
        if b.customer_id not in people:
            continue  # erased
        zone = zones.get(b.store_id, ZoneInfo("Asia/Shanghai"))
        bought_on = b.purchased_at.astimezone(zone).date()
        due = due_date(bought_on, plan)
        if due < not_before:
            continue  # stale: long overdue before anyone could see it
        owner, home = people[b.customer_id]
        store = home if home is not None else b.store_id
        rows.append({
            "kind": "followup", "customer_id": b.customer_id,
            "assignee_staff_id": owner if owner is not None else managers.get(store),
            "store_id": store, "due_on": due, "title": plan.name[:200],
            "detail": _detail(plan, bought_on, items.get(b.purchase_id, [])),
            "source_key": f"followup:{plan.id}:{b.purchase_id}", "plan_id": plan.id,
            "purchase_id": b.purchase_id, "status": "open",
        })  # fmt: skip
    return rows


def ensure_tasks(session: Session, tasks: list[dict[str, Any]]) -> int:
    """Insert the care_task rows whose ``source_key`` is new (bulk); returns how many."""
    fresh: dict[str, dict[str, Any]] = {}
    for t in tasks:
        fresh.setdefault(str(t["source_key"]), t)
    for keys in _chunks(list(fresh)):
        for (key,) in session.execute(
            select(CareTask.source_key).where(CareTask.source_key.in_(keys))
        ):
            fresh.pop(key, None)
    now = datetime.now(UTC)
    rows = []
    for t in fresh.values():
        row = {"status": "open", "detail": None, "plan_id": None, "purchase_id": None,
               "commitment_id": None, "assignee_staff_id": None, "store_id": None,
               "created_at": now, **t}  # fmt: skip
        if row["kind"] not in KINDS:
            raise InvalidInput(f"unknown task kind {row['kind']!r}: use one of {', '.join(KINDS)}")
        rows.append(row)
    for part in _chunks(rows, 2000):
        session.execute(insert(CareTask), list(part))
    return len(rows)


def schedule_for_purchase(session: Session, purchase_id: int) -> int:
    """Make the follow-up tasks of one purchase (in the caller's transaction); returns how
    many were made. Costs nothing more than the cached plan lookup when no plan is active."""
    plans = active_plans(session)
    if not plans:
        return 0
    p = session.execute(
        select(Purchase.id, Purchase.customer_id, Purchase.store_id, Purchase.purchased_at,
               Purchase.created_at).where(Purchase.id == purchase_id)
    ).one_or_none()  # fmt: skip
    if p is None:
        raise NotFound(f"purchase {purchase_id} does not exist")
    categories: set[str] = set()
    if any(plan.category is not None for plan in plans):
        categories = {c for c in session.scalars(
            select(Product.category).join(PurchaseLine, PurchaseLine.product_id == Product.id)
            .where(PurchaseLine.purchase_id == purchase_id, Product.category.is_not(None))
            .distinct()
        ) if c}  # fmt: skip
    matching = [plan for plan in plans if plan.category is None or plan.category in categories]
    if not matching:
        return 0
    zone = _zones(session).get(p.store_id, ZoneInfo("Asia/Shanghai"))
    recorded = (p.created_at or datetime.now(UTC)).astimezone(zone).date()
    bought = [_Bought(p.id, p.customer_id, p.store_id, p.purchased_at)]
    rows = []
    for plan in matching:
        rows += _rows_for(session, plan, bought,
                          not_before=recorded - timedelta(days=OVERDUE_DAYS))  # fmt: skip
    return ensure_tasks(session, rows) if rows else 0


def schedule_followups(
    db: Database, day: date, *, lookback_days: int = 120, overdue_days: int = OVERDUE_DAYS
) -> int:
    """The follow-ups of purchases bought in the ``lookback_days`` before ``day`` (imported
    ones, or any that missed them) whose due date is no more than ``overdue_days`` before
    ``day``; idempotent. Returns how many tasks were made."""
    made = 0
    with db.write() as session:
        plans = active_plans(session)
        for plan in plans:
            # Purchases whose due date can be on or after day - overdue_days (holidays only
            # push due dates later, by at most _HOLIDAY_MARGIN days).
            back = min(lookback_days, overdue_days + plan.days_after + _HOLIDAY_MARGIN)
            start = datetime.combine(day - timedelta(days=back + 1), time(), UTC)
            end = datetime.combine(day + timedelta(days=2), time(), UTC)
            query = (
                select(Purchase.id, Purchase.customer_id, Purchase.store_id,
                       Purchase.purchased_at)
                .where(Purchase.purchased_at >= start, Purchase.purchased_at < end)
                .order_by(Purchase.id)
            )  # fmt: skip
            if plan.category is not None:
                query = query.where(exists(
                    select(PurchaseLine.id).join(Product, Product.id == PurchaseLine.product_id)
                    .where(PurchaseLine.purchase_id == Purchase.id,
                           Product.category == plan.category)
                ))  # fmt: skip
            zones = _zones(session)
            bought = []
            for pid, cid, sid, at in session.execute(query):
                local = at.astimezone(zones.get(sid, ZoneInfo("Asia/Shanghai"))).date()
                if day - timedelta(days=lookback_days) <= local <= day:
                    bought.append(_Bought(pid, cid, sid, at))
            # Skip purchases that already have this plan's task before reading more about them.
            keys = {f"followup:{plan.id}:{b.purchase_id}": b for b in bought}
            for part in _chunks(list(keys)):
                for (key,) in session.execute(
                    select(CareTask.source_key).where(CareTask.source_key.in_(part))
                ):
                    keys.pop(key, None)
            rows = _rows_for(session, plan, list(keys.values()),
                             not_before=day - timedelta(days=overdue_days))  # fmt: skip
            made += ensure_tasks(session, rows)
    return made


# --- reading -----------------------------------------------------------------------------------


def _task_query() -> Any:
    return (
        select(CareTask.id, CareTask.kind, CareTask.customer_id, Customer.name,
               CareTask.assignee_staff_id, CareTask.store_id, CareTask.due_on, CareTask.title,
               CareTask.detail, CareTask.status, CareTask.outcome, CareTask.outcome_note,
               Staff.name, CareTask.commitment_id)
        .join(Customer, Customer.id == CareTask.customer_id)
        .outerjoin(Staff, Staff.id == CareTask.assignee_staff_id)
    )  # fmt: skip


def _task_row(r: Any) -> TaskRow:
    return TaskRow(int(r[0]), r[1], int(r[2]), r[3] or "", r[4], r[5], r[6], r[7], r[8], r[9],
                   r[10], r[11], r[12], r[13])  # fmt: skip


def open_tasks(
    session: Session,
    *,
    until: date,
    staff_id: int | None = None,
    store_id: int | None = None,
    customer_id: int | None = None,
    limit: int | None = None,
) -> list[TaskRow]:
    """Open tasks due on or before ``until`` (overdue ones included), soonest first; for one
    assignee, one store and/or one customer. Erased customers' tasks are left out."""
    query = (
        _task_query()
        .where(CareTask.status == "open", CareTask.due_on <= until, Customer.erased_at.is_(None))
        .order_by(CareTask.due_on, CareTask.id)
    )
    if staff_id is not None:
        query = query.where(CareTask.assignee_staff_id == staff_id)
    if store_id is not None:
        query = query.where(CareTask.store_id == store_id)
    if customer_id is not None:
        query = query.where(CareTask.customer_id == customer_id)
    if limit is not None:
        query = query.limit(limit)
    return [_task_row(r) for r in session.execute(query)]


def customer_tasks(
    session: Session, customer_id: int, *, done_limit: int = 5
) -> tuple[list[TaskRow], list[TaskRow]]:
    """A customer's open tasks (every due date) and the latest done ones."""
    opened = [_task_row(r) for r in session.execute(
        _task_query().where(CareTask.customer_id == customer_id, CareTask.status == "open")
        .order_by(CareTask.due_on, CareTask.id)
    )]  # fmt: skip
    done = [_task_row(r) for r in session.execute(
        _task_query().where(CareTask.customer_id == customer_id, CareTask.status == "done")
        .order_by(CareTask.done_at.desc(), CareTask.id.desc()).limit(done_limit)
    )]  # fmt: skip
    return opened, done


def get_task(session: Session, task_id: int, *, scope: int | None) -> TaskRow:
    """One task whose customer is in ``scope`` (None: every store); NotFound otherwise."""
    query = _task_query().where(CareTask.id == task_id)
    if scope is not None:
        query = query.where(Customer.home_store_id == scope)
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"care task {task_id} does not exist: see the agenda")
    return _task_row(row)


# --- outcomes ----------------------------------------------------------------------------------


def parse_outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        known = ", ".join(o.value for o in Outcome)
        raise InvalidInput(f"unknown outcome {value!r}: use one of {known}") from None


def timeline_text(kind: str, outcome: Outcome, note: str) -> str:
    """The note written on the customer's timeline, e.g. ``回访: reached — 茶叶很好``."""
    head = f"{TIMELINE_LABELS.get(kind, TIMELINE_LABELS['other'])}: {outcome.value}"
    return f"{head} — {note}" if note else head


def log_outcome(
    db: Database,
    task_id: int,
    outcome: Outcome | str,
    note: str,
    *,
    actor_id: int,
    scope: int | None,
    now: datetime | None = None,
    sla: SlaPolicy | None = None,
) -> int | None:
    """Close an open task with its outcome: the task, a timeline note (``回访: reached — …``)
    and an audit entry in one transaction. The outcome "complaint" also opens a complaint
    (with the ``sla`` policy, default: the documented one); returns its id (else None)."""
    outcome = parse_outcome(outcome) if isinstance(outcome, str) else outcome
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note: too long: at most {MAX_NOTE} characters ({len(note)})")
    now = now or datetime.now(UTC)
    with db.write() as session:
        query = (
            select(CareTask, Customer.home_store_id, Customer.erased_at)
            .join(Customer, Customer.id == CareTask.customer_id)
            .where(CareTask.id == task_id)
        )
        found = session.execute(query).one_or_none()
        if found is None or (scope is not None and found.home_store_id != scope):
            raise NotFound(f"care task {task_id} does not exist: see the agenda")
        task, erased = found[0], found.erased_at is not None
        if task.status != "open":
            raise Conflict(f"care task {task_id} is already {task.status}: reload the agenda")
        done = session.execute(
            update(CareTask)
            .where(CareTask.id == task_id, CareTask.status == "open")
            .values(status="done", outcome=outcome.value, outcome_note=note or None,
                    done_at=now, done_by_staff_id=actor_id)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if getattr(done, "rowcount", 1) != 1:
            raise Conflict(f"care task {task_id} was just closed by someone else: reload")
        if not erased:  # no new personal data on an erased customer's timeline
            session.add(CustomerNote(customer_id=task.customer_id, staff_id=actor_id, at=now,
                                     text=timeline_text(task.kind, outcome, note)))  # fmt: skip
        audit.record(session, audit.Action.TASK_OUTCOME_LOGGED, actor_id=actor_id,
                     target_type="care_task", target_id=task_id,
                     detail={"customer_id": task.customer_id, "kind": task.kind,
                             "outcome": outcome.value})  # fmt: skip
        if outcome is not Outcome.COMPLAINT:
            return None
        store = task.store_id if task.store_id is not None else found.home_store_id
        return open_complaint(
            session, customer_id=task.customer_id, store_id=store, category="other",
            severity="medium", channel="followup",
            summary=note or COMPLAINT_SUMMARY, actor_id=actor_id, now=now,
            source_task_id=task_id, policy=sla,
        )  # fmt: skip
