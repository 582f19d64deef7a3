"""Cohort retention and the leaky bucket, against hand-computed examples and a brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.analytics.cohorts import cohort_retention, leaky_bucket, month_index, month_of
from guanxi.errors import InvalidInput

# Three customers: 0 and 1 first bought in month 100, customer 2 in month 101.
FIRST = [100, 100, 101]
CUSTOMER = [0, 0, 0, 0, 1, 1, 2, 2]
MONTH = [100, 101, 101, 103, 100, 102, 101, 102]  # (0, 101) twice: counted once


def test_cohort_retention_by_hand() -> None:
    table = cohort_retention(FIRST, CUSTOMER, MONTH, months=3)
    assert table.cohorts.tolist() == [100, 101]
    assert table.sizes.tolist() == [2, 1]
    assert table.offsets.tolist() == [0, 1, 2, 3]
    assert table.last_month == 103
    # cohort 100: month 101 customer 0, month 102 customer 1, month 103 customer 0
    # cohort 101: month 102 customer 2; month 104 is in the future
    assert table.counts.tolist() == [[2, 1, 1, 1], [1, 1, 0, 0]]
    assert table.shares.tolist() == [[1.0, 0.5, 0.5, 0.5], [1.0, 1.0, 0.0, 0.0]]
    assert table.observed.tolist() == [[True, True, True, True], [True, True, True, False]]


def test_first_month_counts_even_without_its_pair_and_last_month_cuts() -> None:
    table = cohort_retention([100, 100], [1], [101], months=2, last_month=101)
    assert table.counts.tolist() == [[2, 1, 0]]
    assert table.observed.tolist() == [[True, True, False]]
    early = cohort_retention(FIRST, CUSTOMER, MONTH, months=3, last_month=100)
    assert early.cohorts.tolist() == [100]  # the 101 cohort is not observed yet
    assert early.counts.tolist() == [[2, 0, 0, 0]]


def test_include_mask_splits_by_group() -> None:
    table = cohort_retention(FIRST, CUSTOMER, MONTH, months=3, include=[False, True, True])
    assert table.cohorts.tolist() == [100, 101]
    assert table.counts.tolist() == [[1, 0, 1, 0], [1, 1, 0, 0]]


def test_empty_cohort_table() -> None:
    table = cohort_retention([], [], [], months=2)
    assert table.counts.shape == (0, 3) and table.shares.shape == (0, 3)
    assert table.last_month is None


# Customer A (0) first bought in month 0 and bought in 0, 1, 4; B (1) first in 1, bought in 1, 2;
# C (2) bought only in 3. With a 2-month window a customer is active at the end of month m when
# they bought in m - 1 or m.
LB_FIRST = [0, 1, 3]
LB_CUSTOMER = [0, 0, 0, 1, 1, 2]
LB_MONTH = [0, 1, 4, 1, 2, 3]
LB_EXPECTED: dict[str, list[float]] = {
    "months": [0, 1, 2, 3, 4, 5, 6],
    "new": [1, 1, 0, 1, 0, 0, 0],
    "returning": [0, 1, 1, 0, 0, 0, 0],  # A in 1 (bought in 0), B in 2 (bought in 1)
    "reactivated": [0, 0, 0, 0, 1, 0, 0],  # A in 4, lapsed since 3
    "buyers": [1, 2, 1, 1, 1, 0, 0],
    "lapsed": [0, 0, 0, 1, 1, 1, 1],  # A in 3, B in 4, C in 5, A in 6
    "active_start": [0, 1, 2, 2, 2, 2, 1],
    "active_end": [1, 2, 2, 2, 2, 1, 0],
    "net_change": [1, 1, 0, 0, 0, -1, -1],
    "churn_rate": [0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 1.0],
    "repeat_purchase_rate": [0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.0],
}


def test_leaky_bucket_by_hand() -> None:
    bucket = leaky_bucket(LB_FIRST, LB_CUSTOMER, LB_MONTH, window_months=2, start=0, end=6)
    assert bucket.window_months == 2
    for name, expected in LB_EXPECTED.items():
        assert getattr(bucket, name).tolist() == expected, name


def test_leaky_bucket_uses_history_before_start() -> None:
    bucket = leaky_bucket(LB_FIRST, LB_CUSTOMER, LB_MONTH, window_months=2, start=3, end=4)
    for name, expected in LB_EXPECTED.items():
        assert getattr(bucket, name).tolist() == expected[3:5], name


def test_leaky_bucket_window_decides_returning_or_reactivated() -> None:
    # one customer buying in months 0 and 6
    six = leaky_bucket([0], [0], [6], window_months=6, start=0, end=7)
    assert six.returning.tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
    assert six.lapsed.tolist() == [0] * 8
    five = leaky_bucket([0], [0], [6], window_months=5, start=0, end=7)
    assert five.lapsed.tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    assert five.reactivated.tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
    assert five.active_end.tolist() == [1, 1, 1, 1, 1, 0, 1, 1]


def _brute_bucket(
    first: list[int], pairs: set[tuple[int, int]], window: int, start: int, end: int
) -> dict[str, list[int]]:
    bought = {(c, m) for c, m in pairs} | {(c, f) for c, f in enumerate(first)}

    def active(c: int, m: int) -> bool:
        return any((c, k) in bought for k in range(m - window + 1, m + 1))

    out: dict[str, list[int]] = {k: [] for k in ("new", "returning", "reactivated", "lapsed",
                                                 "active_end")}  # fmt: skip
    for m in range(start, end + 1):
        buyers = [c for c in range(len(first)) if (c, m) in bought]
        out["new"].append(sum(first[c] == m for c in buyers))
        out["returning"].append(sum(first[c] < m and active(c, m - 1) for c in buyers))
        out["reactivated"].append(sum(first[c] < m and not active(c, m - 1) for c in buyers))
        out["lapsed"].append(sum(active(c, m - 1) and not active(c, m) for c in range(len(first))))
        out["active_end"].append(sum(active(c, m) for c in range(len(first))))
    return out


activity = st.integers(1, 8).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 10), min_size=n, max_size=n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 14)), max_size=30),
    )
)


@settings(max_examples=60)
@given(activity, st.integers(1, 4), st.integers(0, 8), st.integers(0, 8))
def test_leaky_bucket_matches_brute_force(
    data: tuple[list[int], list[tuple[int, int]]], window: int, start: int, length: int
) -> None:
    first, raw_pairs = data
    pairs = {(c, max(m, first[c])) for c, m in raw_pairs}  # no activity before the first month
    customers = [c for c, _ in sorted(pairs)]
    months = [m for _, m in sorted(pairs)]
    bucket = leaky_bucket(first, customers, months, window_months=window, start=start,
                          end=start + length)  # fmt: skip
    expected = _brute_bucket(first, pairs, window, start, start + length)
    for name, values in expected.items():
        assert getattr(bucket, name).tolist() == values, name
    assert (bucket.active_end - bucket.active_start == bucket.net_change).all()
    assert (bucket.net_change == bucket.new + bucket.reactivated - bucket.lapsed).all()
    assert ((bucket.churn_rate >= 0) & (bucket.churn_rate <= 1)).all()
    assert ((bucket.repeat_purchase_rate >= 0) & (bucket.repeat_purchase_rate <= 1)).all()


@settings(max_examples=60)
@given(activity, st.integers(0, 6))
def test_cohort_table_properties(data: tuple[list[int], list[tuple[int, int]]], span: int) -> None:
    first, raw_pairs = data
    pairs = {(c, max(m, first[c])) for c, m in raw_pairs}
    table = cohort_retention(first, [c for c, _ in pairs], [m for _, m in pairs], months=span)
    assert table.sizes.sum() == len(first)
    assert (table.shares[:, 0] == 1.0).all()
    assert ((table.shares >= 0) & (table.shares <= 1)).all()
    assert not np.isnan(table.shares).any()
    assert (table.counts[~table.observed] == 0).all()
    bought = pairs | set(enumerate(first))
    for i, cohort in enumerate(table.cohorts.tolist()):
        members = [c for c, f in enumerate(first) if f == cohort]
        for k in range(span + 1):
            expected = sum((c, cohort + k) in bought for c in members)
            assert table.counts[i, k] == (expected if table.observed[i, k] else 0)


@pytest.mark.parametrize(
    ("first", "customer", "month", "message"),
    [
        ([100], [0], [99], "before the customer's first month"),
        ([100], [1], [101], "beyond the 1 customers"),
        ([100], [0, 0], [101], "lengths"),
        ([100], [0], [100.5], "non-whole"),
        ([float("nan")], [], [], "NaN"),
        ([100], [-1], [100], "negative"),
    ],
)
def test_invalid_activity(
    first: list[float], customer: list[int], month: list[float], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        cohort_retention(first, customer, month)
    with pytest.raises(InvalidInput, match=message):
        leaky_bucket(first, customer, month, start=100, end=101)


def test_invalid_options() -> None:
    with pytest.raises(InvalidInput, match="months"):
        cohort_retention(FIRST, CUSTOMER, MONTH, months=-1)
    with pytest.raises(InvalidInput, match="window_months"):
        leaky_bucket(FIRST, CUSTOMER, MONTH, window_months=0, start=100, end=101)
    with pytest.raises(InvalidInput, match="after end"):
        leaky_bucket(FIRST, CUSTOMER, MONTH, start=102, end=101)
    with pytest.raises(InvalidInput, match="include"):
        cohort_retention(FIRST, CUSTOMER, MONTH, include=[True, False])


def test_month_index_round_trip() -> None:
    assert month_index(2024, 1) == 24288
    assert month_of(month_index(2025, 12)) == (2025, 12)
    with pytest.raises(InvalidInput, match="month"):
        month_index(2024, 13)


def test_empty_leaky_bucket_is_all_zeros() -> None:
    bucket = leaky_bucket([], [], [], start=5, end=7)
    assert bucket.months.tolist() == [5, 6, 7]
    assert bucket.active_end.tolist() == [0, 0, 0] and bucket.churn_rate.tolist() == [0.0] * 3
