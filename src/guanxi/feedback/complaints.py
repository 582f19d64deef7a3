"""Complaints (投诉): opened, answered, resolved with a recovery, closed; each step an event.

Functions here work in the caller's transaction (``session``): a web route or a command opens
``db.write()`` and calls one of them. The SLA deadlines are fixed when a complaint is opened
(``guanxi.feedback.sla``), from the policy the caller passes (``sla_policy(settings)``) or the
documented defaults.

Status flow: ``open`` → ``in_progress`` (the first response) → ``resolved`` → ``closed``;
``reopen`` takes a resolved or closed complaint back to ``in_progress`` and clears its
resolution and closing times (the events keep the history), so the resolution clock runs again
against the same deadline. Resolving an open complaint also counts as its first response.
Every step appends a ``ComplaintEvent`` and an audit entry; impossible steps raise
``Conflict`` naming the status and the way out.

The step functions and the recovery (points, coupon, satisfaction link) are in
``guanxi.feedback.complaint_steps``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.club.events import zone_of
from guanxi.config import Settings
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput, NotFound
from guanxi.feedback.sla import (
    Clock,
    SlaPolicy,
    compute_clock,
    compute_deadlines,
    counted_between,
    policy_of,
)
from guanxi.services import audit
from guanxi.storage.models import Complaint, ComplaintEvent, Customer, Staff

CATEGORIES = ("product", "service", "price", "delivery", "environment", "other")
CATEGORY_LABELS: dict[str, str] = {
    "product": gettext_noop("Product"),
    "service": gettext_noop("Service"),
    "price": gettext_noop("Price"),
    "delivery": gettext_noop("Delivery"),
    "environment": gettext_noop("Store environment"),
    "other": gettext_noop("Other"),
}
"""Display names of the categories (the agenda's reasons translate them)."""
SEVERITIES = ("low", "medium", "high", "critical")
CHANNELS = ("counter", "phone", "wechat", "email", "link", "followup", "other")
STATUSES = ("open", "in_progress", "resolved", "closed")
MAX_SUMMARY = 4000
DEFAULT_POLICY = SlaPolicy()


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    value = (value or "").strip().lower()
    if value not in choices:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(choices)}")
    return value


