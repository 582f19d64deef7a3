"""Who is interested in a product category: stated interests and purchase history, with why.

When new stock arrives in a category (e.g. 茶叶), staff want the customers to tell: those who
said they are interested (``CustomerInterest``, matched case-insensitively) and those who bought
in the category before (purchase lines whose product has that category). Two grouped queries,
whatever the number of customers; erased customers never appear.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, func, select, union
from sqlalchemy.orm import Session

from guanxi.storage.models import Customer, CustomerInterest, Product, Purchase, PurchaseLine


@dataclass(frozen=True)
class Interested:
    """One customer interested in a category, and why (both reasons may hold)."""

    customer_id: int
    name: str
    stated: bool  # the customer said so (an interest of that name)
    purchases: int  # receipts with a line in the category
    last_bought: datetime | None  # the newest such receipt (UTC)

    @property
    def why(self) -> str:
        """The reasons in words (English; pages build their own translated sentence)."""
        parts = []
        if self.stated:
            parts.append("stated interest")
        if self.purchases:
            when = f", last on {self.last_bought:%Y-%m-%d}" if self.last_bought else ""
            parts.append(f"bought in the category {self.purchases} time"
                         f"{'s' if self.purchases != 1 else ''}{when}")  # fmt: skip
        return "; ".join(parts)


def _clean(category: str) -> str:
    return category.strip().lower()


def stated_select(category: str) -> Select[Any]:
    """Customer ids with a stated interest named ``category`` (any case)."""
    return select(CustomerInterest.customer_id).where(
        func.lower(CustomerInterest.name) == _clean(category)
    )


def bought_select(category: str) -> Select[Any]:
    """Customer ids with a purchase line in ``category`` (any case)."""
    return (
        select(Purchase.customer_id)
        .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(func.lower(Product.category) == _clean(category))
    )


def interested_select(category: str) -> Select[Any]:
    """Customer ids interested in ``category`` by either reason (for campaign audiences)."""
    both = union(stated_select(category), bought_select(category)).subquery()
    return select(both.c[0])


def interested_customers(
    session: Session,
    category: str,
    *,
    scope: int | None,
    customer_ids: Collection[int] | None = None,
    limit: int | None = None,
) -> list[Interested]:
    """Customers interested in ``category`` within the store ``scope`` (None: every store).

    Ordered by the strongest evidence first: stated and bought, then most receipts in the
    category, then the most recent purchase.
    """
    if not _clean(category):
        return []
    who: list[ColumnElement[bool]] = [Customer.erased_at.is_(None)]
    if scope is not None:
        who.append(Customer.home_store_id == scope)
    names: dict[int, str] = {}
    for cid, name in session.execute(
        select(Customer.id, Customer.name).where(Customer.id.in_(stated_select(category)), *who)
    ):
        names[int(cid)] = str(name)
    stated = set(names)
    bought: dict[int, tuple[int, datetime | None]] = {}
    for cid, name, n, last in session.execute(
        select(Purchase.customer_id, Customer.name, func.count(distinct(Purchase.id)),
               func.max(Purchase.purchased_at))
        .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
        .join(Product, Product.id == PurchaseLine.product_id)
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(func.lower(Product.category) == _clean(category), *who)
        .group_by(Purchase.customer_id, Customer.name)
    ):  # fmt: skip
        names[int(cid)] = str(name)
        bought[int(cid)] = (int(n), last)
    ids = set(names)
    if customer_ids is not None:
        ids &= set(customer_ids)
    rows = [Interested(cid, names[cid], cid in stated, *bought.get(cid, (0, None))) for cid in ids]
    rows.sort(
        key=lambda r: (
            not (r.stated and r.purchases),
            -r.purchases,
            -(r.last_bought.timestamp() if r.last_bought else 0),
            r.customer_id,
        )
    )
    return rows[:limit] if limit is not None else rows


def categories(session: Session) -> list[str]:
    """Every category named by a product or a stated interest, for the page's picker."""
    products = select(Product.category).where(Product.category.is_not(None)).distinct()
    stated = select(CustomerInterest.name).distinct()
    names = {str(n).strip() for n in session.execute(products).scalars() if n}
    names |= {str(n).strip() for n in session.execute(stated).scalars() if n}
    by_key: dict[str, str] = {}
    for name in sorted(names):
        by_key.setdefault(name.lower(), name)
    return sorted(by_key.values(), key=str.lower)
