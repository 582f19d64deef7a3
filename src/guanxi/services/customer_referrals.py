"""The customer page's section on the referral code, who referred them, whom they referred.

The code is made on the first view of the page (``referrals.referral_code``), so staff always
have one to share; an erased customer gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from guanxi.loyalty.referrals import Outcome, link_for, outcome_for, referral_code
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Purchase


@dataclass(frozen=True)
class Referred:
    """A customer this one referred, whether they bought, and the referral's outcome."""

    id: int
    name: str
    bought: bool
    outcome: Outcome | None


def referrals_section(db: Database, customer_id: int) -> dict[str, Any] | None:
    """What the customer page shows (None: the customer does not exist)."""
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        erased = customer.erased_at is not None
        referrer = None
        if customer.referred_by_id is not None:
            row = session.get(Customer, customer.referred_by_id)
            referrer = None if row is None else {"id": row.id, "name": row.name}
        own = outcome_for(session, customer_id)
        rows = session.execute(
            select(Customer.id, Customer.name)
            .where(Customer.referred_by_id == customer_id)
            .order_by(Customer.id)
        ).all()
        ids = [int(r.id) for r in rows]
        buyers = set(session.execute(
            select(Purchase.customer_id).where(Purchase.customer_id.in_(ids)).distinct()
        ).scalars())  # fmt: skip
        referred = [Referred(int(r.id), r.name, r.id in buyers, outcome_for(session, r.id))
                    for r in rows]  # fmt: skip
        has_bought = session.execute(
            select(Purchase.id).where(Purchase.customer_id == customer_id).limit(1)
        ).first() is not None  # fmt: skip
    code = None if erased else referral_code(db, customer_id)
    return {
        "customer_id": customer_id,
        "code": code,
        "link": link_for(code) if code else None,
        "referrer": referrer,
        "outcome": own,
        "referred": referred,
        "can_attach": referrer is None and not has_bought and not erased,
    }
