"""``guanxi complaints``: the complaints with their SLA clocks, escalation, the report.

The terminal acts for the shop owner (every store; audited without a staff member).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from guanxi.cli.common import console, err_console, parse_day, state
from guanxi.errors import GuanxiError
from guanxi.feedback.complaint_lists import Filters, list_complaints
from guanxi.feedback.complaint_reports import build_report
from guanxi.feedback.complaints import sla_policy
from guanxi.feedback.escalation import run_escalations

app = typer.Typer(help="Complaints (投诉): SLA clocks, escalation, the report.",
                  no_args_is_help=True)  # fmt: skip


def _fail(error: GuanxiError) -> typer.Exit:
    err_console.print(f"[red]{error}[/red]", highlight=False)
    return typer.Exit(1)


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[
        str,
        typer.Option(
            "--status",
            help="open, in_progress, resolved, closed, or active (the first two); empty: all.",
        ),
    ] = "active",
    breached: Annotated[
        bool, typer.Option("--breached", help="Only complaints past a deadline.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List complaints with their first-response and resolution clocks (newest first for
    closed ones, open ones by their resolution deadline).

    Example: guanxi complaints list --status active --breached
    """  # fmt: skip
    st = state(ctx)
    try:
        filters = Filters(status=status, breached=breached)
        with st.database().read() as session:
            rows = list_complaints(session, scope=None, filters=filters, now=datetime.now(UTC),
                                   policy=sla_policy(st.settings))  # fmt: skip
    except GuanxiError as error:
        raise _fail(error) from error
    if as_json:
        console.print_json(json.dumps([r.as_json() for r in rows]))
        return
    if not rows:
        console.print("No complaints match.", highlight=False)
        return
    table = Table(title=f"{len(rows)} complaints", title_justify="left")
    for column in ("#", "opened", "store", "category", "severity", "status", "first response",
                   "resolution"):  # fmt: skip
        table.add_column(column)
    zone = ZoneInfo(st.settings.timezone)
    for r in rows:
        table.add_row(str(r.id), r.opened_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                      r.store_name or "—", r.category, r.severity, r.status,
                      r.first.state.value, r.resolution.state.value)  # fmt: skip
    console.print(table)


@app.command("escalate")
def escalate_command(
    ctx: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Judge the clocks at the end of this past day (YYYY-MM-DD, "
            "shop time) instead of now.",
        ),
    ] = None,
) -> None:
    """Escalate every complaint past its SLA that was not escalated yet to its store's manager
    (the owner when a store has none), with a task on their agenda. Idempotent; guanxi daily
    runs it too.

    Example: guanxi complaints escalate
    """  # fmt: skip
    st = state(ctx)
    now = datetime.now(UTC)
    if as_of is not None:
        day = parse_day(as_of)
        end = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(st.settings.timezone))
        now = min(now, end.astimezone(UTC))
    try:
        count = run_escalations(st.database(), now=now)
    except GuanxiError as error:
        raise _fail(error) from error
    console.print(f"Escalated {count} complaint{'s' if count != 1 else ''}.", highlight=False)


@app.command("report")
def report_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The last 12 months: volume by category and month, SLA compliance, time to first
    response, and the recovery rate against customers who did not complain.

    Example: guanxi complaints report --json
    """
    st = state(ctx)
    now = datetime.now(UTC)
    zone = st.settings.timezone
    with st.database().read() as session:
        report = build_report(session, today=now.astimezone(ZoneInfo(zone)).date(), now=now,
                              zone=zone, scope=None)  # fmt: skip
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return

    def pct(rate: float | None) -> str:
        return "—" if rate is None else f"{rate:.0%}"

    def hours(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} h"

    lines = [
        f"Complaints in 12 months: {sum(report.totals)}",
        f"First responses within SLA: {pct(report.first_response_sla.rate)} "
        f"({report.first_response_sla.part}/{report.first_response_sla.whole})",
        f"Resolutions within SLA: {pct(report.resolution_sla.rate)} "
        f"({report.resolution_sla.part}/{report.resolution_sla.whole})",
        f"Time to first response: median {hours(report.first_response_median_h)}, "
        f"90th percentile {hours(report.first_response_p90_h)}",
        f"Bought again within 90 days: complainants {pct(report.complainants.rate)} "
        f"({report.complainants.part}/{report.complainants.whole}), comparison group "
        f"{pct(report.comparison_rate)}",
    ]
    for line in lines:
        console.print(line, highlight=False)
