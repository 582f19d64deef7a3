"""Who to tell when a product arrives (新品到店): stated interests and purchase history, with why.

Staff name what arrived: a category (e.g. 普洱白茶) or a product (e.g. 宜兴紫砂壶 朱泥西施, whose
category and name both count). A customer is interested when

- a stated interest (``CustomerInterest``, free text such as 普洱收藏 or 紫砂收藏) matches the
  category or the product name (the *match rule*, below); or
- they bought in the category before (purchase lines whose product has that category; a
  product without a category: that product), with the number of receipts, the last one and
  the amount spent.

The match rule, compared in lower case: the interest contains the category or the name, or the
name/category contains the interest (an interest of two characters or more); or they share a
*key*: two neighbouring CJK characters (普洱, 紫砂: so 普洱收藏 matches 普洱白茶 and 紫砂收藏
matches 宜兴紫砂壶), or a Latin word of three letters or more that is no stop word ("oolong").
Digits never make a key, so sizes like 357g or 200ml match nothing.

Everything is evaluated in SQL, whatever the number of customers: the keys of what arrived are
computed here and become ``LIKE`` conditions on the interest names. Erased customers never
appear; the phone is masked.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    distinct,
    func,
    literal,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session

from guanxi.domain.access import mask_phone
from guanxi.errors import NotFound
from guanxi.storage.models import Customer, CustomerInterest, Product, Purchase, PurchaseLine

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_WORD = re.compile(r"[a-z\u00c0-\u024f]{3,}")
STOP_WORDS = frozenset({"and", "the", "for", "with", "from", "new"})


@dataclass(frozen=True)
class Arrival:
    """What arrived: a category, or a product (its category and its name)."""

    category: str | None
    product_id: int | None = None
    product_name: str | None = None

    @property
    def label(self) -> str:
        """How to name it to people: the product's name, else the category."""
        return self.product_name or self.category or ""

    def texts(self) -> list[str]:
        """The category and the product name, lower case, blanks left out."""
        found = (_clean(self.category), _clean(self.product_name))
        return list(dict.fromkeys(t for t in found if t))


@dataclass(frozen=True)
class Interested:
    """One customer interested in what arrived, and why (both reasons may hold)."""

    customer_id: int
    name: str
    phone: str  # masked
    interests: tuple[str, ...]  # the stated interests that match
    category: str | None  # where they bought (the category, or the product without one)
    purchases: int  # receipts with a line there
    last_bought: datetime | None  # the newest such receipt (UTC)
    spent: Decimal  # the amount of those lines

    @property
    def stated(self) -> bool:
        return bool(self.interests)

    @property
    def why(self) -> str:
        """The reasons in words (English; pages build their own translated sentence)."""
        parts = []
        if self.interests:
            parts.append(f"stated interest {', '.join(self.interests)}")
        if self.purchases:
            when = f", last {self.last_bought:%Y-%m-%d}" if self.last_bought else ""
            times = "time" if self.purchases == 1 else "times"
            parts.append(f"bought {self.category} {self.purchases} {times}{when}")
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id, "name": self.name, "phone": self.phone,
            "interests": list(self.interests), "category": self.category,
            "purchases": self.purchases,
            "last_bought": self.last_bought.isoformat() if self.last_bought else None,
            "spent": str(self.spent), "why": self.why,
        }  # fmt: skip


def _clean(text: str | None) -> str:
    return (text or "").strip().lower()


def _arrival(what: str | Arrival) -> Arrival:
    return what if isinstance(what, Arrival) else Arrival(category=what.strip() or None)


def compute_keys(*texts: str) -> frozenset[str]:
    """The match keys of ``texts``: each two neighbouring CJK characters and each Latin word of
    three letters or more (stop words left out), lower case."""
    keys: set[str] = set()
    for text in texts:
        text = text.lower()
        for run in _CJK_RUN.findall(text):
            keys.update(run[i : i + 2] for i in range(len(run) - 1))
        keys.update(_WORD.findall(text))
    return frozenset(k for k in keys if k not in STOP_WORDS)


def _escaped(column: ColumnElement[str]) -> ColumnElement[str]:
    """``column`` with the LIKE wildcards escaped by '/' (as ``contains(autoescape=True)``)."""
    slashes = func.replace(column, "/", "//")
    return func.replace(func.replace(slashes, "%", "/%"), "_", "/_", type_=String)


def interest_matches(arrival: str | Arrival) -> ColumnElement[bool]:
    """The match rule (module docstring) as a condition on ``CustomerInterest.name``."""
    texts = _arrival(arrival).texts()
    if not texts:
        return literal(False)
    name = func.lower(CustomerInterest.name)
    found: list[ColumnElement[bool]] = []
    for text in texts:
        found.append(name.contains(text, autoescape=True))
        inside = literal(text, String).like(
            literal("%", String) + _escaped(name) + literal("%", String), escape="/"
        )
        found.append(and_(func.length(CustomerInterest.name) >= 2, inside))
    found += [name.contains(key, autoescape=True) for key in sorted(compute_keys(*texts))]
    return or_(*found)


def _bought_where(arrival: Arrival) -> ColumnElement[bool] | None:
    if arrival.category and arrival.category.strip():
        return func.lower(Product.category) == _clean(arrival.category)
    if arrival.product_id is not None:
        return Product.id == arrival.product_id
    return None


