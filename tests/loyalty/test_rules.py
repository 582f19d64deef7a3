"""Earning rules: the documented order, hand-computed points, the reasons, the JSON round trip."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.errors import InvalidInput
from guanxi.loyalty.rules import (
    Bonus,
    EarningProgram,
    Line,
    Multiplier,
    PurchaseFacts,
    award_points,
    points_for,
)

DAY = date(2026, 9, 17)


def _facts(*amounts: str, **overrides: object) -> PurchaseFacts:
    lines = [Line(Decimal(a), category) for a, category in
             (x.split(":") if ":" in x else (x, None) for x in amounts)]  # fmt: skip
    return PurchaseFacts(lines=lines, purchased_on=DAY, **overrides)  # type: ignore[arg-type]


def test_the_default_is_one_point_per_yuan_rounded_down() -> None:
    earned = points_for(EarningProgram(), _facts("99.90", "0.50"))
    assert earned.points == 100  # 100.40 rounds down
    assert [r.render() for r in earned.reasons] == [
        "Base: ¥100.4 × 1 point(s) per yuan.",
        "Earned: 100 points.",
    ]
    assert points_for(EarningProgram(rounding="half_up"), _facts("10.50")).points == 11
    assert points_for(EarningProgram(rounding="up"), _facts("10.01")).points == 11
    assert points_for(EarningProgram(), _facts("-5", "10")).points == 10  # a negative line is 0


def test_multipliers_apply_in_the_documented_order() -> None:
    program = EarningProgram(
        points_per_yuan=Decimal("0.5"),
        multipliers=(
            Multiplier("category", Decimal(2), "普洱"),
            Multiplier("category", Decimal(3), "普洱"),  # the highest of a kind wins
            Multiplier("store", Decimal("1.5"), "旗舰店"),
            Multiplier("tier", Decimal("1.2"), "金卡"),
            Multiplier("birthday_month", Decimal(2)),
            Multiplier("festival", Decimal("1.1"), "中秋"),
        ),
        bonuses=(Bonus("first_purchase", 50), Bonus("every_nth", 30, every=5)),
    )
    facts = _facts("100:普洱", "40:茶具", store="旗舰店", tier="金卡", is_birthday_month=True,
                   festival="中秋", purchase_number=10)  # fmt: skip
    earned = points_for(program, facts)
    # lines: 100×0.5×3×1.5 = 225 and 40×0.5×1.5 = 30 → 255; × 1.2 × 2 × 1.1 = 673.2 → 673; +30
    assert earned.points == 703
    assert [r.render() for r in earned.reasons] == [
        "Base: ¥140 × 0.5 point(s) per yuan.",
        "Category 普洱: × 3.",
        "Store 旗舰店: × 1.5.",
        "Tier 金卡: × 1.2.",
        "Birthday month: × 2.",
        "Festival 中秋: × 1.1.",
        "Purchase number 10 (one in 5): +30.",
        "Earned: 703 points.",
    ]
    assert earned.explanation()[0] == {
        "template": "Base: ¥{amount} × {rate} point(s) per yuan.",
        "values": {"amount": "140", "rate": "0.5"},
    }
    # Not the tier, not the store, another festival: only the category applies.
    other = _facts("100:普洱", store="社区店", tier="银卡", festival="端午", purchase_number=1)
    assert points_for(program, other).points == 150 + 50  # first-purchase bonus


def test_caps_per_order_then_per_day() -> None:
    program = EarningProgram(cap_per_order=300, cap_per_day=500)
    assert points_for(program, _facts("1000")).points == 300
    late = points_for(program, _facts("1000", earned_today=400))
    assert late.points == 100
    assert late.reasons[-2].render() == "Capped at 500 points a day (100 left today)."
    assert points_for(program, _facts("1000", earned_today=600)).points == 0


def test_awards_outside_a_purchase() -> None:
    program = EarningProgram(bonuses=(Bonus("referral", 200), Bonus("survey", 20)))
    assert award_points(program, "referral") == 200
    assert award_points(program, "event") == 0
    with pytest.raises(InvalidInput, match="unknown award 'gift'"):
        award_points(program, "gift")


def test_the_program_round_trips_through_json_and_names_bad_fields() -> None:
    program = EarningProgram(
        points_per_yuan=Decimal("2"),
        multipliers=(
            Multiplier("tier", Decimal("1.5"), "金卡"),
            Multiplier("festival", Decimal(2)),
        ),
        bonuses=(Bonus("every_nth", 10, every=3),),
        cap_per_day=1000,
    )
    assert EarningProgram.from_json(program.as_json()) == program
    assert EarningProgram.from_json({}) == EarningProgram()
    for data, message in [
        ({"points_per_yuan": "lots"}, "points_per_yuan: 'lots' is not a number"),
        ({"points_per_yuan": "-1"}, "must be 0 or more"),
        ({"rounding": "banker"}, "rounding must be one of"),
        ({"multipliers": [{"kind": "weekday", "factor": 2}]}, "unknown multiplier 'weekday'"),
        ({"multipliers": [{"kind": "tier", "factor": 2}]}, "needs the tier it applies to"),
        ({"bonuses": [{"kind": "every_nth", "points": 5}]}, "every >= 2"),
        ({"bonuses": [{"kind": "first_purchase", "points": 1.5}]}, "not a whole number"),
        ({"bonuses": [{"points": 5}]}, "missing or malformed field"),
        ({"cap_per_day": -1}, "cap_per_day must be 0 or more"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            EarningProgram.from_json(data)


@given(
    amounts=st.lists(st.decimals(min_value=0, max_value=10_000, places=2), min_size=1, max_size=6),
    rate=st.decimals(min_value=0, max_value=5, places=1),
    factor=st.decimals(min_value=1, max_value=3, places=1),
    cap=st.one_of(st.none(), st.integers(min_value=0, max_value=5_000)),
)
def test_points_are_whole_monotone_and_capped(
    amounts: list[Decimal], rate: Decimal, factor: Decimal, cap: int | None
) -> None:
    plain = EarningProgram(points_per_yuan=rate, cap_per_order=cap)
    boosted = EarningProgram(points_per_yuan=rate, cap_per_order=cap,
                             multipliers=(Multiplier("birthday_month", factor),))  # fmt: skip
    facts = PurchaseFacts([Line(a) for a in amounts], DAY, is_birthday_month=True)
    base, more = points_for(plain, facts).points, points_for(boosted, facts).points
    assert isinstance(base, int) and 0 <= base <= more
    assert base <= sum(amounts) * rate
    if cap is not None:
        assert more <= cap
