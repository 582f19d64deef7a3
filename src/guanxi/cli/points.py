"""``guanxi points``: a customer's points, the nightly expiry run, the ledger check, backfill."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from guanxi.cli.common import console, err_console, parse_day, stage_bar, state
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import accrue_since
from guanxi.loyalty.tiers import evaluate_downgrades

app = typer.Typer(help="Points: balances, expiry and tier runs, checks.", no_args_is_help=True)


@app.command("show")
def show_command(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="The customer's id.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="History entries shown.")] = 20,
) -> None:
    """A customer's balance, the points left per lot (soonest to expire first) and history.

    Example: guanxi points show 42
    """
    points = ledger.statement(state(ctx).database(), customer_id, limit=limit)
    console.print(f"Customer {customer_id}: {points.balance:,} points", highlight=False)
    lots = Table("lot", "earned", "left", "expires")
    for lot in points.lots:
        lots.add_row(str(lot.entry_id), f"{lot.points:,}", f"{lot.remaining:,}",
                     str(lot.expires_on or "never"))  # fmt: skip
    console.print(lots)
    history = Table("#", "at (UTC)", "kind", "points", "balance", "reason")
    for e in points.history:
        flag = " (claw-back)" if e.flagged else ""
        history.add_row(str(e.id), f"{e.at:%Y-%m-%d %H:%M}", f"{e.kind}{flag}", f"{e.points:+,}",
                        f"{e.balance_after:,}", e.reason or e.source_type or "")  # fmt: skip
    console.print(history)


@app.command("expire")
def expire_command(
    ctx: typer.Context,
    as_of: Annotated[
        date | None,
        typer.Option(
            "--date",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Expire lots whose last day is before this date (default: today).",
        ),
    ] = None,
) -> None:
    """Expire the points whose validity has ended (run nightly; running twice changes nothing).

    Example: guanxi points expire --date 2026-11-23
    """
    st = state(ctx)
    day = as_of or datetime.now(ZoneInfo(st.settings.timezone)).date()
    run = ledger.expire(st.database(), day)
    console.print(f"Expired {run.points:,} points in {len(run.entries):,} lots as of {day}.",
                  highlight=False)  # fmt: skip


@app.command("check")
def check_command(ctx: typer.Context) -> None:
    """Prove every cached balance equals the sum of its ledger entries (exit 1 if not).

    Example: guanxi points check
    """
    mismatches = ledger.check_balances(state(ctx).database())
    if mismatches:
        for m in mismatches:
            err_console.print(f"customer {m.customer_id}: cached {m.cached}, ledger {m.ledger}")
        raise typer.Exit(1)
    console.print("Every balance equals the sum of its entries.")


@app.command("accrue")
def accrue_command(
    ctx: typer.Context,
    since: Annotated[
        date,
        typer.Option(
            "--since",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Only purchases on or after this day (UTC).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Give imported purchases the points they earn under the programme, oldest first.

    Purchases recorded through the POS API earn points when they are recorded; imported ones
    do not. Each purchase earns once (running again adds nothing).

    Example: guanxi points accrue --since 2026-01-01
    """
    db = state(ctx).database()
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    with stage_bar("Accruing points", to=err_console) as report:
        done = accrue_since(db, start, report)
    if as_json:
        console.print_json(json.dumps({"purchases": done.purchases, "credited": done.credited,
                                       "points": done.points}))  # fmt: skip
        return
    console.print(f"{done.purchases:,} purchases without points; {done.credited:,} earned "
                  f"{done.points:,} points.", highlight=False)  # fmt: skip


@app.command("tiers")
def tiers_command(
    ctx: typer.Context,
    as_of: Annotated[
        date | None,
        typer.Option(
            "--date",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="The evaluation date (default: today).",
        ),
    ] = None,
    grace_days: Annotated[
        int, typer.Option("--grace-days", min=0, help="Days a tier is kept before a downgrade.")
    ] = 30,
) -> None:
    """The tier evaluation: move down customers whose 12-month spend no longer qualifies.

    Upgrades happen at once, on the purchase that qualifies; downgrades only here, after the
    grace period. Running again for the same date changes nothing.

    Example: guanxi points tiers --date 2026-12-31
    """
    st = state(ctx)
    day = as_of or datetime.now(ZoneInfo(st.settings.timezone)).date()
    moves = evaluate_downgrades(st.database(), day, grace_days, zone=st.settings.timezone)
    for move in moves:
        console.print(f"customer {move.customer_id}: {move.from_tier} → {move.to_tier} "
                      f"(12-month spend ¥{move.spend:,.2f})", highlight=False)  # fmt: skip
    console.print(f"{len(moves):,} customers moved down as of {day}.", highlight=False)
