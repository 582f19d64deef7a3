"""Answers to an invitation (RSVP): confirm, decline or cancel, with a capacity and a waitlist.

Every answer takes the event's lock (``events.lock_event``) first, then reads the guest's
row, so answers to one event are serial: a confirmation counts the places under the lock and
confirms when there is room, else puts the guest on the waitlist (``waitlist_at`` orders it).
``ClubEvent.confirmed`` is a cache of the confirmed rows, written only here and by check-in,
under that lock. A decline or cancellation of a confirmed place moves the first waitlisted
guest up and queues them a service message (transactional: no marketing consent needed).

Answers are idempotent by state: confirming a confirmed (or waitlisted) place, or declining a
declined one, changes nothing, so a retried request (a double tap, a reload) has the effect
of one. A guest who has checked in keeps their place.

From the public link (``respond_by_link``) the link's use is counted in the same transaction
(``feedback.links.use_link``), so its few uses bound how often a customer changes their answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.care import outbox
from guanxi.care.templating import contexts
from guanxi.club import messages
from guanxi.club.events import lock_event, open_for_answers, zone_of
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.links import LinkView, check_link, use_link
from guanxi.storage.db import Database
from guanxi.storage.models import ClubEvent, Customer, EventRsvp

ANSWERS = ("confirm", "decline", "cancel")
ENDED = ("declined", "cancelled")


@dataclass(frozen=True)
class RsvpResult:
    """A guest's place after an answer, and who moved up from the waitlist because of it."""

    event_id: int
    customer_id: int
    status: str
    changed: bool
    waitlist_position: int | None = None
    promoted: tuple[int, ...] = ()


