"""Escalation of complaints past their SLA, and the agenda items of complaints near it.

``run_escalations`` (a stage of ``guanxi daily``, or ``guanxi complaints escalate``) takes every
open or in-progress complaint whose first response or resolution is overdue and that was never
escalated, and escalates it to its store's manager (the active manager added first), or to the
shop's owner when the store has none: ``escalated_at`` / ``escalated_to_staff_id``, an
``escalated`` event, an audit entry, and an open care task (kind ``other``, source key
``complaint-escalation:<id>``) for that person, due today, so it is on their agenda. Running it
again does nothing more: the complaint is already escalated and the task key exists. Resolving
(or closing) the complaint cancels that task if it is still open.

``complaint_items`` is an agenda source (``AGENDA_SOURCES``): open complaints with a customer
whose next deadline (the first response while unanswered, else the resolution) is near or past
by the complaint's clocks (``complaints.clocks``: the store's zone, paused weekends and the near
window of the policy, by default the documented one), for their assignee or the person it was
escalated to (a staff member's agenda, unless that person has the escalation's open task, which
already stands for it) or their store (a store's agenda).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, case, cast, exists, literal, or_, select
from sqlalchemy.orm import Session

from guanxi.care.agenda import AgendaItem, AgendaQuery, item
from guanxi.care.tasks import ensure_tasks
from guanxi.domain.text import gettext_noop
from guanxi.feedback.complaint_steps import (
    ESCALATION_KEY_PREFIX,
    escalate,
    escalation_targets,
    escalation_task_key,
)
from guanxi.feedback.complaints import DEFAULT_POLICY, clocks
from guanxi.feedback.sla import ClockState, SlaPolicy, add_counted_hours, near_window
from guanxi.storage.db import Database
from guanxi.storage.models import CareTask, Complaint, Customer, Store

ESCALATION_TITLE = "投诉已超时，请跟进处理（#{id}）"
_REASONS = {
    ("first_response", False): gettext_noop(
        "Complaint #{id} ({category}): first response due in {hours} hours"
    ),
    ("first_response", True): gettext_noop(
        "Complaint #{id} ({category}): first response overdue since {date}"
    ),
    ("resolution", False): gettext_noop(
        "Complaint #{id} ({category}): resolution due in {hours} hours"
    ),
    ("resolution", True): gettext_noop(
        "Complaint #{id} ({category}): resolution overdue since {date}"
    ),
}


def _breached(now: datetime) -> ColumnElement[bool]:
    return and_(
        Complaint.status.in_(("open", "in_progress")),
        or_(and_(Complaint.first_response_at.is_(None), Complaint.first_response_due_at <= now),
            Complaint.resolution_due_at <= now),
    )  # fmt: skip


def run_escalations(db: Database, *, now: datetime) -> int:
    """Escalate the breached complaints not yet escalated; returns how many (idempotent)."""
    with db.write() as session:
        rows = session.execute(
            select(Complaint.id, Complaint.store_id, Complaint.customer_id, Store.timezone)
            .outerjoin(Store, Store.id == Complaint.store_id)
            .where(_breached(now), Complaint.escalated_at.is_(None))
            .order_by(Complaint.id)
        ).all()  # fmt: skip
        if not rows:
            return 0
        target = escalation_targets(session)
        count = 0
        for cid, store, customer, zone in rows:
            to = target(store)
            if to is None:
                continue  # nobody to escalate to: the list still shows it breached
            escalate(session, cid, to, actor_id=None, now=now, automatic=True,
                     note="SLA")  # fmt: skip
            if customer is not None:
                day = now.astimezone(ZoneInfo(zone or DEFAULT_POLICY.timezone)).date()
                ensure_tasks(session, [{
                    "kind": "other", "customer_id": customer, "assignee_staff_id": to,
                    "store_id": store, "due_on": day, "title": ESCALATION_TITLE.format(id=cid),
                    "source_key": escalation_task_key(cid),
                }])  # fmt: skip
            count += 1
        return count


def agenda_moment(day: date, zone: ZoneInfo) -> datetime:
    """The moment an agenda of ``day`` is judged at: now for today, else noon of that day."""
    now = datetime.now(UTC)
    if now.astimezone(zone).date() == day:
        return now
    return datetime.combine(day, time(12), zone).astimezone(UTC)


def _next_due() -> ColumnElement[datetime]:
    """The deadline of the clock that runs next: the first response while unanswered."""
    return case(
        (and_(Complaint.first_response_at.is_(None),
              Complaint.first_response_due_at <= Complaint.resolution_due_at),
         Complaint.first_response_due_at),
        else_=Complaint.resolution_due_at,
    )  # fmt: skip


def _latest_near(now: datetime, policy: SlaPolicy) -> datetime:
    """No complaint due after this moment can be near now: the widest near window, counted as
    the policy counts (with a margin for stores whose weekend starts in another zone)."""
    budget = max(policy.first_response_hours, *policy.resolution_hours.values())
    window = near_window(budget, policy).total_seconds() / 3600
    if not policy.pause_weekends:
        return now + timedelta(hours=window)
    latest = add_counted_hours(now, window, zone=policy.timezone, pause_weekends=True)
    return latest + timedelta(days=2)


def _has_escalation_task(staff_id: int) -> ColumnElement[bool]:
    key = literal(ESCALATION_KEY_PREFIX, String) + cast(Complaint.id, String)
    return exists().where(CareTask.source_key == key, CareTask.status == "open",
                          CareTask.assignee_staff_id == staff_id)  # fmt: skip


def complaint_items(
    session: Session, q: AgendaQuery, *, policy: SlaPolicy | None = None
) -> Iterator[AgendaItem]:
    """Open complaints near or past their next deadline (see the module docstring)."""
    policy = policy or DEFAULT_POLICY
    zone = ZoneInfo(q.zone)
    now = agenda_moment(q.day, zone)
    next_due = _next_due()
    query = (
        select(Complaint, Customer.name, Store.timezone)
        .join(Customer, Customer.id == Complaint.customer_id)
        .outerjoin(Store, Store.id == Complaint.store_id)
        .where(Complaint.status.in_(("open", "in_progress")), Customer.erased_at.is_(None),
               next_due <= _latest_near(now, policy))
        .order_by(next_due, Complaint.id)
        .limit(q.cap)
    )  # fmt: skip
    if q.staff_id is not None:
        query = query.where(
            or_(Complaint.assignee_staff_id == q.staff_id,
                Complaint.escalated_to_staff_id == q.staff_id),
            ~_has_escalation_task(q.staff_id),
        )  # fmt: skip
    if q.store_id is not None:
        query = query.where(Complaint.store_id == q.store_id)
    for row, name, store_zone in session.execute(query):
        first, resolution = clocks(row, now=now, policy=policy,
                                   zone=store_zone or policy.timezone)  # fmt: skip
        clock = first if first.done_at is None and first.due_at <= resolution.due_at else resolution
        if clock.state not in (ClockState.NEAR, ClockState.BREACHED):
            continue
        overdue = clock.state is ClockState.BREACHED
        due_on: date = clock.due_at.astimezone(zone).date()
        params: dict[str, str | int | date] = {"id": row.id, "category": row.category}
        if overdue:
            params["date"] = due_on
        else:
            params["hours"] = max(1, round(clock.left.total_seconds() / 3600))
        yield item(int(row.customer_id or 0), "complaint_sla", _REASONS[(clock.name, overdue)],
                   dict(params), due_on, q.day, customer_name=name or "",
                   owner_staff_id=row.assignee_staff_id)  # fmt: skip
