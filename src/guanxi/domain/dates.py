"""Calendar arithmetic shared by the loyalty programme (validity of points, tier windows)."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (earlier when negative); the last day of a shorter month.

    ``add_months(date(2026, 1, 31), 1)`` is 28 February 2026.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
