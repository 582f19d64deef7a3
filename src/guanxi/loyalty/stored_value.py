"""Stored value (储值卡): a prepaid balance per customer, paid money and bonus money apart.

Every change is one ``stored_value_entry`` carrying a signed ``paid`` part and a signed
``bonus`` part (Decimal yuan, 2 places) and both balances after it. ``stored_value_balance``
caches SUM(paid) and SUM(bonus) per customer, is written only here in the same transaction as
the entries, and ``check_balances`` proves it. Neither balance ever goes below zero (the
service refuses with ``InsufficientBalance``; CHECK constraints back it up).

Entry kinds: ``top_up`` (paid money in, plus the bonus of the highest top-up tier met),
``spend``, ``spend_reversal`` (a returned purchase paid by card: the money goes back in the
proportions the spend took it), ``refund`` (paid money back to the customer) with its
``forfeit`` (the bonus that goes with it), and ``adjust`` (a manager's correction, audited).

Spend order: a spend takes paid and bonus money **in proportion to the current balances**, the
paid part rounded down to the fen and the bonus part the rest. Taking bonus first would leave
all the paid money refundable after spending, so a customer could top up, spend the bonus and
cash out the whole payment (the bonus becomes a cash discount with no purchase behind it);
taking paid first would make a card refund return less than the customer's share of what they
paid. In proportion, every spend consumes the same mix the card holds, so a refund returns
exactly the paid share of what is left. Rounding the paid part down moves at most ¥0.01 per
spend towards the bonus.

A refund returns paid money only (all of it by default, or a part) and forfeits the bonus in
the same proportion (rounded up to the fen; all of it on a full refund) as its own ``forfeit``
entry, so bonus never outlives the money that earned it. Refunds and adjustments are for
managers and the owner, with a reason, and are audited; the top-up bonus tiers are the
owner's, audited too.

Concurrency and idempotency are those of the points ledger (``guanxi.loyalty.ledger``): one
public call = one write transaction (or one savepoint of a caller's session); SQLite write
transactions begin IMMEDIATE; on PostgreSQL the customer's balance row is locked with
``SELECT ... FOR UPDATE`` under READ COMMITTED (created first with ``INSERT ... ON CONFLICT
DO NOTHING``), so postings for one customer are serial and each sees the last one's balances.
An entry stores the caller's idempotency key (unique) and the SHA-256 of the request; the key
is looked up after the lock, so a retry answers the stored result and a reuse for another
request raises ``IdempotencyConflict``; a concurrent duplicate that slips past the lock (the
same key for another customer) fails on the unique key and is answered from the stored row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.domain.staff import Role
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, StoredValueBalance, StoredValueEntry, StoredValueRule
from guanxi.storage.once import IdempotencyConflict, request_digest, run_once, stored_for_key

__all__ = [
    "Balance", "BonusRule", "Entry", "IdempotencyConflict", "InsufficientBalance", "Kind",
    "Mismatch", "Posting", "Statement", "adjust", "balance", "bonus_for", "check_balances",
    "history", "refund", "reverse_spend", "rules", "save_rules", "spend", "statement", "top_up",
]  # fmt: skip

DbOrSession = Database | Session
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("1000000.00")  # any one top-up, spend, refund or adjustment
MAX_RULES = 20
TOP_UP_METHODS = ("cash", "wechat_pay", "alipay", "card", "other")

# audited actions (stable strings, as in ``guanxi.services.audit.Action``)
AUDIT_REFUNDED = audit.Action.STORED_VALUE_REFUNDED
AUDIT_ADJUSTED = audit.Action.STORED_VALUE_ADJUSTED
AUDIT_RULES_CHANGED = audit.Action.STORED_VALUE_RULES_CHANGED


class Kind(StrEnum):
    """What a stored-value entry is."""

    TOP_UP = "top_up"
    SPEND = "spend"
    REFUND = "refund"
    FORFEIT = "forfeit"
    SPEND_REVERSAL = "spend_reversal"
    ADJUST = "adjust"


class InsufficientBalance(Conflict):
    """A debit asked for more than the card holds (``balance``: what it holds, for a refund
    the refundable paid money)."""

    def __init__(self, balance: Decimal, asked: Decimal, what: str = "stored value") -> None:
        super().__init__(f"insufficient {what}: balance {balance}, asked {asked}")
        self.balance = balance
        self.asked = asked


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """A card's paid and bonus money."""

    paid: Decimal
    bonus: Decimal

    @property
    def total(self) -> Decimal:
        return self.paid + self.bonus


