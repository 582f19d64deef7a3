"""Stored value under concurrency: many threads, each on its own pooled connection (SQLite
waits on its busy timeout, PostgreSQL queues on the customer's balance row lock)."""

from __future__ import annotations

from decimal import Decimal

from guanxi.loyalty import stored_value as sv
from guanxi.loyalty.stored_value import Balance, InsufficientBalance
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.loyalty.test_ledger_concurrency import _in_threads

TEN = Decimal(10)


def test_200_concurrent_spends_of_10_against_1000(db: Database, customer: int) -> None:
    sv.top_up(db, customer, Decimal(1000), payment_method="cash", idempotency_key="load")

    def spend(i: int) -> sv.Posting:
        return sv.spend(db, customer, TEN, reference=f"O-{i}", idempotency_key=f"s{i}")

    results = _in_threads(200, spend)
    done = [r for r in results if isinstance(r, sv.Posting)]
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    assert [r for r in results if not isinstance(r, sv.Posting | InsufficientBalance)] == []
    assert (len(done), len(refused)) == (100, 100)
    assert sorted(p.balance.total for p in done) == [Decimal(n) for n in range(0, 1000, 10)]
    assert sv.balance(db, customer) == Balance(Decimal(0), Decimal(0))
    assert sv.check_balances(db) == []
    assert sum(e.amount for e in sv.history(db, customer, limit=500)) == 0
    assert all("balance 0.00, asked 10" in str(r) for r in refused)


def test_the_same_top_up_posted_50_times_at_once_counts_once(db: Database, customer: int) -> None:
    def post(_: int) -> sv.Posting:
        return sv.top_up(db, customer, Decimal("88.80"), payment_method="alipay",
                         reference="PAY-1", idempotency_key="pos1:top-up:1")  # fmt: skip

    results = _in_threads(50, post)
    postings = [r for r in results if isinstance(r, sv.Posting)]
    assert len(postings) == 50, [r for r in results if not isinstance(r, sv.Posting)]
    assert sum(not p.replayed for p in postings) == 1
    assert len({p.entry.id for p in postings}) == 1
    assert sv.balance(db, customer).paid == Decimal("88.80")
    assert sv.check_balances(db) == []


def test_one_key_raced_for_two_customers_is_used_once(db: Database, customer: int) -> None:
    other = make_customer(db)

    def post(i: int) -> sv.Posting:
        return sv.top_up(db, (customer, other)[i % 2], Decimal(5), payment_method="cash",
                         idempotency_key="shared-key")  # fmt: skip

    results = _in_threads(20, post)
    postings = [r for r in results if isinstance(r, sv.Posting)]
    conflicts = [r for r in results if isinstance(r, sv.IdempotencyConflict)]
    assert (len(postings), len(conflicts)) == (10, 10), results
    assert sum(not p.replayed for p in postings) == 1
    assert sv.balance(db, customer).paid + sv.balance(db, other).paid == Decimal(5)
    assert sv.check_balances(db) == []
