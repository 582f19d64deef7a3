"""Mainland statutory holidays (法定节假日) and 调休 working days, never guessed silently.

Each day is answered from the first source that covers its year:

1. **override** — ``holidays.toml`` next to this module (kept by the project: add each year's
   State Council notice as soon as it is published, usually in November), then any shop files
   given to ``use_override_files`` (a later file wins for the years it lists). A year listed in
   an override file is taken from it entirely: its holidays, its weekend working days, and
   Monday–Friday for every other day.
2. **library** — the ``chinesecalendar`` package (data from 2004 to the last year it knows;
   it raises for later years).
3. **provisional** — the days off that the law itself fixes (全国年节及纪念日放假办法 as revised
   in 2024, in force from 2025: 元旦 1 January; 除夕 and 春节 初一–初三; 清明 the solar term;
   劳动节 1–2 May; 端午; 中秋; 国庆 1–3 October) for years from 2025, and otherwise Monday to
   Friday as working days. The State Council's yearly notice moves days around them (调休), which
   no rule predicts, so ``DayInfo.source`` says ``"provisional"`` and the pages and the agenda
   say the dates are a guess.

A year whose notice is awaited (published but not yet copied here, or not yet published) may be
listed with ``awaiting_notice = true`` and a ``recheck_by`` date instead of its days: it stays
provisional, and the project's test that fails from 1 December while next year is not covered
accepts the entry until ``recheck_by`` (see tests/care/test_holidays.py).

Override file format (TOML), one table per year::

    [2027]
    notice = "国务院办公厅关于2027年部分节假日安排的通知"   # where the dates come from
    [2027.holidays]              # days off: name -> days ("YYYY-MM-DD" or "FIRST..LAST")
    "元旦" = ["2027-01-01..2027-01-03"]
    "春节" = ["2027-02-05..2027-02-11"]
    [2027.workdays]              # weekend days worked instead (调休上班): name -> days
    "春节" = ["2027-02-07", "2027-02-20"]

An awaited year::

    [2027]
    awaiting_notice = true
    recheck_by = 2027-01-15      # a TOML date
    why = "the notice could not be reached from the build machine"

Days listed under a year may lie in the December before it (a New Year holiday that starts on
30 December belongs to the next year's notice).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import chinese_calendar

from guanxi.care.calendar import LAST_YEAR, festival_dates
from guanxi.errors import ConfigError

OVERRIDE_FILE = Path(__file__).with_name("holidays.toml")
"""The project's override file (shipped with the package)."""

SOURCES = ("override", "library", "provisional")

_LIBRARY_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
_LIBRARY_NAMES: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}
_MAX_GAP = 60  # no run of days off is longer: next_workday stops looking after this
STATUTORY_FROM = 2025  # the law's current days off (2024 revision) apply from this year


@lru_cache(maxsize=64)
def statutory_days(year: int) -> dict[date, str]:
    """The days off that the law fixes in ``year`` (2024 revision of 全国年节及纪念日放假办法,
    from 2025), without the State Council's yearly 调休: {day: holiday name}."""
    if not STATUTORY_FROM <= year <= LAST_YEAR:
        return {}
    fest = festival_dates(year)
    chuxi = fest["chuxi"]
    days: dict[date, str] = {
        date(year, 1, 1): "元旦",
        fest["qingming"]: "清明节",
        date(year, 5, 1): "劳动节",
        date(year, 5, 2): "劳动节",
        fest["dragon_boat"]: "端午节",
        fest["mid_autumn"]: "中秋节",
    }
    days.update({chuxi + timedelta(days=n): "春节" for n in range(4)})
    for n in range(1, 4):
        days.setdefault(date(year, 10, n), "国庆节")  # 中秋 may fall on one of them
    return days


@dataclass(frozen=True)
class DayInfo:
    """Whether ``day`` is a working day, the holiday it belongs to (for a 调休 working day:
    the holiday it makes up for) and which source said so."""

    day: date
    is_workday: bool
    holiday: str | None
    source: str  # "override" | "library" | "provisional"

    @property
    def is_adjusted_workday(self) -> bool:
        """A weekend day worked to make up for a holiday (调休上班)."""
        return self.is_workday and self.day.weekday() >= 5

    @property
    def is_statutory_holiday(self) -> bool:
        return not self.is_workday and self.holiday is not None


