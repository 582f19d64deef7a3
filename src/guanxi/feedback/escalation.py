"""Escalation of complaints past their SLA, and the agenda items of complaints near it.

``run_escalations`` (a stage of ``guanxi daily``, or ``guanxi complaints escalate``) takes every
open or in-progress complaint whose first response or resolution is overdue and that was never
escalated, and escalates it to its store's manager (the active manager added first), or to the
shop's owner when the store has none: ``escalated_at`` / ``escalated_to_staff_id``, an
``escalated`` event, an audit entry, and an open care task (kind ``other``, source key
``complaint-escalation:<id>``) for that person, due today, so it is on their agenda. Running it
again does nothing more: the complaint is already escalated and the task key exists.

``complaint_items`` is an agenda source (``AGENDA_SOURCES``): open complaints with a customer
whose next deadline (the first response while unanswered, else the resolution) is near or past,
for their assignee (a staff member's agenda) or their store (a store's agenda).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from guanxi.care.agenda import AgendaItem, AgendaQuery, item
from guanxi.care.tasks import ensure_tasks, store_managers
from guanxi.domain.text import gettext_noop
from guanxi.feedback.complaint_steps import escalate
from guanxi.feedback.complaints import DEFAULT_POLICY
from guanxi.feedback.sla import SlaPolicy, near_window
from guanxi.storage.db import Database
from guanxi.storage.models import Complaint, Customer, Staff, Store

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


def _owner(session: Session) -> int | None:
    return session.execute(
        select(Staff.id).where(Staff.role == "owner", Staff.is_active.is_(True)).order_by(Staff.id)
    ).scalar()


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
        managers = store_managers(session)
        owner = _owner(session)
        count = 0
        for cid, store, customer, zone in rows:
            to = managers.get(store or -1, owner)
            if to is None:
                continue  # nobody to escalate to: the list still shows it breached
            escalate(session, cid, to, actor_id=None, now=now, automatic=True,
                     note="SLA")  # fmt: skip
            if customer is not None:
                day = now.astimezone(ZoneInfo(zone or DEFAULT_POLICY.timezone)).date()
                ensure_tasks(session, [{
                    "kind": "other", "customer_id": customer, "assignee_staff_id": to,
                    "store_id": store, "due_on": day, "title": ESCALATION_TITLE.format(id=cid),
                    "source_key": f"complaint-escalation:{cid}",
                }])  # fmt: skip
            count += 1
        return count


def _next_deadline(row: Complaint) -> tuple[str, datetime, datetime]:
    """(clock, due, start) of the clock that runs next: the first response while unanswered."""
    if row.first_response_at is None and row.first_response_due_at <= row.resolution_due_at:
        return "first_response", row.first_response_due_at, row.opened_at
    return "resolution", row.resolution_due_at, row.opened_at


def agenda_moment(day: date, zone: ZoneInfo) -> datetime:
    """The moment an agenda of ``day`` is judged at: now for today, else noon of that day."""
    now = datetime.now(UTC)
    if now.astimezone(zone).date() == day:
        return now
    return datetime.combine(day, time(12), zone).astimezone(UTC)


def complaint_items(
    session: Session, q: AgendaQuery, *, policy: SlaPolicy | None = None
) -> Iterator[AgendaItem]:
    """Open complaints near or past their next deadline (see the module docstring)."""
    policy = policy or DEFAULT_POLICY
    zone = ZoneInfo(q.zone)
    now = agenda_moment(q.day, zone)
    horizon = now + timedelta(days=366)  # the window is decided per row below
    query = (
        select(Complaint, Customer.name)
        .join(Customer, Customer.id == Complaint.customer_id)
        .where(Complaint.status.in_(("open", "in_progress")), Customer.erased_at.is_(None),
               Complaint.resolution_due_at <= horizon)
        .order_by(Complaint.resolution_due_at)
        .limit(q.cap)
    )  # fmt: skip
    if q.staff_id is not None:
        query = query.where(
            or_(Complaint.assignee_staff_id == q.staff_id,
                Complaint.escalated_to_staff_id == q.staff_id)
        )  # fmt: skip
    if q.store_id is not None:
        query = query.where(Complaint.store_id == q.store_id)
    for row, name in session.execute(query):
        clock, due, start = _next_deadline(row)
        left = due - now
        if left > near_window((due - start).total_seconds() / 3600, policy):
            continue
        overdue = left <= timedelta(0)
        due_on: date = due.astimezone(zone).date()
        params: dict[str, str | int | date] = {"id": row.id, "category": row.category}
        if overdue:
            params["date"] = due_on
        else:
            params["hours"] = max(1, round(left.total_seconds() / 3600))
        yield item(int(row.customer_id or 0), "complaint_sla", _REASONS[(clock, overdue)],
                   dict(params), due_on, q.day, customer_name=name or "",
                   owner_staff_id=row.assignee_staff_id)  # fmt: skip
