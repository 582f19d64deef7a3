"""Fixtures for the club tests: staff members, a store, events and customers with consent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guanxi.club.events import EventInput, create_event
from guanxi.domain.staff import Role
from guanxi.services.staff import StaffMember, add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, Store

HASHER = make_hasher(cheap=True)
NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def store(db: Database) -> int:
    with db.write() as s:
        row = Store(code="SH01", name="静安店")
        s.add(row)
        s.flush()
        return row.id


@pytest.fixture
def manager(db: Database, store: int) -> StaffMember:
    return add_staff(db, "王经理", Role.MANAGER, hasher=HASHER, store_id=store)


@pytest.fixture
def clerk(db: Database, store: int) -> StaffMember:
    return add_staff(db, "李店员", Role.CLERK, hasher=HASHER, store_id=store)


def make_event(db: Database, actor: StaffMember, **fields: object) -> int:
    """One planned event a week after NOW (fields override)."""
    values: dict[str, object] = {
        "name": "秋季品茶会",
        "starts_at": NOW + timedelta(days=7),
        "ends_at": NOW + timedelta(days=7, hours=2),
        "location": "静安店二楼茶室",
    }
    values.update(fields)
    return create_event(db, actor, EventInput(**values))[0]  # type: ignore[arg-type]


def grant(db: Database, ids: list[int], channel: str = "sms") -> None:
    with db.write() as s:
        s.add_all(
            Consent(
                customer_id=c, channel=channel, is_granted=True, changed_at=NOW, source="counter"
            )
            for c in ids
        )