def stated_select(arrival: str | Arrival) -> Select[Any]:
    """Customer ids with a stated interest matching ``arrival``."""
    return select(CustomerInterest.customer_id).where(interest_matches(arrival))


def bought_select(arrival: str | Arrival) -> Select[Any]:
    """Customer ids with a purchase line in the category of ``arrival``."""
    where = _bought_where(_arrival(arrival))
    return (
        select(Purchase.customer_id)
        .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(where if where is not None else literal(False))
    )


def interested_select(arrival: str | Arrival) -> Select[Any]:
    """Customer ids interested in ``arrival`` by either reason (for campaign audiences)."""
    both = union(stated_select(arrival), bought_select(arrival)).subquery()
    return select(both.c[0])


def _who(scope: int | None) -> list[ColumnElement[bool]]:
    who: list[ColumnElement[bool]] = [Customer.erased_at.is_(None)]
    if scope is not None:
        who.append(Customer.home_store_id == scope)
    return who


def _stated(session: Session, arrival: Arrival, who: list[ColumnElement[bool]]) -> dict[int, Any]:
    """id -> (name, phone, matching interests)."""
    found: dict[int, Any] = {}
    for cid, name, phone, interest in session.execute(
        select(Customer.id, Customer.name, Customer.phone, CustomerInterest.name)
        .join(CustomerInterest, CustomerInterest.customer_id == Customer.id)
        .where(interest_matches(arrival), *who)
        .order_by(Customer.id, CustomerInterest.name)
    ):  # fmt: skip
        found.setdefault(int(cid), (str(name), phone, []))[2].append(str(interest))
    return found


def _bought(session: Session, arrival: Arrival, who: list[ColumnElement[bool]]) -> dict[int, Any]:
    """id -> (name, phone, receipts, last, spent)."""
    where = _bought_where(arrival)
    if where is None:
        return {}
    query = (
        select(Customer.id, Customer.name, Customer.phone, func.count(distinct(Purchase.id)),
               func.max(Purchase.purchased_at), func.sum(PurchaseLine.amount))
        .join(Purchase, Purchase.customer_id == Customer.id)
        .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(where, *who)
        .group_by(Customer.id, Customer.name, Customer.phone)
    )  # fmt: skip
    return {
        int(cid): (str(name), phone, int(n), last, Decimal(spent or 0))
        for cid, name, phone, n, last, spent in session.execute(query)
    }


def _rank(row: Interested) -> tuple[Any, ...]:
    last = row.last_bought.timestamp() if row.last_bought else 0.0
    evidence = 0 if row.stated and row.purchases else 1 if row.stated else 2
    return (evidence, -row.purchases, -last, -row.spent, row.customer_id)


def interested_customers(
    session: Session,
    arrival: str | Arrival,
    *,
    scope: int | None,
    customer_ids: Collection[int] | None = None,
    limit: int | None = None,
) -> list[Interested]:
    """Customers interested in ``arrival`` (a category, or an ``Arrival``) within the store
    ``scope`` (None: every store); two queries.

    Ordered by the strongest evidence first: a stated interest and purchases, then a stated
    interest alone (they asked to be told), then purchases alone; within each, the most receipts
    in the category, the most recent purchase, the most spent.
    """
    arrival = _arrival(arrival)
    if not arrival.texts():
        return []
    who = _who(scope)
    stated, bought = _stated(session, arrival, who), _bought(session, arrival, who)
    ids = set(stated) | set(bought)
    if customer_ids is not None:
        ids &= set(customer_ids)
    where = arrival.category or arrival.product_name
    rows = []
    for cid in ids:
        name, phone, *_ = stated.get(cid) or bought[cid]
        interests = tuple(stated[cid][2]) if cid in stated else ()
        _, _, n, last, spent = bought.get(cid, (None, None, 0, None, Decimal(0)))
        rows.append(Interested(cid, name, mask_phone(phone), interests, where, n, last, spent))
    rows.sort(key=_rank)
    return rows[:limit] if limit is not None else rows


def product_arrival(session: Session, product_id: int) -> Arrival:
    """The product ``product_id`` as an arrival."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    return Arrival(product.category, product.id, product.name)


def find_arrival(session: Session, text: str) -> Arrival:
    """What ``text`` names: a product category (any case), else a product by SKU or name (any
    case; the first by id), else a category that no product has (stated interests may still
    match it)."""
    wanted = _clean(text)
    category = session.execute(
        select(Product.category).where(func.lower(Product.category) == wanted).limit(1)
    ).scalar()
    if category is not None or not wanted:
        return Arrival(category or None)
    product = session.execute(
        select(Product.id)
        .where(or_(func.lower(Product.sku) == wanted, func.lower(Product.name) == wanted))
        .order_by(Product.id)
        .limit(1)
    ).scalar()
    return product_arrival(session, product) if product is not None else Arrival(text.strip())


def products(session: Session) -> list[tuple[int, str, str | None]]:
    """(id, name, category) of every product, by category and name, for the page's picker."""
    query = select(Product.id, Product.name, Product.category).order_by(
        Product.category, Product.name, Product.id
    )
    return [(int(i), str(n), c) for i, n, c in session.execute(query)]


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
