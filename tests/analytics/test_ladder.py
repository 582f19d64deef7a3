"""The loyalty ladder: rungs by rule, explanations in words, movements between snapshots."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.analytics.ladder import (
    MOVEMENT_KEYS,
    NEW_TO_ARCHIVE,
    RUNG_KEYS,
    RUNGS,
    LadderThresholds,
    explain_rung,
    ladder_movements,
    ladder_rungs,
)
from guanxi.analytics.reasons import Reason
from guanxi.errors import InvalidInput

NAN = float("nan")

# purchase_days, days_since_last, p_alive, referrals, is_promoter -> rung (default thresholds:
# loyal 4+ days, P(alive) >= 0.7, within 90 days; lapsed > 180 days or P < 0.5; lost > 365 or
# P < 0.2 after more than 90 days)
CASES = [
    (0, NAN, NAN, 0, False, "prospect"),
    (0, NAN, NAN, 3, True, "prospect"),  # referrals of a non-buyer do not make an advocate
    (1, 10, 1.0, 0, False, "first_time"),
    (1, 10, NAN, 2, True, "first_time"),  # advocates are repeat or loyal customers
    (2, 10, 0.9, 0, False, "repeat"),
    (3, 10, 0.9, 0, False, "repeat"),  # fewer than 4 purchase days
    (4, 10, 0.9, 0, False, "loyal"),
    (4, 90, 0.7, 0, False, "loyal"),  # both limits are inclusive
    (4, 91, 0.9, 0, False, "repeat"),  # not bought within 90 days
    (9, 10, 0.6, 0, False, "repeat"),  # P(alive) below 0.7
    (9, 10, NAN, 0, False, "loyal"),  # no model: the day rules only
    (2, 10, 0.9, 1, False, "advocate"),
    (6, 10, 0.9, 0, True, "advocate"),
    (6, 180, 0.9, 0, False, "repeat"),
    (6, 181, 0.9, 0, False, "lapsed"),
    (6, 10, 0.49, 5, True, "lapsed"),  # exits come before advocacy
    (1, 200, NAN, 0, False, "lapsed"),
    (6, 365, 0.9, 0, False, "lapsed"),
    (6, 366, 0.9, 0, False, "lost"),
    (6, 10, 0.19, 0, False, "lapsed"),  # a frequent buyer's short pause is no loss
    (6, 90, 0.19, 0, False, "lapsed"),
    (6, 91, 0.19, 0, False, "lost"),
    (1, 400, NAN, 0, False, "lost"),
]


def test_rungs_by_rule() -> None:
    days, since, p_alive, referrals, promoter, expected = zip(*CASES, strict=True)
    rungs = ladder_rungs(days, since, p_alive, referrals, promoter)
    assert rungs.tolist() == list(expected)


def test_thresholds_change_the_rungs() -> None:
    strict = LadderThresholds(loyal_min_purchases=10, lapsed_after_days=60, active_days=30)
    rungs = ladder_rungs([6, 12, 12], [10, 10, 61], [NAN, NAN, NAN], [0, 0, 0], [0, 0, 0], strict)
    assert rungs.tolist() == ["repeat", "loyal", "lapsed"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loyal_min_purchases": 1},
        {"lapsed_after_days": 400},  # after lost_after_days
        {"active_days": 200},  # after lapsed_after_days
        {"lapsed_p_alive": 0.1},  # below lost_p_alive
        {"loyal_min_p_alive": 1.5},
    ],
)
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        LadderThresholds(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [1], [NAN, NAN], [0, 0], [0, 0]), "lengths"),
        (([1], [NAN], [NAN], [0], [0]), "only prospects"),
        (([-1], [3], [NAN], [0], [0]), "negative"),
        (([1], [3], [1.5], [0], [0]), "above 1"),
        (([1], [-3], [0.5], [0], [0]), "below 0"),
        (([1], [3], [0.5], [0], [2]), "non-boolean"),
        (([1], [3], [0.5], [-1], [0]), "referrals has 1 negative"),
    ],
)
def test_invalid_input(args: tuple[list[float], ...], message: str) -> None:
    days, since, p_alive, referrals, promoter = args
    with pytest.raises(InvalidInput, match=message):
        ladder_rungs(days, since, p_alive, referrals, promoter)


def test_p_alive_rounding_above_one_is_accepted() -> None:
    assert ladder_rungs([4], [5], [1.0 + 1e-12], [0], [False]).tolist() == ["loyal"]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.floats(0, 1000),
            st.one_of(st.just(NAN), st.floats(0, 1)),
            st.integers(0, 3),
            st.booleans(),
        ),
        max_size=50,
    )
)
def test_rung_properties(rows: list[tuple[int, float, float, int, bool]]) -> None:
    days = [r[0] for r in rows]
    since = [NAN if r[0] == 0 else r[1] for r in rows]
    p_alive = [r[2] for r in rows]
    referrals = [r[3] for r in rows]
    promoter = [r[4] for r in rows]
    rungs = ladder_rungs(days, since, p_alive, referrals, promoter).tolist()
    assert len(rungs) == len(rows)
    for rung, d, s, p, ref, prom in zip(rungs, days, since, p_alive, referrals, promoter,
                                        strict=True):  # fmt: skip
        assert rung in RUNG_KEYS
        assert (rung == "prospect") == (d == 0)
        if rung == "first_time":
            assert d == 1
        if rung in ("repeat", "loyal", "advocate"):
            assert d >= 2 and s <= 180 and not p < 0.5
        if rung == "advocate":
            assert ref > 0 or prom
        if d > 0 and (s > 365 or (p < 0.2 and s > 90)):
            assert rung == "lost"


def _rendered(reasons: list[Reason]) -> list[str]:
    return [reason.render() for reason in reasons]


def test_explain_loyal_customer() -> None:
    reasons = explain_rung(6, 12, 0.83, 0, False)
    assert _rendered(reasons) == [
        "Bought on 6 different days; last purchase 12 days ago.",
        "P(alive) 83%: the estimated probability that the customer still buys here.",
        "At least 4 purchase days, P(alive) at least 70% and a purchase in the last 90 days: "
        "loyal.",
    ]
    assert reasons[0].template == "Bought on {days} different days; last purchase {since} days ago."
    assert reasons[0].values == {"days": 6, "since": 12}


def test_explain_every_rung() -> None:
    assert _rendered(explain_rung(0, NAN, NAN, 0, False)) == [
        "In the archive but has never bought: prospect."
    ]
    first = _rendered(explain_rung(1, 30.4, NAN, 0, False))
    assert first == [
        "Bought on one day; last purchase 30 days ago.",
        "No P(alive) estimate for this customer: only the day rules apply.",
        "Bought on one day only: first-time customer.",
    ]
    repeat = _rendered(explain_rung(3, 120, 0.6, 0, False))
    assert repeat[2:] == [
        "Bought on two or more days: repeat customer.",
        "Not yet loyal: fewer than 4 purchase days.",
        "Not yet loyal: P(alive) is below 70%.",
        "Not yet loyal: no purchase in the last 90 days.",
    ]
    advocate = _rendered(explain_rung(5, 3, 0.95, 2, True))
    assert advocate[2:] == [
        "Referred 2 customer(s) who bought: advocate.",
        "Is a promoter in the NPS survey: advocate.",
    ]
    assert _rendered(explain_rung(5, 200, 0.3, 0, False))[2:] == [
        "No purchase for more than 180 days: lapsed.",
        "P(alive) is below 50%: lapsed.",
    ]
    assert _rendered(explain_rung(5, 100, 0.1, 0, False))[2:] == [
        "P(alive) is below 20% and no purchase for more than 90 days: lost."
    ]
    assert _rendered(explain_rung(9, 20, NAN, 0, False))[2:] == [
        "At least 4 purchase days and a purchase in the last 90 days: loyal."
    ]


def test_explanations_agree_with_the_vectorised_rungs() -> None:
    words = {"prospect": "prospect", "first_time": "first-time customer",
             "repeat": "repeat customer", "loyal": "loyal", "advocate": "advocate",
             "lapsed": "lapsed", "lost": "lost"}  # fmt: skip
    for days, since, p, ref, prom, rung in CASES:
        text = " ".join(_rendered(explain_rung(days, since, p, ref, prom)))
        named = {word for word in words.values() if f": {word}." in text}
        assert named == {words[rung]}, (rung, text)


def test_reason_values_are_plain_python() -> None:
    reason = Reason("{a} {b:.1f} {c}", {"a": np.int64(3), "b": np.float64(2.25), "c": "x"})
    assert reason.values == {"a": 3, "b": 2.25, "c": "x"}
    assert type(reason.values["a"]) is int and type(reason.values["b"]) is float
    assert reason.render() == "3 2.2 x"
    with pytest.raises(TypeError):
        Reason("{a}", {"a": [1]})  # type: ignore[dict-item]


def test_movements_between_snapshots() -> None:
    before = ["prospect", "first_time", "first_time", NEW_TO_ARCHIVE, "loyal", "loyal", "lapsed"]
    after = ["first_time", "repeat", "first_time", "first_time", "advocate", "lapsed", "repeat"]
    keys, matrix = ladder_movements(before, after)
    assert keys == MOVEMENT_KEYS and keys[0] == "new_to_archive" and keys[1:] == RUNG_KEYS
    assert matrix.shape == (8, 8) and matrix.dtype == np.int64
    expected = np.zeros((8, 8), dtype=np.int64)
    for b, a in zip(before, after, strict=True):
        expected[keys.index(b), keys.index(a)] += 1
    assert (matrix == expected).all()
    assert matrix[keys.index("first_time"), keys.index("first_time")] == 1  # stayed
    assert matrix[keys.index(NEW_TO_ARCHIVE), keys.index("first_time")] == 1
    assert matrix.sum() == 7 and matrix[:, 0].sum() == 0


def test_movements_refuse_unknown_keys_and_mismatched_lengths() -> None:
    with pytest.raises(InvalidInput, match="unknown rung key.*'vip'"):
        ladder_movements(["prospect", "vip"], ["repeat", "repeat"])
    with pytest.raises(InvalidInput, match="after holds 1 unknown"):
        ladder_movements(["prospect"], [NEW_TO_ARCHIVE])  # nobody moves *to* new_to_archive
    with pytest.raises(InvalidInput, match="lengths"):
        ladder_movements(["prospect"], ["repeat", "repeat"])
    keys, empty = ladder_movements([], [])
    assert empty.sum() == 0 and empty.shape == (len(keys), len(keys))


def test_rungs_are_documented() -> None:
    assert RUNG_KEYS == ("prospect", "first_time", "repeat", "loyal", "advocate", "lapsed", "lost")
    assert all(r.label and r.description for r in RUNGS)
    defaults = LadderThresholds()
    assert (defaults.lapsed_after_days, defaults.lost_after_days) == (180, 365)
    assert not math.isnan(defaults.loyal_min_p_alive)


def test_explain_accepts_none_as_stored_in_json() -> None:
    assert _rendered(explain_rung(0, None, None, 0, False)) == [
        "In the archive but has never bought: prospect."
    ]
    assert _rendered(explain_rung(1, 3, None, 0, False))[1] == (
        "No P(alive) estimate for this customer: only the day rules apply."
    )
    with pytest.raises(InvalidInput, match="only prospects"):
        explain_rung(2, None, 0.5, 0, False)
