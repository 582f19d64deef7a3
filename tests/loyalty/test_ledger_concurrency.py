"""Reliability under concurrency: many threads, each on its own pooled connection.

The threads share the test's ``Database`` (SQLAlchemy's pool hands each one its own connection;
SQLite waits on a 30 s busy timeout, PostgreSQL queues on the customer's row lock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from guanxi.loyalty import ledger
from guanxi.loyalty.ledger import InsufficientPoints, Kind
from guanxi.storage.db import Database

T = TypeVar("T")


def _in_threads(n: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` for i in range(n), all released at once; results or errors, in order."""
    results: list[T | BaseException] = [RuntimeError("not run")] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - collected and checked by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_200_concurrent_redemptions_of_10_against_1000(db: Database, customer: int) -> None:
    ledger.earn(
        db, customer, 1000, source_type="purchase", source_id=1, expires_on=None, reason=None,
        explanation={}, idempotency_key=None,
    )  # fmt: skip

    def spend(i: int) -> ledger.Posting:
        return ledger.redeem(
            db, customer, 10, reason="gift", idempotency_key=f"r{i}", actor_id=None
        )

    results = _in_threads(200, spend)
    done = [r for r in results if isinstance(r, ledger.Posting)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    others = [r for r in results if not isinstance(r, ledger.Posting | InsufficientPoints)]
    assert others == []
    assert (len(done), len(refused)) == (100, 100)
    assert sorted(p.balance for p in done) == list(range(0, 1000, 10))
    assert ledger.balance(db, customer) == 0
    assert ledger.check_balances(db) == []
    assert ledger.lots(db, customer) == []
    assert all("balance 0, asked 10" in str(r) for r in refused)


def test_the_same_earn_posted_50_times_at_once_is_earned_once(db: Database, customer: int) -> None:
    def post(_: int) -> ledger.Posting:
        return ledger.earn(
            db, customer, 88, source_type="purchase", source_id=42, expires_on=None,
            reason=None, explanation={"base": 88}, idempotency_key="store1:order42:earn",
        )  # fmt: skip

    results = _in_threads(50, post)
    postings = [r for r in results if isinstance(r, ledger.Posting)]
    assert len(postings) == 50, [r for r in results if not isinstance(r, ledger.Posting)]
    assert sum(not p.replayed for p in postings) == 1
    assert len({p.entry.id for p in postings if p.entry}) == 1
    assert [e.kind for e in ledger.history(db, customer)] == [Kind.EARN]
    assert ledger.balance(db, customer) == 88
    assert ledger.check_balances(db) == []


def test_one_key_raced_for_two_customers_is_used_once(db: Database, customer: int) -> None:
    from tests.factories import make_customer

    other = make_customer(db)

    def post(i: int) -> ledger.Posting:
        return ledger.earn(
            db, (customer, other)[i % 2], 5, source_type="purchase", source_id=7,
            expires_on=None, reason=None, explanation={}, idempotency_key="shared-key",
        )  # fmt: skip

    results = _in_threads(20, post)
    postings = [r for r in results if isinstance(r, ledger.Posting)]
    conflicts = [r for r in results if isinstance(r, ledger.IdempotencyConflict)]
    assert len(postings) + len(conflicts) == 20, results
    assert (len(postings), len(conflicts)) == (10, 10)
    assert sum(not p.replayed for p in postings) == 1
    assert ledger.balance(db, customer) + ledger.balance(db, other) == 5
    assert ledger.check_balances(db) == []
