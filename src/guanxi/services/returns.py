"""Returns (退货) of stored purchases: what came back, the money refunded, the points taken back.

A return names lines of one purchase by ``line_no`` and the quantity that came back. The refund
of a line is the line's amount × returned / bought, rounded half up to the fen, unless the POS
sends an ``amount`` (at most what is left to refund on that line); the return that brings a
line's returned quantity to all of it refunds exactly what is left, so the refunds of a line
add up to what was paid. More than was bought is never returned, across all returns of a line.

``external_return_id`` is unique per purchase: the same return sent again with the same content
answers the stored result (a replay); with other content it raises ``ReturnConflict``.

In the return's transaction, the points the purchase earned (its ledger entry with key
``purchase:<id>``) are reversed pro rata by refunded value, once per returned line
(``ledger.reverse_for_return``, key ``return-line:<return line id>``): floor(earned × line
refund / purchase total). A purchase that earned nothing reverses nothing. Points already spent
are clawed back below zero and the entry is flagged for the owner.

Concurrency: the purchase row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite write
transactions are serial), so two returns of one purchase, or the same return sent twice at
once, run one after the other; the ledger then locks the customer. Nothing locks a customer
before a purchase, so there is no deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from guanxi.domain.purchases import PaymentMethod
from guanxi.errors import Conflict, NotFound
from guanxi.loyalty import ledger, stored_value
from guanxi.services.purchases import FUTURE_TOLERANCE, InvalidField
from guanxi.storage.db import Database
from guanxi.storage.models import (
    PointsBalance,
    PointsEntry,
    Product,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
    ReturnLine,
    Store,
    StoredValueEntry,
)

CENT = Decimal("0.01")
PAID_KEY = "return-paid:"  # + the return's id + ':' + the redemption's id: one per redemption
CARD_KEY = "return-card:"  # + the return's id + ':' + the spend's id: one give-back per spend


class ReturnConflict(Conflict):
    """The return id was used before for this purchase with other content."""

    def __init__(self, message: str, return_id: int) -> None:
        super().__init__(message)
        self.return_id = return_id


@dataclass(frozen=True)
class ReturnLineInput:
    """One line coming back: the purchase's ``line_no``, how much, and optionally the refund."""

    line_no: int
    quantity: Decimal
    amount: Decimal | None = None


@dataclass(frozen=True)
class ReturnInput:
    """One return as sent; a naive ``returned_at`` is wall time in the store's zone."""

    external_return_id: str
    lines: tuple[ReturnLineInput, ...]
    returned_at: datetime | None = None  # None: now
    reason: str | None = None


@dataclass(frozen=True)
class ReturnedLineView:
    """A stored return line and the points its reversal took back (0: none)."""

    id: int
    line_no: int
    sku: str
    quantity: Decimal
    amount: Decimal
    points_reversed: int
    entry_id: int | None
    flagged: bool


@dataclass(frozen=True)
class ReturnView:
    """A stored return; ``returned_at`` is in the store's time zone."""

    id: int
    purchase_id: int
    customer_id: int
    external_return_id: str
    returned_at: datetime
    reason: str | None
    refund_amount: Decimal
    created_at: datetime
    lines: tuple[ReturnedLineView, ...]


@dataclass(frozen=True)
class RecordedReturn:
    """The outcome of ``record_return``: the return, the points reversed by it, the customer's
    balance after them (negative after a claw-back of spent points), and whether this is the
    stored result of an earlier call."""

    ret: ReturnView
    points_reversed: int
    balance: int
    flagged: bool
    replayed: bool
    stored_value_returned: Decimal = Decimal(0)  # put back on the card that paid the order
    points_restored: int = 0  # points that paid the order, given back