EMPTY = Balance(ZERO, ZERO)


@dataclass(frozen=True)
class Entry:
    """One entry as stored."""

    id: int
    customer_id: int
    kind: Kind
    paid: Decimal
    bonus: Decimal
    paid_after: Decimal
    bonus_after: Decimal
    at: datetime
    reason: str | None
    actor_staff_id: int | None
    payment_method: str | None
    reference: str | None
    related_entry_id: int | None
    idempotency_key: str | None
    explanation: dict[str, Any]

    @property
    def amount(self) -> Decimal:
        """The entry's total (paid + bonus), signed."""
        return self.paid + self.bonus

    @property
    def balance_after(self) -> Balance:
        return Balance(self.paid_after, self.bonus_after)


@dataclass(frozen=True)
class Posting:
    """What one call posted (a refund: the refund and its forfeit), the balances after it,
    and whether this is the stored result of an earlier call with the same key."""

    entries: tuple[Entry, ...]
    balance: Balance
    replayed: bool = False

    @property
    def entry(self) -> Entry:
        """The call's main entry (the top-up, spend, refund...)."""
        return self.entries[0]


@dataclass(frozen=True)
class BonusRule:
    """A top-up of at least ``min_amount`` gets ``bonus``."""

    min_amount: Decimal
    bonus: Decimal


@dataclass(frozen=True)
class Mismatch:
    """A customer whose cached balances differ from the sums of their entries."""

    customer_id: int
    cached: Balance | None
    ledger: Balance


@dataclass(frozen=True)
class Statement:
    """A customer's card as of one moment: balances and a page of entries, newest first."""

    balance: Balance
    history: tuple[Entry, ...]


# -- the bonus rules ----------------------------------------------------------------------------


def rules(target: DbOrSession) -> tuple[BonusRule, ...]:
    """The top-up bonus tiers, highest threshold first."""
    if isinstance(target, Session):
        return _rules(target)
    with target.read() as session:
        return _rules(session)


def _rules(session: Session) -> tuple[BonusRule, ...]:
    rows = session.execute(
        select(StoredValueRule.min_amount, StoredValueRule.bonus).order_by(
            StoredValueRule.min_amount.desc()
        )
    )
    return tuple(BonusRule(Decimal(m), Decimal(b)) for m, b in rows)


def bonus_for(tiers: Sequence[BonusRule], amount: Decimal) -> tuple[Decimal, BonusRule | None]:
    """The bonus of the highest tier ``amount`` meets (one bonus per top-up), and that tier."""
    met = [r for r in tiers if amount >= r.min_amount]
    if not met:
        return ZERO, None
    best = max(met, key=lambda r: r.min_amount)
    return best.bonus, best


def validate_rules(tiers: Sequence[BonusRule]) -> tuple[BonusRule, ...]:
    """The tiers sorted highest first; InvalidInput when one is unusable."""
    if len(tiers) > MAX_RULES:
        raise InvalidInput(f"at most {MAX_RULES} top-up bonus tiers, not {len(tiers)}")
    seen: set[Decimal] = set()
    for r in tiers:
        least = _amount(r.min_amount, "a tier's top-up amount")
        bonus = _amount(r.bonus, "a tier's bonus")
        if bonus > least:
            raise InvalidInput(
                f"the bonus {bonus} of the tier from {least} is more than the top-up itself"
            )
        if least in seen:
            raise InvalidInput(f"two tiers start at {least}: keep one")
        seen.add(least)
    cleaned = (BonusRule(_cents(r.min_amount), _cents(r.bonus)) for r in tiers)
    return tuple(sorted(cleaned, key=lambda r: r.min_amount, reverse=True))