def _days(value: object, where: str) -> list[date]:
    """``"2027-01-01"`` or ``"2027-01-01..2027-01-03"`` (both ends included)."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: a day must be a string like 2027-01-01 (found {value!r})")
    first, sep, last = value.partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not a day or FIRST..LAST range") from exc
    if end < start or (end - start).days > _MAX_GAP:
        raise ConfigError(f"{where}: {value!r} is not a sensible range")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


class HolidayCalendar:
    """The answer of the override files, then the library, then Monday–Friday."""

    def __init__(self, override_files: Sequence[Path] = (OVERRIDE_FILE,)) -> None:
        self.files = tuple(override_files)
        self.notices: dict[int, str] = {}  # override year -> notice
        self.awaiting: dict[int, tuple[date, str]] = {}  # awaited year -> (recheck_by, why)
        # override day -> (is_workday, name, the year whose table listed it)
        self._days: dict[date, tuple[bool, str, int]] = {}
        for path in self.files:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"holiday override file {path}: {exc}") from exc
        for key, section in data.items():
            where = f"{path} [{key}]"
            if not key.isdigit() or not 1900 < int(key) < 2200:
                raise ConfigError(f"{where}: the table names must be years like [2027]")
            year, body = int(key), _table(section, where)
            if body.get("awaiting_notice"):
                self._await(year, body, where)
                continue
            unknown = set(body) - {"notice", "holidays", "workdays"}
            if unknown:
                raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
            self.awaiting.pop(year, None)
            # a later file replaces an earlier one's year entirely
            self._days = {d: v for d, v in self._days.items() if v[2] != year}
            self.notices[year] = str(body.get("notice", ""))
            for part, working in (("holidays", False), ("workdays", True)):
                for name, days in _table(body.get(part, {}), f"{where} {part}").items():
                    if not isinstance(days, list):
                        raise ConfigError(f"{where} {part}.{name}: expected a list of days")
                    for value in days:
                        for day in _days(value, f"{where} {part}.{name}"):
                            if day.year not in (year, year - 1):
                                raise ConfigError(f"{where}: {day} is not in {year}")
                            self._days[day] = (working, str(name), year)

    def _await(self, year: int, body: dict[str, Any], where: str) -> None:
        unknown = set(body) - {"awaiting_notice", "recheck_by", "why"}
        if unknown:
            raise ConfigError(f"{where}: an awaited year has only awaiting_notice, recheck_by "
                              f"and why (found {sorted(unknown)})")  # fmt: skip
        recheck = body.get("recheck_by")
        if not isinstance(recheck, date) or isinstance(recheck, datetime):
            raise ConfigError(f"{where}: recheck_by must be a date like 2027-01-15")
        if body.get("awaiting_notice") is not True:
            raise ConfigError(f"{where}: awaiting_notice must be true")
        self.awaiting[year] = (recheck, str(body.get("why", "")))

    def coverage(self, year: int) -> str:
        """Which source answers for ``year``: "override", "library" or "provisional"."""
        if year in self.notices:
            return "override"
        if year in _LIBRARY_YEARS:
            return "library"
        return "provisional"

    def day_info(self, day: date) -> DayInfo:
        """The first source's answer for one day."""
        listed = self._days.get(day)
        if listed is not None:
            return DayInfo(day, listed[0], listed[1], "override")
        source = self.coverage(day.year)
        if source == "library":
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
            label = _LIBRARY_NAMES.get(name, name) if name else None
            return DayInfo(day, not is_holiday, label, "library")
        if source == "provisional":
            name = statutory_days(day.year).get(day)
            if name is not None:
                return DayInfo(day, False, name, source)
        return DayInfo(day, day.weekday() < 5, None, source)

    def is_workday(self, day: date) -> bool:
        return self.day_info(day).is_workday

    def next_workday(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        for n in range(_MAX_GAP + 1):
            candidate = day + timedelta(days=n)
            if self.is_workday(candidate):
                return candidate
        raise ConfigError(f"no working day in the {_MAX_GAP} days from {day}: check holidays.toml")

    def year_days(self, year: int) -> list[DayInfo]:
        """Every day of ``year``."""
        start = date(year, 1, 1)
        return [self.day_info(start + timedelta(days=n))
                for n in range((date(year + 1, 1, 1) - start).days)]  # fmt: skip

    def special_days(self, year: int) -> list[DayInfo]:
        """The statutory holidays and the adjusted working days (调休) of ``year``."""
        return [d for d in self.year_days(year) if d.holiday is not None]


_default: HolidayCalendar | None = None


def default_calendar() -> HolidayCalendar:
    """The project's override file (and the shop's, see ``use_override_files``)."""
    global _default
    if _default is None:
        _default = HolidayCalendar()
    return _default


def use_override_files(extra: Iterable[Path]) -> HolidayCalendar:
    """Read the project's file, then ``extra`` (e.g. the shop's file from the settings), for
    every later question; returns the calendar (a bad file raises ConfigError now)."""
    global _default
    _default = HolidayCalendar((OVERRIDE_FILE, *extra))
    return _default


def day_info(day: date) -> DayInfo:
    """Whether ``day`` is a working day, its holiday, and the source that said so."""
    return default_calendar().day_info(day)


def is_workday(day: date) -> bool:
    """Whether people work on ``day`` (statutory holidays off, 调休 weekends on)."""
    return default_calendar().is_workday(day)


def next_workday(day: date) -> date:
    """``day`` itself when it is a working day, else the next working day."""
    return default_calendar().next_workday(day)


def coverage(year: int) -> str:
    """ "override", "library" or "provisional" (the law's days off and Monday–Friday: a
    guess) for ``year``."""
    return default_calendar().coverage(year)
