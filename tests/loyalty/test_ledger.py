"""The points ledger's rules, with hand-computed numbers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from guanxi.domain.staff import Role
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.loyalty import ledger
from guanxi.loyalty.ledger import (
    Allocation,
    IdempotencyConflict,
    InsufficientPoints,
    Kind,
    Mismatch,
    Posting,
)
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, PointsBalance, PointsEntry
from tests.factories import make_customer

JAN31, FEB1, FEB28, MAR1 = date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 28), date(2026, 3, 1)


def _earn(
    db: Database,
    customer: int,
    points: int,
    expires_on: date | None = None,
    *,
    key: str | None = None,
    source_id: int | None = None,
) -> Posting:
    return ledger.earn(
        db, customer, points, source_type="purchase", source_id=source_id,
        expires_on=expires_on, reason=None, explanation={"rate": "1 per yuan"},
        idempotency_key=key,
    )  # fmt: skip


def _redeem(db: Database, customer: int, points: int, key: str | None = None) -> Posting:
    return ledger.redeem(db, customer, points, reason="gift", idempotency_key=key, actor_id=None)


def _remaining(db: Database, customer: int) -> dict[int, int]:
    return {lot.entry_id: lot.remaining for lot in ledger.lots(db, customer)}


def _consistent(db: Database, customer: int) -> int:
    """The balance, after checking it equals the sum of the entries and the cache check."""
    assert ledger.check_balances(db) == []
    with db.read() as session:
        total = session.execute(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.customer_id == customer
            )
        ).scalar_one()
    assert ledger.balance(db, customer) == total
    return int(total)


# -- earning and redeeming ----------------------------------------------------------------------


def test_earn_creates_a_lot_and_moves_the_balance(db: Database, customer: int) -> None:
    posted = _earn(db, customer, 120, MAR1, source_id=7)
    assert posted.entry is not None and not posted.replayed
    assert (posted.entry.kind, posted.entry.points, posted.balance) == (Kind.EARN, 120, 120)
    assert posted.entry.source_type == "purchase" and posted.entry.source_id == "7"
    assert posted.entry.explanation == {"rate": "1 per yuan"}
    assert posted.entry.expires_on == MAR1 and posted.entry.at.tzinfo is not None
    assert _remaining(db, customer) == {posted.entry.id: 120}
    assert _consistent(db, customer) == 120


def test_redeem_spends_soonest_expiring_first_never_expiring_last(
    db: Database, customer: int
) -> None:
    a = _earn(db, customer, 100, MAR1).entry
    b = _earn(db, customer, 50, None).entry
    c = _earn(db, customer, 70, FEB1).entry
    d = _earn(db, customer, 30, MAR1).entry  # same expiry as a, newer: after a
    assert a and b and c and d
    first = _redeem(db, customer, 120)
    assert first.entry is not None
    assert first.allocations == (
        Allocation(c.id, first.entry.id, 70),
        Allocation(a.id, first.entry.id, 50),
    )
    assert _remaining(db, customer) == {a.id: 50, d.id: 30, b.id: 50}
    second = _redeem(db, customer, 90)
    assert second.entry is not None
    assert [(x.lot_entry_id, x.points) for x in second.allocations] == [
        (a.id, 50), (d.id, 30), (b.id, 10)
    ]  # fmt: skip
    assert [lot.entry_id for lot in ledger.lots(db, customer)] == [b.id]
    assert second.balance == 250 - 120 - 90 == _consistent(db, customer)


def test_redeem_refuses_more_than_the_balance_and_writes_nothing(
    db: Database, customer: int
) -> None:
    _earn(db, customer, 30)
    with pytest.raises(InsufficientPoints, match=r"^insufficient points: balance 30, asked 31$"):
        _redeem(db, customer, 31)
    assert issubclass(InsufficientPoints, Conflict)
    assert len(ledger.history(db, customer)) == 1
    assert _redeem(db, customer, 30).balance == 0
    with pytest.raises(InsufficientPoints, match="balance 0, asked 1"):
        _redeem(db, customer, 1)
    assert _consistent(db, customer) == 0


@pytest.mark.parametrize("points", [0, -5, True, 2.5])
def test_points_must_be_a_positive_whole_number(db: Database, customer: int, points: int) -> None:
    with pytest.raises(InvalidInput, match="whole number of points"):
        _earn(db, customer, points)
    with pytest.raises(InvalidInput, match="whole number of points"):
        _redeem(db, customer, points)


def test_unknown_customer_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="customer 999999 does not exist"):
        _earn(db, 999999, 10)
    with pytest.raises(NotFound):
        ledger.balance(db, 999999)


def test_history_pages_newest_first(db: Database, customer: int) -> None:
    ids = [p.entry.id for p in (_earn(db, customer, n) for n in (1, 2, 3, 4, 5)) if p.entry]
    page = ledger.history(db, customer, limit=2)
    assert [e.id for e in page] == ids[:-3:-1]
    older = ledger.history(db, customer, limit=10, before_id=page[-1].id)
    assert [e.points for e in older] == [3, 2, 1]
    assert [e.balance_after for e in older] == [6, 3, 1]


# -- expiry -------------------------------------------------------------------------------------


def test_expiry_expires_exactly_the_remaining_points_once(db: Database, customer: int) -> None:
    jan = _earn(db, customer, 100, JAN31).entry
    feb = _earn(db, customer, 40, FEB28).entry
    assert jan and feb
    _redeem(db, customer, 30)  # from the January lot: 70 left
    assert ledger.expire(db, JAN31).entries == ()  # expires_on < as_of: not yet on its own day
    run = ledger.expire(db, FEB1)
    assert [(e.kind, e.points, e.related_entry_id) for e in run.entries] == [
        (Kind.EXPIRE, -70, jan.id)
    ]
    assert run.points == 70 and run.entries[0].source_id == "2026-02-01"
    assert ledger.expire(db, FEB1).entries == ()  # the same date again: nothing
    assert _remaining(db, customer) == {feb.id: 40}
    assert _consistent(db, customer) == 40
    assert ledger.expire(db, MAR1).points == 40
    assert ledger.expire(db, FEB1).entries == ()  # an earlier date after a later one: nothing
    assert ledger.expire(db, MAR1).entries == ()
    assert _consistent(db, customer) == 0


def test_expiry_run_covers_every_customer_and_skips_spent_lots(db: Database) -> None:
    one, two = make_customer(db), make_customer(db)
    _earn(db, one, 10, JAN31)
    _earn(db, two, 20, JAN31)
    _earn(db, two, 5, None)
    _redeem(db, one, 10)  # fully spent: no entry for it
    run = ledger.expire(db, FEB1)
    assert [(e.customer_id, e.points) for e in run.entries] == [(two, -20)]
    assert (ledger.balance(db, one), ledger.balance(db, two)) == (0, 5)
    assert ledger.check_balances(db) == []


# -- returns ------------------------------------------------------------------------------------


def _reverse(
    db: Database,
    customer: int,
    earned: int,
    returned: str,
    original: str,
    line: int,
    key: str | None = None,
) -> Posting:
    return ledger.reverse_for_return(
        db, customer, earned_entry_id=earned, returned_value=Decimal(returned),
        original_value=Decimal(original), source_id=line, idempotency_key=key,
    )  # fmt: skip


def test_return_reverses_pro_rata_rounded_down_once_per_line(db: Database, customer: int) -> None:
    soon = _earn(db, customer, 50, FEB1).entry  # expires first, but is not the purchase's lot
    bought = _earn(db, customer, 99, MAR1, source_id=1).entry  # 99 points for 300.00
    assert soon and bought
    first = _reverse(db, customer, bought.id, "100.00", "300.00", line=11)
    assert first.entry is not None
    assert first.entry.points == -33  # 99 × 100 / 300 = 33
    assert first.allocations == (Allocation(bought.id, first.entry.id, 33),)  # its own lot first
    second = _reverse(db, customer, bought.id, "50.00", "300.00", line=12)
    assert second.entry is not None and second.entry.points == -16  # floor(16.5)
    assert not first.entry.flagged and second.balance == 149 - 33 - 16
    # the same line again (a new key, the same values): the first result, nothing twice
    again = _reverse(db, customer, bought.id, "50.00", "300.00", line=12, key="retry")
    assert again.replayed and again.entry == second.entry
    with pytest.raises(Conflict, match="return line 12 was already reversed"):
        _reverse(db, customer, bought.id, "60.00", "300.00", line=12)
    assert _remaining(db, customer) == {soon.id: 50, bought.id: 50}
    assert _consistent(db, customer) == 100


def test_small_return_that_rounds_to_zero_posts_nothing(db: Database, customer: int) -> None:
    bought = _earn(db, customer, 10).entry
    assert bought
    posted = _reverse(db, customer, bought.id, "0.99", "10.00", line=1)  # floor(0.99) = 0
    assert posted == Posting(None, 10, ())
    assert len(ledger.history(db, customer)) == 1


def test_reversals_of_one_earn_never_exceed_what_it_earned(db: Database, customer: int) -> None:
    bought = _earn(db, customer, 10).entry
    assert bought
    assert _reverse(db, customer, bought.id, "7.00", "10.00", line=1).balance == 3
    capped = _reverse(db, customer, bought.id, "7.00", "10.00", line=2)
    assert capped.entry is not None and capped.entry.points == -3
    assert _consistent(db, customer) == 0


def test_return_checks_its_inputs(db: Database, customer: int) -> None:
    bought = _earn(db, customer, 10).entry
    other = make_customer(db)
    assert bought
    with pytest.raises(InvalidInput, match="between 0 and the original value"):
        _reverse(db, customer, bought.id, "11.00", "10.00", line=1)
    with pytest.raises(InvalidInput, match="original_value must be above 0"):
        _reverse(db, customer, bought.id, "0", "0", line=1)
    with pytest.raises(NotFound, match=f"has no earn entry {bought.id}"):
        _reverse(db, other, bought.id, "1.00", "10.00", line=1)
    with pytest.raises(InvalidInput, match="Decimal"):
        ledger.reverse_for_return(
            db, customer, earned_entry_id=bought.id, returned_value=1.5,  # type: ignore[arg-type]
            original_value=Decimal(10), source_id=1, idempotency_key=None,
        )  # fmt: skip


def test_claw_back_goes_negative_flagged_and_the_owner_waives(
    db: Database, customer: int, staff: dict[Role, StaffMember]
) -> None:
    bought = _earn(db, customer, 100, source_id=5).entry  # 100 points for 200.00
    assert bought
    _redeem(db, customer, 80)  # 20 left
    back = _reverse(db, customer, bought.id, "200.00", "200.00", line=51)
    assert back.entry is not None
    assert (back.entry.points, back.balance, back.entry.flagged) == (-100, -80, True)
    assert back.allocations == (Allocation(bought.id, back.entry.id, 20),)  # 80 uncovered
    assert [(c.entry.id, c.outstanding) for c in ledger.open_clawbacks(db)] == [(back.entry.id, 80)]
    now = ledger.statement(db, customer, limit=2)
    assert (now.balance, now.owed, now.lots) == (-80, {back.entry.id: 80}, ())
    assert [e.id for e in now.history] == [e.id for e in ledger.history(db, customer, limit=2)]
    with pytest.raises(InsufficientPoints, match="balance -80, asked 1"):
        _redeem(db, customer, 1)
    assert _consistent(db, customer) == -80

    with pytest.raises(NotAllowed, match="only the owner may waive"):
        ledger.waive(db, staff[Role.MANAGER], back.entry.id)
    waived = ledger.waive(db, staff[Role.OWNER], back.entry.id, reason="loyal customer")
    assert waived.entry is not None
    assert (waived.entry.kind, waived.entry.points, waived.balance) == (Kind.WAIVE, 80, 0)
    assert waived.allocations == (Allocation(waived.entry.id, back.entry.id, 80),)
    assert ledger.open_clawbacks(db) == []
    with pytest.raises(Conflict, match="owes nothing any more"):
        ledger.waive(db, staff[Role.OWNER], back.entry.id)
    with pytest.raises(InvalidInput, match="not a flagged claw-back"):
        ledger.waive(db, staff[Role.OWNER], bought.id)
    rows = audit.list_entries(db, action=audit.Action.POINTS_WAIVED)
    assert [(r.target_id, r.detail["points"]) for r in rows] == [(str(customer), 80)]
    assert _consistent(db, customer) == 0


def test_later_points_pay_off_a_claw_back_first(db: Database, customer: int) -> None:
    bought = _earn(db, customer, 100).entry
    assert bought
    _redeem(db, customer, 100)
    back = _reverse(db, customer, bought.id, "1", "2", line=1)  # -50, nothing left: all owed
    assert back.entry is not None and back.balance == -50
    paid = _earn(db, customer, 30, JAN31)  # all 30 pay the debt: the lot has nothing left
    assert paid.entry is not None and paid.balance == -20
    assert paid.allocations == (Allocation(paid.entry.id, back.entry.id, 30),)
    assert _remaining(db, customer) == {}
    rest = _earn(db, customer, 50, JAN31).entry
    assert rest
    assert _remaining(db, customer) == {rest.id: 30}
    assert [c.outstanding for c in ledger.open_clawbacks(db)] == []
    assert ledger.expire(db, FEB1).points == 30  # the expiry does not charge the debt twice
    assert _consistent(db, customer) == 0


# -- adjustments --------------------------------------------------------------------------------


def test_adjust_is_for_managers_and_owners_with_a_reason_and_audited(
    db: Database, customer: int, staff: dict[Role, StaffMember]
) -> None:
    with pytest.raises(NotAllowed, match="only a manager or the owner"):
        ledger.adjust(db, staff[Role.CLERK], customer, 10, "goodwill")
    with pytest.raises(InvalidInput, match="needs a reason"):
        ledger.adjust(db, staff[Role.MANAGER], customer, 10, "  ")
    with pytest.raises(InvalidInput, match="non-zero"):
        ledger.adjust(db, staff[Role.MANAGER], customer, 0, "nothing")
    plus = ledger.adjust(db, staff[Role.MANAGER], customer, 25, " goodwill ")
    assert plus.entry is not None
    assert (plus.entry.kind, plus.entry.points, plus.entry.reason) == (Kind.ADJUST, 25, "goodwill")
    assert plus.entry.actor_staff_id == staff[Role.MANAGER].id
    assert ledger.lots(db, customer)[0].expires_on is None  # a never-expiring lot
    minus = ledger.adjust(db, staff[Role.OWNER], customer, -10, "typo at the counter")
    assert minus.balance == 15 and minus.entry is not None
    assert minus.allocations == (Allocation(plus.entry.id, minus.entry.id, 10),)
    with pytest.raises(InsufficientPoints, match="balance 15, asked 16"):
        ledger.adjust(db, staff[Role.OWNER], customer, -16, "too much")
    with db.read() as session:
        logged = session.execute(
            select(AuditEntry.action, AuditEntry.actor_staff_id, AuditEntry.target_id,
                   AuditEntry.detail).order_by(AuditEntry.id)
        ).all()  # fmt: skip
    assert [(a, actor, t, d["points"]) for a, actor, t, d in logged] == [
        ("points.adjusted", staff[Role.MANAGER].id, str(customer), 25),
        ("points.adjusted", staff[Role.OWNER].id, str(customer), -10),
    ]
    assert _consistent(db, customer) == 15


# -- idempotency --------------------------------------------------------------------------------


def test_same_key_same_request_returns_the_first_result(db: Database, customer: int) -> None:
    first = _earn(db, customer, 40, MAR1, key="pos-1:earn", source_id=1)
    again = _earn(db, customer, 40, MAR1, key="pos-1:earn", source_id=1)
    assert again.replayed and not first.replayed
    assert (again.entry, again.balance, again.allocations) == (
        first.entry, first.balance, first.allocations
    )  # fmt: skip
    spent = _redeem(db, customer, 15, key="pos-2:redeem")
    _earn(db, customer, 5)
    spent_again = _redeem(db, customer, 15, key="pos-2:redeem")
    assert spent_again.replayed and spent_again.entry == spent.entry
    assert spent_again.balance == 25 and spent_again.allocations == spent.allocations
    assert len(ledger.history(db, customer)) == 3
    assert _consistent(db, customer) == 30


def test_same_key_different_request_is_refused(db: Database, customer: int) -> None:
    _earn(db, customer, 40, key="k1", source_id=1)
    with pytest.raises(IdempotencyConflict, match="idempotency key 'k1' was used before"):
        _earn(db, customer, 41, key="k1", source_id=1)
    with pytest.raises(IdempotencyConflict):
        _redeem(db, customer, 40, key="k1")
    with pytest.raises(IdempotencyConflict):
        _earn(db, make_customer(db), 40, key="k1", source_id=1)
    assert _consistent(db, customer) == 40


def test_a_refused_redemption_does_not_use_up_its_key(db: Database, customer: int) -> None:
    with pytest.raises(InsufficientPoints):
        _redeem(db, customer, 10, key="r1")
    _earn(db, customer, 10)
    assert _redeem(db, customer, 10, key="r1").balance == 0


# -- in a caller's transaction, and the cache check ---------------------------------------------


def test_earn_joins_the_callers_transaction(db: Database, customer: int) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.write() as session:
        ledger.earn(
            session, customer, 10, source_type="purchase", source_id=1, expires_on=None,
            reason=None, explanation=None, idempotency_key="p1",
        )  # fmt: skip
        raise Boom
    assert ledger.history(db, customer) == []  # rolled back with the caller's work
    with db.write() as session:
        ledger.earn(
            session, customer, 10, source_type="purchase", source_id=1, expires_on=None,
            reason=None, explanation=None, idempotency_key="p1",
        )  # fmt: skip
    assert _consistent(db, customer) == 10


def test_a_refused_debit_leaves_the_callers_transaction_usable(db: Database, customer: int) -> None:
    with db.write() as session:
        ledger.earn(
            session, customer, 10, source_type="purchase", source_id=1, expires_on=None,
            reason=None, explanation={}, idempotency_key=None,
        )  # fmt: skip
        with pytest.raises(InsufficientPoints):
            ledger.redeem(session, customer, 11, reason=None, idempotency_key=None, actor_id=None)
        ledger.redeem(session, customer, 4, reason=None, idempotency_key=None, actor_id=None)
    assert _consistent(db, customer) == 6


def test_check_balances_finds_a_cache_that_drifted(db: Database, customer: int) -> None:
    _earn(db, customer, 10)
    with db.write() as session:
        session.execute(update(PointsBalance).values(points=11))
    assert ledger.check_balances(db) == [Mismatch(customer, 11, 10)]