def save_rules(db: Database, actor: StaffMember, tiers: Sequence[BonusRule]) -> None:
    """Replace the top-up bonus tiers (the owner's; audited with before and after)."""
    if actor.role != Role.OWNER:
        raise NotAllowed(
            f"only the owner may change the top-up bonuses; {actor.name} is a {actor.role.value}"
        )
    new = validate_rules(tiers)
    with db.write() as session:
        old = _rules(session)
        session.execute(delete(StoredValueRule))
        now = datetime.now(UTC)
        session.add_all(
            StoredValueRule(min_amount=r.min_amount, bonus=r.bonus,
                            updated_by_staff_id=actor.id, updated_at=now)
            for r in new
        )  # fmt: skip
        audit.record(session, AUDIT_RULES_CHANGED, actor_id=actor.id,
                     detail={"before": _rules_json(old), "after": _rules_json(new)})  # fmt: skip


def _rules_json(tiers: Sequence[BonusRule]) -> list[dict[str, str]]:
    return [{"min_amount": str(r.min_amount), "bonus": str(r.bonus)} for r in tiers]


# -- the public operations ----------------------------------------------------------------------


def top_up(
    target: DbOrSession,
    customer_id: int,
    amount: Decimal,
    *,
    payment_method: str,
    reference: str | None = None,
    idempotency_key: str | None,
    actor_id: int | None = None,
) -> Posting:
    """Put ``amount`` of paid money on the card, plus the bonus of the highest tier it meets
    (the tiers in force when it is posted; a replay answers the bonus given then)."""
    paid = _amount(amount, "a top-up")
    if payment_method not in TOP_UP_METHODS:
        raise InvalidInput(
            f"payment method {payment_method!r} is not one of {', '.join(TOP_UP_METHODS)}"
        )
    ref = _reference(reference)
    digest = request_digest("top_up", customer_id=customer_id, amount=str(paid),
                     payment_method=payment_method, reference=ref)  # fmt: skip

    def post(session: Session) -> Posting:
        now = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        bonus, tier = bonus_for(_rules(session), paid)
        explained = {} if tier is None else {"tier": _rules_json([tier])[0]}
        entry = _append(
            session, customer_id, Kind.TOP_UP, Balance(paid, bonus), now, actor_staff_id=actor_id,
            payment_method=payment_method, reference=ref, idempotency_key=idempotency_key,
            request_digest=digest, explanation=explained,
        )  # fmt: skip
        return _posting((entry,))

    return _post(target, idempotency_key, digest, post)


def spend(
    target: DbOrSession,
    customer_id: int,
    amount: Decimal,
    *,
    reference: str | None = None,
    idempotency_key: str | None,
    actor_id: int | None = None,
    reason: str | None = None,
) -> Posting:
    """Pay ``amount`` from the card, paid and bonus money in proportion to the balances (see
    the module docstring); InsufficientBalance when the card holds less."""
    asked = _amount(amount, "a spend")
    ref = _reference(reference)
    digest = request_digest("spend", customer_id=customer_id, amount=str(asked), reference=ref,
                     reason=reason)  # fmt: skip

    def post(session: Session) -> Posting:
        now = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        if asked > now.total:
            raise InsufficientBalance(now.total, asked)
        part = split(asked, now)
        entry = _append(
            session, customer_id, Kind.SPEND, Balance(-part.paid, -part.bonus), now,
            actor_staff_id=actor_id, reference=ref, reason=reason,
            idempotency_key=idempotency_key, request_digest=digest,
        )  # fmt: skip
        return _posting((entry,))

    return _post(target, idempotency_key, digest, post)


