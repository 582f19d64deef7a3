"""The customer page's section on rewards redeemed and redeemable.

Offers are the catalog's rewards available today that the customer can afford with their
current balance and has not redeemed up to the per-customer limit; each offer carries a fresh
form key, so a double submit of one Redeem button redeems once. Redeeming and cancelling go to
``guanxi.loyalty.rewards``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guanxi.loyalty import ledger, rewards
from guanxi.services.customer_points import new_form_key
from guanxi.storage.db import Database

HISTORY = 20


@dataclass(frozen=True)
class Offer:
    """A reward the customer can redeem now, and the key its form posts."""

    reward: rewards.RewardView
    key: str = field(default_factory=new_form_key)


@dataclass(frozen=True)
class RewardsSection:
    """What the customer page shows about rewards; ``error`` says why a redemption failed."""

    customer_id: int
    balance: int
    offers: tuple[Offer, ...]
    history: tuple[rewards.Redemption, ...]
    catalog_size: int
    error: str | None = None


def section(db: Database, customer_id: int, *, error: str | None = None) -> RewardsSection:
    """The rewards section of ``customer_id``'s page."""
    balance = ledger.balance(db, customer_id)
    catalog = rewards.list_rewards(db, include_inactive=False)
    counts = rewards.customer_counts(db, customer_id)
    offers = tuple(
        Offer(r)
        for r in catalog
        if r.available
        and r.points_cost <= balance
        and (r.per_customer_limit is None or counts.get(r.id, 0) < r.per_customer_limit)
    )
    history = tuple(rewards.customer_redemptions(db, customer_id, limit=HISTORY))
    return RewardsSection(customer_id, balance, offers, history, len(catalog), error)


def rewards_section(
    db: Database, customer_id: int, *, error: str | None = None
) -> dict[str, Any] | None:
    """What the customer page shows, as the template reads it (None: no rewards offered and
    none ever redeemed, so no section)."""
    found = section(db, customer_id, error=error)
    if not found.catalog_size and not found.history:
        return None
    return dict(vars(found))
