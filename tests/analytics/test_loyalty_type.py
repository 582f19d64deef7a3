"""Loyalty types: the scoring rule, its tie order, the explanations and input checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.analytics.loyalty_type import (
    LOYALTY_TYPE_KEYS,
    LOYALTY_TYPES,
    TIE_ORDER,
    LoyaltyFeatures,
    LoyaltyTypeThresholds,
    explain_loyalty_type,
    loyalty_type_scores,
    loyalty_types,
)
from guanxi.errors import InvalidInput

NAN = float("nan")

# A customer who shows no sign of any type: 5 purchase days, 20 % of spend on promotion, 50 % at
# full price, 2 of 10 categories, irregular (cv 0.8), 100 days a customer, no referrals, no
# events, satisfaction unknown.
PLAIN = LoyaltyFeatures(
    purchase_days=5, promo_share=0.2, full_price_share=0.5, categories_bought=2,
    categories_total=10, interval_cv=0.8, tenure_days=100, referrals=0, events_attended=0,
    satisfaction=NAN,
)  # fmt: skip


def _one(features: LoyaltyFeatures, thresholds: LoyaltyTypeThresholds | None = None) -> str:
    return str(_many([features], thresholds)[0])


def _many(
    rows: list[LoyaltyFeatures], thresholds: LoyaltyTypeThresholds | None = None
) -> np.ndarray[Any, Any]:
    columns: dict[str, Any] = {
        f.name: [getattr(r, f.name) for r in rows] for f in dataclasses.fields(PLAIN)
    }
    totals = columns.pop("categories_total")
    total = totals[0] if totals else 10
    purchase_days = columns.pop("purchase_days")
    return loyalty_types(purchase_days, categories_total=total, thresholds=thresholds, **columns)


def _with(**changes: Any) -> LoyaltyFeatures:
    return dataclasses.replace(PLAIN, **changes)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "undetermined"),  # no type shows half of its signs
        ({"promo_share": 0.6}, "impulse"),  # 1 of 2 signs
        ({"promo_share": 0.6, "full_price_share": 0.3}, "impulse"),
        ({"events_attended": 2, "referrals": 1}, "emotional"),  # 2 of 3
        ({"events_attended": 2}, "undetermined"),  # 1 of 3 is not enough
        ({"satisfaction": 0.9, "referrals": 3}, "emotional"),
        ({"full_price_share": 0.8}, "cognitive"),
        ({"categories_bought": 4}, "cognitive"),  # 4 of 10 categories = 40 %
        ({"interval_cv": 0.3}, "behavioural"),
        ({"tenure_days": 400, "interval_cv": 0.5}, "behavioural"),
        # 2 purchase days: too little evidence whatever the signs
        ({"purchase_days": 2, "full_price_share": 0.9, "categories_bought": 9}, "undetermined"),
        ({"purchase_days": 3, "full_price_share": 0.9, "categories_bought": 9}, "cognitive"),
    ],
)
def test_single_customers(changes: dict[str, Any], expected: str) -> None:
    assert _one(_with(**changes)) == expected


def test_highest_score_wins() -> None:
    # emotional 2/3 against impulse 1/2 and behavioural 1/2
    mixed = _with(events_attended=1, referrals=1, promo_share=0.7, tenure_days=500)
    assert _one(mixed) == "emotional"
    # behavioural 2/2 against emotional 2/3
    assert _one(_with(events_attended=1, referrals=1, interval_cv=0.2, tenure_days=500)) == (
        "behavioural"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # emotional 3/3 and cognitive 2/2 tie: emotional comes first
        ({"events_attended": 1, "referrals": 1, "satisfaction": 0.9, "full_price_share": 0.9,
          "categories_bought": 8}, "emotional"),
        ({"full_price_share": 0.9, "categories_bought": 8, "interval_cv": 0.1,
          "tenure_days": 900}, "cognitive"),
        ({"interval_cv": 0.1, "tenure_days": 900, "promo_share": 0.9, "full_price_share": 0.1},
         "behavioural"),
        ({"interval_cv": 0.1, "promo_share": 0.9}, "behavioural"),  # 1/2 each
    ],
)  # fmt: skip
def test_ties_follow_the_documented_order(changes: dict[str, Any], expected: str) -> None:
    assert TIE_ORDER == ("emotional", "cognitive", "behavioural", "impulse")
    assert _one(_with(**changes)) == expected


def test_scores_are_shares_of_signs() -> None:
    features = [_with(events_attended=1, promo_share=0.9, full_price_share=0.1), PLAIN]
    columns: dict[str, Any] = {
        f.name: [getattr(r, f.name) for r in features] for f in dataclasses.fields(PLAIN)
    }
    columns.pop("categories_total")
    scores = loyalty_type_scores(columns.pop("purchase_days"), categories_total=10, **columns)
    assert scores.impulse.tolist() == [1.0, 0.0]
    assert scores.emotional.tolist() == pytest.approx([1 / 3, 0.0])
    assert scores.cognitive.tolist() == [0.0, 0.0]
    assert scores.behavioural.tolist() == [0.0, 0.0]
    assert scores.keys.tolist() == ["impulse", "undetermined"]


def test_thresholds_are_configurable() -> None:
    loose = LoyaltyTypeThresholds(min_purchase_days=1, behavioural_min_tenure_days=90)
    assert _one(_with(purchase_days=1, tenure_days=100), loose) == "behavioural"
    strict = LoyaltyTypeThresholds(min_type_score=1.0)
    assert _one(_with(events_attended=1, referrals=1)) == "emotional"
    assert _one(_with(events_attended=1, referrals=1), strict) == "undetermined"


def test_unknown_inputs_meet_no_sign() -> None:
    assert _one(_with(full_price_share=NAN, categories_bought=5)) == "cognitive"
    assert _one(_with(full_price_share=NAN, promo_share=NAN)) == "undetermined"
    no_categories = _with(categories_bought=0, categories_total=0, full_price_share=0.9)
    assert _one(no_categories) == "cognitive"  # 1 of 2: breadth is unknown


def test_explain_names_the_evidence_and_thresholds() -> None:
    reasons = explain_loyalty_type(_with(promo_share=0.64, full_price_share=0.1))
    assert [r.render() for r in reasons] == [
        "Meets 2 of 2 signs of impulse loyalty.",
        "64% of spend was on promotion (threshold 50%).",
        "Only 10% of spend was at full price (threshold: at most 30%).",
    ]
    assert (
        reasons[1].template == "{share:.0%} of spend was on promotion (threshold {threshold:.0%})."
    )
    assert reasons[1].values == {"share": 0.64, "threshold": 0.5}


def test_explain_every_type() -> None:
    emotional = explain_loyalty_type(_with(events_attended=2, referrals=1, satisfaction=0.9))
    assert [r.render() for r in emotional] == [
        "Meets 3 of 3 signs of emotional loyalty.",
        "Attended 2 club events (threshold 1).",
        "Referred 1 customers who bought (threshold 1).",
        "Satisfaction 90% (threshold 80%).",
    ]
    cognitive = explain_loyalty_type(_with(full_price_share=0.75, categories_bought=6))
    assert [r.render() for r in cognitive][1:] == [
        "75% of spend was at full price (threshold 70%).",
        "Bought in 6 of 10 categories (threshold 40% of them).",
    ]
    behavioural = explain_loyalty_type(_with(interval_cv=0.25, tenure_days=730.4))
    assert [r.render() for r in behavioural][1:] == [
        "Buys at regular intervals: the gaps between purchase days vary by 25% of their mean "
        "(threshold: at most 50%).",
        "A customer for 730 days (threshold 365 days).",
    ]
    tie = explain_loyalty_type(_with(interval_cv=0.1, promo_share=0.9))
    assert tie[0].render() == "Meets 1 of 2 signs of behavioural loyalty."
    assert "ties go to the first" in tie[-1].render()


def test_explain_undetermined() -> None:
    thin = explain_loyalty_type(_with(purchase_days=2))
    assert [r.render() for r in thin] == [
        "Only 2 purchase days: at least 3 are needed to tell a loyalty type."
    ]
    weak = explain_loyalty_type(PLAIN)
    assert [r.render() for r in weak] == ["No loyalty type shows at least 50% of its signs."]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 40), st.floats(0, 1), st.one_of(st.just(NAN), st.floats(0, 1)),
            st.integers(0, 12), st.one_of(st.just(NAN), st.floats(0, 3)), st.floats(0, 3000),
            st.integers(0, 3), st.integers(0, 3), st.one_of(st.just(NAN), st.floats(0, 1)),
        ),
        max_size=40,
    )
)  # fmt: skip
def test_type_properties(rows: list[tuple[Any, ...]]) -> None:
    features = [
        LoyaltyFeatures(d, promo, full, cats, 12, cv, tenure, refs, events, sat)
        for d, promo, full, cats, cv, tenure, refs, events, sat in rows
    ]
    keys = _many(features).tolist()
    for key, f in zip(keys, features, strict=True):
        assert key in LOYALTY_TYPE_KEYS
        if f.purchase_days < 3:
            assert key == "undetermined"
        explained = explain_loyalty_type(f)
        assert explained and all(r.render() for r in explained)
        if key != "undetermined":
            assert explained[0].template.endswith(f"{key} loyalty.")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"promo_share": 1.5}, "promo_share has 1 above 1"),
        ({"satisfaction": -0.1}, "satisfaction has 1 below 0"),
        ({"tenure_days": NAN}, "tenure_days has 1 NaN"),
        ({"referrals": -1}, "referrals has 1 negative"),
        ({"events_attended": 1.5}, "non-whole"),
        ({"categories_bought": 11}, "categories_bought exceeds categories_total"),
        ({"categories_total": -1}, "categories_total"),
    ],
)
def test_invalid_input(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _one(_with(**changes))


def test_mismatched_lengths_and_bad_thresholds() -> None:
    with pytest.raises(InvalidInput, match="lengths"):
        loyalty_types(
            [5, 5], promo_share=[0.1], full_price_share=[0.1, 0.2], categories_bought=[1, 1],
            categories_total=3, interval_cv=[0.1, 0.1], tenure_days=[1, 1], referrals=[0, 0],
            events_attended=[0, 0], satisfaction=[NAN, NAN],
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="min_type_score"):
        LoyaltyTypeThresholds(min_type_score=1.5)
    with pytest.raises(InvalidInput, match="min_purchase_days"):
        LoyaltyTypeThresholds(min_purchase_days=-1)


def test_types_are_documented() -> None:
    assert LOYALTY_TYPE_KEYS == ("impulse", "emotional", "cognitive", "behavioural", "undetermined")
    assert all(t.label and t.description for t in LOYALTY_TYPES)
    assert _many([]).tolist() == []


def test_explain_accepts_none_for_unknown_values() -> None:
    stored = _with(promo_share=None, full_price_share=0.9, categories_bought=5, interval_cv=None,
                   satisfaction=None)  # fmt: skip
    assert [r.render() for r in explain_loyalty_type(stored)][0] == (
        "Meets 2 of 2 signs of cognitive loyalty."
    )
