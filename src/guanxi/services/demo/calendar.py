"""The demo's retail calendar: festival gift seasons, promotions and each day's demand.

The lunar festival table is demo-only: it covers the years a demo may span and no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# Demo-only: Gregorian dates of 春节 (正月初一), 中秋 (八月十五) and 七夕 (七月初七) for the years
# a demo may span. Years outside the table get no lunar festival peaks.
LUNAR_FESTIVALS: dict[int, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    2015: ((2, 19), (9, 27), (8, 20)), 2016: ((2, 8), (9, 15), (8, 9)),
    2017: ((1, 28), (10, 4), (8, 28)),
    2018: ((2, 16), (9, 24), (8, 17)), 2019: ((2, 5), (9, 13), (8, 7)),
    2020: ((1, 25), (10, 1), (8, 25)), 2021: ((2, 12), (9, 21), (8, 14)),
    2022: ((2, 1), (9, 10), (8, 4)), 2023: ((1, 22), (9, 29), (8, 22)),
    2024: ((2, 10), (9, 17), (8, 10)), 2025: ((1, 29), (10, 6), (8, 29)),
    2026: ((2, 17), (9, 25), (8, 19)), 2027: ((2, 6), (9, 15), (8, 8)),
    2028: ((1, 26), (10, 3), (8, 26)), 2029: ((2, 13), (9, 22), (8, 16)),
    2030: ((2, 3), (9, 12), (8, 5)),
}  # fmt: skip
WEEKDAY_RATES = {4: 1.1, 5: 1.35, 6: 1.35}  # Friday to Sunday


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of days when demand changes: a festival gift season or a promotion."""

    name: str
    first: date
    last: date
    boost: float
    promotion: bool = False
    gifts: bool = False


def calendar_windows(year: int) -> list[Window]:
    """The demand windows of one year: festival seasons, 春节 closing days and promotions."""
    windows = [
        Window("520", date(year, 5, 18), date(year, 5, 20), 1.4, promotion=True),
        Window("618", date(year, 6, 1), date(year, 6, 18), 1.5, promotion=True),
        Window("双11", date(year, 11, 1), date(year, 11, 11), 1.8, promotion=True),
        Window("双12", date(year, 12, 10), date(year, 12, 12), 1.5, promotion=True),
    ]
    if year in LUNAR_FESTIVALS:
        spring, autumn, qixi = (date(year, m, d) for m, d in LUNAR_FESTIVALS[year])
        day = timedelta(days=1)
        windows += [
            Window("春节前", spring - 21 * day, spring - day, 2.4, gifts=True),
            Window("春节", spring, spring + 3 * day, 0.15),
            Window("中秋前", autumn - 14 * day, autumn - day, 2.6, gifts=True),
            Window("七夕", qixi - 3 * day, qixi, 1.5, promotion=True),
        ]
    return windows


@dataclass(frozen=True, slots=True)
class Day:
    """One day of the demo period: its demand multiplier and what kind of day it is."""

    on: date
    rate: float
    promotion: bool
    gifts: bool


def demo_days(start: date, end: date) -> list[Day]:
    """Every day from start to end with its weekday and calendar-window effects."""
    windows = [w for year in range(start.year, end.year + 1) for w in calendar_windows(year)]
    return [
        _day(start + timedelta(days=offset), windows) for offset in range((end - start).days + 1)
    ]


def _day(on: date, windows: list[Window]) -> Day:
    """One day's demand: its weekday rate times the strongest window, unless the shop is shut."""
    hits = [w for w in windows if w.first <= on <= w.last]
    boosts = [w.boost for w in hits] or [1.0]
    boost = min(boosts) if min(boosts) < 1 else max(boosts)  # closed days win
    rate = WEEKDAY_RATES.get(on.weekday(), 1.0) * boost
    return Day(on, rate, any(w.promotion for w in hits), any(w.gifts for w in hits))


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
