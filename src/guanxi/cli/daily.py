"""``guanxi daily``: the one idempotent daily run (``care.daily``) that cron or systemd starts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from guanxi.care import outbox
from guanxi.care.channels import channels_from_settings
from guanxi.care.daily import run_daily
from guanxi.cli.common import console, err_console, parse_day, stage_bar, state


def daily_command(
    ctx: typer.Context,
    as_of: Annotated[
        date | None,
        typer.Option(
            "--date",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="The business day to run for (default: today in the shop's zone).",
        ),
    ] = None,
    since: Annotated[
        date | None,
        typer.Option(
            "--since",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Backfill from this day (default: the day after the last run).",
        ),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send/--no-send", help="Send the due messages after the days.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the day: loyalty nightly, follow-ups, greetings, then send due messages.

    Idempotent and safe to run again: each day's stages change nothing the second time, and
    no greeting is queued twice. Missed days since the last run are backfilled (greetings only
    for the last 2 days). Exits with code 1 when a balance differs from its ledger.

    Example: guanxi daily --date 2026-11-23
    """
    st = state(ctx)
    settings = st.settings
    now = datetime.now(UTC)
    day = as_of or now.astimezone(ZoneInfo(settings.timezone)).date()
    with stage_bar("Starting", to=err_console) as progress:
        report = run_daily(st.database(), day, zone=settings.timezone, now=now,
                           channels=channels_from_settings(settings),
                           policy=outbox.policy_from_settings(settings), since=since,
                           send=send, progress=progress)  # fmt: skip
    if as_json:
        console.print_json(json.dumps(report.as_json()))
    else:
        for d in report.days:
            greeted = sum(d.greetings.values())
            console.print(
                f"{d.day}: {-sum(e.points for e in d.loyalty.expired.entries):,} points expired, "
                f"{len(d.loyalty.downgrades):,} tier moves, {d.followups:,} follow-ups planned, "
                f"{greeted:,} greetings queued", highlight=False)  # fmt: skip
        if report.sent is not None:
            s = report.sent
            console.print(f"sent {s.sent:,}, retrying {s.retrying:,}, failed {s.failed:,}, "
                          f"unknown {s.unknown:,}, held for quiet hours {s.deferred:,}, "
                          f"skipped {sum(s.skipped.values()):,}", highlight=False)  # fmt: skip
        if report.stale:
            console.print(f"{report.stale:,} messages left in 'sending' marked unknown",
                          highlight=False)  # fmt: skip
    if not report.ok:
        err_console.print("A balance differs from its ledger: run guanxi loyalty nightly "
                          "for details", highlight=False)  # fmt: skip
        raise typer.Exit(1)