def check_text(field: str, text: str | None, *, required: bool) -> str | None:
    """Stripped text within ``MAX_SUMMARY`` characters (None when empty and optional)."""
    text = (text or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{field}: write what the complaint is about")
        return None
    if len(text) > MAX_SUMMARY:
        raise InvalidInput(f"{field}: too long: at most {MAX_SUMMARY} characters ({len(text)})")
    return text


def store_zone(session: Session, store_id: int | None, policy: SlaPolicy) -> str:
    """The time zone whose weekends pause the clocks: the store's, else the policy's."""
    return policy.timezone if store_id is None else zone_of(session, store_id)


def add_event(
    session: Session, complaint_id: int, kind: str, *, at: datetime, actor_id: int | None,
    note: str | None = None,
) -> None:  # fmt: skip
    """Append one step to a complaint's timeline."""
    session.add(ComplaintEvent(complaint_id=complaint_id, kind=kind, at=at,
                               actor_staff_id=actor_id, note=note))  # fmt: skip


def open_complaint(
    session: Session,
    *,
    customer_id: int | None,
    store_id: int | None,
    category: str,
    severity: str,
    channel: str,
    summary: str,
    actor_id: int | None,
    now: datetime,
    source_task_id: int | None = None,
    assignee_staff_id: int | None = None,
    policy: SlaPolicy | None = None,
) -> int:
    """Open a complaint with its SLA deadlines, an ``opened`` event and an audit entry.

    The store defaults to the customer's home store. Returns the complaint's id.
    """
    policy = policy or DEFAULT_POLICY
    category = _check_choice("category", category, CATEGORIES)
    severity = _check_choice("severity", severity, SEVERITIES)
    channel = _check_choice("channel", channel, CHANNELS)
    text = check_text("summary", summary, required=True)
    if customer_id is not None:
        home = session.execute(
            select(Customer.home_store_id).where(Customer.id == customer_id)
        ).one_or_none()
        if home is None:
            raise NotFound(f"customer {customer_id} does not exist")
        store_id = store_id if store_id is not None else home[0]
    if assignee_staff_id is not None:
        _check_staff(session, assignee_staff_id)
    first_due, resolution_due = compute_deadlines(
        now, severity, policy, zone=store_zone(session, store_id, policy)
    )
    row = Complaint(
        customer_id=customer_id, store_id=store_id, category=category, severity=severity,
        channel=channel, summary=text, status="open", assignee_staff_id=assignee_staff_id,
        opened_at=now, first_response_due_at=first_due, resolution_due_at=resolution_due,
        recovery_points=0, source_task_id=source_task_id, created_by_staff_id=actor_id,
    )  # fmt: skip
    session.add(row)
    session.flush()
    add_event(session, row.id, "opened", at=now, actor_id=actor_id)
    audit.record(session, audit.Action.COMPLAINT_OPENED, actor_id=actor_id,
                 target_type="complaint", target_id=row.id,
                 detail={"customer_id": customer_id, "store_id": store_id, "category": category,
                         "severity": severity, "channel": channel,
                         "source_task_id": source_task_id})  # fmt: skip
    return row.id


def _check_staff(session: Session, staff_id: int) -> None:
    active = session.execute(select(Staff.is_active).where(Staff.id == staff_id)).scalar()
    if not active:
        raise InvalidInput(f"staff {staff_id} does not exist or is not active: pick another")


def get_complaint(session: Session, complaint_id: int, *, lock: bool = False) -> Complaint:
    """The complaint, or NotFound."""
    query = select(Complaint).where(Complaint.id == complaint_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"complaint {complaint_id} does not exist: see the complaints list")
    return row


def record_satisfaction(session: Session, complaint_id: int, score: int, *, now: datetime) -> None:
    """Store the customer's satisfaction (1–5) with the resolution, with an event; a second
    answer replaces the first (the event keeps both)."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput(f"satisfaction: give a whole number from 1 to 5 (found {score!r})")
    row = get_complaint(session, complaint_id, lock=True)
    row.satisfaction = score
    add_event(session, complaint_id, "satisfaction", at=now, actor_id=None, note=str(score))
    audit.record(session, audit.Action.COMPLAINT_UPDATED, actor_id=None,
                 target_type="complaint", target_id=complaint_id,
                 detail={"step": "satisfaction", "score": score})  # fmt: skip


def sla_policy(settings: Settings) -> SlaPolicy:
    """The shop's SLA policy from its settings."""
    return policy_of(
        first_response_hours=settings.sla_first_response_hours,
        resolution_hours=settings.sla_resolution_hours,
        pause_weekends=settings.sla_pause_weekends, near_hours=settings.sla_near_hours,
        near_share=settings.sla_near_share, timezone=settings.timezone,
    )  # fmt: skip


def clocks(row: Complaint, *, now: datetime, policy: SlaPolicy, zone: str | None = None
           ) -> tuple[Clock, Clock]:  # fmt: skip
    """(first response, resolution) clocks of a complaint at ``now``; a reopened complaint's
    resolution clock runs again against its original deadline."""
    tz = zone or policy.timezone
    budget_first = counted_between(row.opened_at, row.first_response_due_at, zone=tz,
                                   pause_weekends=policy.pause_weekends)  # fmt: skip
    budget_res = counted_between(row.opened_at, row.resolution_due_at, zone=tz,
                                 pause_weekends=policy.pause_weekends)  # fmt: skip
    first = compute_clock(
        "first_response", due_at=row.first_response_due_at, done_at=row.first_response_at,
        budget_hours=budget_first.total_seconds() / 3600, now=now, policy=policy, zone=tz,
    )  # fmt: skip
    done = row.resolved_at if row.status in ("resolved", "closed") else None
    resolution = compute_clock(
        "resolution", due_at=row.resolution_due_at, done_at=done,
        budget_hours=budget_res.total_seconds() / 3600, now=now, policy=policy, zone=tz,
    )  # fmt: skip
    return first, resolution
