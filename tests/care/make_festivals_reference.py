"""Writes ``festivals_reference.csv``: every festival date 1950–2100 from an independent source.

The care calendar (``guanxi.care.calendar``) uses the ``borax`` tables. This reference comes
from ``sxtwl`` (寿星天文历, 许剑伟): an astronomical computation of new moons and solar terms,
sharing no code or table with borax. It is not a dependency of the project; to regenerate::

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install sxtwl==2.0.7
    /tmp/ref/bin/python tests/care/make_festivals_reference.py > tests/care/festivals_reference.csv

How each festival is found, walking every day from 1949-12-01 to 2101-01-31 with sxtwl:

* lunar festivals: the day whose lunar month/day (not a leap month) is 1/1 (春节), 1/15 (元宵),
  5/5 (端午), 7/7 (七夕), 8/15 (中秋), 9/9 (重阳), 12/8 (腊八);
* 除夕: a day of the 12th lunar month whose next day is lunar 1/1 (its 29th or 30th);
* 清明: the day sxtwl reports the solar term 清明 (its term number 7, 冬至 being 0);
* fixed solar dates, and 母亲节 / 父亲节 as the 2nd Sunday of May / 3rd Sunday of June counted
  with the standard library's ``calendar.monthcalendar``.

Rows: ``year,festival,date`` for each festival falling in the Gregorian years 1950–2100, in
date order (腊八 appears twice in some years and not at all in others).
"""

from __future__ import annotations

import calendar
import csv
import sys
from datetime import date, timedelta

import sxtwl  # type: ignore[import-not-found]

FIRST, LAST = 1950, 2100
LUNAR = {(1, 1): "spring_festival", (1, 15): "lantern", (5, 5): "dragon_boat", (7, 7): "qixi",
         (8, 15): "mid_autumn", (9, 9): "double_ninth", (12, 8): "laba"}  # fmt: skip
FIXED = {(1, 1): "new_year", (2, 14): "valentines", (3, 8): "womens_day", (5, 1): "labour_day",
         (10, 1): "national_day", (12, 25): "christmas"}  # fmt: skip
QINGMING = 7  # sxtwl's solar term numbers start at 冬至 = 0


def sunday(year: int, month: int, n: int) -> date:
    weeks = [w for w in calendar.monthcalendar(year, month) if w[calendar.SUNDAY]]
    return date(year, month, weeks[n - 1][calendar.SUNDAY])


def rows() -> list[tuple[int, str, date]]:
    found: list[tuple[int, str, date]] = []
    day, stop = date(FIRST - 1, 12, 1), date(LAST + 1, 1, 31)
    while day <= stop:
        d = sxtwl.fromSolar(day.year, day.month, day.day)
        if not d.isLunarLeap():
            key = LUNAR.get((d.getLunarMonth(), d.getLunarDay()))
            if key:
                found.append((day.year, key, day))
            nxt = d.after(1)
            if d.getLunarMonth() == 12 and (nxt.getLunarMonth(), nxt.getLunarDay()) == (1, 1):
                assert d.getLunarDay() in (29, 30)
                found.append((day.year, "chuxi", day))
        if d.hasJieQi() and d.getJieQi() == QINGMING:
            found.append((day.year, "qingming", day))
        if (day.month, day.day) in FIXED:
            found.append((day.year, FIXED[day.month, day.day], day))
        day += timedelta(days=1)
    for year in range(FIRST, LAST + 1):
        found.append((year, "mothers_day", sunday(year, 5, 2)))
        found.append((year, "fathers_day", sunday(year, 6, 3)))
    kept = [r for r in found if FIRST <= r[0] <= LAST]
    return sorted(kept, key=lambda r: (r[2], r[1]))


def main() -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["year", "festival", "date"])
    for year, key, day in rows():
        out.writerow([year, key, day.isoformat()])


if __name__ == "__main__":
    main()
