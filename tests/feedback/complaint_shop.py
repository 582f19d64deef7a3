"""A small shop for the complaint tests: two stores, an owner, a manager and a clerk each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from guanxi.domain.staff import Role
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import CouponCampaign, Purchase, Staff, Store


@dataclass
class Shop:
    a: int
    b: int
    owner: int
    manager_a: int
    clerk_a: int
    manager_b: int
    clerk_b: int

    def member(self, staff_id: int) -> StaffMember:
        role = {self.owner: Role.OWNER, self.manager_a: Role.MANAGER,
                self.manager_b: Role.MANAGER}.get(staff_id, Role.CLERK)  # fmt: skip
        store = None if staff_id == self.owner else (
            self.a if staff_id in (self.manager_a, self.clerk_a) else self.b
        )  # fmt: skip
        return StaffMember(staff_id, f"staff {staff_id}", role, store, None, None)


def make_shop(db: Database) -> Shop:
    with db.write() as s:
        a, b = Store(code="A", name="南京路店"), Store(code="B", name="淮海路店")
        s.add_all([a, b])
        s.flush()
        people = [
            Staff(name="老板", role="owner", store_id=None),
            Staff(name="店长甲", role="manager", store_id=a.id),
            Staff(name="店员甲", role="clerk", store_id=a.id),
            Staff(name="店长乙", role="manager", store_id=b.id),
            Staff(name="店员乙", role="clerk", store_id=b.id),
        ]
        s.add_all(people)
        s.flush()
        return Shop(a.id, b.id, *(p.id for p in people))


def make_campaign(db: Database, name: str = "致歉券") -> int:
    with db.write() as s:
        row = CouponCampaign(name=name, kind="fixed", value=Decimal("20"), is_active=True)
        s.add(row)
        s.flush()
        return row.id


_orders = iter(range(1, 10**9))


def make_purchase(db: Database, customer_id: int, store_id: int, at: datetime) -> int:
    with db.write() as s:
        row = Purchase(store_id=store_id, external_order_id=f"T{next(_orders)}",
                       customer_id=customer_id, purchased_at=at,
                       total_amount=Decimal("100"))  # fmt: skip
        s.add(row)
        s.flush()
        return row.id
