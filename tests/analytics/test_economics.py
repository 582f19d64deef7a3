"""Retention economics: hand-computed values, monotonicity, the Gupta-Lehmann limit, checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.analytics.economics import retention_value
from guanxi.errors import InvalidInput

SMALL: dict[str, Any] = {
    "active_customers": 100,
    "annual_retention": 0.5,
    "annual_margin_per_customer": 10.0,
    "annual_discount_rate": 0.1,
    "acquisition_cost": 20.0,
    "retention_cost_per_point": 5.0,
}


def test_hand_computed_small_case() -> None:
    table = retention_value(**SMALL, uplifts=[0, 10], years=[1, 2])
    assert table.uplifts.tolist() == [0.0, 10.0] and table.years.tolist() == [1, 2]
    assert table.retention.tolist() == pytest.approx([0.5, 0.6])
    # +10 points: 60 % instead of 50 %. Year 1: 100 (0.6 - 0.5) = 10 extra customers, margin
    # 10 * 10 / 1.1; year 2: 100 (0.36 - 0.25) = 11 extra customers, margin 11 * 10 / 1.21.
    assert table.extra_customers[1].tolist() == pytest.approx([10.0, 11.0])
    assert table.extra_margin[1].tolist() == pytest.approx([100 / 1.1, 100 / 1.1 + 110 / 1.21])
    # cost 10 points * 5 a year, discounted like the margin
    assert table.retention_cost[1].tolist() == pytest.approx([50 / 1.1, 50 / 1.1 + 50 / 1.21])
    assert table.net_value[1].tolist() == pytest.approx([50 / 1.1, 50 / 1.1 + 60 / 1.21])
    assert table.acquisition_cost[1].tolist() == pytest.approx([200.0, 220.0])
    assert table.baseline_customers.tolist() == pytest.approx([50.0, 25.0])
    assert table.baseline_margin.tolist() == pytest.approx([500 / 1.1, 500 / 1.1 + 250 / 1.21])


def test_zero_uplift_gives_zero() -> None:
    table = retention_value(**SMALL, uplifts=[0])
    for name in ("extra_customers", "extra_margin", "retention_cost", "net_value",
                 "acquisition_cost"):  # fmt: skip
        assert (getattr(table, name) == 0).all(), name


def test_defaults_are_ten_uplifts_over_three_years() -> None:
    table = retention_value(**SMALL)
    assert table.uplifts.tolist() == list(range(1, 11))
    assert table.years.tolist() == [1, 2, 3]
    assert table.extra_margin.shape == (10, 3)


@given(
    st.integers(1, 100_000),
    st.floats(0.0, 0.89),
    st.floats(0.01, 10_000),
    st.floats(0.0, 0.3),
)
def test_value_increases_with_uplift_and_horizon(
    n: int, retention: float, margin: float, discount: float
) -> None:
    table = retention_value(
        active_customers=n, annual_retention=retention, annual_margin_per_customer=margin,
        annual_discount_rate=discount, acquisition_cost=100, retention_cost_per_point=10,
        uplifts=range(0, 11), years=(1, 2, 3, 5),
    )  # fmt: skip
    extra = table.extra_margin
    assert (extra[0] == 0).all()
    assert (np.diff(extra, axis=0) > 0).all()  # more uplift, more value (retention below 1)
    assert (np.diff(extra[1:], axis=1) > 0).all()  # longer horizon, more value
    assert (np.diff(table.retention_cost, axis=0) >= 0).all()
    assert (np.diff(table.extra_customers, axis=0) >= 0).all()


def test_retention_is_capped_at_one() -> None:
    table = retention_value(**{**SMALL, "annual_retention": 0.95}, uplifts=[5, 10], years=[1])
    assert table.retention.tolist() == [1.0, 1.0]
    assert table.extra_customers[:, 0].tolist() == pytest.approx([5.0, 5.0])
    # the same customers are kept, but 10 points cost twice as much
    assert table.net_value[1, 0] < table.net_value[0, 0]


def test_long_horizon_reaches_the_gupta_lehmann_value() -> None:
    # Σ_{t>=1} m r^t / (1 + i)^t = m r / (1 + i - r) per customer
    table = retention_value(**SMALL, uplifts=[10], years=[400])
    assert table.baseline_margin[0] == pytest.approx(100 * 10 * 0.5 / (1.1 - 0.5))
    expected = 100 * 10 * (0.6 / (1.1 - 0.6) - 0.5 / (1.1 - 0.5))
    assert table.extra_margin[0, 0] == pytest.approx(expected)


def test_assumptions_in_words() -> None:
    table = retention_value(
        **{**SMALL, "active_customers": 1200, "annual_margin_per_customer": 350}
    )
    texts = [reason.render() for reason in table.assumptions]
    assert texts[:3] == [
        "1200 active customers today.",
        "50% of them buy again within a year.",
        "Each active customer brings ¥350.00 margin a year.",
    ]
    assert "discounted at 10.0% a year" in texts[3]
    assert table.assumptions[0].template == "{n} active customers today."
    assert table.assumptions[0].values == {"n": 1200}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"annual_retention": 1.2}, "annual_retention must be <= 1"),
        ({"annual_retention": -0.1}, "annual_retention must be >= 0"),
        ({"active_customers": -5}, "active_customers must be >= 0"),
        ({"active_customers": 2.5}, "whole number"),
        ({"annual_margin_per_customer": float("nan")}, "finite"),
        ({"annual_discount_rate": -0.05}, "annual_discount_rate"),
        ({"acquisition_cost": "20"}, "must be a number"),
        ({"uplifts": [-1]}, "uplifts has 1 below 0"),
        ({"uplifts": []}, "at least one"),
        ({"years": [0]}, "years has 1 below 1"),
        ({"years": [1.5]}, "whole numbers of years"),
    ],
)
def test_invalid_input(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        retention_value(**{**SMALL, **changes})
