"""``guanxi calendar YEAR``: the year's festivals, and where its statutory holidays come from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from guanxi.care import holidays
from guanxi.care.calendar import (
    CHINESE_NAMES,
    FIRST_YEAR,
    LAST_YEAR,
    festival_dates,
    festival_occurrences,
)
from guanxi.cli.common import console

_SOURCE_WORDS = {
    "override": "from the project's override file (holidays.toml)",
    "library": "from the chinesecalendar package",
    "provisional": "PROVISIONAL: the notice is missing, only the law's fixed days off, no 调休",
}


def calendar_command(
    year: Annotated[
        int,
        typer.Argument(
            min=FIRST_YEAR, max=LAST_YEAR, metavar="YEAR", help="A year from 1950 to 2100."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"春节": "YYYY-MM-DD", ...} only.')
    ] = False,
) -> None:
    """List the year's festival dates (lunar festivals converted, 清明 from the solar terms).

    The table also lists the statutory holidays and adjusted working days (调休) and says
    where they come from: the override file, the chinesecalendar package, or a provisional
    guess (the days off fixed by law, no adjusted working days). JSON is keyed by the
    festivals' Chinese names; in a year with two 腊八 it has the first, in a year with none it
    has no 腊八.

    Example: guanxi calendar 2026 --json
    """
    dates = festival_dates(year)
    if as_json:
        data = {CHINESE_NAMES[key]: on.isoformat() for key, on in dates.items()}
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Festivals {year}")
    table.add_column("Festival")
    table.add_column("Key")
    table.add_column("Date")
    table.add_column("Weekday")
    for key, on in festival_occurrences(year):
        table.add_row(CHINESE_NAMES[key], key, on.isoformat(), on.strftime("%a"))
    console.print(table)
    source = holidays.coverage(year)
    console.print(f"Statutory holidays {year}: {source}, {_SOURCE_WORDS[source]}.",
                  highlight=False, soft_wrap=True)  # fmt: skip
    special = holidays.default_calendar().special_days(year)
    if special:
        days = Table(title=f"Statutory holidays and adjusted working days {year}")
        days.add_column("Date")
        days.add_column("Weekday")
        days.add_column("Holiday")
        days.add_column("Day")
        for d in special:
            what = "working day (调休)" if d.is_workday else "day off"
            days.add_row(d.day.isoformat(), d.day.strftime("%a"), d.holiday or "", what)
        console.print(days)