def _row(session: Session, event_id: int, customer_id: int) -> EventRsvp | None:
    return session.execute(
        select(EventRsvp).where(EventRsvp.event_id == event_id,
                                EventRsvp.customer_id == customer_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()  # fmt: skip


def _position(session: Session, row: EventRsvp) -> int | None:
    if row.status != "waitlisted" or row.waitlist_at is None:
        return None
    ahead = session.execute(
        select(EventRsvp.customer_id)
        .where(EventRsvp.event_id == row.event_id, EventRsvp.status == "waitlisted")
        .order_by(EventRsvp.waitlist_at, EventRsvp.customer_id)
    ).scalars().all()  # fmt: skip
    return ahead.index(row.customer_id) + 1


def _has_room(ev: ClubEvent) -> bool:
    return ev.capacity is None or ev.confirmed < ev.capacity


def answer_in(session: Session, ev: ClubEvent, customer_id: int, answer: str, *,
              now: datetime) -> RsvpResult:  # fmt: skip
    """Record ``answer`` for one guest of the locked event ``ev`` (module docstring)."""
    if answer not in ANSWERS:
        raise InvalidInput(f"an answer is one of {', '.join(ANSWERS)}, not {answer!r}")
    row = _row(session, ev.id, customer_id)
    if row is None:
        row = EventRsvp(event_id=ev.id, customer_id=customer_id, status="invited")
        session.add(row)
    promoted: list[int] = []
    changed = False
    if row.checked_in_at is not None:
        pass  # attended: the place stays
    elif answer == "confirm" and row.status not in ("confirmed", "waitlisted"):
        if _has_room(ev):
            row.status, row.waitlist_at = "confirmed", None
            ev.confirmed += 1
        else:
            row.status, row.waitlist_at = "waitlisted", now
        changed = True
    elif answer != "confirm":
        wanted = "declined" if answer == "decline" else "cancelled"
        if row.status not in ENDED:
            was_confirmed = row.status == "confirmed"
            row.status, row.waitlist_at = wanted, None
            changed = True
            if was_confirmed:
                ev.confirmed -= 1
                session.flush()
                promoted = promote_waitlisted(session, ev, now=now)
    if changed:
        row.responded_at = now
    session.flush()
    return RsvpResult(ev.id, customer_id, row.status, changed, _position(session, row),
                      tuple(promoted))  # fmt: skip


def promote_waitlisted(session: Session, ev: ClubEvent, *, now: datetime) -> list[int]:
    """Move waitlisted guests of the locked event up while there is room (first come first);
    each gets a service message. Returns their ids."""
    moved: list[int] = []
    while _has_room(ev):
        row = session.execute(
            select(EventRsvp).where(EventRsvp.event_id == ev.id, EventRsvp.status == "waitlisted")
            .order_by(EventRsvp.waitlist_at, EventRsvp.customer_id).limit(1)
        ).scalar_one_or_none()  # fmt: skip
        if row is None:
            break
        row.status, row.waitlist_at, row.responded_at = "confirmed", None, now
        ev.confirmed += 1
        moved.append(row.customer_id)
    session.flush()
    if moved:
        _tell_promoted(session, ev, moved, now=now)
    return moved


def _tell_promoted(session: Session, ev: ClubEvent, ids: list[int], *, now: datetime,
                   locale: str = "zh_CN") -> int:  # fmt: skip
    """Queue "your place is confirmed" by SMS to those of ``ids`` with a phone."""
    excluded = outbox.exclusions(session, ids, "sms", now=now, is_marketing=False)
    reachable = [i for i in ids if i not in excluded]
    if not reachable:
        return 0
    zone = zone_of(session, ev.store_id)
    extra = {"event": ev.name, "when": messages.when_text(ev.starts_at, zone, locale),
             "place": ev.location or ""}  # fmt: skip
    values = contexts(session, reachable, locale=locale, now=now)
    drafts = []
    for cid in reachable:
        subject, body = messages.render_text(messages.PROMOTED[locale], {**values[cid], **extra})
        drafts.append(outbox.Draft(cid, "sms", subject, body, f"event:{ev.id}:{cid}:promoted",
                                   is_marketing=False))  # fmt: skip
    return outbox.queue(session, drafts, now=now)


def respond(db: Database, event_id: int, customer_id: int, answer: str, *, now: datetime,
            scope: int | None = None) -> RsvpResult:  # fmt: skip
    """Staff record a customer's answer (e.g. on the phone); customers in ``scope`` only."""
    with db.write() as session:
        ev = lock_event(session, event_id)
        customer = session.get(Customer, customer_id)
        if (
            customer is None
            or customer.erased_at is not None
            or (
                scope is not None
                and customer.home_store_id != scope
                and _row(session, event_id, customer_id) is None
            )
        ):
            raise NotFound(f"customer {customer_id} does not exist")
        if not open_for_answers(ev, now):
            raise Conflict(f"event {ev.name!r} is {ev.status} or over: it takes no answers")
        return answer_in(session, ev, customer_id, answer, now=now)


@dataclass(frozen=True)
class LinkPage:
    """What the public RSVP page shows: the event and the guest's place (no personal data)."""

    link: LinkView
    event: ClubEvent
    status: str | None
    can_answer: bool
    zone: str  # the event store's time zone


def link_page(db: Database, token: str, *, now: datetime) -> LinkPage:
    """The event and place a link names (LinkRefused when it is not valid; a used-up link is
    shown without buttons)."""
    with db.read() as session:
        view = check_link(session, token, now=now, purpose="rsvp", allow_used=True)
        ev = session.get(ClubEvent, view.event_id or 0)
        if ev is None or view.customer_id is None:
            raise NotFound("the event of this link does not exist")
        row = _row(session, ev.id, view.customer_id)
        zone = zone_of(session, ev.store_id)
        session.expunge(ev)
    can = view.uses < view.max_uses and open_for_answers(ev, now)
    return LinkPage(view, ev, row.status if row else None, can, zone)


def respond_by_link(db: Database, token: str, answer: str, *, now: datetime) -> RsvpResult:
    """The customer's own answer through their link: one use of it, one answer."""
    with db.write() as session:
        view = use_link(session, token, now=now, purpose="rsvp")
        if view.event_id is None or view.customer_id is None:
            raise NotFound("the event of this link does not exist")
        ev = lock_event(session, view.event_id)
        if not open_for_answers(ev, now):
            raise Conflict("the event is cancelled or over: it takes no answers")
        return answer_in(session, ev, view.customer_id, answer, now=now)
