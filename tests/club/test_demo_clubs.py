"""The demo's clubs and events: built on a small demo shop, deterministic, consistent."""

from __future__ import annotations

from sqlalchemy import func, select

from guanxi.services.demo import DEMO_END, build_demo, start_points_programme
from guanxi.services.demo.clubs import build_clubs
from guanxi.services.demo.loyalty import start_loyalty
from guanxi.storage.db import Database
from guanxi.storage.models import ClubEvent, EventRsvp


def test_the_demo_has_clubs_past_attendance_and_a_waitlist(sqlite_db: Database) -> None:
    db = sqlite_db
    build_demo(db, seed=7, customers=300)
    start_points_programme(db, DEMO_END)
    start_loyalty(db, DEMO_END, seed=7)
    made = build_clubs(db, DEMO_END, seed=7)
    assert made.clubs == 3 and made.members > 0
    assert made.events == 14 and made.past_events == 7
    assert made.check_ins > 0 and made.points > 0  # credited through the ledger
    assert made.confirmed > 0 and made.waitlisted > 0
    with db.read() as s:
        for event in s.execute(select(ClubEvent)).scalars():
            confirmed = s.execute(
                select(func.count()).where(
                    EventRsvp.event_id == event.id, EventRsvp.status == "confirmed"
                )
            ).scalar_one()
            assert event.confirmed == confirmed  # the cache agrees
        done = s.execute(select(func.count()).where(ClubEvent.status == "done")).scalar_one()
    assert done == made.past_events
    assert [row[0] for row in made.rows()] == ["Clubs", "Member events", "Upcoming RSVPs"]
