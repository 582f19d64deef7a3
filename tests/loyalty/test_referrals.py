"""Referrals: codes, attribution guards, the reward on a first purchase, ranking, the graph."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.domain.staff import Role
from guanxi.errors import NotFound
from guanxi.loyalty import ledger, referrals
from guanxi.loyalty.accrual import Programme, save_programme
from guanxi.loyalty.referrals import (
    CODE_LENGTH,
    InvalidReferral,
    Node,
    Policy,
    Reason,
    ReferralRefused,
    advocate_ranking,
    attach_referrer,
    layout,
    normalise_code,
    referral_code,
    referral_forest,
)
from guanxi.loyalty.rules import Bonus, EarningProgram
from guanxi.services.purchases import CustomerRef, LineInput, PurchaseInput, record_purchase
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    Customer,
    CustomerScore,
    PointsEntry,
    Purchase,
    PurchaseReturn,
    ReferralCode,
    ReferralReward,
    Store,
)
from tests.factories import make_customer

AWARD = 200


@pytest.fixture
def store(db: Database) -> int:
    with db.write() as session:
        row = Store(code="S1", name="S1")
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def with_award(db: Database, staff: dict[Role, StaffMember]) -> None:
    """A programme with 0 points per yuan (only referral points move) and a referral award."""
    rules = EarningProgram(points_per_yuan=Decimal(0), bonuses=(Bonus("referral", AWARD),))
    save_programme(db, staff[Role.OWNER], Programme(rules, points_valid_months=12))


def _buy(db: Database, store: int, customer: int, order: str, amount: str = "100",
         at: str = "2026-09-17T10:00") -> int:  # fmt: skip
    recorded = record_purchase(db, PurchaseInput(
        external_order_id=order, customer=CustomerRef(id=customer),
        purchased_at=datetime.fromisoformat(at),
        lines=(LineInput(sku="tea", amount=Decimal(amount)),), store_id=store,
    ), store_scope=None, now=datetime.fromisoformat("2026-12-31T00:00+08:00"))  # fmt: skip
    return recorded.purchase.id


def _referral_points(db: Database, customer: int) -> list[int]:
    with db.read() as session:
        return list(session.execute(
            select(PointsEntry.points).where(PointsEntry.customer_id == customer,
                                             PointsEntry.source_type == "referral")
        ).scalars())  # fmt: skip


def _outcome(db: Database, referred: int) -> ReferralReward | None:
    with db.read() as session:
        return session.execute(
            select(ReferralReward).where(ReferralReward.referred_id == referred)
        ).scalar()


def _pair(db: Database, store: int, *, referrer_buys: bool = True) -> tuple[int, int]:
    """A referrer (who bought, unless told otherwise) and a new customer they referred."""
    referrer = make_customer(db, home_store_id=store)
    if referrer_buys:
        _buy(db, store, referrer, f"own-{referrer}")
    referred = make_customer(db, home_store_id=store)
    attach_referrer(db, referred, referrer, actor_id=None)
    return referrer, referred


# --- codes -------------------------------------------------------------------------------------


def test_codes_are_made_once_unique_and_read_leniently(db: Database) -> None:
    customers = [make_customer(db) for _ in range(40)]
    codes = [referral_code(db, c) for c in customers]
    assert len(set(codes)) == 40
    assert all(len(c) == CODE_LENGTH and set(c) <= set(referrals.ALPHABET) for c in codes)
    assert referral_code(db, customers[0]) == codes[0]  # made once, then the same
    with db.read() as session:
        assert session.execute(select(func.count()).select_from(ReferralCode)).scalar() == 40
    typed = codes[0].lower()[:4] + "-" + codes[0].lower()[4:]
    assert normalise_code(typed.replace("1", "l").replace("0", "o")) == codes[0]
    assert normalise_code("short") is None
    assert referrals.link_for(codes[0]) == f"/r/{codes[0]}"
    with pytest.raises(NotFound):
        referral_code(db, 999_999)


def test_a_random_code_clash_is_retried(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_customer(db)
    second = make_customer(db)
    taken = referral_code(db, first)
    draws = iter([taken, taken, "ABCDEFGH"])
    monkeypatch.setattr(referrals, "new_code", lambda: next(draws))
    assert referral_code(db, second) == "ABCDEFGH"


def test_concurrent_code_requests_make_one_code(db: Database) -> None:
    customer = make_customer(db)
    results: list[str] = []
    gate = threading.Barrier(8)

    def ask() -> None:
        gate.wait()
        results.append(referral_code(db, customer))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8 and len(set(results)) == 1


# --- attribution -------------------------------------------------------------------------------


def test_attach_by_code_or_phone_is_audited(db: Database, store: int) -> None:
    referrer = make_customer(db, phone="+8613900000001", home_store_id=store)
    code = referral_code(db, referrer)
    a, b = make_customer(db), make_customer(db)
    assert attach_referrer(db, a, code.lower(), actor_id=None) == referrer
    assert attach_referrer(db, b, "139 0000 0001", actor_id=None) == referrer
    assert attach_referrer(db, b, referrer, actor_id=None) == referrer  # again: no change
    with db.read() as session:
        assert session.get(Customer, a).referred_by_id == referrer  # type: ignore[union-attr]
        audited = session.execute(select(AuditEntry).where(AuditEntry.target_id == str(a)))
        assert [e.detail["referred_by_id"] for e in audited.scalars()] == [referrer]
    with pytest.raises(NotFound, match="no customer has the referral code or phone"):
        attach_referrer(db, make_customer(db), "ZZZZZZZZ", actor_id=None)
    other_store = make_customer(db, phone="+8613900000002", home_store_id=None)
    with pytest.raises(NotFound):  # a phone is looked up in the clerk's store only
        attach_referrer(db, make_customer(db), "13900000002", actor_id=None, store_scope=store)
    assert other_store


def _refused(db: Database, customer: int, referrer: int) -> Reason:
    with pytest.raises((InvalidReferral, ReferralRefused)) as caught:
        attach_referrer(db, customer, referrer, actor_id=None)
    assert isinstance(caught.value, InvalidReferral | ReferralRefused)
    return caught.value.reason


def test_each_attachment_guard_refuses_with_its_reason(db: Database, store: int) -> None:
    a = make_customer(db)
    assert _refused(db, a, a) is Reason.SELF
    b = make_customer(db)
    attach_referrer(db, b, a, actor_id=None)
    assert _refused(db, b, make_customer(db)) is Reason.ALREADY_REFERRED
    buyer = make_customer(db)
    _buy(db, store, buyer, "bought-before")
    assert _refused(db, buyer, a) is Reason.HAS_PURCHASES
    same_wechat = make_customer(db, wechat_id="wx-lee")
    assert _refused(db, make_customer(db, wechat_id="wx-lee"), same_wechat) is Reason.SAME_PHONE
    home = make_customer(db, custom_fields={"地址": "上海市 徐汇区 漕溪北路 1号"})
    flatmate = make_customer(db, custom_fields={"address": "上海市徐汇区漕溪北路1号"})
    assert _refused(db, flatmate, home) is Reason.SAME_HOUSEHOLD
    c = make_customer(db)
    attach_referrer(db, c, b, actor_id=None)  # a -> b -> c
    assert _refused(db, a, c) is Reason.CYCLE
    with db.read() as session:  # nothing refused was stored
        assert session.get(Customer, a).referred_by_id is None  # type: ignore[union-attr]
        assert session.get(Customer, flatmate).referred_by_id is None  # type: ignore[union-attr]


def test_self_referral_is_invalid_input_and_a_loop_a_conflict(db: Database) -> None:
    a, b = make_customer(db), make_customer(db)
    with pytest.raises(InvalidReferral, match="cannot refer themselves"):
        attach_referrer(db, a, a, actor_id=None)
    attach_referrer(db, b, a, actor_id=None)
    with pytest.raises(ReferralRefused, match="loop"):
        attach_referrer(db, a, b, actor_id=None)


# --- the reward --------------------------------------------------------------------------------


@pytest.mark.usefixtures("with_award")
def test_first_purchase_rewards_both_exactly_once(db: Database, store: int) -> None:
    referrer, referred = _pair(db, store)
    first = _buy(db, store, referred, "first", "80")
    assert _referral_points(db, referrer) == [AWARD]
    assert _referral_points(db, referred) == [AWARD]
    _buy(db, store, referred, "first", "80")  # the POS posts the same receipt again
    _buy(db, store, referred, "second", "500")  # and a second purchase comes
    assert _referral_points(db, referrer) == [AWARD]
    assert _referral_points(db, referred) == [AWARD]
    row = _outcome(db, referred)
    assert row is not None
    assert (row.status, row.reason, row.purchase_id) == ("rewarded", None, first)
    assert (row.referrer_points, row.referred_points) == (AWARD, AWARD)
    assert ledger.balance(db, referred) == AWARD
    with db.read() as session:
        keys = session.execute(select(PointsEntry.idempotency_key, PointsEntry.expires_on)
                               .where(PointsEntry.source_type == "referral")).all()  # fmt: skip
    assert sorted(keys) == [(f"referral:{referred}:referred", date(2027, 9, 17)),
                            (f"referral:{referred}:referrer", date(2027, 9, 17))]  # fmt: skip


@pytest.mark.usefixtures("with_award")
def test_referrer_without_purchases_is_not_rewarded(db: Database, store: int) -> None:
    referrer, referred = _pair(db, store, referrer_buys=False)
    _buy(db, store, referred, "first")
    row = _outcome(db, referred)
    assert row is not None and (row.status, row.reason) == ("refused", "referrer_no_purchase")
    assert _referral_points(db, referrer) == [] and _referral_points(db, referred) == []
    _buy(db, store, referrer, "late")  # the referrer buys later: decided already, no reward
    _buy(db, store, referred, "second")
    assert _referral_points(db, referrer) == []


@pytest.mark.usefixtures("with_award")
def test_a_small_first_purchase_is_refused(db: Database, store: int) -> None:
    _, referred = _pair(db, store)
    _buy(db, store, referred, "tiny", "49.99")
    row = _outcome(db, referred)
    assert row is not None and (row.status, row.reason) == ("refused", "below_minimum")
    assert _referral_points(db, referred) == []


def test_no_award_in_the_programme_rewards_nothing(db: Database, store: int) -> None:
    referrer, referred = _pair(db, store)
    _buy(db, store, referred, "first")
    row = _outcome(db, referred)
    assert row is not None and (row.status, row.reason) == ("refused", "no_award")
    assert _referral_points(db, referrer) == []


@pytest.mark.usefixtures("with_award")
def test_imported_history_makes_a_purchase_not_the_first(db: Database, store: int) -> None:
    _, referred = _pair(db, store)
    with db.write() as session:  # a purchase that came in by import, without the hook
        session.add(Purchase(store_id=store, external_order_id="imp", customer_id=referred,
                             purchased_at=datetime.fromisoformat("2025-01-01T00:00+00:00"),
                             total_amount=Decimal(300)))  # fmt: skip
    _buy(db, store, referred, "next")
    row = _outcome(db, referred)
    assert row is not None and row.reason == "not_first_purchase"


@pytest.mark.usefixtures("with_award")
def test_monthly_cap_per_referrer(db: Database, store: int) -> None:
    referrer = make_customer(db)
    _buy(db, store, referrer, "own")
    friends = [make_customer(db) for _ in range(4)]
    for friend in friends:
        attach_referrer(db, friend, referrer, actor_id=None)
    days = ["2026-09-03T10:00", "2026-09-20T10:00", "2026-09-28T10:00", "2026-10-01T10:00"]
    policy = Policy(monthly_cap=2)
    for n, (friend, day) in enumerate(zip(friends, days, strict=True)):
        with db.write() as session:
            session.add(Purchase(store_id=store, external_order_id=f"f{n}", customer_id=friend,
                                 purchased_at=datetime.fromisoformat(day + "+08:00"),
                                 total_amount=Decimal(100)))  # fmt: skip
            session.flush()
            pid = session.execute(select(func.max(Purchase.id))).scalar_one()
            referrals.reward_first_purchase(session, pid, policy)
    statuses = [(r.status, r.reason) for r in (_outcome(db, f) for f in friends) if r]
    assert statuses == [("rewarded", None), ("rewarded", None), ("refused", "monthly_cap"),
                        ("rewarded", None)]  # October is a new month  # fmt: skip
    assert _referral_points(db, referrer) == [AWARD] * 3


@pytest.mark.usefixtures("with_award")
def test_default_monthly_cap_through_record_purchase(db: Database, store: int) -> None:
    referrer = make_customer(db)
    _buy(db, store, referrer, "own")
    cap = referrals.DEFAULT_POLICY.monthly_cap
    for n in range(cap + 1):
        friend = make_customer(db)
        attach_referrer(db, friend, referrer, actor_id=None)
        _buy(db, store, friend, f"friend-{n}", at=f"2026-09-{n + 1:02d}T10:00")
    assert _referral_points(db, referrer) == [AWARD] * cap
    with db.read() as session:
        refused = session.execute(select(ReferralReward.reason)
                                  .where(ReferralReward.status == "refused")).scalars()  # fmt: skip
        assert list(refused) == ["monthly_cap"]


@pytest.mark.usefixtures("with_award")
def test_concurrent_first_purchases_respect_the_cap(db: Database, store: int) -> None:
    referrer = make_customer(db)
    _buy(db, store, referrer, "own")
    friends = [make_customer(db) for _ in range(6)]
    for friend in friends:
        attach_referrer(db, friend, referrer, actor_id=None)
    policy = Policy(monthly_cap=3)
    gate = threading.Barrier(len(friends))
    errors: list[BaseException] = []

    def first(i: int) -> None:
        gate.wait()
        try:
            with db.write() as session:
                row = Purchase(store_id=store, external_order_id=f"c{i}", customer_id=friends[i],
                               purchased_at=datetime.fromisoformat("2026-09-05T10:00+08:00"),
                               total_amount=Decimal(100))  # fmt: skip
                session.add(row)
                session.flush()
                referrals.reward_first_purchase(session, row.id, policy)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    threads = [threading.Thread(target=first, args=(i,)) for i in range(len(friends))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert _referral_points(db, referrer) == [AWARD] * 3
    assert ledger.check_balances(db) == []


# --- ranking and graph -------------------------------------------------------------------------


def test_advocate_ranking_orders_by_the_chosen_measure(db: Database, store: int) -> None:
    big, many, other_store = (make_customer(db, name=n, home_store_id=store) for n in "大多外")
    with db.write() as session:
        other = Store(code="S2", name="S2")
        session.add(other)
        session.flush()
        other_id = other.id
        session.execute(Customer.__table__.update().where(Customer.id == other_store)
                        .values(home_store_id=other_id))  # fmt: skip
    whale = make_customer(db, home_store_id=store)
    attach_referrer(db, whale, big, actor_id=None)
    _buy(db, store, whale, "w1", "1000")
    smalls = [make_customer(db, home_store_id=store) for _ in range(3)]
    for n, small in enumerate(smalls):
        attach_referrer(db, small, many, actor_id=None)
        if n < 2:
            _buy(db, store, small, f"s{n}", "100")
    far = make_customer(db, home_store_id=other_id)
    attach_referrer(db, far, other_store, actor_id=None)
    with db.write() as session:  # a refund of 300 on the whale's purchase
        pid = session.execute(select(Purchase.id).where(Purchase.customer_id == whale)).scalar()
        session.add(PurchaseReturn(purchase_id=pid, returned_at=datetime.now().astimezone(),
                                   refund_amount=Decimal(300)))  # fmt: skip
        session.add(CustomerScore(customer_id=smalls[0], month=date(2026, 11, 1),
                                  computed_on=date(2026, 11, 30), rung="repeat",
                                  clv_12m=Decimal("900.50")))  # fmt: skip
        session.add(CustomerScore(customer_id=smalls[0], month=date(2026, 10, 1),
                                  computed_on=date(2026, 10, 31), rung="repeat",
                                  clv_12m=Decimal("5000")))  # fmt: skip
    by_spend = advocate_ranking(db, store_scope=None)
    assert [(a.name, a.referred, a.bought, a.spend) for a in by_spend] == [
        ("大", 1, 1, Decimal("700.00")), ("多", 3, 2, Decimal("200.00")), ("外", 1, 0, Decimal(0))
    ]  # fmt: skip
    by_count = advocate_ranking(db, store_scope=None, by="referred")
    assert [a.name for a in by_count] == ["多", "大", "外"]
    assert by_count[0].clv == Decimal("900.50")  # the latest month's score only
    assert [a.name for a in advocate_ranking(db, store_scope=store, by="clv")] == ["多", "大"]


def _overlaps(nodes: list[Node]) -> list[tuple[int, int]]:
    return [(a.id, b.id) for i, a in enumerate(nodes) for b in nodes[i + 1:]
            if abs(a.x - b.x) < referrals.COLUMN and abs(a.y - b.y) < referrals.ROW]  # fmt: skip


def test_forest_layout_has_no_overlapping_nodes(db: Database) -> None:
    #  r1 -> a -> (a1, a2, a3);  r1 -> b;  r2 -> c -> c1;  lone pair r3 -> d
    ids = {name: make_customer(db, name=name) for name in
           ["r1", "a", "a1", "a2", "a3", "b", "r2", "c", "c1", "r3", "d"]}  # fmt: skip
    for child, parent in [("a", "r1"), ("a1", "a"), ("a2", "a"), ("a3", "a"), ("b", "r1"),
                          ("c", "r2"), ("c1", "c"), ("d", "r3")]:  # fmt: skip
        attach_referrer(db, ids[child], ids[parent], actor_id=None)
    forest = referral_forest(db, store_scope=None)
    assert forest.trees == 3
    assert [r.name for r in forest.roots] == ["r1", "r2", "r3"]  # biggest tree first
    assert len(forest.nodes) == 11 and len(forest.edges) == 8
    assert _overlaps(forest.nodes) == []
    placed = {n.name: n for n in forest.nodes}
    assert placed["r1"].x < placed["a"].x < placed["a1"].x  # roots left, referred to the right
    assert placed["a1"].y < placed["a"].y < placed["a3"].y  # a parent between its children
    assert all(0 <= n.x <= forest.width and 0 <= n.y <= forest.height for n in forest.nodes)
    top = referral_forest(db, store_scope=None, max_trees=1)
    assert (top.trees, len(top.roots), len(top.nodes)) == (3, 1, 6)


def test_layout_survives_a_loop_from_an_old_import() -> None:
    roots = referrals._trees({1: ("a", False), 2: ("b", False)}, {1: 2, 2: 1})
    assert [r.id for r in roots] == [1] and [c.id for c in roots[0].children] == [2]
    nodes, edges, _, _ = layout(roots)
    assert len(nodes) == 2 and len(edges) == 1 and _overlaps(nodes) == []
