"""RFM quintile scores, the R x FM segment grid and the 8-class model, on hand-made examples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.analytics.rfm import (
    CHINA_CLASS_KEYS,
    CHINA_CLASSES,
    SEGMENT_GRID,
    SEGMENT_KEYS,
    SEGMENTS,
    RfmScores,
    china_rfm_class,
    quintile_scores,
    rfm_scores,
    rfm_segment,
)
from guanxi.errors import InvalidInput


def _scores(values: list[float]) -> list[int]:
    return [int(v) for v in quintile_scores(np.asarray(values, dtype=np.float64))]


def test_quintiles_of_ten_distinct_values_are_two_each() -> None:
    assert _scores([3, 1, 2, 10, 9, 8, 7, 6, 5, 4]) == [2, 1, 1, 5, 5, 4, 4, 3, 3, 2]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([42.0], [3]),
        ([1, 2], [2, 4]),
        ([1, 2, 3], [1, 3, 5]),
        ([1, 2, 3, 4], [1, 2, 4, 5]),
        ([7, 7, 7, 7, 7, 7], [3, 3, 3, 3, 3, 3]),
        # ties share the average rank: ranks 1.5, 1.5, 3, 4, 5 -> floor(5 (rank - 1/2) / 5) + 1
        ([10, 10, 20, 30, 40], [2, 2, 3, 4, 5]),
        ([1, 2, 2, 2, 2, 2, 2, 2, 2, 9], [1, 3, 3, 3, 3, 3, 3, 3, 3, 5]),
    ],
)
def test_quintiles_small_cases(values: list[float], expected: list[int]) -> None:
    assert _scores(values) == expected


def test_rfm_scores_recency_scores_fewer_days_higher() -> None:
    scores = rfm_scores(
        recency_days=[0, 10, 20, 30, 40],
        frequency=[1, 1, 2, 5, 9],
        monetary=[50.0, 10.0, 30.0, -5.0, 20.0],
    )
    assert scores.r.tolist() == [5, 4, 3, 2, 1]
    assert scores.f.tolist() == [2, 2, 3, 4, 5]
    assert scores.m.tolist() == [5, 2, 4, 1, 3]
    assert scores.r.dtype == np.int8 and len(scores) == 5
    assert scores.fm.tolist() == [4, 2, 4, 3, 4]  # ceil((f + m) / 2)


@given(st.lists(st.integers(-(10**6), 10**6), unique=True, max_size=300))
def test_distinct_values_fill_quintiles_within_one(values: list[int]) -> None:
    scores = quintile_scores(np.asarray(values, dtype=np.float64))
    counts = np.bincount(scores, minlength=6)[1:]
    if values:
        assert counts.max() - counts.min() <= 1
        assert counts.sum() == len(values)
        # symmetric: reversing the order maps score s to 6 - s
        assert (quintile_scores(-np.asarray(values, dtype=np.float64)) == 6 - scores).all()


@given(st.lists(st.integers(0, 20), min_size=1, max_size=200))
def test_scores_are_monotone_and_ties_share_a_score(values: list[int]) -> None:
    x = np.asarray(values, dtype=np.float64)
    scores = quintile_scores(x)
    assert scores.min() >= 1 and scores.max() <= 5
    order = np.argsort(x, kind="stable")
    assert (np.diff(scores[order]) >= 0).all()
    for value in np.unique(x):
        assert np.unique(scores[x == value]).size == 1


def test_every_rfm_cell_maps_to_exactly_one_segment() -> None:
    cells = list(itertools.product(range(1, 6), repeat=3))
    r, f, m = (np.asarray(column, dtype=np.int8) for column in zip(*cells, strict=True))
    keys = rfm_segment(RfmScores(r=r, f=f, m=m))
    assert keys.shape == (125,)
    assert set(keys.tolist()) == set(SEGMENT_KEYS)  # every segment is reachable
    assert all(key in SEGMENT_KEYS for key in keys.tolist())
    assert len(SEGMENT_GRID) == 5 and all(len(row) == 5 for row in SEGMENT_GRID)


@pytest.mark.parametrize(
    ("r", "f", "m", "key"),
    [
        (5, 5, 5, "champions"),
        (5, 4, 3, "champions"),  # FM = ceil(3.5) = 4
        (4, 5, 5, "loyal_customers"),
        (3, 4, 4, "loyal_customers"),
        (5, 2, 3, "potential_loyalists"),
        (5, 1, 1, "new_customers"),
        (4, 1, 1, "promising"),
        (3, 3, 3, "need_attention"),
        (3, 1, 2, "about_to_sleep"),
        (2, 4, 3, "at_risk"),
        (1, 5, 5, "cant_lose_them"),
        (2, 5, 4, "cant_lose_them"),
        (2, 1, 2, "hibernating"),
        (1, 1, 1, "lost"),
        (1, 2, 2, "lost"),
    ],
)
def test_named_segments(r: int, f: int, m: int, key: str) -> None:
    scores = RfmScores(r=np.array([r]), f=np.array([f]), m=np.array([m]))
    assert rfm_segment(scores).tolist() == [key]


def test_segments_are_documented() -> None:
    assert len(SEGMENTS) == 11
    assert len(set(SEGMENT_KEYS)) == 11
    assert {"champions", "cant_lose_them", "lost"} <= set(SEGMENT_KEYS)
    assert all(s.label and s.description for s in SEGMENTS)


def test_scores_outside_one_to_five_are_refused() -> None:
    with pytest.raises(InvalidInput, match="1..5"):
        RfmScores(r=np.array([0]), f=np.array([1]), m=np.array([1]))
    with pytest.raises(InvalidInput, match="lengths"):
        RfmScores(r=np.array([1, 2]), f=np.array([1]), m=np.array([1]))


@pytest.mark.parametrize(
    ("recency", "frequency", "monetary", "message"),
    [
        ([1, 2], [1], [1, 2], "lengths"),
        ([1, 2], [1, 2], [1, float("nan")], "monetary has 1 NaN"),
        ([1, 2], [1, -2], [1, 2], "frequency has 1 negative"),
        ([1, -3], [1, 2], [1, 2], "recency_days has 1 below 0"),
        ([1, 2], [1, 2.5], [1, 2], "non-whole"),
        ([[1, 2]], [1], [1], "1-D"),
        (["a"], [1], [1], "array of numbers"),
    ],
)
def test_invalid_rfm_input(
    recency: list[float], frequency: list[float], monetary: list[float], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        rfm_scores(recency, frequency, monetary)
    with pytest.raises(InvalidInput, match=message):
        china_rfm_class(recency, frequency, monetary)


def test_china_classes_against_the_mean() -> None:
    # recency mean 55 (10 is high), frequency mean 3 (5 is high), monetary mean 50.5 (100 high)
    keys = china_rfm_class(
        recency_days=[10, 100, 10, 100, 10, 100, 10, 100],
        frequency=[5, 5, 1, 1, 5, 5, 1, 1],
        monetary=[100, 100, 100, 100, 1, 1, 1, 1],
    )
    assert keys.tolist() == [
        "important_value", "important_retention", "important_development", "important_winback",
        "general_value", "general_retention", "general_development", "general_winback",
    ]  # fmt: skip


def test_china_reference_median_differs_from_mean() -> None:
    args = ([5, 5, 5, 5], [3, 3, 3, 3], [1.0, 2.0, 3.0, 100.0])
    by_mean = china_rfm_class(*args, reference="mean").tolist()
    by_median = china_rfm_class(*args, reference="median").tolist()
    assert by_mean == ["general_winback"] * 3 + ["important_winback"]
    assert by_median == ["general_winback"] * 2 + ["important_winback"] * 2


def test_china_equal_values_count_as_low_despite_rounding() -> None:
    keys = china_rfm_class([0.1] * 7, [2] * 7, [0.1] * 7)
    assert keys.tolist() == ["general_winback"] * 7
    assert china_rfm_class([], [], []).tolist() == []


def test_china_classes_are_documented() -> None:
    names = {c.key: c.name_zh for c in CHINA_CLASSES}
    assert names["important_value"] == "重要价值客户"
    assert names["important_development"] == "重要发展客户"
    assert names["important_retention"] == "重要保持客户"
    assert names["important_winback"] == "重要挽留客户"
    assert names["general_winback"] == "一般挽留客户"
    assert len(CHINA_CLASS_KEYS) == 8 == len(set(CHINA_CLASS_KEYS))
    with pytest.raises(InvalidInput, match="mean"):
        china_rfm_class([1], [1], [1], reference="mode")  # type: ignore[arg-type]
