"""Statutory holidays and 调休: override file → chinesecalendar → a flagged Mon–Fri guess."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guanxi.care import holidays
from guanxi.care.holidays import OVERRIDE_FILE, DayInfo, HolidayCalendar
from guanxi.errors import ConfigError

OVERRIDE_2026 = """
[2026]
notice = "test: a different National Day"
[2026.holidays]
"国庆节" = ["2026-10-01..2026-10-03", "2026-10-09"]
[2026.workdays]
"国庆节" = ["2026-10-11"]
"""

PROVISIONAL_2030 = """
[2030]
notice = "test"
[2030.holidays]
"元旦" = ["2029-12-31", "2030-01-01"]
"""


AWAITING_2027 = """
[2027]
awaiting_notice = true
recheck_by = 2027-01-15
why = "test"
"""

NOTICE_2027 = """
[2027]
notice = "test notice"
[2027.holidays]
"元旦" = ["2027-01-01..2027-01-03"]
"""


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_library_answers_for_its_years() -> None:
    cal = HolidayCalendar()
    assert cal.coverage(2026) == "library"
    assert cal.day_info(date(2026, 10, 1)) == DayInfo(date(2026, 10, 1), False, "国庆节",
                                                      "library")  # fmt: skip
    sunday_worked = cal.day_info(date(2026, 9, 20))  # 调休: a Sunday worked for 国庆
    assert sunday_worked.is_workday and sunday_worked.is_adjusted_workday
    assert sunday_worked.holiday == "国庆节"
    assert cal.day_info(date(2026, 10, 9)).is_workday  # an ordinary Friday
    assert not cal.is_workday(date(2026, 11, 22))  # an ordinary Sunday
    assert cal.next_workday(date(2026, 10, 1)) == date(2026, 10, 8)
    assert cal.next_workday(date(2026, 10, 8)) == date(2026, 10, 8)


def test_the_override_file_beats_the_library(tmp_path: Path) -> None:
    cal = HolidayCalendar((_file(tmp_path, "o.toml", OVERRIDE_2026),))
    assert cal.coverage(2026) == "override"
    assert cal.day_info(date(2026, 10, 9)) == DayInfo(date(2026, 10, 9), False, "国庆节",
                                                      "override")  # fmt: skip
    # the whole year comes from the file: the library's 4–7 October are ordinary days now
    assert cal.day_info(date(2026, 10, 5)) == DayInfo(date(2026, 10, 5), True, None, "override")
    assert cal.day_info(date(2026, 10, 4)) == DayInfo(date(2026, 10, 4), False, None, "override")
    assert cal.is_workday(date(2026, 10, 11))  # a Sunday worked
    assert cal.next_workday(date(2026, 10, 9)) == date(2026, 10, 11)
    assert cal.day_info(date(2025, 10, 1)).source == "library"  # other years unchanged


def test_a_later_file_wins_for_the_years_it_lists(tmp_path: Path) -> None:
    project = _file(tmp_path, "project.toml", OVERRIDE_2026)
    shop = _file(tmp_path, "shop.toml", '[2026]\nnotice = "shop"\n[2026.holidays]\n'
                                        '"国庆节" = ["2026-10-01..2026-10-08"]\n')  # fmt: skip
    cal = HolidayCalendar((project, shop))
    assert cal.notices[2026] == "shop"
    assert not cal.is_workday(date(2026, 10, 8))
    assert cal.is_workday(date(2026, 10, 9))  # the project file's extra day is gone
    assert not cal.is_workday(date(2026, 10, 11))  # and so is its working Sunday


def test_uncovered_years_are_a_flagged_monday_to_friday_guess(tmp_path: Path) -> None:
    cal = HolidayCalendar(())
    assert cal.coverage(2031) == "provisional"
    info = cal.day_info(date(2031, 10, 8))
    assert info == DayInfo(date(2031, 10, 8), True, None, "provisional")  # a Wednesday
    assert cal.day_info(date(2031, 10, 2)) == DayInfo(
        date(2031, 10, 2), False, "国庆节", "provisional"
    )  # the law's day off
    assert cal.day_info(date(2031, 10, 4)).is_workday is False  # Saturday
    assert cal.next_workday(date(2031, 10, 4)) == date(2031, 10, 6)
    assert cal.coverage(2003) == "provisional"  # before the library's data too
    listed = HolidayCalendar((_file(tmp_path, "o.toml", PROVISIONAL_2030),))
    assert listed.coverage(2030) == "override"
    # a day of the notice in the December before belongs to it
    assert listed.day_info(date(2029, 12, 31)) == DayInfo(date(2029, 12, 31), False, "元旦",
                                                          "override")  # fmt: skip
    assert listed.coverage(2029) == "provisional"


@pytest.mark.parametrize(
    "text",
    [
        "[twenty]\nnotice = 'x'\n",
        "[2027]\nholidays = { '元旦' = ['2027-13-01'] }\n",
        "[2027]\nholidays = { '元旦' = ['2027-01-03..2027-01-01'] }\n",
        "[2027]\nholidays = { '元旦' = ['2025-01-01'] }\n",
        "[2027]\nholiday = {}\n",
        "[2027]\nawaiting_notice = true\n",
        "[2027]\nawaiting_notice = true\nrecheck_by = '2027-01-15'\n",
        "[2027]\nawaiting_notice = 'yes'\nrecheck_by = 2027-01-15\n",
        "[2027]\nawaiting_notice = true\nrecheck_by = 2027-01-15\nholidays = {}\n",
        "[2027\n",
    ],
)
def test_a_bad_override_file_is_refused_with_the_reason(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        HolidayCalendar((_file(tmp_path, "bad.toml", text),))


def test_the_project_file_parses() -> None:
    cal = HolidayCalendar((OVERRIDE_FILE,))
    for year in cal.notices:
        assert cal.coverage(year) == "override"
        assert cal.notices[year], f"holidays.toml [{year}] has no notice"


def test_module_functions_and_the_shop_file(tmp_path: Path) -> None:
    try:
        holidays.use_override_files([_file(tmp_path, "shop.toml", OVERRIDE_2026)])
        assert holidays.coverage(2026) == "override"
        assert holidays.day_info(date(2026, 10, 9)).source == "override"
        assert not holidays.is_workday(date(2026, 10, 9))
    finally:
        holidays.use_override_files([])
    assert holidays.coverage(2026) == "library"
    assert holidays.next_workday(date(2026, 10, 1)) == date(2026, 10, 8)


def _coverage_problem(cal: HolidayCalendar, today: date) -> str | None:
    """Why the project's holiday data is out of date on ``today``, or None."""
    due = [today.year, today.year + 1] if today >= date(today.year, 12, 1) else [today.year]
    for year in due:
        if cal.coverage(year) != "provisional":
            continue
        awaited = cal.awaiting.get(year)
        if awaited is None:
            return (f"{year}'s statutory holidays are missing: add the State Council notice "
                    "to src/guanxi/care/holidays.toml")  # fmt: skip
        recheck_by, why = awaited
        if today > recheck_by:
            return (f"{year}'s notice was awaited until {recheck_by} ({why}): copy it into "
                    "src/guanxi/care/holidays.toml now")  # fmt: skip
        if (recheck_by - date(year - 1, 12, 1)).days > 92 or not why:
            return "an awaited year needs a reason and a recheck_by at most 3 months out"
    return None


