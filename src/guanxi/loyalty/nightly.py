"""The loyalty programme's nightly run, in idempotent stages.

1. Points expiry (``ledger.expire``): lots whose last valid day is before the date expire;
   a lot expires once, so a second run for the same date posts nothing.
2. Tier downgrades (``tiers.evaluate_downgrades``): members whose 12-month spend no longer
   reaches their tier move down after the tier's grace days; the new tier is held from the
   date, so a second run for the same date moves nobody.
3. The ledger checks (``ledger.check_balances`` and ``stored_value.check_balances``): every
   cached points balance and stored-value balance must equal the sum of its entries.
4. API ``Idempotency-Key``s older than 7 days are deleted (``api_idempotency.purge``).

``guanxi loyalty nightly`` runs it alone; ``guanxi daily`` runs it as its first stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from guanxi.loyalty import ledger, stored_value
from guanxi.loyalty.tiers import DEFAULT_GRACE_DAYS, TierMove, evaluate_downgrades
from guanxi.services import api_idempotency
from guanxi.storage.db import Database

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
                {"customer_id": m.customer_id, "cached": money_json(m.cached),
                 "ledger": money_json(m.ledger)} for m in self.card_mismatches],
            "idempotency_keys_purged": self.keys_purged,
            "ok": self.ok,
        }  # fmt: skip


def money_json(b: stored_value.Balance | None) -> dict[str, str] | None:
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
