"""``guanxi loyalty nightly``: the loyalty programme's nightly run, in three idempotent stages.

1. Points expiry (``ledger.expire``): lots whose last valid day is before the date expire;
   a lot expires once, so a second run for the same date posts nothing.
2. Tier downgrades (``tiers.evaluate_downgrades``): members whose 12-month spend no longer
   reaches their tier move down after the tier's grace days; the new tier is held from the
   date, so a second run for the same date moves nobody.
3. The ledger checks (``ledger.check_balances`` and ``stored_value.check_balances``): every
   cached points balance and stored-value balance must equal the sum of its entries; a
   mismatch makes the command exit with code 1 (for cron's mail or a systemd unit's failed
   state), after the summary.
4. API ``Idempotency-Key``s older than 7 days are deleted (``api_idempotency.purge``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from guanxi.cli.common import console, err_console, parse_day, stage_bar, state
from guanxi.loyalty import ledger, stored_value
from guanxi.loyalty.tiers import DEFAULT_GRACE_DAYS, TierMove, evaluate_downgrades
from guanxi.services import api_idempotency
from guanxi.storage.db import Database

app = typer.Typer(help="The loyalty programme: the nightly run.", no_args_is_help=True)

STAGES = ("Expiring points", "Evaluating tiers", "Checking balances", "Checking stored value",
          "Purging idempotency keys")  # fmt: skip


@dataclass(frozen=True)
class NightlyReport:
    """What one nightly run did."""

    day: date
    expired: ledger.ExpiryRun
    downgrades: tuple[TierMove, ...]
    mismatches: tuple[ledger.Mismatch, ...]
    card_mismatches: tuple[stored_value.Mismatch, ...] = ()
    keys_purged: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.card_mismatches

    def as_json(self) -> dict[str, Any]:
        customers = {e.customer_id for e in self.expired.entries}
        return {
            "date": self.day.isoformat(),
            "expired": {"points": -sum(e.points for e in self.expired.entries),
                        "lots": len(self.expired.entries), "customers": len(customers)},
            "downgrades": [{"customer_id": m.customer_id, "from": m.from_tier, "to": m.to_tier,
                            "spend": f"{m.spend:.2f}"} for m in self.downgrades],
            "mismatches": [{"customer_id": m.customer_id, "cached": m.cached, "ledger": m.ledger}
                           for m in self.mismatches],
            "stored_value_mismatches": [
                {"customer_id": m.customer_id, "cached": _money(m.cached),
                 "ledger": _money(m.ledger)} for m in self.card_mismatches],
            "idempotency_keys_purged": self.keys_purged,
            "ok": self.ok,
        }  # fmt: skip


def _money(b: stored_value.Balance | None) -> dict[str, str] | None:
    return None if b is None else {"paid": f"{b.paid:.2f}", "bonus": f"{b.bonus:.2f}"}


def nightly(db: Database, day: date, *, zone: str, grace_days: int = DEFAULT_GRACE_DAYS,
            progress: Any = None) -> NightlyReport:  # fmt: skip
    """Run the stages for ``day``; ``progress(stage, done, total)`` after each."""

    def report(n: int) -> None:
        if progress is not None:
            progress(STAGES[min(n, len(STAGES) - 1)], n, len(STAGES))

    report(0)
    expired = ledger.expire(db, day)
    report(1)
    moves = evaluate_downgrades(db, day, grace_days, zone=zone)
    report(2)
    mismatches = ledger.check_balances(db)
    report(3)
    cards = stored_value.check_balances(db)
    report(4)
    purged = api_idempotency.purge(db)
    report(5)
    return NightlyReport(day, expired, tuple(moves), tuple(mismatches), tuple(cards), purged)


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
        err_console.print(f"  customer {c.customer_id}: stored value cached {_money(c.cached)}, "
                          f"ledger {_money(c.ledger)}", highlight=False)  # fmt: skip
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
