"""Points for purchases: earned with the purchase, once, under the shop's programme."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.domain.dates import add_months
from guanxi.domain.staff import Role
from guanxi.errors import InvalidInput, NotAllowed
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import Programme, programme, save_programme
from guanxi.loyalty.rules import Bonus, EarningProgram, Multiplier
from guanxi.services.purchases import (
    CustomerRef,
    LineInput,
    PurchaseInput,
    record_purchase,
)
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, PointsEntry, Staff, Store


def _owner(db: Database) -> StaffMember:
    with db.write() as session:
        staff = Staff(name="Owner", role="owner")
        session.add(staff)
        session.flush()
        return StaffMember(staff.id, "Owner", Role.OWNER, None, None, None)


def _store(db: Database) -> int:
    with db.write() as session:
        store = Store(code="S1", name="S1")
        session.add(store)
        session.flush()
        return store.id


Item = tuple[str, str, str | None]  # sku, amount, category


def _purchase(order: str, *lines: Item, store: int, at: str = "2026-09-17T10:00") -> PurchaseInput:
    return PurchaseInput(
        external_order_id=order,
        customer=CustomerRef(phone="+8613812345678", name="张三"),
        purchased_at=datetime.fromisoformat(at),
        lines=tuple(
            LineInput(sku=sku, amount=Decimal(amount), category=category)
            for sku, amount, category in lines
        ),  # fmt: skip
        store_id=store,
    )


def test_a_purchase_earns_under_the_programme_once(db: Database) -> None:
    store = _store(db)
    owner = _owner(db)
    save_programme(db, owner, Programme(
        EarningProgram(multipliers=(Multiplier("category", Decimal(2), "普洱"),),
                       bonuses=(Bonus("first_purchase", 100),)),
        points_valid_months=12,
    ))  # fmt: skip
    first = record_purchase(db, _purchase("A1", ("p1", "120.50", "普洱"), ("c1", "30", None),
                                          store=store), store_scope=None)  # fmt: skip
    assert first.points is not None
    assert (first.points.points, first.points.balance) == (241 + 30 + 100, 371)
    assert first.points.expires_on == date(2027, 9, 17)
    assert [r.render() for r in first.points.reasons][-1] == "Earned: 371 points."
    again = record_purchase(db, _purchase("A1", ("p1", "120.50", "普洱"), ("c1", "30", None),
                                          store=store), store_scope=None)  # fmt: skip
    assert again.replayed and again.points is not None
    assert (again.points.points, again.points.balance, again.points.replayed) == (371, 371, True)
    second = record_purchase(db, _purchase("A2", ("c1", "50", None), store=store),
                             store_scope=None)  # fmt: skip
    assert second.points is not None and (second.points.points, second.points.balance) == (50, 421)
    customer = first.purchase.customer_id
    assert ledger.balance(db, customer) == 421
    assert ledger.check_balances(db) == []
    with db.read() as session:
        actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert actions == ["loyalty.programme_changed"]


def test_a_zero_purchase_earns_nothing_and_the_default_programme_applies(db: Database) -> None:
    store = _store(db)
    with db.read() as session:
        assert programme(session) == Programme(EarningProgram())
    free = record_purchase(db, _purchase("Z", ("gift", "0", None), store=store), store_scope=None)
    assert free.points is None
    paid = record_purchase(db, _purchase("P", ("tea", "9.99", None), store=store), store_scope=None)
    assert paid.points is not None and paid.points.points == 9
    assert paid.points.expires_on == date(2028, 9, 17)  # 24 months by default


def test_only_the_owner_changes_the_programme(db: Database) -> None:
    with db.write() as session:
        staff = Staff(name="M", role="manager")
        session.add(staff)
        session.flush()
        manager = StaffMember(staff.id, "M", Role.MANAGER, None, None, None)
    with pytest.raises(NotAllowed):
        save_programme(db, manager, Programme(EarningProgram()))
    with pytest.raises(InvalidInput, match="between 1 and 120"):
        save_programme(db, _owner(db), Programme(EarningProgram(), points_valid_months=0))


def test_the_same_order_posted_concurrently_earns_once(db: Database) -> None:
    store = _store(db)
    errors: list[BaseException] = []
    results = []

    def post() -> None:
        try:
            results.append(
                record_purchase(
                    db, _purchase("RACE", ("tea", "88", None), store=store), store_scope=None
                )
            )
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)  # fmt: skip

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(not r.replayed for r in results) == 1
    assert {r.points.points for r in results if r.points} == {88}
    with db.read() as session:
        earned = session.execute(select(func.count()).select_from(PointsEntry)).scalar_one()
    assert earned == 1
    assert ledger.check_balances(db) == []


def test_add_months_keeps_the_day_or_takes_the_last_one() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 23), 24) == date(2028, 11, 23)
    assert add_months(date(2026, 3, 31), -13) == date(2025, 2, 28)


def test_a_first_programme_that_never_expires_is_stored_as_never(db: Database) -> None:
    store = _store(db)
    save_programme(db, _owner(db), Programme(EarningProgram(), points_valid_months=None))
    with db.read() as session:
        assert programme(session).points_valid_months is None
    paid = record_purchase(db, _purchase("N", ("tea", "10", None), store=store), store_scope=None)
    assert paid.points is not None and paid.points.expires_on is None
