"""Events: recurrence (a year of occurrences), editing one or the series, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from guanxi.club.events import (
    EventInput,
    create_event,
    get_event,
    list_events,
    occurrence_starts,
    set_status,
    update_event,
)
from guanxi.club.rsvp import respond
from guanxi.errors import Conflict, InvalidInput
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.club.conftest import NOW, make_event
from tests.factories import make_customer

SH = ZoneInfo("Asia/Shanghai")


def test_occurrences_keep_the_local_day_and_time() -> None:
    first = datetime(2027, 1, 31, 19, 30, tzinfo=SH)
    monthly = occurrence_starts(first, "monthly")
    assert len(monthly) == 12
    local = [s.astimezone(SH) for s in monthly]
    assert [d.day for d in local[:3]] == [31, 28, 31]  # the last day of a shorter month
    assert {(d.hour, d.minute) for d in local} == {(19, 30)}
    assert len(occurrence_starts(first, "quarterly")) == 4
    assert len(occurrence_starts(first, "yearly")) == 1
    assert occurrence_starts(first, "none") == [first]
    with pytest.raises(InvalidInput):
        occurrence_starts(first, "weekly")


def test_a_monthly_series_gets_a_year_of_occurrences(
    db: Database, manager: StaffMember, store: int
) -> None:
    ids = create_event(
        db,
        manager,
        EventInput(
            name="月度品茶会",
            starts_at=datetime(2026, 11, 20, 19, 0, tzinfo=SH),
            ends_at=datetime(2026, 11, 20, 21, 0, tzinfo=SH),
            store_id=store,
            capacity=20,
            recurrence="monthly",
            kind="lecture",
            attendance_points=50,
        ),
    )
    assert len(ids) == 12
    with db.read() as s:
        events = list_events(s, since=NOW)
    assert [e.id for e in events] == ids
    assert {e.series_id for e in events} == {ids[0]}
    assert all(
        e.ends_at is not None and e.ends_at - e.starts_at == timedelta(hours=2) for e in events
    )
    assert events[-1].local_day().isoformat() == "2027-10-20"


def test_editing_the_series_moves_this_and_later_occurrences_only(
    db: Database, manager: StaffMember, store: int
) -> None:
    start = datetime(2026, 11, 20, 19, 0, tzinfo=SH)
    ids = create_event(
        db,
        manager,
        EventInput(name="月度品茶会", starts_at=start, store_id=store, recurrence="monthly"),
    )
    with db.read() as s:
        third = get_event(s, ids[2])
    changed = update_event(
        db,
        manager,
        ids[2],
        EventInput(
            name="月度品茶会（新址）",
            starts_at=third.starts_at + timedelta(hours=1),
            store_id=store,
            location="新茶室",
            capacity=30,
        ),
        series=True,
    )
    assert changed == ids[2:]
    with db.read() as s:
        before, after = get_event(s, ids[1]), get_event(s, ids[5])
    assert before.name == "月度品茶会" and before.starts_at.astimezone(SH).hour == 19
    assert after.name == "月度品茶会（新址）" and after.starts_at.astimezone(SH).hour == 20
    assert after.capacity == 30 and after.location == "新茶室"
    assert update_event(
        db, manager, ids[0], EventInput(name="首场", starts_at=start, store_id=store)
    ) == [ids[0]]


def test_cancelling_one_or_the_rest_of_a_series(db: Database, manager: StaffMember) -> None:
    ids = create_event(
        db,
        manager,
        EventInput(name="季度讲座", recurrence="quarterly", starts_at=NOW + timedelta(days=3)),
    )
    assert set_status(db, manager, ids[1], "cancelled") == [ids[1]]
    assert set_status(db, manager, ids[1], "cancelled") == []  # nothing more to do
    assert set_status(db, manager, ids[2], "cancelled", series=True) == ids[2:]
    with db.read() as s:
        assert [e.status for e in list_events(s)] == [
            "planned",
            "cancelled",
            "cancelled",
            "cancelled",
        ]


def test_a_capacity_below_the_confirmed_guests_is_refused(
    db: Database, manager: StaffMember
) -> None:
    event = make_event(db, manager, capacity=3)
    guests = [make_customer(db) for _ in range(3)]
    for g in guests:
        respond(db, event, g, "confirm", now=NOW)
    with pytest.raises(Conflict):
        update_event(
            db,
            manager,
            event,
            EventInput(name="秋季品茶会", capacity=2, starts_at=NOW + timedelta(days=7)),
        )


def test_bad_events_are_refused(db: Database, manager: StaffMember) -> None:
    for fields in (
        {"kind": "party"},
        {"capacity": 0},
        {"attendance_points": -1},
        {"ends_at": NOW},
        {"name": " "},
        {"starts_at": datetime(2027, 1, 1)},
    ):
        with pytest.raises(InvalidInput):
            make_event(db, manager, **fields)
    assert datetime.now(UTC) > NOW - timedelta(days=365 * 10)  # NOW is a plausible moment
