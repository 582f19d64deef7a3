"""Find customers and show one: search by name, pinyin, phone, member code, email or tag."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, union_all
from sqlalchemy.orm import Session

from guanxi.domain.access import sees_full_phone, store_scope
from guanxi.errors import InvalidInput, NotAllowed, NotFound
from guanxi.importers.values import normalise_phone, to_halfwidth
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerTag,
    Product,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
    Staff,
    Store,
)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGITS = re.compile(r"^[\d\s\-+()]+$")


@dataclass(frozen=True, slots=True)
class CustomerHit:
    """One search result, with why it matched (lower rank = better)."""

    id: int
    name: str
    phone: str | None
    code: str | None
    rank: int
    matched: str


def search_customers(
    db: Database,
    query: str,
    *,
    limit: int = 20,
    store_id: int | None = None,
    tag: str | None = None,
    owner_staff_id: int | None = None,
) -> list[CustomerHit]:
    """Rank customers matching ``query``: exact name/phone/code first, then prefixes, tags.

    ``store_id`` limits the search to the customers of one store (a clerk's or manager's view);
    ``tag`` and ``owner_staff_id`` to those with that tag and that account owner.
    """
    q = to_halfwidth(query).strip()
    if not q:
        raise InvalidInput("search for what? give a name, pinyin, phone (or its last 4), tag")
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1 (found {limit})")
    best: dict[int, tuple[int, str]] = {}
    candidates = _candidates(q)
    filters = _filters(store_id=store_id, tag=tag, owner_staff_id=owner_staff_id)
    branches = []
    for i, (_, _, stmt) in enumerate(candidates):
        sub = stmt.where(*filters).limit(limit).subquery()
        branches.append(select(literal(i).label("k"), next(iter(sub.c)).label("cid")))
    with db.read() as session:
        # One round trip: every way of matching, each limited, in a UNION ALL.
        for k, cid in session.execute(union_all(*branches)):
            rank, matched, _ = candidates[k]
            if cid not in best or rank < best[cid][0]:
                best[cid] = (rank, matched)
        if not best:
            return []
        rows = {
            c.id: c
            for c in session.execute(
                select(
                    Customer.id, Customer.name, Customer.phone, Customer.code, Customer.name_pinyin
                ).where(Customer.id.in_(best))
            )
        }
    ordered = sorted(best, key=lambda cid: (best[cid][0], len(rows[cid].name_pinyin), cid))
    return [
        CustomerHit(cid, rows[cid].name, rows[cid].phone, rows[cid].code, *best[cid])
        for cid in ordered[:limit]
    ]


def like_prefix(column: Any, text: str) -> Any:
    """column LIKE 'text%' with the pattern bound whole, so SQLite can use the index
    (SQLAlchemy's startswith() builds `LIKE :p || '%'`, which defeats the LIKE optimisation)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


def _candidates(q: str) -> list[tuple[int, str, Select[Any]]]:
    """(rank, why, statement selecting customer ids) for each way ``q`` may match."""
    ids = select(Customer.id)
    out: list[tuple[int, str, Select[Any]]] = [
        (0, "member code", ids.where(Customer.code == q)),
        (
            5,
            "tag",
            ids.join(CustomerTag, CustomerTag.customer_id == Customer.id).where(
                CustomerTag.name == q
            ),
        ),
    ]
    if "@" in q:
        out.append((0, "email", ids.where(Customer.email == q.lower())))
    if _DIGITS.match(q):
        digits = re.sub(r"\D", "", q)
        if len(digits) == 4:
            out.append((2, "phone ends with", ids.where(Customer.phone_last4 == digits)))
        else:
            with contextlib.suppress(ValueError):
                out.append((0, "phone", ids.where(Customer.phone == normalise_phone(q))))
            if 5 <= len(digits) < 11:  # a full number needs no suffix scan
                out.append((3, "phone ends with", ids.where(Customer.phone.endswith(digits))))
        return out
    if _CJK.search(q):
        out += [
            (0, "name", ids.where(Customer.name == q)),
            (1, "name starts with", ids.where(like_prefix(Customer.name, q))),
            (3, "name contains", ids.where(Customer.name.contains(q, autoescape=True))),
        ]
        return out
    key = re.sub(r"[^0-9a-z]", "", q.lower())
    if key:
        out += [
            (1, "pinyin", ids.where(Customer.name_pinyin == key)),
            (1, "initials", ids.where(Customer.name_initials == key)),
            (
                2,
                "pinyin starts with",
                ids.where(like_prefix(Customer.name_pinyin, key)),
            ),
            (
                2,
                "initials start with",
                ids.where(like_prefix(Customer.name_initials, key)),
            ),
        ]
    return out


@dataclass(frozen=True)
class PurchaseSummary:
    """A customer's purchase history in figures; returns are netted out of spend."""

    purchases: int = 0
    gross_spend: Decimal = Decimal(0)
    refunds: Decimal = Decimal(0)
    first_at: datetime | None = None
    last_at: datetime | None = None
    top_categories: list[tuple[str, Decimal]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def net_spend(self) -> Decimal:
        return self.gross_spend - self.refunds

    @property
    def average_order(self) -> Decimal:
        if not self.purchases:
            return Decimal(0)
        return (self.gross_spend / self.purchases).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class CustomerDetail:
    """Everything the archive holds on one customer, for display."""

    customer: dict[str, Any]
    tags: list[str]
    interests: list[str]
    consents: dict[str, bool]
    owner_staff: str | None
    home_store: str | None
    referred_by: str | None
    summary: PurchaseSummary


def get_customer_detail(db: Database, customer_id: int) -> CustomerDetail:
    """The customer's profile and purchase summary; NotFound if there is no such customer."""
    with db.read() as session:
        c = session.get(Customer, customer_id)
        if c is None:
            raise NotFound(
                f"customer {customer_id} does not exist: find the id with 'guanxi customers search'"
            )
        data = {col.key: getattr(c, col.key) for col in Customer.__table__.columns}
        referrer = session.get(Customer, c.referred_by_id) if c.referred_by_id else None
        return CustomerDetail(
            customer=data,
            tags=sorted(t.name for t in c.tags),
            interests=sorted(i.name for i in c.interests),
            consents={k.channel: k.is_granted for k in c.consents},
            owner_staff=_name(session, Staff, c.owner_staff_id),
            home_store=_name(session, Store, c.home_store_id),
            referred_by=referrer.name if referrer else None,
            summary=_purchase_summary(session, customer_id),
        )


def _name(session: Session, model: type[Staff] | type[Store], key: int | None) -> str | None:
    if key is None:
        return None
    return session.execute(select(model.name).where(model.id == key)).scalar()


def _purchase_summary(session: Session, customer_id: int) -> PurchaseSummary:
    totals = session.execute(
        select(
            func.count(Purchase.id),
            func.sum(Purchase.total_amount),
            func.min(Purchase.purchased_at),
            func.max(Purchase.purchased_at),
        ).where(Purchase.customer_id == customer_id)
    ).one()
    refunds = session.execute(
        select(func.coalesce(func.sum(PurchaseReturn.refund_amount), 0))
        .join(Purchase, Purchase.id == PurchaseReturn.purchase_id)
        .where(Purchase.customer_id == customer_id)
    ).scalar_one()
    categories = session.execute(
        select(Product.category, func.sum(PurchaseLine.amount).label("spend"))
        .join(PurchaseLine, PurchaseLine.product_id == Product.id)
        .join(Purchase, Purchase.id == PurchaseLine.purchase_id)
        .where(Purchase.customer_id == customer_id)
        .group_by(Product.category)
        .order_by(func.sum(PurchaseLine.amount).desc())
        .limit(3)
    ).all()
    recent = session.execute(
        select(
            Purchase.external_order_id,
            Purchase.purchased_at,
            Purchase.total_amount,
            Store.name.label("store"),
        )
        .join(Store, Store.id == Purchase.store_id)
        .where(Purchase.customer_id == customer_id)
        .order_by(Purchase.purchased_at.desc())
        .limit(5)
    ).all()
    return PurchaseSummary(
        purchases=totals[0],
        gross_spend=_money(totals[1]),
        refunds=_money(refunds),
        first_at=totals[2],
        last_at=totals[3],
        top_categories=[(cat or "-", _money(spend)) for cat, spend in categories],
        recent=[dict(r._mapping) for r in recent],
    )


def _money(fen_or_decimal: object) -> Decimal:
    """Aggregates over Money columns come back as Decimal or as raw integer fen."""
    if fen_or_decimal is None:
        return Decimal(0)
    if isinstance(fen_or_decimal, Decimal):
        return fen_or_decimal
    return Decimal(int(str(fen_or_decimal))).scaleb(-2)


@dataclass(frozen=True)
class ListedCustomer:
    """One row of the customer list."""

    id: int
    name: str
    phone: str | None
    code: str | None
    owner_staff_id: int | None
    owner_name: str | None
    store_name: str | None
    matched: str | None = None


@dataclass(frozen=True)
class CustomerPage:
    """One page of the customer list, with the total for the pager."""

    rows: list[ListedCustomer]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_customers(
    db: Database,
    *,
    query: str | None = None,
    store_id: int | None = None,
    tag: str | None = None,
    owner_staff_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> CustomerPage:
    """A page of customers, newest first, or the best matches for ``query``.

    ``store_id`` is the viewer's scope (None: every store); ``tag`` and ``owner_staff_id``
    narrow the list and a search alike. A search answers at most one page.
    """
    page = max(page, 1)
    if query and query.strip():
        hits = search_customers(db, query, limit=per_page, store_id=store_id, tag=tag,
                                owner_staff_id=owner_staff_id)  # fmt: skip
        matched = {h.id: h.matched for h in hits}
        rows = _listed(db, [h.id for h in hits], matched)
        return CustomerPage(rows, len(rows), 1, per_page)
    filters = _filters(store_id=store_id, tag=tag, owner_staff_id=owner_staff_id)
    with db.read() as session:
        total = session.execute(select(func.count()).select_from(Customer).where(*filters))
        count = int(total.scalar_one())
        ids = session.execute(
            select(Customer.id).where(*filters).order_by(Customer.id.desc())
            .limit(per_page).offset((page - 1) * per_page)
        ).scalars().all()  # fmt: skip
    return CustomerPage(_listed(db, list(ids), {}), count, page, per_page)


def _filters(
    *, store_id: int | None, tag: str | None, owner_staff_id: int | None
) -> list[ColumnElement[bool]]:
    """Conditions on ``Customer`` for the list's filters (None or empty: no condition)."""
    filters = []
    if store_id is not None:
        filters.append(Customer.home_store_id == store_id)
    if owner_staff_id is not None:
        filters.append(Customer.owner_staff_id == owner_staff_id)
    if tag:
        tagged = select(CustomerTag.customer_id).where(CustomerTag.name == tag)
        filters.append(Customer.id.in_(tagged))
    return filters


def _listed(db: Database, ids: list[int], matched: dict[int, str]) -> list[ListedCustomer]:
    if not ids:
        return []
    with db.read() as session:
        rows = session.execute(
            select(Customer.id, Customer.name, Customer.phone, Customer.code,
                   Customer.owner_staff_id, Staff.name, Store.name)
            .outerjoin(Staff, Staff.id == Customer.owner_staff_id)
            .outerjoin(Store, Store.id == Customer.home_store_id)
            .where(Customer.id.in_(ids))
        ).all()  # fmt: skip
    by_id = {r[0]: ListedCustomer(*r, matched=matched.get(r[0])) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def customer_in_scope(db: Database, customer_id: int, store_id: int | None) -> bool:
    """Whether a viewer limited to ``store_id`` (None: all stores) may see this customer."""
    with db.read() as session:
        home = session.execute(
            select(Customer.home_store_id).where(Customer.id == customer_id)
        ).one_or_none()
    if home is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return store_id is None or home[0] == store_id


def reveal_phone(
    db: Database, customer_id: int, *, staff: StaffMember, ip: str | None = None
) -> str | None:
    """The full phone number for a viewer allowed to see it, audited in the same transaction.

    Out of the viewer's stores → NotFound; a clerk who does not look after the customer →
    NotAllowed.
    """
    with db.write() as session:
        row = session.execute(
            select(Customer.phone, Customer.owner_staff_id, Customer.home_store_id)
            .where(Customer.id == customer_id)
        ).one_or_none()  # fmt: skip
        scope = store_scope(staff.role, staff.store_id)
        if row is None or (scope is not None and row.home_store_id != scope):
            raise NotFound(f"customer {customer_id} does not exist")
        if not sees_full_phone(staff.role, is_account_owner=row.owner_staff_id == staff.id):
            raise NotAllowed("clerks see full phone numbers only of the customers they look after")
        audit.record(session, audit.Action.PHONE_UNMASKED, actor_id=staff.id,
                     target_type="customer", target_id=customer_id, ip=ip)  # fmt: skip
        phone: str | None = row.phone
        return phone