def test_next_year_is_covered_from_1_december() -> None:
    """From 1 December of year Y (China time, the real clock) next year's statutory holidays
    must come from the library or the override file, not the provisional guess, unless the
    override file says the notice is awaited, why, and until when (at most 3 months).

    When this fails: add the State Council's notice for next year (国务院办公厅关于 Y+1 年部分
    节假日安排的通知, published in November) to ``src/guanxi/care/holidays.toml`` in the
    format its header describes, or upgrade ``chinesecalendar`` if it has the year.
    """
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    problem = _coverage_problem(HolidayCalendar((OVERRIDE_FILE,)), today)
    assert problem is None, problem


def test_the_december_check_fails_without_data_or_past_the_recheck_date(tmp_path: Path) -> None:
    bare = HolidayCalendar(())
    assert _coverage_problem(bare, date(2026, 11, 30)) is None
    missing = _coverage_problem(bare, date(2026, 12, 1))
    assert missing is not None and "2027's statutory holidays are missing" in missing
    assert _coverage_problem(bare, date(2025, 12, 1)) is None  # the library has 2026
    assert "2031's statutory" in str(_coverage_problem(bare, date(2031, 6, 1)))
    awaited = HolidayCalendar((_file(tmp_path, "a.toml", AWAITING_2027),))
    assert _coverage_problem(awaited, date(2026, 12, 1)) is None
    assert _coverage_problem(awaited, date(2027, 1, 15)) is None  # 2027 itself: awaited, not late
    late = _coverage_problem(awaited, date(2027, 1, 16))
    assert late is not None and "awaited until 2027-01-15" in late
    covered = HolidayCalendar((_file(tmp_path, "a.toml", AWAITING_2027),
                               _file(tmp_path, "n.toml", NOTICE_2027)))  # fmt: skip
    assert covered.coverage(2027) == "override" and 2027 not in covered.awaiting
    assert _coverage_problem(covered, date(2027, 3, 1)) is None
    far = HolidayCalendar(
        (_file(tmp_path, "f.toml", AWAITING_2027.replace("2027-01-15", "2027-06-01")),)
    )
    assert "at most 3 months" in str(_coverage_problem(far, date(2026, 12, 2)))


