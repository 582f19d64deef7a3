"""The customer page's section on the stored-value card (储值卡): balances, the ledger, forms.

Reads ``guanxi.loyalty.stored_value`` and adds what a page needs around it: the names of the
staff who made entries, where the next page of older entries starts, and the top-up and refund
forms as typed (strings, with a hidden per-form key so that a double submit posts once).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from guanxi.errors import NotFound
from guanxi.loyalty import stored_value as sv
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Staff

PAGE_SIZE = 20
SYMBOLS = str.maketrans({"¥": "", "￥": "", ",": "", "，": "", " ": "", "．": "."})


@dataclass(frozen=True)
class HistoryRow:
    """One card entry and who made it."""

    entry: sv.Entry
    actor: str | None


def new_form_key() -> str:
    """A fresh idempotency token for one form, so a double submit posts once."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class TopUpDraft:
    """The top-up form as typed."""

    amount: str = ""
    payment_method: str = "cash"
    reference: str = ""
    key: str = field(default_factory=new_form_key)


@dataclass(frozen=True)
class RefundDraft:
    """The refund form as typed (an empty amount refunds all the paid money)."""

    amount: str = ""
    reason: str = ""
    payment_method: str = "cash"
    key: str = field(default_factory=new_form_key)


def stored_value_section(
    db: Database,
    customer_id: int,
    *,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any] | None:
    """What the customer page shows: balances, one page of entries (older than
    ``before_id``), the forms, and the top-up bonus tiers as a hint."""
    with db.read() as session:
        erased = session.execute(
            select(Customer.erased_at).where(Customer.id == customer_id)
        ).first()  # fmt: skip
    if erased is None:
        raise NotFound(f"customer {customer_id} does not exist")
    card = sv.statement(db, customer_id, limit=limit + 1, before_id=before_id)
    page = card.history[:limit]
    names = _staff_names(db, {e.actor_staff_id for e in page if e.actor_staff_id is not None})
    return {
        "customer_id": customer_id,
        "erased": erased[0] is not None,
        "balance": card.balance,
        "rows": tuple(HistoryRow(e, names.get(e.actor_staff_id or 0)) for e in page),
        "before_id": before_id,
        "older_than": page[-1].id if len(card.history) > limit and page else None,
        "tiers": sv.rules(db),
        "methods": sv.TOP_UP_METHODS,
        "top_up": TopUpDraft(),
        "refund": RefundDraft(),
        "errors": {},
        "done": "",
    }


def parse_amount(text: str, *, allow_zero: bool = False) -> Decimal | None:
    """'1,000.50', '¥88', '88.8' -> Decimal with 2 places; None when it is not an amount of
    yuan above 0 (or 0 when allowed) with at most 2 decimals, up to the card's maximum."""
    cleaned = text.strip().translate(SYMBOLS)
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount > sv.MAX_AMOUNT or amount != amount.quantize(sv.CENT):
        return None
    if amount < 0 or (amount == 0 and not allow_zero):
        return None
    return amount.quantize(sv.CENT)


def _staff_names(db: Database, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    with db.read() as session:
        found = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids)))
        return {int(i): str(n) for i, n in found}
