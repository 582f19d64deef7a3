"""Member tiers: validation, upgrades on purchase, refunds, downgrades after grace, progress.

The shop's tiers (times in Asia/Shanghai, the store's zone):

    normal  普通会员  from 0       × 1
    silver  银卡      from 1000    × 1.5   5 % off
    gold    金卡      from 5000    × 2     10 % off
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from guanxi.domain.staff import Role
from guanxi.errors import InvalidInput
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import Programme, programme, save_programme
from guanxi.loyalty.rules import EarningProgram, Multiplier
from guanxi.loyalty.tiers import (
    Basis,
    Tier,
    TierLadder,
    basis_of,
    evaluate_downgrades,
    qualifying_points,
    qualifying_spend,
    tier_progress,
    tiers_as_json,
    tiers_from_json,
    validate_tiers,
)
from guanxi.services.purchases import CustomerRef, LineInput, PurchaseInput, record_purchase
from guanxi.services.returns import ReturnInput, ReturnLineInput, record_return
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerTier, Staff, Store, TierChange

TIERS = (
    Tier("normal", "普通会员", Decimal(0)),
    Tier("silver", "银卡", Decimal(1000), Decimal("1.5"), Decimal("0.05"), ("生日礼",)),
    Tier("gold", "金卡", Decimal(5000), Decimal(2), Decimal("0.1"), ("生日礼", "免费包装")),
)


def _owner(db: Database) -> StaffMember:
    with db.write() as session:
        staff = Staff(name="Owner", role="owner")
        session.add(staff)
        session.flush()
        return StaffMember(staff.id, "Owner", Role.OWNER, None, None, None)


def _shop(
    db: Database, tiers: tuple[Tier, ...] = TIERS, rules: EarningProgram | None = None
) -> int:
    with db.write() as session:
        store = Store(code="S1", name="S1")
        session.add(store)
        session.flush()
        store_id = store.id
    programme_rules = EarningProgram() if rules is None else rules
    save_programme(db, _owner(db), Programme(programme_rules, None, tiers))
    return store_id


def _buy(
    db: Database, store: int, order: str, amount: str, at: str, phone: str = "+8613812345678"
) -> tuple[int, int, int]:
    """One purchase of ``amount`` yuan at local time ``at``: (purchase, customer, points)."""
    got = record_purchase(db, PurchaseInput(
        external_order_id=order, customer=CustomerRef(phone=phone, name="张三"),
        purchased_at=datetime.fromisoformat(at), store_id=store,
        lines=(LineInput(sku="tea", amount=Decimal(amount)),),
    ), store_scope=None)  # fmt: skip
    points = got.points.points if got.points else 0
    return got.purchase.id, got.purchase.customer_id, points


def _refund(db: Database, purchase: int, at: str) -> None:
    """Return the whole (single-line) purchase at UTC time ``at``."""
    record_return(db, purchase, ReturnInput("R-" + at, (ReturnLineInput(1, Decimal(1)),),
                                            returned_at=datetime.fromisoformat(at + "+00:00")),
                  store_scope=None)  # fmt: skip


def _tier(db: Database, customer: int) -> tuple[str, date] | None:
    with db.read() as session:
        row = session.get(CustomerTier, customer)
        return None if row is None else (row.tier_key, row.since)


def _history(db: Database) -> list[tuple[str | None, str, str, Decimal]]:
    with db.read() as session:
        rows = session.execute(select(TierChange).order_by(TierChange.id)).scalars()
        return [(r.from_tier, r.to_tier, r.reason, r.spend) for r in rows]


def test_tier_definitions_are_validated() -> None:
    assert validate_tiers(TIERS) == TIERS
    assert validate_tiers(()) == ()
    with pytest.raises(InvalidInput, match="lowest tier must start at min_spend 0"):
        validate_tiers((Tier("silver", "银卡", Decimal(1000)),))
    with pytest.raises(InvalidInput, match="must be more than the previous tier's 1000"):
        validate_tiers((TIERS[0], TIERS[1], Tier("gold", "金卡", Decimal(1000))))
    with pytest.raises(InvalidInput, match="key 'silver' is used by an earlier tier"):
        validate_tiers((TIERS[0], TIERS[1], Tier("silver", "金卡", Decimal(5000))))
    with pytest.raises(InvalidInput, match="member_discount must be between 0 and 1"):
        validate_tiers((Tier("normal", "普通会员", Decimal(0), member_discount=Decimal("1.5")),))
    with pytest.raises(InvalidInput, match="points_multiplier must be 0 or more"):
        validate_tiers((Tier("normal", "普通会员", Decimal(0), Decimal(-1)),))
    with pytest.raises(InvalidInput, match="key must be 1 to 32 characters"):
        validate_tiers((Tier(" ", "普通会员", Decimal(0)),))
    with pytest.raises(InvalidInput, match="name is empty"):
        validate_tiers((Tier("normal", "", Decimal(0)),))
    with pytest.raises(InvalidInput, match="missing or malformed field 'min_spend'"):
        tiers_from_json([{"key": "normal", "name": "普通会员"}])
    with pytest.raises(InvalidInput, match="min_spend: 'lots' is not a number"):
        tiers_from_json([{"key": "normal", "name": "普通会员", "min_spend": "lots"}])


def test_the_tiers_are_saved_with_the_programme(db: Database) -> None:
    _shop(db)
    with db.read() as session:
        assert programme(session).tiers == TIERS
    with pytest.raises(InvalidInput, match="lowest tier"):
        save_programme(db, _owner(db), Programme(EarningProgram(), None, TIERS[1:]))
    save_programme(db, _owner(db), Programme(EarningProgram(), 12))  # None: keep the tiers
    with db.read() as session:
        assert programme(session) == Programme(EarningProgram(), 12, TIERS)
    save_programme(db, _owner(db), Programme(EarningProgram(), None, ()))  # (): tiers off
    with db.read() as session:
        assert programme(session).tiers is None


def test_the_purchase_that_crosses_a_threshold_upgrades_after_earning(db: Database) -> None:
    store = _shop(db)
    _, customer, first = _buy(db, store, "A1", "600", "2026-01-10T10:00")
    assert first == 600 and _tier(db, customer) == ("normal", date(2026, 1, 10))
    _, _, crossing = _buy(db, store, "A2", "500", "2026-02-01T10:00")
    assert crossing == 500  # earned as 普通会员 (× 1): the tier held when buying
    assert _tier(db, customer) == ("silver", date(2026, 2, 1))
    _, _, after = _buy(db, store, "A3", "100", "2026-02-02T10:00")
    assert after == 150  # now 银卡: × 1.5
    assert _history(db) == [
        (None, "normal", "initial", Decimal("600.00")),
        ("normal", "silver", "upgrade", Decimal("1100.00")),
    ]
    assert ledger.balance(db, customer) == 1250
    # a first purchase above a threshold earns as the lowest tier and starts at its tier
    _, other, points = _buy(db, store, "B1", "6000", "2026-03-01T12:00", "+8613900000000")
    assert points == 6000 and _tier(db, other) == ("gold", date(2026, 3, 1))
    assert _history(db)[-1] == (None, "gold", "initial", Decimal("6000.00"))


def test_the_rules_tier_multipliers_match_the_tier_key(db: Database) -> None:
    rules = EarningProgram(multipliers=(Multiplier("tier", Decimal(3), "silver"),))
    store = _shop(db, rules=rules)
    _buy(db, store, "A1", "1000", "2026-01-10T10:00")  # 1000 points as normal, then silver
    _, _, points = _buy(db, store, "A2", "100", "2026-01-11T10:00")
    assert points == 300  # the rules' × 3 for "silver" beats the tier's own × 1.5


def test_refunds_lower_the_qualifying_spend(db: Database) -> None:
    store = _shop(db)
    _buy(db, store, "A1", "600", "2026-01-10T10:00")
    second, customer, _ = _buy(db, store, "A2", "500", "2026-01-20T10:00")
    _buy(db, store, "A3", "300", "2026-01-25T10:00")
    with db.read() as session:
        assert qualifying_spend(session, customer, date(2026, 1, 31)) == Decimal(1400)
    _refund(db, second, "2026-02-01T03:00")
    with db.read() as session:
        assert qualifying_spend(session, customer, date(2026, 1, 31)) == Decimal(1400)
        assert qualifying_spend(session, customer, date(2026, 2, 1)) == Decimal(900)
        progress = tier_progress(session, customer, date(2026, 2, 1))
    assert progress is not None
    # still 银卡 (a purchase never downgrades): 5000 − 900 = 4100 to 金卡
    assert (progress.current.key, progress.next and progress.next.key) == ("silver", "gold")
    assert (progress.spend, progress.to_next) == (Decimal(900), Decimal(4100))
    # a refund does not move the tier by itself
    assert _tier(db, customer) == ("silver", date(2026, 1, 20))


def test_progress_figures(db: Database) -> None:
    store = _shop(db)
    _, customer, _ = _buy(db, store, "A1", "250.50", "2026-01-10T10:00")
    with db.read() as session:
        progress = tier_progress(session, customer, date(2026, 1, 10))
        before = tier_progress(session, customer, date(2026, 1, 9))
    assert progress is not None and before is not None
    assert (progress.current.name, progress.next and progress.next.name) == ("普通会员", "银卡")
    assert (progress.spend, progress.to_next) == (Decimal("250.50"), Decimal("749.50"))
    assert (before.spend, before.to_next) == (Decimal(0), Decimal(1000))
    _buy(db, store, "A2", "4800", "2026-01-11T10:00")  # 5050.50: 金卡, the top
    with db.read() as session:
        top = tier_progress(session, customer, datetime(2026, 1, 11, 2, tzinfo=UTC))
    assert top is not None
    assert (top.current.key, top.next, top.spend, top.to_next) == (
        "gold", None, Decimal("5050.50"), None)  # fmt: skip


def test_downgrade_only_after_grace_by_the_evaluation_and_idempotent(db: Database) -> None:
    store = _shop(db)
    purchase, customer, _ = _buy(db, store, "A1", "1200", "2026-01-10T10:00")
    assert _tier(db, customer) == ("silver", date(2026, 1, 10))
    _refund(db, purchase, "2026-01-12T03:00")
    _buy(db, store, "A2", "10", "2026-01-15T10:00")  # a purchase never downgrades
    assert _tier(db, customer) == ("silver", date(2026, 1, 10))
    assert evaluate_downgrades(db, date(2026, 1, 20)) == []  # held 10 days < 30
    assert _tier(db, customer) == ("silver", date(2026, 1, 10))
    moves = evaluate_downgrades(db, date(2026, 2, 9))  # 30 days held
    assert [(m.from_tier, m.to_tier, m.reason, m.spend) for m in moves] == [
        ("silver", "normal", "downgrade", Decimal(10))
    ]
    assert _tier(db, customer) == ("normal", date(2026, 2, 9))
    assert evaluate_downgrades(db, date(2026, 2, 9)) == []  # same date again: nothing
    assert evaluate_downgrades(db, date(2026, 3, 15)) == []
    assert [h[2] for h in _history(db)] == ["initial", "downgrade"]


def test_spend_leaves_the_rolling_window_after_12_months(db: Database) -> None:
    store = _shop(db)
    _, customer, _ = _buy(db, store, "A1", "5200", "2025-03-01T10:00")
    _buy(db, store, "A2", "1000", "2025-09-01T10:00")
    assert _tier(db, customer) == ("gold", date(2025, 3, 1))
    assert evaluate_downgrades(db, date(2026, 2, 28)) == []  # 2025-03-01 is still in
    moves = evaluate_downgrades(db, date(2026, 3, 1), grace_days=90)
    assert [(m.to_tier, m.spend) for m in moves] == [("silver", Decimal(1000))]
    with db.read() as session:
        assert qualifying_spend(session, customer, date(2026, 9, 1)) == 0
    assert evaluate_downgrades(db, date(2026, 9, 1), grace_days=200) == []  # held 184 days
    assert [m.to_tier for m in evaluate_downgrades(db, date(2026, 9, 17), grace_days=200)] == [
        "normal"
    ]


def test_no_tiers_changes_nothing(db: Database) -> None:
    rules = EarningProgram(multipliers=(Multiplier("tier", Decimal(3), "normal"),))
    store = _shop(db, tiers=(), rules=rules)
    _, customer, points = _buy(db, store, "A1", "6000", "2026-01-10T10:00")
    assert points == 6000
    with db.read() as session:
        assert tier_progress(session, customer, date(2026, 1, 10)) is None
        assert session.execute(select(CustomerTier)).first() is None
    assert evaluate_downgrades(db, date(2026, 3, 1), grace_days=0) == []
    assert _history(db) == []


# -- the points basis: the same ladder, thresholds in points; 2 points per yuan ---------------

POINTS_TIERS = TierLadder(TIERS, Basis.POINTS)
TWO_PER_YUAN = EarningProgram(points_per_yuan=Decimal(2))


def _points_shop(db: Database) -> int:
    return _shop(db, POINTS_TIERS, TWO_PER_YUAN)


def _points(db: Database, customer: int, as_of: date) -> int:
    with db.read() as session:
        return qualifying_points(session, customer, as_of)


def test_tiers_json_round_trips_in_the_old_and_the_new_form() -> None:
    old = tiers_as_json(TIERS)
    assert isinstance(old, list) and [t["key"] for t in old] == ["normal", "silver", "gold"]
    assert tiers_from_json(old) == TIERS and basis_of(tiers_from_json(old)) is Basis.SPEND
    new = tiers_as_json(POINTS_TIERS)
    assert new == {"basis": "points", "tiers": old}
    back = tiers_from_json(new)
    assert back == POINTS_TIERS and basis_of(back) is Basis.POINTS
    assert back != TIERS  # the same tiers on another basis are another ladder
    assert tiers_from_json({"basis": "spend", "tiers": old}) == TIERS
    assert tiers_as_json(TierLadder((), Basis.POINTS)) == []  # no tiers: tiers off
    with pytest.raises(InvalidInput, match="unknown basis 'visits'"):
        tiers_from_json({"basis": "visits", "tiers": old})
    with pytest.raises(InvalidInput, match="expected a list of tiers"):
        tiers_from_json({"basis": "points"})
    with pytest.raises(InvalidInput, match="min_spend is whole points, not 1000.5"):
        validate_tiers(TierLadder((TIERS[0], Tier("silver", "银卡", Decimal("1000.5"))), "points"))


def test_points_basis_is_stored_with_the_programme(db: Database) -> None:
    _points_shop(db)
    with db.read() as session:
        stored = programme(session).tiers
    assert stored == POINTS_TIERS and stored is not None and basis_of(stored) is Basis.POINTS


def test_points_basis_upgrades_on_the_purchase_that_earns_them(db: Database) -> None:
    store = _points_shop(db)
    _, customer, points = _buy(db, store, "A1", "600", "2026-01-10T10:00")
    # 600 yuan is below silver's 1000, but its own 1200 points reach silver at once
    assert points == 1200
    assert _tier(db, customer) == ("silver", date(2026, 1, 10))
    assert _history(db) == [(None, "silver", "initial", Decimal(600))]  # the spend, in yuan
    _, _, points = _buy(db, store, "A2", "1300", "2026-01-11T10:00")
    assert points == 3900  # bought as silver (× 1.5); 5100 points: gold
    assert _tier(db, customer) == ("gold", date(2026, 1, 11))
    with db.read() as session:
        progress = tier_progress(session, customer, date(2026, 1, 10))
    assert progress is not None
    assert (progress.basis, progress.points, progress.spend, progress.to_next) == (
        Basis.POINTS, 1200, Decimal(600), None)  # fmt: skip
    assert progress.current.key == "gold"  # held now, counted up to the 10th


def test_points_progress_figures(db: Database) -> None:
    store = _points_shop(db)
    _, customer, _ = _buy(db, store, "A1", "250.50", "2026-01-10T10:00")  # 501 points
    with db.read() as session:
        progress = tier_progress(session, customer, date(2026, 1, 10))
    assert progress is not None
    assert (progress.current.key, progress.next and progress.next.key) == ("normal", "silver")
    assert (progress.spend, progress.points, progress.amount, progress.to_next) == (
        Decimal("250.50"), 501, Decimal(501), Decimal(499))  # fmt: skip


def test_returns_lower_the_qualifying_points_redemptions_do_not(db: Database) -> None:
    store = _points_shop(db)
    _, customer, _ = _buy(db, store, "A1", "600", "2026-01-10T10:00")  # 1200, silver
    second, _, points = _buy(db, store, "A2", "300", "2026-01-11T10:00")
    assert points == 900  # × 1.5 as silver
    assert _points(db, customer, date(2026, 1, 31)) == 2100
    ledger.redeem(db, customer, 2000, reason="gift", idempotency_key=None, actor_id=None)
    assert _points(db, customer, date(2026, 1, 31)) == 2100  # redeeming is not un-earning
    _refund(db, second, "2026-02-01T03:00")
    assert _points(db, customer, date(2026, 1, 31)) == 2100  # before the return
    assert _points(db, customer, date(2026, 2, 1)) == 1200
    # redeemed points never demote: 1200 still reach silver, even after the grace
    assert evaluate_downgrades(db, date(2026, 3, 1), grace_days=0) == []
    assert _tier(db, customer) == ("silver", date(2026, 1, 10))


def test_points_basis_downgrade_after_grace(db: Database) -> None:
    store = _points_shop(db)
    purchase, customer, _ = _buy(db, store, "A1", "600", "2026-01-10T10:00")  # 1200: silver
    _refund(db, purchase, "2026-01-12T03:00")  # its 1200 points taken back
    _buy(db, store, "A2", "10", "2026-01-15T10:00")  # 30 points as silver: no downgrade
    assert _tier(db, customer) == ("silver", date(2026, 1, 10))
    assert evaluate_downgrades(db, date(2026, 1, 20)) == []  # held 10 days < 30
    moves = evaluate_downgrades(db, date(2026, 2, 9))
    assert [(m.from_tier, m.to_tier, m.reason, m.spend, m.points) for m in moves] == [
        ("silver", "normal", "downgrade", Decimal(10), 30)
    ]
    assert _tier(db, customer) == ("normal", date(2026, 2, 9))
    assert evaluate_downgrades(db, date(2026, 2, 9)) == []


def test_spend_basis_moves_carry_no_points(db: Database) -> None:
    store = _shop(db, rules=TWO_PER_YUAN)
    purchase, customer, _ = _buy(db, store, "A1", "600", "2026-01-10T10:00")
    assert _tier(db, customer) == ("normal", date(2026, 1, 10))  # 1200 points, 600 yuan
    with db.read() as session:
        progress = tier_progress(session, customer, date(2026, 1, 10))
    assert progress is not None
    assert (progress.basis, progress.points, progress.to_next) == (Basis.SPEND, None, 400)
