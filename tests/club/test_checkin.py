"""Check-in: once per guest, points once through the ledger, walk-ins, search by phone tail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from guanxi.club.checkin import check_in, find_guests, guest_list
from guanxi.club.rsvp import respond
from guanxi.loyalty import ledger
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, LoyaltyProgram, PointsEntry
from tests.club.conftest import NOW, make_event
from tests.factories import make_customer


def _programme(db: Database) -> None:
    with db.write() as s:
        s.add(LoyaltyProgram(rules={}, points_valid_months=24))


def test_a_guest_is_checked_in_once_and_earns_the_points_once(
    db: Database, manager: StaffMember, clerk: StaffMember, store: int
) -> None:
    _programme(db)
    event = make_event(db, manager, attendance_points=50, store_id=store)
    guest = make_customer(db, home_store_id=store)
    respond(db, event, guest, "confirm", now=NOW)
    at = NOW + timedelta(days=7, minutes=5)
    first = check_in(db, clerk.id, event, guest, now=at, scope=store)
    assert (first.first_time, first.walk_in, first.points) == (True, False, 50)
    again = check_in(db, clerk.id, event, guest, now=at + timedelta(minutes=1), scope=store)
    assert (again.first_time, again.points, again.checked_in_at) == (False, 0, at)
    assert ledger.balance(db, guest) == 50
    with db.read() as s:
        entry = s.execute(select(PointsEntry).where(PointsEntry.customer_id == guest)).scalar_one()
        audits = (
            s.execute(select(AuditEntry.detail).where(AuditEntry.action == "event.checked_in"))
            .scalars()
            .all()
        )
    assert entry.idempotency_key == f"event:{event}:{guest}:attendance"
    assert entry.expires_on is not None and entry.expires_on.year == 2028
    assert len(audits) == 1 and audits[0]["customer_id"] == guest


def test_no_points_without_a_programme(
    db: Database, manager: StaffMember, clerk: StaffMember, store: int
) -> None:
    event = make_event(db, manager, attendance_points=50)
    guest = make_customer(db, home_store_id=store)
    assert check_in(db, clerk.id, event, guest, now=NOW, scope=store).points == 0
    assert ledger.balance(db, guest) == 0


def test_a_walk_in_over_capacity_is_let_in_and_said_so(
    db: Database, manager: StaffMember, clerk: StaffMember, store: int
) -> None:
    event = make_event(db, manager, capacity=1)
    guest, walk_in = make_customer(db, home_store_id=store), make_customer(db, home_store_id=store)
    waiting = make_customer(db)  # another store's customer, on the guest list
    respond(db, event, guest, "confirm", now=NOW)
    respond(db, event, waiting, "confirm", now=NOW)
    came = check_in(db, clerk.id, event, walk_in, now=NOW, scope=store)
    assert (came.walk_in, came.over_capacity) == (True, True)
    assert check_in(db, clerk.id, event, waiting, now=NOW, scope=store).over_capacity
    with db.read() as s:
        rows = {g.customer_id: g.status for g in guest_list(s, event)}
    assert rows == {guest: "confirmed", walk_in: "confirmed", waiting: "confirmed"}
    stranger = make_customer(db)  # another store's, not on the list: not the clerk's to add
    with pytest.raises(Exception, match="does not exist"):
        check_in(db, clerk.id, event, stranger, now=NOW, scope=store)


def test_the_door_finds_guests_by_phone_tail_or_name(
    db: Database, manager: StaffMember, store: int
) -> None:
    event = make_event(db, manager)
    guest = make_customer(db, name="王芳", phone="+8613800004321", home_store_id=store)
    other = make_customer(db, name="王强", phone="+8613900004321", home_store_id=store)
    make_customer(db, name="王五", phone="+8613900009999")  # another store
    respond(db, event, guest, "confirm", now=NOW)
    with db.read() as s:
        listed, walk_ins = find_guests(s, event, "4321", scope=store)
        by_name = find_guests(s, event, "王", scope=store)
        by_pinyin = find_guests(s, event, "wangf", scope=store)
        nothing = find_guests(s, event, " ", scope=store)
        wildcards = [find_guests(s, event, typed) for typed in ("%", "_", "王%", "\\")]
    assert [(g.customer_id, g.status) for g in listed] == [(guest, "confirmed")]
    assert [g.customer_id for g in walk_ins] == [other]
    assert [g.customer_id for g in by_name[0]] == [guest]
    assert [g.customer_id for g in by_name[1]] == [other]
    assert [g.customer_id for g in by_pinyin[0]] == [guest]
    assert nothing == ([], [])
    assert wildcards == [([], [])] * 4  # typed '%' or '_' is text, not a LIKE wildcard