def test_the_awaited_year_is_still_provisional_with_the_laws_days_off(tmp_path: Path) -> None:
    cal = HolidayCalendar((_file(tmp_path, "a.toml", AWAITING_2027),))
    assert cal.coverage(2027) == "provisional"
    assert cal.awaiting[2027] == (date(2027, 1, 15), "test")
    assert cal.day_info(date(2027, 2, 8)) == DayInfo(date(2027, 2, 8), False, "春节",
                                                     "provisional")  # fmt: skip


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_laws_days_off_are_days_off_in_every_published_year(year: int) -> None:
    """The provisional guess (the law's fixed days) agrees with the notices the library has."""
    library = HolidayCalendar(())
    days = holidays.statutory_days(year)
    assert len(days) == 13  # 1 + 4 + 1 + 2 + 1 + 1 + 3, with 中秋 apart from 国庆
    wrong = {d: n for d, n in days.items() if library.is_workday(d)}
    assert wrong == {}


def test_the_laws_days_off_in_a_provisional_year() -> None:
    days = holidays.statutory_days(2027)
    assert [d for d, n in days.items() if n == "春节"] == [
        date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8)]  # fmt: skip
    assert days[date(2027, 4, 5)] == "清明节" and days[date(2027, 9, 15)] == "中秋节"
    assert holidays.statutory_days(2024) == {}  # before the 2024 revision: Mon–Fri only
    assert holidays.statutory_days(2101) == {}  # beyond the calendar
    # 2028: 中秋 falls on 3 October, one of 国庆's days; it keeps its own name
    assert holidays.statutory_days(2028)[date(2028, 10, 3)] == "中秋节"
    cal = HolidayCalendar(())
    assert cal.next_workday(date(2027, 2, 5)) == date(2027, 2, 9)
    assert cal.day_info(date(2027, 5, 3)).is_workday  # no 调休 is guessed


def test_special_days_of_a_year() -> None:
    days = HolidayCalendar(()).special_days(2026)
    off = [d.day for d in days if not d.is_workday]
    worked = [d.day for d in days if d.is_workday]
    assert worked == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                      date(2026, 9, 20), date(2026, 10, 10)]  # fmt: skip
    assert date(2026, 2, 17) in off and date(2026, 10, 7) in off
    assert all(d.source == "library" for d in days)
    assert len(HolidayCalendar(()).year_days(2028)) == 366
