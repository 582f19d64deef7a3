"""A hypothesis state machine for the points ledger with injected faults.

Earn, redeem and adjust run normally, or with a fault: an exception raised by a SQLAlchemy
hook at the Nth SQL statement of the posting's transaction, or a caller's transaction that
the posting joined and that then rolls back. After a fault the ledger must be
exactly as before (no trace of the failed posting); the caller then retries with the same
idempotency key, which must apply the posting once, as must any further retry. Invariants
after every step: the cached balance equals SUM(entries) and an in-memory model, and never
goes negative (no claw-backs happen here). SQLite and PostgreSQL, few examples in CI.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import PointsEntry
from guanxi.storage.once import IdempotencyConflict
from tests.factories import make_customer

STRESS = os.environ.get("GUANXI_STRESS") == "1"
OWNER = StaffMember(None, "owner", Role.OWNER, None, "owner", None)  # type: ignore[arg-type]
_keys = itertools.count()
OPS = st.sampled_from(["earn", "redeem", "adjust_up", "adjust_down"])


class InjectedFault(Exception):
    """Raised by the statement hook: stands for a crash or a dropped connection midway."""


def _post(db: Database | Session, op: str, customer: int, points: int, key: str) -> int:
    """One posting; returns the change it makes to the balance."""
    if op == "earn":
        ledger.earn(
            db,
            customer,
            points,
            source_type="fuzz",
            source_id=key,
            expires_on=None,
            reason=None,
            explanation={},
            idempotency_key=key,
        )
        return points
    if op == "redeem":
        ledger.redeem(db, customer, points, reason=None, idempotency_key=key, actor_id=None)
        return -points
    change = points if op == "adjust_up" else -points
    ledger.adjust(db, OWNER, customer, change, "fuzz correction", idempotency_key=key)
    return change


class LedgerWithFaults(RuleBasedStateMachine):
    db: Database
    faults = 0  # faults that hit a posting midway, over the whole run

    def __init__(self) -> None:
        super().__init__()
        self.customer = make_customer(self.db)
        self.balance = 0

    def _entries(self) -> int:
        with self.db.read() as session:
            count = select(func.count()).where(PointsEntry.customer_id == self.customer)
            return int(session.execute(count).scalar_one())

    def _apply(self, op: str, points: int, key: str) -> None:
        try:
            self.balance += _post(self.db, op, self.customer, points, key)
        except ledger.InsufficientPoints:
            assert op in ("redeem", "adjust_down") and points > self.balance

    @rule(op=OPS, points=st.integers(1, 500))
    def post(self, op: str, points: int) -> None:
        self._apply(op, points, f"ok-{next(_keys)}")

    @rule(
        op=OPS,
        points=st.integers(1, 500),
        fail_at=st.integers(1, 12),
        retries=st.integers(1, 2),
    )
    def post_with_fault_then_retry(self, op: str, points: int, fail_at: int, retries: int) -> None:
        key = f"fault-{next(_keys)}"
        before = (ledger.balance(self.db, self.customer), self._entries())
        seen = itertools.count(1)

        def hook(*_: Any) -> None:
            if next(seen) == fail_at:
                raise InjectedFault(f"statement {fail_at}")

        event.listen(self.db.engine, "before_cursor_execute", hook)
        try:
            self._apply(op, points, key)
        except InjectedFault:
            LedgerWithFaults.faults += 1
            after = (ledger.balance(self.db, self.customer), self._entries())
            assert after == before, "a failed posting left a trace"
            self._apply(op, points, key)  # the retry with the same key applies it
        finally:
            event.remove(self.db.engine, "before_cursor_execute", hook)
        applied = (ledger.balance(self.db, self.customer), self._entries())
        for _ in range(retries):  # later retries replay: nothing changes
            # a refused posting stays refused (nothing was stored under the key)
            with contextlib.suppress(ledger.InsufficientPoints):
                _post(self.db, op, self.customer, points, key)
            assert (ledger.balance(self.db, self.customer), self._entries()) == applied

    @rule(op=OPS, points=st.integers(1, 500))
    def post_in_a_rolled_back_transaction_then_retry(self, op: str, points: int) -> None:
        """The posting joins a caller's transaction (as a purchase's points do) that then
        fails: the rollback takes the posting with it, and the key stays free for a retry."""
        key = f"rollback-{next(_keys)}"
        before = (ledger.balance(self.db, self.customer), self._entries())
        refused = contextlib.suppress(InjectedFault, ledger.InsufficientPoints)
        with refused, self.db.write() as session:
            _post(session, op, self.customer, points, key)
            raise InjectedFault("the caller failed after the posting")
        assert (ledger.balance(self.db, self.customer), self._entries()) == before
        self._apply(op, points, key)

    @rule(points=st.integers(1, 500))
    def reuse_a_key_for_another_posting(self, points: int) -> None:
        """A key already used for other values is refused and changes nothing."""
        key = f"reused-{next(_keys)}"
        self._apply("earn", points, key)
        before = (ledger.balance(self.db, self.customer), self._entries())
        with pytest.raises(IdempotencyConflict):
            _post(self.db, "earn", self.customer, points + 1, key)
        assert (ledger.balance(self.db, self.customer), self._entries()) == before

    @invariant()
    def balance_is_the_sum_of_entries_and_the_model(self) -> None:
        assert ledger.check_balances(self.db) == []
        assert ledger.balance(self.db, self.customer) == self.balance >= 0


@pytest.mark.slow
def test_ledger_survives_injected_faults(db: Database) -> None:
    LedgerWithFaults.db, LedgerWithFaults.faults = db, 0
    examples = 200 if STRESS else (8 if db.engine.dialect.name == "sqlite" else 5)
    run_state_machine_as_test(
        LedgerWithFaults,
        settings=settings(
            max_examples=examples,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert LedgerWithFaults.faults > 0, "no fault was injected: the test proved nothing"