def split(amount: Decimal, held: Balance) -> Balance:
    """How a spend of ``amount`` (at most ``held.total``) splits: the paid part is
    ``amount × paid / total`` rounded down to the fen, the bonus part the rest."""
    if held.total <= 0:
        return Balance(ZERO, ZERO)
    paid = (amount * held.paid / held.total).quantize(CENT, rounding=ROUND_FLOOR)
    paid = min(max(paid, amount - held.bonus), held.paid)
    return Balance(paid, amount - paid)


def reverse_spend(
    target: DbOrSession,
    customer_id: int,
    spend_entry_id: int,
    amount: Decimal | None = None,
    *,
    reference: str | None = None,
    idempotency_key: str | None,
    actor_id: int | None = None,
    reason: str | None = None,
) -> Posting:
    """Give back ``amount`` (None: all that is not yet given back) of a spend, e.g. for a
    returned purchase paid by card, in the proportions the spend took paid and bonus money."""
    asked = None if amount is None else _amount(amount, "a spend reversal")
    ref = _reference(reference)
    digest = request_digest("reverse", customer_id=customer_id, spend=spend_entry_id,
                     amount=None if asked is None else str(asked), reference=ref,
                     reason=reason)  # fmt: skip

    def post(session: Session) -> Posting:
        now = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        left = _unreversed(session, customer_id, spend_entry_id)
        if left.total <= 0 or (asked is not None and asked > left.total):
            raise Conflict(
                f"spend {spend_entry_id} has {left.total} left to give back, not "
                f"{left.total if asked is None else asked}"
            )
        part = left if asked is None else split(asked, left)
        entry = _append(
            session, customer_id, Kind.SPEND_REVERSAL, part, now, actor_staff_id=actor_id,
            reference=ref, reason=reason, related_entry_id=spend_entry_id,
            idempotency_key=idempotency_key, request_digest=digest,
        )  # fmt: skip
        return _posting((entry,))

    return _post(target, idempotency_key, digest, post)


def give_back_for_order(
    session: Session,
    customer_id: int,
    reference: str,
    amount: Decimal,
    *,
    key_prefix: str,
    actor_id: int | None = None,
    reason: str | None = None,
) -> Decimal:
    """Put up to ``amount`` back on the card from the spends that paid order ``reference``
    (oldest spend first, each in the proportions it took), inside the caller's transaction;
    how much went back. Each spend's part is posted with the key ``<key_prefix>:<spend id>``,
    so the same return gives back once."""
    left = _amount(amount, "a give-back") if amount > 0 else ZERO
    if left <= 0:
        return ZERO
    _lock(session, customer_id)
    spends = session.scalars(
        select(StoredValueEntry.id)
        .where(StoredValueEntry.customer_id == customer_id, StoredValueEntry.kind == Kind.SPEND,
               StoredValueEntry.reference == _reference(reference))
        .order_by(StoredValueEntry.id)
    ).all()  # fmt: skip
    given = ZERO
    for spend_id in spends:
        key = f"{key_prefix}:{spend_id}"
        if session.scalar(select(StoredValueEntry.id).where(
                StoredValueEntry.idempotency_key == key)) is not None:  # fmt: skip
            continue  # given back before: the caller's replay
        part = min(left - given, _unreversed(session, customer_id, spend_id).total)
        if part <= 0:
            continue
        reverse_spend(session, customer_id, spend_id, part, reference=reference,
                      idempotency_key=key, actor_id=actor_id, reason=reason)  # fmt: skip
        given += part
        if given >= left:
            break
    return given