def record_return(
    db: Database,
    purchase_id: int,
    data: ReturnInput,
    *,
    store_scope: int | None,
    now: datetime | None = None,
) -> RecordedReturn:
    """Record ``data`` against purchase ``purchase_id`` once, and reverse its points.

    ``store_scope`` is the one store the caller sees (None: every store); a purchase of another
    store is NotFound. Refusals name the field: ``lines.<i>.quantity`` for an over-return.
    """
    now = now or datetime.now(UTC)
    return_id = data.external_return_id.strip()
    if not return_id:
        raise InvalidField("external_return_id", "empty: give the POS's return number")
    if not data.lines:
        raise InvalidField("lines", "a return needs at least one line")
    with db.write() as session:
        purchase = _locked_purchase(session, purchase_id, store_scope)
        store = session.get(Store, purchase.store_id)
        assert store is not None
        lines = {line.line_no: line for line in purchase.lines}
        _check_shape(data, lines)
        at = _instant(data.returned_at, store.timezone, purchase.purchased_at, now)
        existing = session.execute(
            select(PurchaseReturn)
            .options(selectinload(PurchaseReturn.lines))
            .where(
                PurchaseReturn.purchase_id == purchase.id,
                PurchaseReturn.external_return_id == return_id,
            )
        ).scalar_one_or_none()
        if existing is not None:
            _same_or_conflict(existing, data, lines, at, return_id, purchase.id)
            return _result(session, purchase, existing, store, replayed=True)
        ret = _insert(session, purchase, data, lines, at, return_id, now)
        _reverse_points(session, purchase, store, ret, lines)
        _restore_points_paid(session, purchase, ret)
        _give_back_card_money(session, purchase, ret)
        return _result(session, purchase, ret, store, replayed=False)


def _restore_points_paid(session: Session, purchase: Purchase, ret: PurchaseReturn) -> None:
    """Points that paid the receipt come back as far as the receipt is refunded so far."""
    if purchase.customer_id is None:
        return
    refunded = session.scalar(
        select(func.coalesce(func.sum(PurchaseReturn.refund_amount), 0)).where(
            PurchaseReturn.purchase_id == purchase.id
        )
    )
    total = purchase.total_amount
    share = Fraction(1) if total <= 0 else Fraction(Decimal(refunded or 0)) / Fraction(total)
    ledger.restore_paid(session, purchase.customer_id, purchase.external_order_id, share,
                        key_prefix=f"{PAID_KEY}{ret.id}:",
                        reason=f"return {ret.external_return_id}")  # fmt: skip


def _give_back_card_money(session: Session, purchase: Purchase, ret: PurchaseReturn) -> None:
    """A purchase paid by stored-value card gets its refund back on the card, from the spends
    whose reference is the receipt number, in the proportions of paid and bonus they took."""
    if purchase.payment_method != PaymentMethod.STORED_VALUE or purchase.customer_id is None:
        return
    stored_value.give_back_for_order(
        session, purchase.customer_id, purchase.external_order_id, ret.refund_amount,
        key_prefix=f"{CARD_KEY}{ret.id}:", reason=f"return {ret.external_return_id}",
    )  # fmt: skip


def _locked_purchase(session: Session, purchase_id: int, scope: int | None) -> Purchase:
    stmt = select(Purchase).options(selectinload(Purchase.lines)).where(Purchase.id == purchase_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Purchase)
    purchase = session.execute(stmt).scalar_one_or_none()
    if purchase is None or (scope is not None and purchase.store_id != scope):
        raise NotFound(f"purchase {purchase_id} does not exist: list them with GET /purchases")
    return purchase


def _check_shape(data: ReturnInput, lines: dict[int, PurchaseLine]) -> None:
    seen: set[int] = set()
    for i, line in enumerate(data.lines):
        where = f"lines.{i}"
        if line.line_no not in lines:
            raise InvalidField(
                f"{where}.line_no",
                f"the purchase has no line {line.line_no}: its lines are "
                f"{', '.join(str(n) for n in sorted(lines))}",
            )
        if line.line_no in seen:
            raise InvalidField(
                f"{where}.line_no", f"line {line.line_no} is listed twice: send it once"
            )
        seen.add(line.line_no)
        if line.quantity <= 0:
            raise InvalidField(f"{where}.quantity", "must be more than 0")
        if line.amount is not None and line.amount < 0:
            raise InvalidField(f"{where}.amount", "must be 0 or more")


