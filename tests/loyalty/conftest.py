"""Fixtures for the points ledger tests: a customer and one staff member of each role."""

from __future__ import annotations

import pytest

from guanxi.domain.staff import Role
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Staff
from tests.factories import make_customer


@pytest.fixture
def customer(db: Database) -> int:
    return make_customer(db)


@pytest.fixture
def staff(db: Database) -> dict[Role, StaffMember]:
    members: dict[Role, StaffMember] = {}
    with db.write() as session:
        for role in Role:
            row = Staff(name=f"{role.value} 王", role=role.value)
            session.add(row)
            session.flush()
            members[role] = StaffMember(row.id, row.name, role, None, None, None)
    return members