def refund(
    target: DbOrSession,
    actor: StaffMember,
    customer_id: int,
    reason: str,
    amount: Decimal | None = None,
    *,
    payment_method: str | None = None,
    idempotency_key: str | None = None,
) -> Posting:
    """Return paid money to the customer (None: all of it) and forfeit the bonus in the same
    proportion (all of it on a full refund): a manager's or the owner's action, audited."""
    _manager(actor, "refund stored value")
    why = _reason(reason, "a refund")
    asked = None if amount is None else _amount(amount, "a refund")
    digest = request_digest("refund", customer_id=customer_id, reason=why,
                     amount=None if asked is None else str(asked),
                     payment_method=payment_method)  # fmt: skip

    def post(session: Session) -> Posting:
        now = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        paid = now.paid if asked is None else asked
        if paid > now.paid or now.paid <= 0:
            raise InsufficientBalance(now.paid, paid, "refundable paid money")
        forfeit = _forfeit(paid, now)
        entry = _append(
            session, customer_id, Kind.REFUND, Balance(-paid, ZERO), now, reason=why,
            actor_staff_id=actor.id, payment_method=payment_method,
            idempotency_key=idempotency_key, request_digest=digest,
        )  # fmt: skip
        entries = [entry]
        if forfeit > 0:
            entries.append(_append(
                session, customer_id, Kind.FORFEIT, Balance(ZERO, -forfeit), entry.balance_after,
                reason=why, actor_staff_id=actor.id, related_entry_id=entry.id,
            ))  # fmt: skip
        audit.record(session, AUDIT_REFUNDED, actor_id=actor.id, target_type="customer",
                     target_id=customer_id,
                     detail={"entry_id": entry.id, "paid": str(paid), "forfeit": str(forfeit),
                             "reason": why})  # fmt: skip
        return _posting(tuple(entries))

    return _post(target, idempotency_key, digest, post)


def _forfeit(paid: Decimal, now: Balance) -> Decimal:
    """The bonus that goes with refunding ``paid`` of ``now.paid``: all of it on a full
    refund, else the same share rounded up to the fen."""
    if paid >= now.paid:
        return now.bonus
    share = (now.bonus * paid / now.paid).quantize(CENT, rounding=ROUND_CEILING)
    return min(share, now.bonus)


def adjust(
    target: DbOrSession,
    actor: StaffMember,
    customer_id: int,
    *,
    paid: Decimal = ZERO,
    bonus: Decimal = ZERO,
    reason: str,
    idempotency_key: str | None = None,
) -> Posting:
    """A manager's or the owner's correction of the paid and/or bonus money (signed), with a
    reason, audited; InsufficientBalance when it would take either below zero."""
    _manager(actor, "adjust stored value")
    why = _reason(reason, "an adjustment")
    change = Balance(_signed(paid, "paid"), _signed(bonus, "bonus"))
    if change.paid == 0 and change.bonus == 0:
        raise InvalidInput("an adjustment changes the paid or the bonus money: both are 0")
    digest = request_digest("adjust", customer_id=customer_id, paid=str(change.paid),
                     bonus=str(change.bonus), reason=why)  # fmt: skip

    def post(session: Session) -> Posting:
        now = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        for held, delta, what in ((now.paid, change.paid, "paid money"),
                                  (now.bonus, change.bonus, "bonus money")):  # fmt: skip
            if held + delta < 0:
                raise InsufficientBalance(held, -delta, what)
        entry = _append(
            session, customer_id, Kind.ADJUST, change, now, reason=why, actor_staff_id=actor.id,
            idempotency_key=idempotency_key, request_digest=digest,
        )  # fmt: skip
        audit.record(session, AUDIT_ADJUSTED, actor_id=actor.id, target_type="customer",
                     target_id=customer_id,
                     detail={"entry_id": entry.id, "paid": str(change.paid),
                             "bonus": str(change.bonus), "reason": why})  # fmt: skip
        return _posting((entry,))

    return _post(target, idempotency_key, digest, post)


# -- reading ------------------------------------------------------------------------------------


def balance(db: Database, customer_id: int) -> Balance:
    """The customer's card balances (the cache; ``check_balances`` proves it)."""
    with db.read() as session:
        _customer(session, customer_id)
        return _cached(session, customer_id) or EMPTY


def _history_select(customer_id: int, limit: int, before_id: int | None) -> Any:
    stmt = (
        select(StoredValueEntry)
        .where(StoredValueEntry.customer_id == customer_id)
        .order_by(StoredValueEntry.id.desc())
        .limit(max(limit, 1))
    )
    return stmt if before_id is None else stmt.where(StoredValueEntry.id < before_id)


