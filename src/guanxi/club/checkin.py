"""Check-in at the door (签到): find the guest by the last 4 digits of the phone or the name,
or take a walk-in, and record that they came; attendance points are awarded once.

``check_in`` takes the event's lock, sets ``checked_in_at`` once (a second check-in of the same
guest changes nothing and says so), confirms the place of a guest who was invited, waitlisted
or had declined, and of a walk-in (no RSVP at all), even beyond the capacity: whoever stands at
the door is let in, and ``over_capacity`` tells the clerk the room is over full. It is audited
(EVENT_CHECKED_IN) and posts the event's ``attendance_points`` through the points ledger with
the idempotency key ``event:<event>:<customer>:attendance``, so the points are credited once
whatever happens. No points while the shop has no points programme (no ``loyalty_program``
row: the owner never set one up) or when the event gives none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from guanxi.club.events import lock_event, zone_of
from guanxi.domain.dates import add_months
from guanxi.errors import Conflict, NotFound
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import programme
from guanxi.services import audit
from guanxi.services.customers import like_prefix  # the escaped LIKE of customer search
from guanxi.storage.db import Database
from guanxi.storage.models import ClubEvent, Customer, EventRsvp, LoyaltyProgram

SOURCE = "event"
GUEST_STATUSES = ("invited", "confirmed", "waitlisted")
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class CheckIn:
    """The outcome of a check-in."""

    event_id: int
    customer_id: int
    checked_in_at: datetime
    first_time: bool  # False: checked in before, nothing changed
    walk_in: bool  # not on the guest list
    over_capacity: bool  # the confirmed places now exceed the capacity
    points: int  # attendance points credited by this check-in


@dataclass(frozen=True)
class Guest:
    """A customer found at the door: on the guest list (``status``) or a possible walk-in."""

    customer_id: int
    name: str
    phone: str | None
    owner_staff_id: int | None
    status: str | None  # None: not on the guest list
    checked_in_at: datetime | None


def _points_on(session: Session) -> bool:
    return session.execute(select(LoyaltyProgram.id).limit(1)).first() is not None


def _award(session: Session, ev: ClubEvent, customer_id: int, actor_id: int | None,
           now: datetime) -> int:  # fmt: skip
    if ev.attendance_points <= 0 or not _points_on(session):
        return 0
    months = programme(session).points_valid_months
    day = now.astimezone(ZoneInfo(zone_of(session, ev.store_id))).date()
    posted = ledger.earn(
        session, customer_id, ev.attendance_points, source_type=SOURCE, source_id=ev.id,
        expires_on=None if months is None else add_months(day, months),
        reason=f"attended event {ev.id}", explanation={"event_id": ev.id, "name": ev.name},
        idempotency_key=f"event:{ev.id}:{customer_id}:attendance", actor_id=actor_id,
    )  # fmt: skip
    return 0 if posted.replayed else ev.attendance_points


def check_in(db: Database, actor_id: int | None, event_id: int, customer_id: int, *,
             now: datetime, scope: int | None = None) -> CheckIn:  # fmt: skip
    """Check a guest or a walk-in in (module docstring). A walk-in must be a customer in
    ``scope``; a guest on the list may be from any store."""
    with db.write() as session:
        ev = lock_event(session, event_id)
        if ev.status == "cancelled":
            raise Conflict(f"event {ev.name!r} is cancelled: nobody checks in")
        row = session.execute(
            select(EventRsvp).where(EventRsvp.event_id == event_id,
                                    EventRsvp.customer_id == customer_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()  # fmt: skip
        customer = session.get(Customer, customer_id)
        if (
            customer is None
            or customer.erased_at is not None
            or (row is None and scope is not None and customer.home_store_id != scope)
        ):
            raise NotFound(f"customer {customer_id} does not exist")
        if row is not None and row.checked_in_at is not None:
            return CheckIn(event_id, customer_id, row.checked_in_at, False, False,
                           ev.capacity is not None and ev.confirmed > ev.capacity, 0)  # fmt: skip
        walk_in = row is None
        if row is None:
            row = EventRsvp(event_id=event_id, customer_id=customer_id, status="invited")
            session.add(row)
        if row.status != "confirmed":
            row.status, row.waitlist_at, row.responded_at = "confirmed", None, now
            ev.confirmed += 1
        row.checked_in_at, row.checked_in_by_staff_id = now, actor_id
        session.flush()
        over = ev.capacity is not None and ev.confirmed > ev.capacity
        points = _award(session, ev, customer_id, actor_id, now)
        audit.record(session, audit.Action.EVENT_CHECKED_IN, actor_id=actor_id,
                     target_type="event", target_id=event_id,
                     detail={"customer_id": customer_id, "walk_in": walk_in,
                             "over_capacity": over, "points": points})  # fmt: skip
        return CheckIn(event_id, customer_id, now, True, walk_in, over, points)


def _matches(query: str) -> list[ColumnElement[bool]]:
    q = query.strip()
    if q.isdigit() and len(q) == 4:
        return [Customer.phone_last4 == q]
    if q.isdigit():
        return [Customer.phone.like(f"%{q}")]
    low = q.lower()  # typed text: '%' and '_' match themselves, not every name
    return [or_(like_prefix(Customer.name, q), like_prefix(Customer.name_pinyin, low),
                like_prefix(Customer.name_initials, low))]  # fmt: skip


def find_guests(session: Session, event_id: int, query: str, *, scope: int | None = None,
                limit: int = SEARCH_LIMIT) -> tuple[list[Guest], list[Guest]]:  # fmt: skip
    """(guests on the list, possible walk-ins in ``scope``) matching a phone tail or a name."""
    if not query.strip():
        return [], []
    where = _matches(query)
    listed = [
        Guest(cid, name, phone, owner, status, at)
        for cid, name, phone, owner, status, at in session.execute(
            select(Customer.id, Customer.name, Customer.phone, Customer.owner_staff_id,
                   EventRsvp.status, EventRsvp.checked_in_at)
            .join(EventRsvp, EventRsvp.customer_id == Customer.id)
            .where(EventRsvp.event_id == event_id, Customer.erased_at.is_(None), *where,
                   or_(EventRsvp.status.in_(GUEST_STATUSES), EventRsvp.checked_in_at.is_not(None)))
            .order_by(Customer.name, Customer.id).limit(limit)
        )
    ]  # fmt: skip
    on_list = select(EventRsvp.customer_id).where(EventRsvp.event_id == event_id)
    stmt = (select(Customer.id, Customer.name, Customer.phone, Customer.owner_staff_id)
            .where(Customer.erased_at.is_(None), Customer.id.not_in(on_list), *where)
            .order_by(Customer.name, Customer.id).limit(limit))  # fmt: skip
    if scope is not None:
        stmt = stmt.where(Customer.home_store_id == scope)
    walk_ins = [Guest(cid, name, phone, owner, None, None)
                for cid, name, phone, owner in session.execute(stmt)]  # fmt: skip
    return listed, walk_ins


def guest_list(session: Session, event_id: int, *, limit: int = 1000) -> list[Guest]:
    """Everyone on an event's list, checked-in and confirmed first, then the waitlist."""
    order = {"confirmed": 0, "waitlisted": 1, "invited": 2, "declined": 3, "cancelled": 4}
    rows = [
        Guest(cid, name, phone, owner, status, at)
        for cid, name, phone, owner, status, at in session.execute(
            select(Customer.id, Customer.name, Customer.phone, Customer.owner_staff_id,
                   EventRsvp.status, EventRsvp.checked_in_at)
            .join(EventRsvp, EventRsvp.customer_id == Customer.id)
            .where(EventRsvp.event_id == event_id)
            .order_by(EventRsvp.waitlist_at, Customer.id).limit(limit)
        )
    ]  # fmt: skip
    return sorted(rows, key=lambda g: (g.checked_in_at is None, order.get(g.status or "", 9)))
