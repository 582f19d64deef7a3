"""Attendance counts, engagement scores, the customer page's part and the agenda source."""

from __future__ import annotations

from datetime import timedelta

from guanxi.care.agenda import AgendaQuery
from guanxi.club.checkin import check_in
from guanxi.club.clubs import change_members, save_club
from guanxi.club.engagement import (
    attended_counts,
    club_section,
    compute_engagement,
    engagement_scores,
    event_items,
)
from guanxi.club.rsvp import respond
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.club.conftest import NOW, make_event
from tests.factories import make_customer


def test_the_formula() -> None:
    assert compute_engagement(0, 0) == 0
    assert compute_engagement(4, 2) == 1
    assert compute_engagement(9, 5) == 1
    assert round(compute_engagement(2, 1), 4) == 0.5


def test_attendance_and_engagement(db: Database, manager: StaffMember) -> None:
    fan, member, nobody = make_customer(db), make_customer(db), make_customer(db)
    club = save_club(db, manager, name="茶友会", rule={"invitation": True})
    change_members(db, manager, club.id, add=[fan, member], now=NOW - timedelta(days=30))
    for n in range(2):
        event = make_event(
            db, manager, name=f"讲座{n}", starts_at=NOW - timedelta(days=20 + n), ends_at=None
        )
        check_in(db, manager.id, event, fan, now=NOW - timedelta(days=20 + n))
    with db.read() as s:
        counts = attended_counts(s, [fan, member, nobody], NOW - timedelta(days=365), NOW)
        scores = engagement_scores(s, [fan, member, nobody], NOW)
        section = club_section(s, fan, now=NOW)
    assert counts == {fan: 2, member: 0, nobody: 0}
    assert scores == {fan: 0.5, member: 0.15, nobody: 0.0}
    assert [c["name"] for c in section["clubs"]] == ["茶友会"]
    assert [e.name for e in section["attended"]] == ["讲座0", "讲座1"]
    assert section["engagement"] == 0.5


def test_the_agenda_reminds_the_account_owner_of_tomorrows_guests(
    db: Database, manager: StaffMember, clerk: StaffMember, store: int
) -> None:
    mine = make_customer(db, owner_staff_id=clerk.id, home_store_id=store)
    theirs = make_customer(db, owner_staff_id=manager.id, home_store_id=store)
    tomorrow = make_event(db, manager, starts_at=NOW + timedelta(days=1), ends_at=None)
    later = make_event(
        db, manager, name="年终答谢会", starts_at=NOW + timedelta(days=9), ends_at=None
    )
    for event in (tomorrow, later):
        respond(db, event, mine, "confirm", now=NOW)
        respond(db, event, theirs, "confirm", now=NOW)
    day = NOW.date()
    with db.read() as s:
        items = list(event_items(s, AgendaQuery(day=day, staff_id=clerk.id)))
        upcoming = section_of(s, mine)
    assert [(i.customer_id, i.reason, i.params["event"]) for i in items] == [
        (mine, "Event tomorrow: {event} at {time}. Remind them.", "秋季品茶会")
    ]
    assert items[0].params["time"] == "10:00" and items[0].owner_staff_id == clerk.id
    assert [e.name for e in upcoming] == ["秋季品茶会", "年终答谢会"]


def section_of(session: object, customer_id: int) -> list:  # type: ignore[type-arg]
    return club_section(session, customer_id, now=NOW)["upcoming"]  # type: ignore[arg-type]