def history(
    db: Database, customer_id: int, limit: int = 50, before_id: int | None = None
) -> list[Entry]:
    """The customer's entries, newest first, ``limit`` of those older than ``before_id``."""
    return list(statement(db, customer_id, limit=limit, before_id=before_id).history)


def statement(
    db: Database, customer_id: int, *, limit: int = 50, before_id: int | None = None
) -> Statement:
    """The balances and a page of entries (newest first) in one read."""
    with db.read() as session:
        _customer(session, customer_id)
        rows = session.execute(_history_select(customer_id, limit, before_id)).scalars()
        return Statement(_cached(session, customer_id) or EMPTY, tuple(_entry(e) for e in rows))


def check_balances(db: Database) -> list[Mismatch]:
    """Customers whose cached balances are not the sums of their entries, or negative;
    empty when the cache is right."""
    with db.read() as session:
        sums = {
            cid: Balance(Decimal(p), Decimal(b))
            for cid, p, b in session.execute(
                select(StoredValueEntry.customer_id, func.sum(StoredValueEntry.paid),
                       func.sum(StoredValueEntry.bonus))
                .group_by(StoredValueEntry.customer_id)
            )
        }  # fmt: skip
        cached = {
            cid: Balance(Decimal(p), Decimal(b))
            for cid, p, b in session.execute(
                select(StoredValueBalance.customer_id, StoredValueBalance.paid,
                       StoredValueBalance.bonus)
            )
        }  # fmt: skip
    wrong = []
    for cid in sorted(sums.keys() | cached.keys()):
        mine, theirs = cached.get(cid), sums.get(cid, EMPTY)
        if mine is None and theirs == EMPTY:
            continue
        if mine != theirs or theirs.paid < 0 or theirs.bonus < 0:
            wrong.append(Mismatch(cid, mine, theirs))
    return wrong


# -- internals ----------------------------------------------------------------------------------


def _post(
    target: DbOrSession, key: str | None, digest: str, post: Callable[[Session], Posting]
) -> Posting:
    """Run ``post`` once (see ``storage.once``); a concurrent duplicate of ``key`` is
    answered with the stored result."""
    return run_once(target, post, lambda s: _replay(s, key, digest))


def _replay(session: Session, key: str | None, digest: str) -> Posting | None:
    row = stored_for_key(session, StoredValueEntry, key, digest, lambda r: (
        f"stored-value entry {r.id}: {r.kind} of {r.paid + r.bonus} for customer "
        f"{r.customer_id}"))  # fmt: skip
    if row is None:
        return None
    with_it = session.execute(
        select(StoredValueEntry)
        .where(StoredValueEntry.related_entry_id == row.id,
               StoredValueEntry.kind == Kind.FORFEIT)
        .order_by(StoredValueEntry.id)
    ).scalars()  # fmt: skip
    return _posting((_entry(row), *(_entry(e) for e in with_it)), replayed=True)


