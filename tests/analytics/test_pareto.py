"""The 80/20 measures: top-customer share, Gini and the Lorenz curve."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.analytics.pareto import concentration
from guanxi.errors import InvalidInput


def test_hand_computed_five_customers() -> None:
    c = concentration([4.0, 1.0, 10.0, 3.0, 2.0])
    assert c.n == 5 and c.total == 20.0 and c.clipped == 0
    assert c.top_share_of_total == pytest.approx(10 / 20)  # the top 1 of 5 customers
    # G = 2 Σ i a_i / (n S) - (n + 1) / n = 2 * 80 / 100 - 6 / 5
    assert c.gini == pytest.approx(0.4)
    assert c.lorenz.x.tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert c.lorenz.y.tolist() == pytest.approx([0, 0.05, 0.15, 0.30, 0.50, 1.0])


def test_fractional_top_count_is_interpolated() -> None:
    c = concentration([7, 6, 5, 4, 3, 2, 1])  # 20 % of 7 = 1.4 customers: 7 + 0.4 * 6
    assert c.top_share_of_total == pytest.approx(9.4 / 28)
    half = concentration([7, 6, 5, 4, 3, 2, 1], top_share=0.5)  # 3.5: 7 + 6 + 5 + 0.5 * 4
    assert half.top_share_of_total == pytest.approx(20 / 28)
    assert concentration([5, 1], top_share=1.0).top_share_of_total == 1.0


def test_negative_values_are_clipped_at_zero() -> None:
    c = concentration([-5.0, 5.0])
    assert c.clipped == 1 and c.total == 5.0
    assert c.top_share_of_total == pytest.approx(0.4)  # 0.4 of the one customer with 5
    assert c.gini == pytest.approx(0.5)  # (n - 1) / n: one customer holds everything


@pytest.mark.parametrize("values", [[], [0.0, 0.0, 0.0], [-3.0, 0.0]])
def test_nothing_to_concentrate_is_perfect_equality_without_nan(values: list[float]) -> None:
    c = concentration(values)
    assert c.total == 0.0 and c.gini == 0.0 and c.top_share_of_total == 0.2
    assert c.lorenz.x.tolist() == c.lorenz.y.tolist()
    assert c.lorenz.x[0] == 0.0 and c.lorenz.x[-1] == 1.0
    assert not np.isnan(c.lorenz.y).any()


def test_one_customer_and_equal_customers_are_equal() -> None:
    one = concentration([123.0])
    assert one.gini == 0.0 and one.top_share_of_total == pytest.approx(0.2)
    same = concentration([5.0] * 10)
    assert same.gini == pytest.approx(0.0) and same.top_share_of_total == pytest.approx(0.2)


def test_large_input_gives_101_points_on_the_exact_curve() -> None:
    values = np.arange(1, 1001, dtype=np.float64)
    c = concentration(values)
    assert c.lorenz.x.size == 101 and c.lorenz.y.size == 101
    # L(p) of 1..n is p (pn + 1) / (n + 1), exact at the corners p = i / n
    p = c.lorenz.x
    assert c.lorenz.y == pytest.approx(p * (p * 1000 + 1) / 1001)
    assert c.top_share_of_total == pytest.approx(sum(range(801, 1001)) / values.sum())
    assert c.gini == pytest.approx((1000 - 1) / (3 * 1000))  # Gini of 1..n = (n - 1) / (3 n)


@given(
    st.lists(st.floats(-100, 1e6, allow_nan=False), max_size=400),
    st.floats(0.01, 1.0),
)
def test_concentration_properties(values: list[float], top_share: float) -> None:
    c = concentration(values, top_share=top_share)
    assert 0.0 <= c.gini <= 1.0
    assert top_share - 1e-12 <= c.top_share_of_total <= 1.0
    x, y = c.lorenz.x, c.lorenz.y
    assert x.size == y.size <= 101
    assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert (np.diff(x) > 0).all() and (np.diff(y) >= -1e-12).all()  # monotone
    slopes = np.diff(y) / np.diff(x)
    assert (np.diff(slopes) >= -1e-6 * max(1.0, slopes.max())).all()  # convex
    assert (y <= x + 1e-12).all()  # below the diagonal
    assert not np.isnan(y).any()


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=100), st.floats(0.1, 50))
def test_measures_do_not_depend_on_the_currency_unit(values: list[float], scale: float) -> None:
    a = concentration(values)
    b = concentration([v * scale for v in values])
    assert b.gini == pytest.approx(a.gini, abs=1e-9)
    assert b.top_share_of_total == pytest.approx(a.top_share_of_total, abs=1e-9)


@pytest.mark.parametrize(
    ("values", "top_share", "message"),
    [
        ([1.0, float("nan")], 0.2, "NaN"),
        ([1.0, float("inf")], 0.2, "infinite"),
        ([[1.0, 2.0]], 0.2, "1-D"),
        ([1.0], 0.0, "top_share"),
        ([1.0], 1.5, "top_share"),
        ([1.0], float("nan"), "top_share"),
    ],
)
def test_invalid_input(values: list[float], top_share: float, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        concentration(values, top_share=top_share)
