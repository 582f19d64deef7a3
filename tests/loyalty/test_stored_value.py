"""Stored value (储值卡): bonus tiers, proportional spends, refunds of paid money only,
spend reversals, adjustments, idempotency, and a property test of the cached balances."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from guanxi.domain.staff import Role
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.loyalty import stored_value as sv
from guanxi.loyalty.stored_value import Balance, BonusRule, InsufficientBalance, Kind
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import StoredValueBalance
from tests.factories import make_customer

D = Decimal
TIERS = [BonusRule(D(500), D(40)), BonusRule(D(1000), D(100))]


def _top_up(db: Database, customer: int, amount: str, key: str | None = None) -> sv.Posting:
    return sv.top_up(db, customer, D(amount), payment_method="wechat_pay", reference="P-1",
                     idempotency_key=key)  # fmt: skip


@pytest.fixture
def owner(staff: dict[Role, StaffMember]) -> StaffMember:
    return staff[Role.OWNER]


@pytest.fixture
def tiers(db: Database, owner: StaffMember) -> None:
    sv.save_rules(db, owner, TIERS)


# -- bonus rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "bonus"),
    [("499.99", "0"), ("500", "40"), ("999.99", "40"), ("1000", "100"), ("5000", "100")],
)
def test_the_highest_tier_met_gives_one_bonus(amount: str, bonus: str) -> None:
    assert sv.bonus_for(TIERS, D(amount))[0] == D(bonus)


def test_a_top_up_gets_the_stored_tiers_bonus(db: Database, customer: int, tiers: None) -> None:
    posted = _top_up(db, customer, "1000")
    assert (posted.entry.kind, posted.entry.paid, posted.entry.bonus) == (
        Kind.TOP_UP, D("1000.00"), D("100.00"))  # fmt: skip
    assert posted.balance == Balance(D("1000.00"), D("100.00"))
    assert posted.entry.explanation == {"tier": {"min_amount": "1000.00", "bonus": "100.00"}}
    assert _top_up(db, customer, "600").entry.bonus == D(40)
    assert _top_up(db, customer, "100").entry.bonus == D(0)
    assert sv.balance(db, customer) == Balance(D("1700.00"), D("140.00"))


def test_saving_rules_is_the_owners_and_audited(
    db: Database, staff: dict[Role, StaffMember], tiers: None
) -> None:
    assert sv.rules(db) == (BonusRule(D(1000), D(100)), BonusRule(D(500), D(40)))
    with pytest.raises(NotAllowed):
        sv.save_rules(db, staff[Role.MANAGER], [])
    sv.save_rules(db, staff[Role.OWNER], [BonusRule(D(200), D(10))])
    assert sv.rules(db) == (BonusRule(D(200), D(10)),)
    logged = audit.list_entries(db, action=sv.AUDIT_RULES_CHANGED)
    assert logged[0].detail["before"][0] == {"min_amount": "1000.00", "bonus": "100.00"}
    assert logged[0].detail["after"] == [{"min_amount": "200.00", "bonus": "10.00"}]


@pytest.mark.parametrize(
    "bad",
    [[BonusRule(D(100), D(200))], [BonusRule(D(100), D(5)), BonusRule(D(100), D(6))],
     [BonusRule(D(0), D(1))], [BonusRule(D("100.001"), D(1))]],
)  # fmt: skip
def test_unusable_rules_are_refused(bad: list[BonusRule]) -> None:
    with pytest.raises(InvalidInput):
        sv.validate_rules(bad)


# -- spending -----------------------------------------------------------------------------------


def test_a_spend_takes_paid_and_bonus_in_proportion(
    db: Database, customer: int, tiers: None
) -> None:
    _top_up(db, customer, "1000")  # 1000 paid + 100 bonus
    posted = sv.spend(db, customer, D("110"), reference="O-1", idempotency_key="s1")
    assert (posted.entry.paid, posted.entry.bonus) == (D("-100.00"), D("-10.00"))
    assert posted.balance == Balance(D("900.00"), D("90.00"))
    # 33.33 × 900/990 = 30.3 -> paid 30.30 (rounded down), bonus the rest 3.03
    posted = sv.spend(db, customer, D("33.33"), idempotency_key="s2")
    assert (posted.entry.paid, posted.entry.bonus) == (D("-30.30"), D("-3.03"))
    assert sv.check_balances(db) == []


@pytest.mark.parametrize(
    ("amount", "held", "paid"),
    [("10", ("0", "50"), "0"), ("10", ("50", "0"), "10"), ("0.01", ("99.99", "0.01"), "0"),
     ("100", ("99.99", "0.01"), "99.99"), ("0.03", ("0.01", "0.02"), "0.01")],
)  # fmt: skip
def test_split_rounds_the_paid_part_down_within_both_balances(
    amount: str, held: tuple[str, str], paid: str
) -> None:
    part = sv.split(D(amount), Balance(D(held[0]), D(held[1])))
    assert part.paid == D(paid)
    assert part.total == D(amount)
    assert 0 <= part.bonus <= D(held[1])


def test_a_spend_beyond_the_balance_is_refused(db: Database, customer: int) -> None:
    _top_up(db, customer, "50")
    with pytest.raises(InsufficientBalance) as refused:
        sv.spend(db, customer, D("50.01"), idempotency_key="big")
    assert (refused.value.balance, refused.value.asked) == (D("50.00"), D("50.01"))
    assert "balance 50.00, asked 50.01" in str(refused.value)
    assert isinstance(refused.value, Conflict)
    assert sv.balance(db, customer) == Balance(D(50), D(0))


@pytest.mark.parametrize("bad", [D(0), D(-1), D("0.001"), D("1e9"), 1.5, True])
def test_amounts_must_be_positive_fen(db: Database, customer: int, bad: object) -> None:
    with pytest.raises(InvalidInput):
        sv.spend(db, customer, bad, idempotency_key=None)  # type: ignore[arg-type]


def test_unknown_customer_and_payment_method(db: Database) -> None:
    with pytest.raises(NotFound):
        _top_up(db, 999_999, "10")
    with pytest.raises(InvalidInput, match="payment method"):
        sv.top_up(db, make_customer(db), D(10), payment_method="points", idempotency_key=None)


# -- refunds ------------------------------------------------------------------------------------


def test_a_refund_returns_paid_only_and_forfeits_the_bonus(
    db: Database, customer: int, tiers: None, owner: StaffMember
) -> None:
    _top_up(db, customer, "1000")
    sv.spend(db, customer, D("110"), idempotency_key="s1")  # 900 paid + 90 bonus left
    posted = sv.refund(db, owner, customer, "moving away", idempotency_key="r1")
    kinds = [(e.kind, e.paid, e.bonus) for e in posted.entries]
    assert kinds == [(Kind.REFUND, D("-900.00"), D(0)), (Kind.FORFEIT, D(0), D("-90.00"))]
    assert posted.entries[1].related_entry_id == posted.entry.id
    assert posted.balance == Balance(D(0), D(0))
    again = sv.refund(db, owner, customer, "moving away", idempotency_key="r1")
    assert again.replayed and [e.id for e in again.entries] == [e.id for e in posted.entries]
    logged = audit.list_entries(db, action=sv.AUDIT_REFUNDED)
    assert logged[0].detail == {"entry_id": posted.entry.id, "paid": "900.00",
                                "forfeit": "90.00", "reason": "moving away"}  # fmt: skip
    with pytest.raises(InsufficientBalance, match="refundable paid money"):
        sv.refund(db, owner, customer, "again")
    assert sv.check_balances(db) == []


def test_a_partial_refund_forfeits_the_same_share_of_bonus(
    db: Database, customer: int, tiers: None, owner: StaffMember
) -> None:
    _top_up(db, customer, "1000")
    posted = sv.refund(db, owner, customer, "part", D("333"))
    # 100 × 333/1000 = 33.3 bonus forfeited (rounded up to the fen)
    assert [e.amount for e in posted.entries] == [D("-333.00"), D("-33.30")]
    assert posted.balance == Balance(D("667.00"), D("66.70"))
    with pytest.raises(InsufficientBalance):
        sv.refund(db, owner, customer, "too much", D("667.01"))


def test_refund_and_adjust_are_for_managers_with_a_reason(
    db: Database, customer: int, staff: dict[Role, StaffMember]
) -> None:
    _top_up(db, customer, "10")
    with pytest.raises(NotAllowed):
        sv.refund(db, staff[Role.CLERK], customer, "why")
    with pytest.raises(NotAllowed):
        sv.adjust(db, staff[Role.CLERK], customer, paid=D(1), reason="why")
    with pytest.raises(InvalidInput, match="reason"):
        sv.refund(db, staff[Role.MANAGER], customer, "  ")
    with pytest.raises(InvalidInput, match="reason"):
        sv.adjust(db, staff[Role.MANAGER], customer, paid=D(1), reason="")
    assert sv.balance(db, customer) == Balance(D(10), D(0))


# -- reversals and adjustments ------------------------------------------------------------------


def test_a_spend_reversal_gives_back_in_the_spends_proportions(
    db: Database, customer: int, tiers: None
) -> None:
    _top_up(db, customer, "1000")
    spent = sv.spend(db, customer, D("220"), idempotency_key="s1").entry  # 200 paid + 20 bonus
    part = sv.reverse_spend(db, customer, spent.id, D("55"), reference="R-1",
                            idempotency_key="v1")  # fmt: skip
    assert (part.entry.kind, part.entry.paid, part.entry.bonus) == (
        Kind.SPEND_REVERSAL, D("50.00"), D("5.00"))  # fmt: skip
    rest = sv.reverse_spend(db, customer, spent.id, idempotency_key="v2")
    assert (rest.entry.paid, rest.entry.bonus) == (D("150.00"), D("15.00"))
    assert rest.balance == Balance(D("1000.00"), D("100.00"))
    with pytest.raises(Conflict, match="0.00 left to give back"):
        sv.reverse_spend(db, customer, spent.id, D("1"), idempotency_key="v3")
    with pytest.raises(NotFound):
        sv.reverse_spend(db, customer, part.entry.id, idempotency_key="v4")
    assert sv.check_balances(db) == []


def test_an_adjustment_is_audited_and_cannot_go_negative(
    db: Database, customer: int, owner: StaffMember
) -> None:
    posted = sv.adjust(db, owner, customer, paid=D("20"), bonus=D("5"), reason="lost receipt")
    assert posted.balance == Balance(D(20), D(5))
    with pytest.raises(InsufficientBalance, match="bonus money"):
        sv.adjust(db, owner, customer, bonus=D("-5.01"), reason="fix")
    sv.adjust(db, owner, customer, paid=D("-20"), reason="fix")
    assert sv.balance(db, customer) == Balance(D(0), D(5))
    logged = audit.list_entries(db, action=sv.AUDIT_ADJUSTED)
    assert [e.detail["paid"] for e in logged] == ["-20.00", "20.00"]


# -- idempotency --------------------------------------------------------------------------------


def test_a_retry_replays_and_a_reused_key_is_refused(
    db: Database, customer: int, tiers: None, owner: StaffMember
) -> None:
    first = _top_up(db, customer, "1000", key="k1")
    sv.save_rules(db, owner, [])  # a replay answers the bonus given then
    again = _top_up(db, customer, "1000", key="k1")
    assert (again.replayed, again.entry.id, again.entry.bonus) == (True, first.entry.id, D(100))
    assert not first.replayed
    with pytest.raises(sv.IdempotencyConflict, match="k1"):
        _top_up(db, customer, "999", key="k1")
    with pytest.raises(sv.IdempotencyConflict):
        sv.spend(db, customer, D(1), idempotency_key="k1")
    assert len(sv.history(db, customer)) == 1
    assert sv.balance(db, customer) == Balance(D(1000), D(100))


def test_history_pages_newest_first(db: Database, customer: int) -> None:
    for i in range(5):
        _top_up(db, customer, str(i + 1))
    page = sv.history(db, customer, limit=2)
    assert [e.paid for e in page] == [D(5), D(4)]
    older = sv.statement(db, customer, limit=10, before_id=page[-1].id)
    assert [e.paid for e in older.history] == [D(3), D(2), D(1)]
    assert older.balance == Balance(D(15), D(0))


def test_check_balances_finds_a_tampered_cache(db: Database, customer: int) -> None:
    _top_up(db, customer, "10")
    with db.write() as s:
        s.execute(update(StoredValueBalance).values(bonus=D(1)))
    found = sv.check_balances(db)
    assert [(m.customer_id, m.cached, m.ledger) for m in found] == [
        (customer, Balance(D(10), D(1)), Balance(D(10), D(0)))]  # fmt: skip


def test_a_session_caller_commits_the_posting_with_its_own_work(
    db: Database, customer: int
) -> None:
    with db.write() as session:
        sv.top_up(session, customer, D(5), payment_method="cash", idempotency_key="in-session")
        assert session.execute(select(StoredValueBalance.paid)).scalar_one() == D(5)
    with pytest.raises(RuntimeError), db.write() as session:
        sv.top_up(session, customer, D(7), payment_method="cash", idempotency_key="rolled")
        raise RuntimeError("the caller fails")
    assert sv.balance(db, customer) == Balance(D(5), D(0))


# -- property: the cache never diverges, never negative ------------------------------------------

AMOUNTS = st.decimals(min_value=D("0.01"), max_value=D("1500"), places=2)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), AMOUNTS),
        st.tuples(st.just("spend"), AMOUNTS),
        st.tuples(st.just("refund"), st.one_of(st.none(), AMOUNTS)),
        st.tuples(st.just("reverse"), st.one_of(st.none(), AMOUNTS)),
        st.tuples(st.just("adjust_paid"), st.decimals(min_value=-500, max_value=500, places=2)),
        st.tuples(st.just("adjust_bonus"), st.decimals(min_value=-50, max_value=50, places=2)),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_random_sequences_keep_the_cache_equal_to_the_entries(
    db: Database, staff: dict[Role, StaffMember], tiers: None,
    steps: list[tuple[str, Decimal | None]],
) -> None:  # fmt: skip
    customer = make_customer(db)
    owner = staff[Role.OWNER]
    spends: list[int] = []
    for i, (op, amount) in enumerate(steps):
        try:
            if op == "top_up":
                assert amount is not None
                _top_up(db, customer, str(amount), key=f"t{customer}:{i}")
            elif op == "spend":
                assert amount is not None
                spends.append(sv.spend(db, customer, amount, idempotency_key=None).entry.id)
            elif op == "refund":
                sv.refund(db, owner, customer, "prop", amount)
            elif op == "reverse" and spends:
                sv.reverse_spend(db, customer, spends[-1], amount, idempotency_key=None)
            elif op.startswith("adjust") and amount:
                part = "paid" if op == "adjust_paid" else "bonus"
                sv.adjust(db, owner, customer, reason="prop", **{part: amount})  # type: ignore[arg-type]
        except Conflict:  # InsufficientBalance and "nothing left to give back"
            pass
        held = sv.balance(db, customer)
        assert held.paid >= 0 and held.bonus >= 0
        assert sv.check_balances(db) == []
    entries = sv.history(db, customer, limit=1000)
    if entries:
        assert entries[0].balance_after == sv.balance(db, customer)
        assert sum(e.paid for e in entries) == sv.balance(db, customer).paid
