"""Random sequences of earn / redeem / reverse / expire / adjust / waive against a plain model.

After every step: the balance equals the sum of the entries, the cache check is clean, the
lots and the balance equal an independent in-memory model, and the balance is negative only
while a flagged claw-back is still owed. Runs on SQLite and, with fewer examples, PostgreSQL.
Every run of the machine uses a new customer in the same test database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.factories import make_customer

DAY0 = date(2026, 1, 1)
expiries = st.one_of(st.none(), st.integers(0, 20).map(lambda d: DAY0 + timedelta(days=d)))


@dataclass
class ModelLot:
    id: int
    points: int
    remaining: int
    expires_on: date | None


class LedgerMachine(RuleBasedStateMachine):
    db: Database
    owner: StaffMember
    manager: StaffMember

    def __init__(self) -> None:
        super().__init__()
        self.customer = make_customer(self.db)
        self.balance = 0
        self.lots: list[ModelLot] = []
        self.debts: dict[int, int] = {}  # flagged claw-back entry id -> points still owed
        self.earns: list[tuple[int, int, Decimal]] = []  # (entry id, points, value)
        self.reversed: dict[int, int] = {}  # earn entry id -> points reversed so far
        self.lines = 0

    # -- the model ------------------------------------------------------------------------------

    def _fifo(self) -> list[ModelLot]:
        live = [lot for lot in self.lots if lot.remaining > 0]
        return sorted(live, key=lambda x: (x.expires_on or date.max, x.expires_on is None, x.id))

    def _new_lot(self, entry_id: int, points: int, expires_on: date | None) -> None:
        left = points
        for debit in sorted(self.debts):
            take = min(left, self.debts[debit])
            self.debts[debit] -= take
            left -= take
        self.debts = {k: v for k, v in self.debts.items() if v > 0}
        self.lots.append(ModelLot(entry_id, points, left, expires_on))
        self.balance += points

    def _take(self, points: int, first: int | None = None) -> int:
        order = self._fifo()
        order.sort(key=lambda lot: lot.id != first)
        for lot in order:
            take = min(points, lot.remaining)
            lot.remaining -= take
            points -= take
        return points

    # -- the rules ------------------------------------------------------------------------------

    @rule(points=st.integers(1, 200), expires_on=expiries, value=st.integers(1, 500))
    def earn(self, points: int, expires_on: date | None, value: int) -> None:
        posted = ledger.earn(
            self.db, self.customer, points, source_type="purchase", source_id=None,
            expires_on=expires_on, reason=None, explanation={}, idempotency_key=None,
        )  # fmt: skip
        assert posted.entry is not None
        self._new_lot(posted.entry.id, points, expires_on)
        self.earns.append((posted.entry.id, points, Decimal(value)))
        assert posted.balance == self.balance

    @rule(points=st.integers(1, 300))
    def redeem(self, points: int) -> None:
        if points > self.balance:
            with pytest.raises(ledger.InsufficientPoints):
                ledger.redeem(self.db, self.customer, points, reason=None, idempotency_key=None,
                              actor_id=None)  # fmt: skip
            return
        posted = ledger.redeem(
            self.db, self.customer, points, reason=None, idempotency_key=None, actor_id=None
        )
        assert self._take(points) == 0
        self.balance -= points
        assert posted.balance == self.balance

    @rule(points=st.integers(-100, 100).filter(bool))
    def adjust(self, points: int) -> None:
        if points < 0 and -points > self.balance:
            with pytest.raises(ledger.InsufficientPoints):
                ledger.adjust(self.db, self.manager, self.customer, points, "stocktake")
            return
        posted = ledger.adjust(self.db, self.manager, self.customer, points, "stocktake")
        assert posted.entry is not None
        if points > 0:
            self._new_lot(posted.entry.id, points, None)
        else:
            assert self._take(-points) == 0
            self.balance += points

    @precondition(lambda self: bool(self.earns))
    @rule(pick=st.integers(0, 10**6), share=st.fractions(0, 1, max_denominator=7))
    def reverse(self, pick: int, share: Fraction) -> None:
        entry_id, points, value = self.earns[pick % len(self.earns)]
        returned_fen = int(value * 100) * share.numerator // share.denominator
        returned = Decimal(returned_fen) / 100
        self.lines += 1
        posted = ledger.reverse_for_return(
            self.db, self.customer, earned_entry_id=entry_id, returned_value=returned,
            original_value=value, source_id=self.lines, idempotency_key=None,
        )  # fmt: skip
        due = points * returned_fen // int(value * 100)  # integer arithmetic: rounded down
        due = min(due, points - self.reversed.get(entry_id, 0))
        if due == 0:
            assert posted.entry is None
            return
        assert posted.entry is not None and posted.entry.points == -due
        self.reversed[entry_id] = self.reversed.get(entry_id, 0) + due
        short = self._take(due, first=entry_id)
        self.balance -= due
        assert posted.entry.flagged == (self.balance < 0)
        if short:
            self.debts[posted.entry.id] = short

    @rule(day=st.integers(0, 25))
    def expire(self, day: int) -> None:
        as_of = DAY0 + timedelta(days=day)
        run = ledger.expire(self.db, as_of)
        mine = {
            e.related_entry_id: -e.points for e in run.entries if e.customer_id == self.customer
        }
        due = {
            lot.id: lot.remaining
            for lot in self.lots
            if lot.remaining > 0 and lot.expires_on is not None and lot.expires_on < as_of
        }
        assert mine == due
        for lot in self.lots:
            if lot.id in due:
                self.balance -= lot.remaining
                lot.remaining = 0

    @precondition(lambda self: bool(self.debts))
    @rule()
    def waive(self) -> None:
        entry_id = min(self.debts)
        posted = ledger.waive(self.db, self.owner, entry_id)
        assert posted.entry is not None and posted.entry.points == self.debts.pop(entry_id)
        self.balance += posted.entry.points

    # -- what must always hold ------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert ledger.balance(self.db, self.customer) == self.balance
        entries = ledger.history(self.db, self.customer, limit=10_000)
        assert sum(e.points for e in entries) == self.balance
        assert ledger.check_balances(self.db) == []
        assert [(x.entry_id, x.remaining) for x in ledger.lots(self.db, self.customer)] == [
            (lot.id, lot.remaining) for lot in self._fifo()
        ]
        if self.balance < 0:
            assert self.debts and sum(self.debts.values()) == -self.balance
            assert all(lot.remaining == 0 for lot in self.lots)
        else:
            assert not self.debts


def test_random_sequences_agree_with_the_model(
    db: Database, staff: dict[Role, StaffMember]
) -> None:
    class Machine(LedgerMachine):
        pass

    Machine.db, Machine.owner, Machine.manager = db, staff[Role.OWNER], staff[Role.MANAGER]
    examples = 40 if db.is_sqlite else 15
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples, stateful_step_count=30, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )  # fmt: skip
