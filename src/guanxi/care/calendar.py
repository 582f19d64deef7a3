"""The care calendar: festival dates for any year 1950–2100 and the birthday rules.

Lunar dates and solar terms come from ``borax`` (its tables cover lunar years 1900–2100).
What borax lacks is implemented here:

* 除夕 is the last day of the 12th lunar month, the 29th or the 30th: the day before 春节.
* 清明 is the solar term (the day the sun reaches 15°), never a fixed 4 or 5 April.
* 母亲节 is the second Sunday of May, 父亲节 the third Sunday of June.
* A lunar birthday in a leap month (闰月) is celebrated in the regular month of the same
  number, every year (whether or not that year has the leap month again).
* A lunar birthday on the 30th is celebrated on the 29th in a year whose month has 29 days
  (borax skips such years instead).
* A solar birthday on 29 February is celebrated on 28 February in common years.

``festival_dates(year)`` gives the festivals that fall in the Gregorian ``year``. 腊八 (the 8th
of the 12th lunar month) is the one festival that a Gregorian year may hold twice (2022: 10
January and 30 December) or not at all (2023): the mapping keeps the first, and leaves 腊八
out in a year without one; ``festival_occurrences`` and ``festivals_between`` list every one.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from borax.calendars.lunardate import LCalendars, LunarDate, TermUtils

from guanxi.errors import InvalidInput

FESTIVALS: tuple[str, ...] = (
    "new_year", "valentines", "chuxi", "spring_festival", "lantern", "womens_day", "qingming",
    "labour_day", "mothers_day", "dragon_boat", "fathers_day", "qixi", "mid_autumn",
    "double_ninth", "national_day", "laba", "christmas",
)  # fmt: skip
"""The festival keys, in calendar order (腊八 last of the lunar ones: it is late in the year
when it belongs to the lunar year that began in the same Gregorian year)."""

CHINESE_NAMES: dict[str, str] = {
    "new_year": "元旦",
    "valentines": "情人节",
    "chuxi": "除夕",
    "spring_festival": "春节",
    "lantern": "元宵",
    "womens_day": "妇女节",
    "qingming": "清明",
    "labour_day": "五一",
    "mothers_day": "母亲节",
    "dragon_boat": "端午",
    "fathers_day": "父亲节",
    "qixi": "七夕",
    "mid_autumn": "中秋",
    "double_ninth": "重阳",
    "national_day": "国庆",
    "laba": "腊八",
    "christmas": "圣诞",
}

FIRST_YEAR, LAST_YEAR = 1950, 2100
"""The Gregorian years the calendar answers for (tested against an independent table)."""

_FIXED: dict[str, tuple[int, int]] = {
    "new_year": (1, 1), "valentines": (2, 14), "womens_day": (3, 8), "labour_day": (5, 1),
    "national_day": (10, 1), "christmas": (12, 25),
}  # fmt: skip
_LUNAR: dict[str, tuple[int, int]] = {
    "spring_festival": (1, 1), "lantern": (1, 15), "dragon_boat": (5, 5), "qixi": (7, 7),
    "mid_autumn": (8, 15), "double_ninth": (9, 9),
}  # fmt: skip
_WEEKLY: dict[str, tuple[int, int]] = {"mothers_day": (5, 2), "fathers_day": (6, 3)}
_ORDER = {key: n for n, key in enumerate(FESTIVALS)}


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"the calendar covers the years {FIRST_YEAR}-{LAST_YEAR} (not {year})")


def nth_sunday(year: int, month: int, n: int) -> date:
    """The ``n``-th Sunday of a month (母亲节: May, 2; 父亲节: June, 3)."""
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


@lru_cache(maxsize=256)
def _occurrences(year: int) -> tuple[tuple[str, date], ...]:
    _check_year(year)
    found: list[tuple[str, date]] = [(k, date(year, m, d)) for k, (m, d) in _FIXED.items()]
    found += [(k, LunarDate(year, m, d).to_solar_date()) for k, (m, d) in _LUNAR.items()]
    found += [(k, nth_sunday(year, m, n)) for k, (m, n) in _WEEKLY.items()]
    found.append(("qingming", TermUtils.nth_term_day(year, term_name="清明")))
    # 除夕: the last day of the 12th month of the lunar year before, i.e. the eve of 春节
    found.append(("chuxi", LunarDate(year, 1, 1).to_solar_date() - timedelta(days=1)))
    for lunar_year in (year - 1, year):  # 腊八 of the lunar year ending or beginning in `year`
        laba = LunarDate(lunar_year, 12, 8).to_solar_date()
        if laba.year == year:
            found.append(("laba", laba))
    return tuple(sorted(found, key=lambda kd: (kd[1], _ORDER[kd[0]])))


def festival_occurrences(year: int) -> list[tuple[str, date]]:
    """Every festival falling in the Gregorian ``year``, by date (腊八 0, 1 or 2 times)."""
    return list(_occurrences(year))


def festival_dates(year: int) -> dict[str, date]:
    """The date of each festival in the Gregorian ``year``, in ``FESTIVALS`` order.

    Every key is there except 腊八 in the ten years 1950–2100 that hold none (e.g. 2023: it
    fell on 2022-12-30 and 2024-01-18); in a year with two 腊八 this is the first.
    """
    first: dict[str, date] = {}
    for key, on in _occurrences(year):
        first.setdefault(key, on)
    return {key: first[key] for key in FESTIVALS if key in first}


def festivals_between(start: date, end: date) -> list[tuple[str, date]]:
    """Every festival from ``start`` to ``end`` (both included), by date."""
    return [(key, on) for year in range(start.year, end.year + 1)
            for key, on in _occurrences(year) if start <= on <= end]  # fmt: skip


def solar_birthday(year: int, month: int, day: int) -> date:
    """The day a solar birthday is celebrated in ``year``: 29 February → 28 February in
    common years."""
    if (month, day) == (2, 29) and not _is_leap_year(year):
        return date(year, 2, 28)
    return date(year, month, day)


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def lunar_month_days(lunar_year: int, month: int) -> int:
    """How many days (29 or 30) the regular ``month`` of ``lunar_year`` has."""
    return int(LCalendars.ndays(lunar_year, month, 0))


def lunar_birthday(lunar_year: int, month: int, day: int, is_leap: bool = False) -> date:
    """The solar date a lunar birthday is celebrated in ``lunar_year``.

    A birthday in a leap month (``is_leap``) is celebrated in the regular month of the same
    number; day 30 falls back to day 29 when that month has 29 days this year.
    """
    if not 1 <= month <= 12 or not 1 <= day <= 30:
        raise InvalidInput(f"not a lunar month/day: {month}/{day}")
    del is_leap  # always the regular month
    day = min(day, lunar_month_days(lunar_year, month))
    solar: date = LunarDate(lunar_year, month, day, 0).to_solar_date()
    return solar


def lunar_keys(on: date) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The lunar year of a solar date and the (month, day) birthdays celebrated on it.

    Nothing is celebrated in a leap month; the 29th of a 29-day month also celebrates the
    30th. E.g. 2026-02-16 (the 29th of a 29-day 12th month) → (2025, ((12, 29), (12, 30))).
    """
    lunar = LunarDate.from_solar(on)
    if lunar.leap:
        return lunar.year, ()
    if lunar.day == 29 and lunar_month_days(lunar.year, lunar.month) == 29:
        return lunar.year, ((lunar.month, 29), (lunar.month, 30))
    return lunar.year, ((lunar.month, lunar.day),)


def solar_keys(on: date) -> tuple[tuple[int, int], ...]:
    """The (month, day) solar birthdays celebrated on a date (28 Feb of a common year: 29 Feb
    too)."""
    if (on.month, on.day) == (2, 28) and not _is_leap_year(on.year):
        return ((2, 28), (2, 29))
    return ((on.month, on.day),)
