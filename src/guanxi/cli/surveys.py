"""``guanxi surveys``: list the surveys and print the satisfaction report (NPS per month, CSAT,
expectation gaps, satisfaction × behavioural loyalty).

The terminal acts for the shop owner: every store's customers.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from guanxi.cli.common import console, parse_day, state
from guanxi.feedback import satisfaction, surveys

app = typer.Typer(help="Surveys (问卷): list them and report satisfaction.", no_args_is_help=True)


def _figure(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the surveys, newest first: kind, open or closed, links sent and responses.

    Example: guanxi surveys list --json
    """
    db = state(ctx).database()
    with db.read() as session:
        rows = surveys.list_surveys(session)
    if as_json:
        console.print_json(json.dumps([r.as_json() for r in rows], ensure_ascii=False))
        return
    if not rows:
        console.print("No survey yet: build one on the Surveys page (/surveys).")
        return
    table = Table(title=f"Surveys: {len(rows)}", title_justify="left")
    for column in ("id", "name", "kind", "status", "links", "responses"):
        table.add_column(column, justify="right" if column in ("id", "links", "responses")
                         else "left")  # fmt: skip
    for r in rows:
        table.add_row(str(r.id), r.name, r.kind, "open" if r.is_active else "closed",
                      f"{r.links:,}", f"{r.responses:,}")  # fmt: skip
    console.print(table)


def _print_report(report: satisfaction.SatisfactionReport) -> None:
    console.print(
        f"Satisfaction as of {report.as_of}: {report.responses:,} responses. "
        f"NPS (12 months) {_figure(report.nps, 0)} = {report.promoters} promoters, "
        f"{report.passives} passives, {report.detractors} detractors. "
        f"CSAT {_figure(report.csat_mean, 2)} over {report.csat_count} answers.",
        highlight=False,
    )  # fmt: skip
    months = Table(title="NPS per month", title_justify="left")
    for column in ("month", "promoters", "passives", "detractors", "NPS"):
        months.add_column(column, justify="left" if column == "month" else "right")
    for m in report.months:
        months.add_row(m.month.strftime("%Y-%m"), str(m.promoters), str(m.passives),
                       str(m.detractors), _figure(m.nps, 0))  # fmt: skip
    console.print(months)
    if report.attributes:
        table = Table(title="Expectation vs perception", title_justify="left")
        for column in ("attribute", "answers", "expected", "perceived", "gap", "importance",
                       "quadrant"):  # fmt: skip
            table.add_column(column, justify="left" if column in ("attribute", "quadrant")
                             else "right")  # fmt: skip
        for a in report.attributes:
            table.add_row(a.attribute, str(a.responses), _figure(a.expected, 2),
                          _figure(a.perceived, 2), _figure(a.gap, 2), _figure(a.importance, 2),
                          a.quadrant or "-")  # fmt: skip
        console.print(table)
    g = report.grid
    console.print(
        f"Satisfied & loyal {g.satisfied_loyal}, satisfied but leaving {g.satisfied_leaving}, "
        f"dissatisfied but staying {g.dissatisfied_staying}, "
        f"dissatisfied & leaving {g.dissatisfied_leaving}.",
        highlight=False,
    )  # fmt: skip


@app.command("report")
def report_command(
    ctx: typer.Context,
    as_of: Annotated[
        date | None,
        typer.Option(
            "--date",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Report as of this business date (default: today).",
        ),
    ] = None,  # fmt: skip
    survey: Annotated[
        int | None, typer.Option("--survey", help="One survey's answers only (its id).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Print NPS per month (last 12), CSAT, expectation gaps and satisfaction × loyalty.

    NPS = % promoters (9–10) − % detractors (0–6). The loyalty grid puts each customer's latest
    answer (satisfied: NPS ≥ 9, CSAT ≥ 4 or overall ≥ 5) against their latest score (loyal:
    P(alive) ≥ 0.5 and at least 2 purchase days).

    Example: guanxi surveys report --date 2026-10-31 --json
    """
    settings = state(ctx).settings
    db = state(ctx).database()
    day = as_of or datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()
    with db.read() as session:
        report = satisfaction.satisfaction_report(session, as_of=day, zone=settings.timezone,
                                                  survey_id=survey)  # fmt: skip
    if as_json:
        console.print_json(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        _print_report(report)