def _instant(
    moment: datetime | None, timezone: str, purchased_at: datetime, now: datetime
) -> datetime:
    if moment is None:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    moment = moment.astimezone(UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise InvalidField("returned_at", "more than a day in the future: check the POS clock")
    if moment < purchased_at - timedelta(minutes=1):
        raise InvalidField("returned_at", "before the purchase: check the POS clock")
    return moment


def _returned_before(session: Session, line_ids: list[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """(quantity, amount) returned so far per purchase line id."""
    found: dict[int, tuple[Decimal, Decimal]] = {}
    for lid, qty, amount in session.execute(
        select(ReturnLine.purchase_line_id, ReturnLine.quantity, ReturnLine.amount).where(
            ReturnLine.purchase_line_id.in_(line_ids)
        )
    ):
        q, a = found.get(lid, (Decimal(0), Decimal(0)))
        found[lid] = (q + qty, a + amount)
    return found


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _insert(
    session: Session,
    purchase: Purchase,
    data: ReturnInput,
    lines: dict[int, PurchaseLine],
    at: datetime,
    return_id: str,
    now: datetime,
) -> PurchaseReturn:
    before = _returned_before(session, [line.id for line in lines.values()])
    rows: list[ReturnLine] = []
    for i, sent in enumerate(data.lines):
        bought = lines[sent.line_no]
        done_qty, done_amount = before.get(bought.id, (Decimal(0), Decimal(0)))
        left_qty, left_amount = bought.quantity - done_qty, bought.amount - done_amount
        if sent.quantity > left_qty:
            raise InvalidField(
                f"lines.{i}.quantity",
                f"line {sent.line_no} ({_qty(bought.quantity)} bought, {_qty(done_qty)} "
                f"returned before): at most {_qty(left_qty)} can still be returned, not "
                f"{_qty(sent.quantity)}",
            )
        if sent.amount is not None:
            if sent.amount > left_amount:
                raise InvalidField(
                    f"lines.{i}.amount",
                    f"line {sent.line_no}: at most {left_amount:f} is left to refund "
                    f"({bought.amount:f} paid, {done_amount:f} refunded before), "
                    f"not {sent.amount:f}",
                )
            refund = sent.amount
        elif sent.quantity == left_qty:
            refund = left_amount  # the last of the line: what is left, so refunds add up
        else:
            share = bought.amount * sent.quantity / bought.quantity
            refund = min(share.quantize(CENT, rounding=ROUND_HALF_UP), left_amount)
        rows.append(ReturnLine(purchase_line_id=bought.id, quantity=sent.quantity, amount=refund))
    reason = (data.reason or "").strip() or None
    ret = PurchaseReturn(
        purchase_id=purchase.id, external_return_id=return_id, returned_at=at, reason=reason,
        refund_amount=sum((r.amount for r in rows), Decimal(0)), created_at=now, lines=rows,
    )  # fmt: skip
    session.add(ret)
    session.flush()
    return ret


def _same_or_conflict(
    existing: PurchaseReturn,
    data: ReturnInput,
    lines: dict[int, PurchaseLine],
    at: datetime,
    return_id: str,
    purchase_id: int,
) -> None:
    """A replay must say the same: lines, quantities, amounts sent, reason, time if sent."""
    by_line_id = {line.id: line.line_no for line in lines.values()}
    stored = {by_line_id[r.purchase_line_id]: r for r in existing.lines}
    differs: list[str] = []
    same_lines = set(stored) == {s.line_no for s in data.lines} and all(
        stored[s.line_no].quantity == s.quantity
        and (s.amount is None or stored[s.line_no].amount == s.amount)
        for s in data.lines
    )
    if not same_lines:
        differs.append("lines")
    if ((data.reason or "").strip() or None) != existing.reason:
        differs.append("reason")
    if data.returned_at is not None and at != existing.returned_at:
        differs.append("returned_at")
    if differs:
        raise ReturnConflict(
            f"return {return_id!r} of purchase {purchase_id} was recorded before (return "
            f"{existing.id}) with a different {', '.join(differs)}: returns are never changed, "
            "so use a new return id for another return",
            existing.id,
        )


def _earn_entry(session: Session, purchase_id: int) -> PointsEntry | None:
    return session.execute(
        select(PointsEntry).where(
            PointsEntry.idempotency_key == f"purchase:{purchase_id}",
            PointsEntry.kind == ledger.Kind.EARN,
        )
    ).scalar_one_or_none()


def _reverse_points(
    session: Session,
    purchase: Purchase,
    store: Store,
    ret: PurchaseReturn,
    lines: dict[int, PurchaseLine],
) -> None:
    earned = _earn_entry(session, purchase.id)
    if earned is None or purchase.total_amount <= 0:
        return  # the purchase earned nothing: nothing to take back
    line_nos = {line.id: line.line_no for line in lines.values()}
    for row in sorted(ret.lines, key=lambda r: r.id):
        key = f"{ledger.RETURN_LINE_KEY}{row.id}"
        ledger.reverse_for_return(
            session, purchase.customer_id, earned_entry_id=earned.id,
            returned_value=row.amount, original_value=purchase.total_amount,
            source_id=key, idempotency_key=key,
            reason=f"return {ret.external_return_id} of {store.code}/"
            f"{purchase.external_order_id} line {line_nos[row.purchase_line_id]}",
        )  # fmt: skip


def _result(
    session: Session, purchase: Purchase, ret: PurchaseReturn, store: Store, *, replayed: bool
) -> RecordedReturn:
    """The return with the points its lines reversed, as stored (for a new one and a replay)."""
    keys = {f"{ledger.RETURN_LINE_KEY}{r.id}": r.id for r in ret.lines}
    entries = {
        keys[e.source_id]: e
        for e in session.execute(
            select(PointsEntry).where(
                PointsEntry.source_type == ledger.RETURN_LINE,
                PointsEntry.source_id.in_(list(keys)),
                PointsEntry.customer_id == purchase.customer_id,
            )
        ).scalars()
        if e.source_id is not None
    }
    product_of = {line.id: (line.line_no, line.product_id) for line in purchase.lines}
    wanted = {pid for _, pid in product_of.values()}
    found = session.execute(select(Product.id, Product.sku).where(Product.id.in_(wanted)))
    skus: dict[int, str] = {row.id: row.sku for row in found}
    views = []
    for r in sorted(ret.lines, key=lambda r: product_of[r.purchase_line_id][0]):
        line_no, product_id = product_of[r.purchase_line_id]
        e = entries.get(r.id)
        views.append(ReturnedLineView(
            r.id, line_no, skus[product_id], r.quantity, r.amount,
            -e.points if e is not None else 0, e.id if e is not None else None,
            bool(e is not None and e.flagged),
        ))  # fmt: skip
    restored = _restored_entries(session, ret)
    if entries or restored:
        balance = max([*entries.values(), *restored], key=lambda e: e.id).balance_after
    else:
        cached = session.execute(
            select(PointsBalance.points).where(PointsBalance.customer_id == purchase.customer_id)
        ).scalar_one_or_none()
        balance = int(cached or 0)
    view = ReturnView(
        ret.id, purchase.id, purchase.customer_id, ret.external_return_id or "",
        ret.returned_at.astimezone(ZoneInfo(store.timezone)), ret.reason, ret.refund_amount,
        ret.created_at, tuple(views),
    )  # fmt: skip
    return RecordedReturn(
        view,
        sum(v.points_reversed for v in views),
        balance,
        any(v.flagged for v in views),
        replayed,
        _card_money_given_back(session, purchase, ret),
        sum(e.points for e in restored),
    )


def _restored_entries(session: Session, ret: PurchaseReturn) -> list[PointsEntry]:
    """The entries that gave back points that paid the receipt, for this return."""
    return list(session.scalars(
        select(PointsEntry).where(
            PointsEntry.source_type == ledger.PAYMENT_RESTORED,
            PointsEntry.idempotency_key.startswith(f"{PAID_KEY}{ret.id}:", autoescape=True),
        )
    ))  # fmt: skip


def _card_money_given_back(session: Session, purchase: Purchase, ret: PurchaseReturn) -> Decimal:
    if purchase.payment_method != PaymentMethod.STORED_VALUE:
        return Decimal(0)
    given = session.scalars(
        select(StoredValueEntry).where(
            StoredValueEntry.idempotency_key.startswith(f"{CARD_KEY}{ret.id}:", autoescape=True)
        )
    ).all()
    return sum((e.paid + e.bonus for e in given), Decimal(0))
