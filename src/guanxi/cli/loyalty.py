"""``guanxi loyalty nightly``: the loyalty programme's nightly run (``loyalty.nightly``).

Points expiry, tier downgrades, the ledger checks and the purge of old API idempotency keys;
each stage is idempotent. A balance that differs from its ledger makes the command exit with
code 1 (for cron's mail or a systemd unit's failed state), after the summary.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from guanxi.cli.common import console, err_console, parse_day, stage_bar, state
from guanxi.loyalty.nightly import STAGES, NightlyReport, money_json, nightly
from guanxi.loyalty.tiers import DEFAULT_GRACE_DAYS

app = typer.Typer(help="The loyalty programme: the nightly run.", no_args_is_help=True)


def _print(report: NightlyReport) -> None:
    data = report.as_json()
    expired = data["expired"]
    console.print(f"Nightly loyalty run for {report.day}:", highlight=False)
    console.print(f"  expired {expired['points']:,} points in {expired['lots']:,} lots "
                  f"({expired['customers']:,} customers)", highlight=False)  # fmt: skip
    for move in report.downgrades:
        console.print(f"  customer {move.customer_id}: {move.from_tier} → {move.to_tier} "
                      f"(12-month spend ¥{move.spend:,.2f})", highlight=False)  # fmt: skip
    console.print(f"  {len(report.downgrades):,} customers moved down a tier", highlight=False)
    for m in report.mismatches:
        err_console.print(f"  customer {m.customer_id}: cached balance {m.cached}, ledger "
                          f"{m.ledger}", highlight=False)  # fmt: skip
    for c in report.card_mismatches:
        err_console.print(f"  customer {c.customer_id}: stored value cached "
                          f"{money_json(c.cached)}, ledger {money_json(c.ledger)}",
                          highlight=False)  # fmt: skip
    if not report.ok:
        wrong = len(report.mismatches) + len(report.card_mismatches)
        err_console.print(f"  {wrong:,} balances differ from their ledger: investigate "
                          "before anyone redeems or spends", highlight=False)  # fmt: skip
    else:
        console.print("  every points and stored-value balance equals the sum of its entries",
                      highlight=False)  # fmt: skip
    console.print(f"  {report.keys_purged:,} API idempotency keys older than 7 days deleted",
                  highlight=False)  # fmt: skip


@app.command("nightly")
def nightly_command(
    ctx: typer.Context,
    as_of: Annotated[
        date | None,
        typer.Option(
            "--date",
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="The business day to run for (default: today in the shop's time zone).",
        ),
    ] = None,
    grace_days: Annotated[
        int,
        typer.Option(
            "--grace-days", min=0, help="Grace days for tiers that do not set their own."
        ),  # fmt: skip
    ] = DEFAULT_GRACE_DAYS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Expire points, move members down a tier after the grace days, check the ledgers.

    Each stage is idempotent: running twice for the same date changes nothing the second
    time. Exits with code 1 when a cached points or stored-value balance differs from its
    ledger entries. Also deletes API idempotency keys older than 7 days.

    Example: guanxi loyalty nightly --date 2026-11-23 --json
    """
    st = state(ctx)
    zone = st.settings.timezone
    day = as_of or datetime.now(ZoneInfo(zone)).date()
    with stage_bar(STAGES[0], to=err_console) as progress:
        report = nightly(st.database(), day, zone=zone, grace_days=grace_days,
                         progress=progress)  # fmt: skip
    if as_json:
        console.print_json(json.dumps(report.as_json()))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)
