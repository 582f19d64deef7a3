"""``guanxi analytics run`` (score every customer) and ``guanxi clv fit`` (models on a file)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from guanxi.analytics.summary import Period
from guanxi.cli.common import console, err_console, parse_day, stage_bar, state
from guanxi.services.clv_file import ClvFileReport, FileColumns, fit_file
from guanxi.services.scoring import ScoringOptions, run_scoring, score_history

app = typer.Typer(help="Customer value analytics: scores, segments, CLV.", no_args_is_help=True)
clv_app = typer.Typer(help="Probabilistic CLV models (BG/NBD, Pareto/NBD, Gamma-Gamma).",
                      no_args_is_help=True)  # fmt: skip


DateOpt = Annotated[
    date | None,
    typer.Option("--date", parser=parse_day, metavar="YYYY-MM-DD",
                 help="Business date the scores are as of (default: today in the shop's zone)."),
]  # fmt: skip


@app.command("run")
def run_command(
    ctx: typer.Context,
    as_of: DateOpt = None,
    refit: Annotated[
        bool, typer.Option("--refit", help="Fit the models again even if a recent fit exists.")
    ] = False,
    months: Annotated[
        int,
        typer.Option(
            "--months",
            min=1,
            max=120,
            help="Also score the month ends before --date: N monthly snapshots in all.",
        ),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score every customer (RFM, segment, ladder rung, loyalty type, P(alive), CLV, churn risk).

    The scores are stored for the month of --date; running again in the same month replaces them.

    Example: guanxi analytics run --date 2026-11-23 --months 12
    """
    st = state(ctx)
    settings = st.settings
    day = as_of or datetime.now(ZoneInfo(settings.timezone)).date()
    options = ScoringOptions.for_shop(settings, day, refit=refit)
    database = st.database()
    with stage_bar("Scoring", to=err_console) as progress:
        if months > 1:
            history = score_history(database, options, months=months, progress=progress)
            for past in history[:-1] if not as_json else []:
                console.print(f"Scored {past.customers:,} customers as of {past.as_of}.",
                              highlight=False)  # fmt: skip
            report = history[-1]
        else:
            report = run_scoring(database, options, progress)
    if as_json:
        console.print_json(json.dumps({
            "as_of": report.as_of.isoformat(), "month": report.month.isoformat(),
            "customers": report.customers, "buyers": report.buyers, "models": report.model,
            "model_note": report.model_note, "refitted": report.refitted,
            "seconds": report.seconds,
        }))  # fmt: skip
        return
    console.print(
        f"Scored {report.customers:,} customers ({report.buyers:,} buyers) as of {report.as_of}; "
        f"{report.model_note}. {sum(report.seconds.values()):.1f} s.",
        highlight=False,
    )
    for name, params in report.model.items():
        shown = ", ".join(f"{k} = {v:.4g}" for k, v in params.items())
        console.print(f"  {name}: {shown}", highlight=False)


@clv_app.command("fit")
def fit_command(
    csv: Annotated[
        Path, typer.Option("--csv", help="Transactions: CSV (any common encoding) or XLSX.")
    ],
    customer: Annotated[str, typer.Option("--customer", help="Column with the customer id.")],
    date_column: Annotated[str, typer.Option("--date", help="Column with the purchase date.")],
    amount: Annotated[str, typer.Option("--amount", help="Column with the amount spent.")],
    calibration_end: Annotated[
        date,
        typer.Option(
            "--calibration-end",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Last day of the period the models learn from.",
        ),
    ],
    holdout_end: Annotated[
        date | None,
        typer.Option(
            "--holdout-end",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Last day of a holdout to check the forecast against.",
        ),
    ] = None,
    freq: Annotated[
        str, typer.Option("--freq", help="Time unit: D (days) or W (weeks, = days / 7).")
    ] = "W",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit BG/NBD, Pareto/NBD and Gamma-Gamma on a transaction file; check a holdout.

    Purchases on the same day count as one; repeat purchases are those after a customer's first
    purchase day.

    Example: guanxi clv fit --csv sales.csv --customer id --date date --amount amount --freq W --calibration-end 1997-09-30 --holdout-end 1998-06-30
    """  # noqa: E501
    report = fit_file(
        csv,
        FileColumns(customer=customer, date=date_column, amount=amount),
        period=Period.parse(freq),
        calibration_end=calibration_end,
        holdout_end=holdout_end,
    )
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return
    _print_fit(report)


def _print_fit(report: ClvFileReport) -> None:
    console.print(
        f"{report.rows:,} transactions, {report.customers:,} customers "
        f"({report.repeat_buyers:,} bought again) up to {report.calibration_end}; "
        f"times in {report.period.value}s.",
        highlight=False,
    )
    table = Table("model", "parameters", "log-likelihood")
    for name, fit in report.models.items():
        params = ", ".join(f"{k} = {v:.4g}" for k, v in fit["params"].items())
        table.add_row(name, params, f"{fit['log_likelihood']:.2f}")
    console.print(table)
    if report.holdout is not None:
        h = report.holdout
        console.print(
            f"Holdout to {report.holdout_end} ({h['length']:g} {report.period.value}s): "
            f"{h['actual_repeat_purchases']:,} repeat purchases made; BG/NBD predicted "
            f"{h['predicted_conditional']:,.1f} from each customer's history "
            f"({h['error_conditional']:+.1%}) and {h['predicted_unconditional']:,.1f} "
            f"for the cohort as a whole ({h['error_unconditional']:+.1%}); cumulative repeat "
            f"purchases from first purchase to the holdout end: {h['actual_cumulative']:,} made, "
            f"{h['predicted_cumulative']:,.1f} predicted ({h['error_cumulative']:+.1%}).",
            highlight=False,
        )