def _cached(session: Session, customer_id: int, *, lock: bool = False) -> Balance | None:
    stmt = select(StoredValueBalance.paid, StoredValueBalance.bonus).where(
        StoredValueBalance.customer_id == customer_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    return None if row is None else Balance(Decimal(row[0]), Decimal(row[1]))


def _lock(session: Session, customer_id: int) -> Balance:
    """Take the customer's card lock; returns the cached balances (see the module docstring)."""
    is_pg = session.get_bind().dialect.name == "postgresql"
    if (found := _cached(session, customer_id, lock=is_pg)) is not None:
        return found
    _customer(session, customer_id)
    values = {"customer_id": customer_id, "paid": 0, "bonus": 0, "updated_at": datetime.now(UTC)}
    insert = pg_insert if is_pg else sqlite_insert
    session.execute(insert(StoredValueBalance).values(values).on_conflict_do_nothing())
    found = _cached(session, customer_id, lock=is_pg)
    assert found is not None
    return found


def _customer(session: Session, customer_id: int) -> None:
    if session.execute(select(Customer.id).where(Customer.id == customer_id)).first() is None:
        raise NotFound(f"customer {customer_id} does not exist")


def _unreversed(session: Session, customer_id: int, spend_id: int) -> Balance:
    """What of spend ``spend_id`` is not yet given back (positive paid and bonus)."""
    spent = session.get(StoredValueEntry, spend_id)
    if spent is None or spent.customer_id != customer_id or spent.kind != Kind.SPEND:
        raise NotFound(f"customer {customer_id} has no stored-value spend {spend_id}")
    back = session.execute(
        select(func.coalesce(func.sum(StoredValueEntry.paid), 0),
               func.coalesce(func.sum(StoredValueEntry.bonus), 0))
        .where(StoredValueEntry.related_entry_id == spend_id,
               StoredValueEntry.kind == Kind.SPEND_REVERSAL)
    ).one()  # fmt: skip
    return Balance(-spent.paid - Decimal(back[0]), -spent.bonus - Decimal(back[1]))


def _append(
    session: Session,
    customer_id: int,
    kind: Kind,
    change: Balance,
    before: Balance,
    **fields: Any,
) -> Entry:
    """Add one entry after ``before`` and move the cached balances with it."""
    fields.setdefault("explanation", {})
    row = StoredValueEntry(
        customer_id=customer_id, kind=kind.value, paid=change.paid, bonus=change.bonus,
        paid_after=before.paid + change.paid, bonus_after=before.bonus + change.bonus,
        at=datetime.now(UTC), **fields,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.execute(
        update(StoredValueBalance)
        .where(StoredValueBalance.customer_id == customer_id)
        .values(paid=row.paid_after, bonus=row.bonus_after, updated_at=row.at)
    )
    return _entry(row)


def _posting(entries: tuple[Entry, ...], *, replayed: bool = False) -> Posting:
    return Posting(entries, entries[-1].balance_after, replayed)


def _entry(e: StoredValueEntry) -> Entry:
    return Entry(e.id, e.customer_id, Kind(e.kind), _cents(e.paid), _cents(e.bonus),
                 _cents(e.paid_after), _cents(e.bonus_after), e.at, e.reason, e.actor_staff_id,
                 e.payment_method, e.reference, e.related_entry_id, e.idempotency_key,
                 dict(e.explanation or {}))  # fmt: skip


def _manager(actor: StaffMember, what: str) -> None:
    if actor.role not in (Role.MANAGER, Role.OWNER):
        raise NotAllowed(f"only a manager or the owner may {what}; {actor.name} is a "
                         f"{actor.role.value}")  # fmt: skip


def _reason(reason: str | None, what: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput(f"{what} needs a reason: say why the balance changes")
    return reason.strip()


def _reference(reference: str | None) -> str | None:
    ref = (reference or "").strip() or None
    if ref is not None and len(ref) > 100:
        raise InvalidInput(f"a reference is at most 100 characters, not {len(ref)}")
    return ref


def _cents(value: Decimal | int) -> Decimal:
    return Decimal(value).quantize(CENT)


def _decimal(value: Decimal | int, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidInput(f"{name} must be a Decimal amount of yuan, not {value!r}")
    amount = Decimal(value)
    try:
        exact = amount.is_finite() and amount == amount.quantize(CENT)
    except InvalidOperation:
        exact = False
    if not exact or abs(amount) > MAX_AMOUNT:
        raise InvalidInput(
            f"{name} must be an amount in yuan with at most 2 decimals, up to {MAX_AMOUNT}, "
            f"not {value}"
        )
    return amount.quantize(CENT)


def _amount(value: Decimal | int, name: str) -> Decimal:
    """A positive amount with at most 2 decimals (fen)."""
    amount = _decimal(value, name)
    if amount <= 0:
        raise InvalidInput(f"{name} must be more than 0, not {value}")
    return amount


def _signed(value: Decimal | int, name: str) -> Decimal:
    return _decimal(value, f"the {name} change")
