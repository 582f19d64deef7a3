"""Record one purchase sent by a POS system, in one transaction, and list recorded purchases.

The rules follow the purchase import: a purchase is unique per store + external order id and
never edited (corrections are returns); lines are completed from quantity, unit price,
discount and amount the same way; unknown SKUs become products. A customer is found by id,
else by member code, phone, then email; one nobody knows is created with ``source=import``
and the purchase's store as home store. Sending the same order again is a replay: the stored
purchase is returned unchanged; the same order id with different content is a Conflict.

A new purchase earns points under the shop's programme in the same transaction
(``loyalty.accrual``): the purchase and its points commit together, and a replay returns the
points earned the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from guanxi.care.tasks import schedule_for_purchase
from guanxi.domain.customers import CustomerSource
from guanxi.domain.names import name_keys
from guanxi.domain.purchases import PaymentMethod
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.importers.rows import line_money  # the importer's rule, shared on purpose
from guanxi.loyalty.accrual import Accrued, accrue_for_purchase, accrued_for_purchase
from guanxi.loyalty.referrals import reward_first_purchase
from guanxi.loyalty.tiers import TierProgress, tier_progress
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Product, Purchase, PurchaseLine, Store

FUTURE_TOLERANCE = timedelta(days=1)  # POS clocks drift; a day ahead is a wrong clock


class InvalidField(InvalidInput):
    """Input refused because of one named field (``lines.1.amount``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class OrderConflict(Conflict):
    """The order id was recorded before with different content."""

    def __init__(self, message: str, purchase_id: int) -> None:
        super().__init__(message)
        self.purchase_id = purchase_id


@dataclass(frozen=True)
class CustomerRef:
    """How the POS names the buyer: an id, or identifiers (already normalised)."""

    id: int | None = None
    code: str | None = None
    phone: str | None = None
    email: str | None = None
    name: str | None = None  # for a customer created by this purchase


@dataclass(frozen=True)
class LineInput:
    """One receipt line as sent; unit price or amount may be left out, not both."""

    sku: str
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None
    discount: Decimal = Decimal(0)
    amount: Decimal | None = None
    name: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class PurchaseInput:
    """One purchase as sent; a naive ``purchased_at`` is wall time in the store's zone."""

    external_order_id: str
    customer: CustomerRef
    purchased_at: datetime
    lines: tuple[LineInput, ...]
    store_id: int | None = None
    store_code: str | None = None
    payment_method: PaymentMethod | None = None
    is_promotion: bool = False


@dataclass(frozen=True)
class LineView:
    """A stored receipt line."""

    line_no: int
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PurchaseView:
    """A stored purchase; ``purchased_at`` is in the store's time zone."""

    id: int
    store_id: int
    store_code: str
    external_order_id: str
    customer_id: int
    purchased_at: datetime
    total: Decimal
    payment_method: str | None
    is_promotion: bool
    created_at: datetime
    lines: tuple[LineView, ...]


@dataclass(frozen=True)
class Recorded:
    """The outcome of ``record_purchase``: the purchase and whether it was stored before."""

    purchase: PurchaseView
    replayed: bool
    points: Accrued | None = None  # what it earned (None: no points, e.g. a zero amount)
    tier: TierProgress | None = None  # the member tier after it (None: the shop has no tiers)


@dataclass(frozen=True)
class PurchasePage:
    """One page of purchases, newest first."""

    rows: list[PurchaseView]
    total: int
    page: int
    per_page: int


_Line = tuple[str, Decimal, Decimal, Decimal, Decimal]  # sku, qty, unit price, discount, amount


def record_purchase(
    db: Database, data: PurchaseInput, *, store_scope: int | None, now: datetime | None = None
) -> Recorded:
    """Record ``data`` once; ``store_scope`` is the one store the caller may sell in (None: any).

    If a concurrent request stored the same order (or customer, or product) first, the unique
    constraint fails, and the second try finds it.
    """
    now = now or datetime.now(UTC)
    try:
        return _record(db, data, store_scope, now)
    except IntegrityError:
        return _record(db, data, store_scope, now)


def _record(db: Database, data: PurchaseInput, scope: int | None, now: datetime) -> Recorded:
    lines = [_complete(i, line) for i, line in enumerate(data.lines)]
    if not lines:
        raise InvalidField("lines", "a purchase needs at least one line")
    with db.write() as session:
        store = _store(session, data, scope)
        at = _instant(data.purchased_at, store.timezone, now)
        existing = session.execute(
            select(Purchase)
            .options(selectinload(Purchase.lines))
            .where(
                Purchase.store_id == store.id,
                Purchase.external_order_id == data.external_order_id,
            )
        ).scalar_one_or_none()
        if existing is not None:
            view = _replay(session, existing, data, at, lines, scope, store)
            points = accrued_for_purchase(session, existing.id)
            tier = tier_progress(session, existing.customer_id, now, zone=store.timezone)
            return Recorded(view, True, points, tier)
        customer_id = _find_customer(session, data.customer, scope)
        if customer_id is None:
            customer_id = _create_customer(session, data.customer, store.id, now)
        purchase = _insert(session, data, store.id, customer_id, at, lines, now)
        points = accrue_for_purchase(session, purchase.id, new=True)  # in its transaction
        reward_first_purchase(session, purchase.id)  # a referred customer's first purchase
        schedule_for_purchase(session, purchase.id)  # follow-up tasks (回访) from the plans
        tier = tier_progress(session, customer_id, now, zone=store.timezone)
        return Recorded(_views(session, [purchase])[0], False, points, tier)


def _complete(index: int, line: LineInput) -> _Line:
    """The line's (sku, quantity, unit price, discount, amount), completed as imports do."""
    where = f"lines.{index}"
    sku = line.sku.strip()
    if not sku:
        raise InvalidField(f"{where}.sku", "empty: give the product's SKU")
    if line.quantity <= 0:
        raise InvalidField(f"{where}.quantity", "must be more than 0: record returns separately")
    if line.unit_price is None and line.amount is None:
        raise InvalidField(f"{where}.unit_price", "give unit_price, amount or both")
    money = line_money(line.quantity, line.unit_price, line.discount, line.amount)
    if isinstance(money, str):
        raise InvalidField(f"{where}.amount", money)
    unit, discount, amount = money
    if discount < 0 and line.unit_price is not None:  # derived prices may round below amount
        raise InvalidField(f"{where}.amount", f"amount {amount} exceeds {line.quantity} × {unit}")
    return sku, line.quantity, unit, discount, amount


def _store(session: Session, data: PurchaseInput, scope: int | None) -> Store:
    """The store named by id or code (default: the caller's own store), within scope."""
    if data.store_id is not None:
        store = session.get(Store, data.store_id)
        named = f"store {data.store_id}"
    elif data.store_code is not None:
        store = session.execute(select(Store).where(Store.code == data.store_code)).scalar()
        named = f"store {data.store_code!r}"
    elif scope is not None:
        store, named = session.get(Store, scope), "your store"
    else:
        raise InvalidField("store_id", "give store_id or store_code: this token spans stores")
    if store is None:
        raise NotFound(f"{named} does not exist: use a store id or code the shop has")
    if scope is not None and store.id != scope:
        raise NotAllowed(
            f"you may record purchases only for your own store (id {scope}), not {named}: "
            "use a token of a staff member of that store"
        )
    return store


def _instant(moment: datetime, timezone: str, now: datetime) -> datetime:
    """An aware UTC instant; naive input is wall time in the store's zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    moment = moment.astimezone(UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise InvalidField("purchased_at", "more than a day in the future: check the POS clock")
    return moment


def _find_customer(session: Session, ref: CustomerRef, scope: int | None) -> int | None:
    """By id (must be in scope), else member code, phone, email; None if nobody matches."""
    if ref.id is not None:
        home = session.execute(
            select(Customer.home_store_id).where(Customer.id == ref.id)
        ).one_or_none()
        if home is None or (scope is not None and home[0] != scope):
            raise NotFound(f"customer {ref.id} does not exist: name the customer by phone")
        return ref.id
    for column, value in ((Customer.code, ref.code), (Customer.phone, ref.phone),
                          (Customer.email, ref.email)):  # fmt: skip
        if value:
            found = session.execute(select(Customer.id).where(column == value)).scalar()
            if found is not None:
                return int(found)
    if not (ref.code or ref.phone or ref.email):
        raise InvalidField("customer", "give the customer's id, code, phone or email")
    return None


def _create_customer(session: Session, ref: CustomerRef, store_id: int, now: datetime) -> int:
    """A customer first met at the till, named as the import names them."""
    name = (ref.name or "").strip() or f"客户{(ref.phone or ref.code or ref.email or '')[-4:]}"
    pinyin, initials = name_keys(name)
    customer = Customer(name=name, name_pinyin=pinyin, name_initials=initials, code=ref.code,
                        phone=ref.phone, phone_last4=ref.phone[-4:] if ref.phone else None,
                        email=ref.email, source=CustomerSource.IMPORT.value, custom_fields={},
                        home_store_id=store_id, created_at=now, updated_at=now)  # fmt: skip
    session.add(customer)
    session.flush()
    return customer.id


def _insert(
    session: Session,
    data: PurchaseInput,
    store_id: int,
    customer_id: int,
    at: datetime,
    lines: list[_Line],
    now: datetime,
) -> Purchase:
    products = _products(session, data.lines, lines)
    purchase = Purchase(
        store_id=store_id, external_order_id=data.external_order_id, customer_id=customer_id,
        purchased_at=at, total_amount=sum((line[4] for line in lines), Decimal(0)),
        is_promotion=data.is_promotion, created_at=now,
        payment_method=data.payment_method.value if data.payment_method else None,
        lines=[PurchaseLine(line_no=n, product_id=products[sku], quantity=qty, unit_price=unit,
                            discount=discount, amount=amount)
               for n, (sku, qty, unit, discount, amount) in enumerate(lines, start=1)],
    )  # fmt: skip
    session.add(purchase)
    session.flush()
    return purchase


def _products(session: Session, sent: tuple[LineInput, ...], lines: list[_Line]) -> dict[str, int]:
    """Product ids by SKU; unknown SKUs become products (named as sent, else by SKU)."""
    skus = {line[0] for line in lines}
    found = session.execute(select(Product.sku, Product.id).where(Product.sku.in_(skus)))
    known: dict[str, int] = {row.sku: row.id for row in found}
    for given, (sku, _, unit, _, _) in zip(sent, lines, strict=True):
        if sku not in known:
            product = Product(sku=sku, name=(given.name or "").strip() or sku,
                              category=given.category, list_price=unit)  # fmt: skip
            session.add(product)
            session.flush()
            known[sku] = product.id
    return known


def _replay(
    session: Session,
    existing: Purchase,
    data: PurchaseInput,
    at: datetime,
    lines: list[_Line],
    scope: int | None,
    store: Store,
) -> PurchaseView:
    """The stored purchase if ``data`` says the same; else OrderConflict naming what differs."""
    view = _views(session, [existing])[0]
    stored = [(x.sku, x.quantity, x.unit_price, x.discount, x.amount) for x in view.lines]
    payment = data.payment_method.value if data.payment_method else None
    differs = [
        what
        for what, same in (
            ("customer", _find_customer(session, data.customer, scope) == existing.customer_id),
            ("purchased_at", existing.purchased_at == at),
            ("lines", stored == lines),
            ("payment_method", existing.payment_method == payment),
            ("is_promotion", existing.is_promotion == data.is_promotion),
        )
        if not same
    ]
    if differs:
        raise OrderConflict(
            f"order {data.external_order_id!r} of store {store.code!r} was recorded before "
            f"(purchase {existing.id}) with a different {', '.join(differs)}: purchases are "
            "never changed, so record a return to correct it, or use a new order id for a "
            "new sale",
            existing.id,
        )
    return view


def _views(session: Session, purchases: list[Purchase]) -> list[PurchaseView]:
    """Purchases with their lines, SKUs and store codes, in two more queries."""
    if not purchases:
        return []
    product_ids = {line.product_id for p in purchases for line in p.lines}
    products = {
        pid: (sku, name)
        for pid, sku, name in session.execute(
            select(Product.id, Product.sku, Product.name).where(Product.id.in_(product_ids))
        )
    }
    stores = {
        sid: (code, tz)
        for sid, code, tz in session.execute(
            select(Store.id, Store.code, Store.timezone).where(
                Store.id.in_({p.store_id for p in purchases})
            )
        )
    }
    return [_view(p, products, stores[p.store_id]) for p in purchases]


def _view(
    p: Purchase, products: dict[int, tuple[str, str]], store: tuple[str, str]
) -> PurchaseView:
    lines = tuple(
        LineView(x.line_no, *products[x.product_id], x.quantity, x.unit_price, x.discount,
                 x.amount)
        for x in p.lines
    )  # fmt: skip
    return PurchaseView(p.id, p.store_id, store[0], p.external_order_id, p.customer_id,
                        p.purchased_at.astimezone(ZoneInfo(store[1])), p.total_amount,
                        p.payment_method, p.is_promotion, p.created_at, lines)  # fmt: skip


def list_purchases(
    db: Database,
    *,
    store_scope: int | None,
    customer_id: int | None = None,
    since: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> PurchasePage:
    """Purchases of the caller's store (None: every store), newest first, one page."""
    page = max(page, 1)
    filters = []
    if store_scope is not None:
        filters.append(Purchase.store_id == store_scope)
    if customer_id is not None:
        filters.append(Purchase.customer_id == customer_id)
    if since is not None:
        filters.append(Purchase.purchased_at >= since)
    with db.read() as session:
        total = session.execute(select(func.count()).select_from(Purchase).where(*filters))
        rows = session.execute(
            select(Purchase).options(selectinload(Purchase.lines)).where(*filters)
            .order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
            .limit(per_page).offset((page - 1) * per_page)
        ).scalars().all()  # fmt: skip
        return PurchasePage(_views(session, list(rows)), int(total.scalar_one()), page, per_page)


def get_purchase(db: Database, purchase_id: int, *, store_scope: int | None) -> PurchaseView:
    """One purchase of the caller's store (None: any store); NotFound otherwise."""
    with db.read() as session:
        purchase = session.execute(
            select(Purchase).options(selectinload(Purchase.lines)).where(Purchase.id == purchase_id)
        ).scalar_one_or_none()
        if purchase is None or (store_scope is not None and purchase.store_id != store_scope):
            raise NotFound(f"purchase {purchase_id} does not exist: list them with GET /purchases")
        return _views(session, [purchase])[0]
