"""A clerk at the door: opens an event's check-in page, finds a guest by the last 4 digits of
the phone, checks them in and sees them checked in (HTMX, phone-sized screen)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from guanxi.cli.demo import DEMO_PASSWORD
from guanxi.club.events import EventInput, create_event
from guanxi.club.rsvp import respond
from guanxi.services.staff import list_staff
from guanxi.storage.db import Database
from guanxi.storage.models import Customer


@pytest.fixture(scope="module")
def club_server(server: str) -> str:
    """The served demo shop (``guanxi serve``), which has the clubs and events pages."""
    return server


def _guest(server_db: Path) -> tuple[int, int, str]:
    """An event today in clerk1's store with one confirmed guest: (event, customer, name)."""
    db = Database(f"sqlite:///{server_db}")
    try:
        staff = list_staff(db)
        clerk = next(m for m in staff if m.username == "clerk1")
        manager = next(m for m in staff if m.role.value in ("manager", "owner"))
        with db.write() as s:
            guest = Customer(name="门口签到测试", phone="+8613712349876", phone_last4="9876",
                             home_store_id=clerk.store_id, custom_fields={})  # fmt: skip
            s.add(guest)
            s.flush()
            guest_id = guest.id
            assert s.execute(select(Customer.id).where(Customer.phone_last4 == "9876")).all()
        start = datetime.now(UTC) + timedelta(hours=1)
        event = create_event(db, manager, EventInput(
            name="门口签到品茶会", starts_at=start, ends_at=start + timedelta(hours=2),
            store_id=clerk.store_id, location="一楼茶室", attendance_points=20,
        ))[0]  # fmt: skip
        respond(db, event, guest_id, "confirm", now=datetime.now(UTC))
        return event, guest_id, "门口签到测试"
    finally:
        db.dispose()


def test_a_clerk_checks_a_guest_in_by_phone_tail(
    page: Any, club_server: str, server_db: Path
) -> None:
    event, guest, name = _guest(server_db)
    page.goto(f"{club_server}/login")
    page.fill("input[name=username]", "clerk1")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{club_server}/agenda")
    page.goto(f"{club_server}/events/{event}/check-in")
    # typing searches by itself (300 ms after the last key); clicking Search as well would
    # send a second search whose answer can land after the check-in's and hide its notice
    page.fill("[data-testid=checkin-search]", "9876")
    row = page.locator(f"[data-testid=guest][data-customer='{guest}']")
    row.wait_for()
    assert name in row.inner_text()
    assert "9876" in row.inner_text() and "137****9876" in row.inner_text()  # masked
    row.locator("[data-testid=checkin-button]").click()
    page.locator("[data-testid=checked-in-notice]").wait_for()
    checked = page.locator(f"[data-testid=guest][data-customer='{guest}'][data-checked-in=true]")
    checked.wait_for()
    assert checked.locator("[data-testid=checked-in]").count() == 1
    page.goto(f"{club_server}/events/{event}")
    assert page.locator("[data-testid=checked-in]").inner_text() == "1"
