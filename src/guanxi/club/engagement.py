"""Attendance and engagement: what the customer page, the scores and the agenda read.

* ``attended_counts``: events each customer checked in to, in a period.
* ``engagement_scores``: a social-bond score in [0, 1] as of a moment::

      engagement = 0.7 × min(events attended in the 12 months before as_of, 4) / 4
                 + 0.3 × min(clubs the customer belongs to at as_of, 2) / 2

  Four events a year (a quarterly habit) or more give the full attendance part; two clubs give
  the full membership part. Attendance weighs more: turning up is the bond, a membership
  by rule can be passive. Customers with neither score 0.
* ``club_section``: the customer page's clubs, upcoming answers and attended events.
* ``event_items``: the agenda source: confirmed guests of events in the next two days, for
  their account owner ("Event tomorrow: 秋季品茶会 — remind them").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from guanxi.domain.dates import add_months
from guanxi.domain.text import gettext_noop
from guanxi.storage.models import Club, ClubEvent, ClubMember, Customer, EventRsvp, Store

if TYPE_CHECKING:  # care.agenda lists event_items among its sources: no import cycle
    from guanxi.care.agenda import AgendaItem, AgendaQuery

ATTENDANCE_WEIGHT = 0.7
ATTENDANCE_FULL = 4  # events in 12 months for the full attendance part
CLUB_WEIGHT = 0.3
CLUBS_FULL = 2
REMIND_DAYS = 2  # the agenda reminds of events starting today and in the next two days
AGENDA_KIND = "task"  # "event" once care.agenda.KINDS has it
_CHUNK = 900

EVENT_REASONS = (
    gettext_noop("Event today: {event} at {time}. Remind them."),
    gettext_noop("Event tomorrow: {event} at {time}. Remind them."),
    gettext_noop("Event on {date}: {event} at {time}. Remind them."),
)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = sorted(set(ids))
    for n in range(0, len(unique), _CHUNK):
        yield unique[n : n + _CHUNK]


def counted_check_in(since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    """The check-ins that count (the query joins ``ClubEvent``): ``since <= checked_in_at <
    until``, at an event that was not cancelled. The engagement score and the social bond
    (``club.bonds``) both count these."""
    return [EventRsvp.checked_in_at >= since, EventRsvp.checked_in_at < until,
            ClubEvent.status != "cancelled"]  # fmt: skip


def counted_membership(as_of: datetime) -> list[ColumnElement[bool]]:
    """The memberships that count (the query joins ``Club``): held at ``as_of``, of an active
    club. The engagement score and the social bond (``club.bonds``) both count these."""
    return [ClubMember.joined_at <= as_of,
            (ClubMember.left_at.is_(None)) | (ClubMember.left_at > as_of),
            Club.is_active.is_(True)]  # fmt: skip


def attended_counts(session: Session, customer_ids: Sequence[int], since: datetime,
                    until: datetime) -> dict[int, int]:  # fmt: skip
    """Events each customer checked in to with ``since <= checked_in_at < until`` (cancelled
    events do not count); customers with none are 0."""
    out = dict.fromkeys(customer_ids, 0)
    for chunk in _chunks(customer_ids):
        for cid, n in session.execute(
            select(EventRsvp.customer_id, func.count())
            .join(ClubEvent, ClubEvent.id == EventRsvp.event_id)
            .where(EventRsvp.customer_id.in_(chunk), *counted_check_in(since, until))
            .group_by(EventRsvp.customer_id)
        ):  # fmt: skip
            out[int(cid)] = int(n)
    return out


def membership_counts(session: Session, customer_ids: Sequence[int],
                      as_of: datetime) -> dict[int, int]:  # fmt: skip
    """Active clubs each customer belonged to at ``as_of``."""
    out = dict.fromkeys(customer_ids, 0)
    for chunk in _chunks(customer_ids):
        for cid, n in session.execute(
            select(ClubMember.customer_id, func.count())
            .join(Club, Club.id == ClubMember.club_id)
            .where(ClubMember.customer_id.in_(chunk), *counted_membership(as_of))
            .group_by(ClubMember.customer_id)
        ):  # fmt: skip
            out[int(cid)] = int(n)
    return out


def compute_engagement(attended: int, clubs: int) -> float:
    """The formula of the module docstring, in [0, 1]."""
    return (ATTENDANCE_WEIGHT * min(attended, ATTENDANCE_FULL) / ATTENDANCE_FULL
            + CLUB_WEIGHT * min(clubs, CLUBS_FULL) / CLUBS_FULL)  # fmt: skip


def engagement_scores(session: Session, customer_ids: Sequence[int],
                      as_of: datetime) -> dict[int, float]:  # fmt: skip
    """Each customer's engagement (module docstring) as of ``as_of``."""
    year_ago = datetime.combine(add_months(as_of.astimezone(UTC).date(), -12), as_of.timetz())
    attended = attended_counts(session, customer_ids, year_ago, as_of)
    clubs = membership_counts(session, customer_ids, as_of)
    return {cid: round(compute_engagement(attended[cid], clubs[cid]), 4) for cid in customer_ids}


