"""RSVP: capacity under concurrency, the waitlist moves up, answers are idempotent, links."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from guanxi.club.events import EventInput, set_status, update_event
from guanxi.club.rsvp import link_page, respond, respond_by_link
from guanxi.errors import Conflict
from guanxi.feedback.links import LinkRefused, issue_link
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import ClubEvent, Customer, EventRsvp, Message
from tests.club.conftest import NOW, make_event
from tests.factories import make_customer


def _statuses(db: Database, event: int) -> dict[str, int]:
    with db.read() as s:
        rows = s.execute(
            select(EventRsvp.status, func.count())
            .where(EventRsvp.event_id == event)
            .group_by(EventRsvp.status)
        ).all()
    return {k: int(n) for k, n in rows}


def _confirmed_cache(db: Database, event: int) -> int:
    with db.read() as s:
        row = s.get(ClubEvent, event)
        assert row is not None
        return row.confirmed


def test_a_hundred_guests_at_once_fill_twenty_places_and_wait_for_the_rest(
    db: Database, manager: StaffMember
) -> None:
    event = make_event(db, manager, capacity=20)
    with db.write() as s:
        customers = [Customer(name=f"客{n}", phone=f"+8613700{n:06d}") for n in range(100)]
        s.add_all(customers)
        s.flush()
        ids = [c.id for c in customers]
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def worker(chunk: list[int]) -> None:
        try:
            start.wait()
            for cid in chunk:
                respond(db, event, cid, "confirm", now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(ids[n::20],)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _statuses(db, event) == {"confirmed": 20, "waitlisted": 80}
    assert _confirmed_cache(db, event) == 20
    with db.read() as s:
        queue = (
            s.execute(
                select(EventRsvp.waitlist_at).where(
                    EventRsvp.event_id == event, EventRsvp.status == "waitlisted"
                )
            )
            .scalars()
            .all()
        )
    assert all(at is not None for at in queue)


def test_a_freed_place_goes_to_the_first_on_the_waitlist_who_is_told(
    db: Database, manager: StaffMember
) -> None:
    event = make_event(db, manager, capacity=2)
    a, b, c, d = (make_customer(db) for _ in range(4))
    assert respond(db, event, a, "confirm", now=NOW).status == "confirmed"
    assert respond(db, event, b, "confirm", now=NOW).status == "confirmed"
    third = respond(db, event, c, "confirm", now=NOW + timedelta(minutes=1))
    fourth = respond(db, event, d, "confirm", now=NOW + timedelta(minutes=2))
    assert (third.status, third.waitlist_position) == ("waitlisted", 1)
    assert fourth.waitlist_position == 2
    freed = respond(db, event, a, "decline", now=NOW + timedelta(hours=1))
    assert (freed.status, freed.promoted) == ("declined", (c,))
    assert _statuses(db, event) == {"confirmed": 2, "declined": 1, "waitlisted": 1}
    assert _confirmed_cache(db, event) == 2
    with db.read() as s:
        told = s.execute(select(Message).where(Message.customer_id == c)).scalar_one()
    assert told.is_marketing is False and told.dedupe_key == f"event:{event}:{c}:promoted"
    assert "秋季品茶会" in told.body
    # more room moves the rest up
    update_event(
        db,
        manager,
        event,
        EventInput(name="秋季品茶会", capacity=5, starts_at=NOW + timedelta(days=7)),
    )
    assert _statuses(db, event) == {"confirmed": 3, "declined": 1}


def test_answers_are_idempotent(db: Database, manager: StaffMember) -> None:
    event = make_event(db, manager, capacity=1)
    a, b = make_customer(db), make_customer(db)
    assert respond(db, event, a, "confirm", now=NOW).changed
    again = respond(db, event, a, "confirm", now=NOW)
    assert (again.changed, again.status) == (False, "confirmed")
    respond(db, event, b, "confirm", now=NOW)
    assert respond(db, event, b, "confirm", now=NOW).status == "waitlisted"  # still in the queue
    respond(db, event, a, "cancel", now=NOW)
    assert not respond(db, event, a, "cancel", now=NOW).changed
    assert _statuses(db, event) == {"confirmed": 1, "cancelled": 1}
    assert _confirmed_cache(db, event) == 1
    with db.read() as s:  # b moved up exactly once
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 1


def test_answers_through_the_link(db: Database, manager: StaffMember) -> None:
    event = make_event(db, manager)
    cid = make_customer(db)
    with db.write() as s:
        token = issue_link(s, "rsvp", cid, now=NOW, max_uses=2, event_id=event)
        wrong = issue_link(s, "survey", cid, now=NOW)
    page = link_page(db, token, now=NOW)
    assert (page.status, page.can_answer, page.event.name) == (None, True, "秋季品茶会")
    assert respond_by_link(db, token, "confirm", now=NOW).status == "confirmed"
    assert respond_by_link(db, token, "decline", now=NOW).status == "declined"
    with pytest.raises(LinkRefused) as used:
        respond_by_link(db, token, "confirm", now=NOW)
    assert used.value.reason == "used"
    assert link_page(db, token, now=NOW).can_answer is False  # shown, without buttons
    with pytest.raises(LinkRefused) as purpose:
        respond_by_link(db, wrong, "confirm", now=NOW)
    assert purpose.value.reason == "wrong_purpose"
    with pytest.raises(LinkRefused) as expired:
        link_page(db, token, now=NOW + timedelta(days=400))
    assert expired.value.reason == "expired"


def test_a_cancelled_event_takes_no_answers_and_the_link_keeps_its_use(
    db: Database, manager: StaffMember
) -> None:
    event = make_event(db, manager)
    cid = make_customer(db)
    with db.write() as s:
        token = issue_link(s, "rsvp", cid, now=NOW, max_uses=1, event_id=event)
    set_status(db, manager, event, "cancelled")
    with pytest.raises(Conflict):
        respond_by_link(db, token, "confirm", now=NOW)
    assert link_page(db, token, now=NOW).link.uses == 0
    with pytest.raises(Conflict):
        respond(db, event, cid, "confirm", now=NOW)
