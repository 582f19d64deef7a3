"""The uplift interval: Wilson intervals against SciPy, Newcombe's hybrid score interval
against the published table (Newcombe 1998, Table II, method 10), and the edge cases."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from guanxi.care.uplift import newcombe_interval, uplift, wilson_interval

# (x1, n1, x2, n2) -> (low, high), Newcombe (1998) Stat Med 17:873-890, Table II, method 10.
NEWCOMBE_TABLE = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE)
def test_newcombe_matches_the_published_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    x1, n1, x2, n2 = counts
    difference, low, high = newcombe_interval(x1, n1, x2, n2)
    assert difference == pytest.approx(x1 / n1 - x2 / n2)
    assert (round(low, 4), round(high, 4)) == expected


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 10), (17, 40), (500, 1000), (1, 9999)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ours = wilson_interval(k, n)
    theirs = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours == pytest.approx((theirs.low, theirs.high), abs=1e-12)
    narrower = wilson_interval(k, n, confidence=0.8)
    assert narrower[0] >= ours[0] and narrower[1] <= ours[1]


def test_uplift_summary() -> None:
    result = uplift(1000, 150, 250, 20)
    assert result.treated_rate == pytest.approx(0.15) and result.holdout_rate == pytest.approx(0.08)
    assert result.difference == pytest.approx(0.07)
    assert result.low is not None and result.high is not None
    assert 0 < result.low < 0.07 < result.high and result.significant
    assert result.as_json()["significant"] is True
    no_effect = uplift(100, 10, 100, 10)
    assert no_effect.difference == 0 and not no_effect.significant
    assert no_effect.low == pytest.approx(-(no_effect.high or 0))  # symmetric when equal


def test_uplift_with_an_empty_group_has_no_interval() -> None:
    result = uplift(50, 5, 0, 0)
    assert result.treated_rate == pytest.approx(0.1) and result.holdout_rate is None
    assert result.difference is None and result.low is None and not result.significant


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        uplift(10, 11, 10, 1)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(1, 10, confidence=1.0)