@dataclass(frozen=True)
class EventLine:
    """One event on the customer page."""

    event_id: int
    name: str
    starts_at: datetime
    location: str | None
    status: str  # the guest's RSVP status
    checked_in_at: datetime | None


def club_section(session: Session, customer_id: int, *,
                 now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """The customer page's part: ``clubs`` (name, since), ``upcoming`` (answers to events not
    yet over), ``attended`` (the last 10 check-ins), ``engagement``."""
    now = now or datetime.now(UTC)
    clubs = session.execute(
        select(Club.id, Club.name, ClubMember.joined_at, ClubMember.source)
        .join(ClubMember, ClubMember.club_id == Club.id)
        .where(ClubMember.customer_id == customer_id, ClubMember.left_at.is_(None))
        .order_by(Club.name)
    ).all()  # fmt: skip
    base = (select(ClubEvent.id, ClubEvent.name, ClubEvent.starts_at, ClubEvent.location,
                   EventRsvp.status, EventRsvp.checked_in_at)
            .join(EventRsvp, EventRsvp.event_id == ClubEvent.id)
            .where(EventRsvp.customer_id == customer_id))  # fmt: skip
    upcoming = session.execute(
        base.where(ClubEvent.starts_at >= now - timedelta(hours=4),
                   ClubEvent.status == "planned", EventRsvp.checked_in_at.is_(None))
        .order_by(ClubEvent.starts_at).limit(10)
    ).all()  # fmt: skip
    attended = session.execute(
        base.where(EventRsvp.checked_in_at.is_not(None))
        .order_by(EventRsvp.checked_in_at.desc()).limit(10)
    ).all()  # fmt: skip
    return {
        "clubs": [{"id": i, "name": n, "since": j, "source": s} for i, n, j, s in clubs],
        "upcoming": [EventLine(*r) for r in upcoming],
        "attended": [EventLine(*r) for r in attended],
        "engagement": engagement_scores(session, [customer_id], now)[customer_id],
    }


def event_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Confirmed guests (not yet checked in) of planned events starting today or in the next
    ``REMIND_DAYS`` days (the day in ``q.zone``), for their account owner / store."""
    from guanxi.care.agenda import item

    zone = ZoneInfo(q.zone)
    start = datetime.combine(q.day, time(), zone).astimezone(UTC)
    end = datetime.combine(q.day + timedelta(days=REMIND_DAYS + 1), time(), zone).astimezone(UTC)
    rows = session.execute(
        select(EventRsvp.customer_id, Customer.owner_staff_id, ClubEvent.name,
               ClubEvent.starts_at, Store.timezone)
        .join(ClubEvent, ClubEvent.id == EventRsvp.event_id)
        .join(Customer, Customer.id == EventRsvp.customer_id)
        .outerjoin(Store, Store.id == ClubEvent.store_id)
        .where(EventRsvp.status == "confirmed", EventRsvp.checked_in_at.is_(None),
               ClubEvent.status == "planned", ClubEvent.starts_at >= start,
               ClubEvent.starts_at < end, *q.customer_filter())
        .order_by(ClubEvent.starts_at, EventRsvp.customer_id)
        .limit(q.cap)
    )  # fmt: skip
    for cid, owner, name, starts_at, tz in rows:
        local = starts_at.astimezone(ZoneInfo(tz or q.zone))
        on: date = local.date()
        days = (on - q.day).days
        reason = EVENT_REASONS[min(max(days, 0), 2)]
        yield item(cid, AGENDA_KIND, reason,
                   {"event": name, "time": local.strftime("%H:%M"), "date": on}, on, q.day,
                   owner_staff_id=owner)  # fmt: skip
