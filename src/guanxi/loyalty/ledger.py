"""The points ledger (积分流水): append-only entries, lots drawn down FIFO, a cached balance.

Every change of a customer's points is one signed integer ``points_entry``. A positive entry
(earn, a positive adjust, a waive) is a *lot*; a debit (redeem, expire, a negative adjust, a
reverse) records in ``points_allocation`` which lots it drew on, so a lot's remaining points are
``lot.points - SUM(allocations)``, derived and never updated in place. Debits draw soonest
expiry first, never-expiring lots last, then oldest first. ``points_balance`` caches
``SUM(points_entry.points)`` per customer and is written only here, in the same transaction.

A return's claw-back (``reverse_for_return``) may take the balance below zero: the uncovered
part stays unallocated, the entry is ``flagged``, the next lot pays it off first, or the owner
waives it. So the balance is the sum of remaining lots when it is >= 0, else minus the debt.

Every public call is one write transaction (or one savepoint in a caller's session, so that a
purchase and its points commit together).

Concurrency. Each posting first takes the customer's lock, then reads lots and writes:

* SQLite: every write transaction already begins IMMEDIATE (``Database.write``), so writers
  queue on the busy timeout and a posting always sees the previous one; nothing more is needed.
* PostgreSQL: the customer's ``points_balance`` row is locked with ``SELECT ... FOR UPDATE``
  (created first with ``INSERT ... ON CONFLICT DO NOTHING``). Under READ COMMITTED every
  statement after the lock sees what the previous holder committed, so the balance check, the
  lots read and the writes are serial per customer while other customers proceed in parallel.
  We chose a row lock over SERIALIZABLE because a hot customer (200 redemptions at once) would
  make serializable transactions fail with serialization errors that every caller must retry,
  with no fairness and wasted work; the lock makes them queue, and each call runs exactly once.
  A call locks one customer; an expiry run locks customers in ascending id order: no deadlock.

Idempotency: an entry stores the caller's ``idempotency_key`` (unique) and the SHA-256 of the
request. The key is looked up after the lock, so a retry returns the original result; a retry
with another request raises ``IdempotencyConflict``. A concurrent duplicate that slips past
(the same key for another customer) fails on the unique constraint and is then answered with
the stored result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.domain.staff import Role
from guanxi.errors import Conflict, GuanxiError, InvalidInput, NotAllowed, NotFound
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, PointsAllocation, PointsBalance, PointsEntry
from guanxi.storage.once import IdempotencyConflict as IdempotencyConflict
from guanxi.storage.once import request_digest, run_once, stored_for_key

DbOrSession = Database | Session


class Kind(StrEnum):
    """What a points entry is."""

    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REVERSE = "reverse"
    WAIVE = "waive"


RETURN_LINE = "return_line"
RETURN_LINE_KEY = "return-line:"  # + the return line's id: a reversal's source_id and key
EXPIRY_RUN = "expiry_run"
REDEMPTION = "redemption"
ORDER_PAYMENT = "order_payment"  # a redemption that paid (part of) a receipt: source_id = its id
PAYMENT_RESTORED = "payment_restored"  # points that paid a returned receipt, given back
ADJUSTMENT = "adjustment"


class InsufficientPoints(Conflict):
    """A debit asked for more points than the customer has."""

    def __init__(self, balance: int, asked: int) -> None:
        super().__init__(f"insufficient points: balance {balance}, asked {asked}")
        self.balance = balance
        self.asked = asked


class LedgerInconsistent(GuanxiError):
    """The lots do not cover the cached balance: run ``check_balances`` and investigate."""


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored."""

    id: int
    customer_id: int
    kind: Kind
    points: int
    balance_after: int
    at: datetime
    expires_on: date | None
    reason: str | None
    actor_staff_id: int | None
    source_type: str | None
    source_id: str | None
    related_entry_id: int | None
    idempotency_key: str | None
    explanation: dict[str, Any]
    flagged: bool


@dataclass(frozen=True)
class Allocation:
    """``points`` of lot ``lot_entry_id`` consumed by (or covering) ``debit_entry_id``."""

    lot_entry_id: int
    debit_entry_id: int
    points: int


@dataclass(frozen=True)
class Posting:
    """The result of one call: the entry (None when nothing was due), the balance after it,
    the allocations it made, and whether this is the stored result of an earlier call."""

    entry: Entry | None
    balance: int
    allocations: tuple[Allocation, ...]
    replayed: bool = False


@dataclass(frozen=True)
class Lot:
    """A positive entry with points left, in spending order."""

    entry_id: int
    kind: Kind
    points: int
    remaining: int
    expires_on: date | None


@dataclass(frozen=True)
class ExpiryRun:
    """What one expiry run posted (empty when run again for the same date)."""

    as_of: date
    entries: tuple[Entry, ...]

    @property
    def points(self) -> int:
        """Points expired in total (a positive number)."""
        return -sum(e.points for e in self.entries)


@dataclass(frozen=True)
class Mismatch:
    """A customer whose cached balance differs from the sum of their entries."""

    customer_id: int
    cached: int | None
    ledger: int


@dataclass(frozen=True)
class Clawback:
    """A flagged claw-back with points still uncovered (what the owner may waive)."""

    entry: Entry
    outstanding: int


# -- the public operations ----------------------------------------------------------------------


def earn(
    target: DbOrSession,
    customer_id: int,
    points: int,
    *,
    source_type: str | None,
    source_id: int | str | None,
    expires_on: date | None,
    reason: str | None,
    explanation: dict[str, Any] | None,
    idempotency_key: str | None,
    actor_id: int | None = None,
    related_entry_id: int | None = None,
) -> Posting:
    """Credit ``points`` as a new lot expiring after ``expires_on`` (None: never).

    A lot first pays off any flagged claw-back the customer still owes.
    """
    _positive(points, "earn")
    if expires_on is not None and not isinstance(expires_on, date):
        raise InvalidInput(f"expires_on must be a date or None, not {expires_on!r}")
    explained = _json(explanation or {})
    src = None if source_id is None else str(source_id)
    digest = request_digest(
        "earn", customer_id=customer_id, points=points, source_type=source_type, source_id=src,
        expires_on=expires_on, reason=reason, explanation=explained,
    )  # fmt: skip

    def post(session: Session) -> Posting:
        balance = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        entry = _append(
            session, customer_id, Kind.EARN, points, balance, expires_on=expires_on,
            reason=reason, actor_staff_id=actor_id, source_type=source_type, source_id=src,
            idempotency_key=idempotency_key, request_digest=digest, explanation=explained,
            related_entry_id=related_entry_id,
        )  # fmt: skip
        if balance >= 0:  # no claw-back is owed (a debt is exactly a negative balance)
            return Posting(_entry(entry), entry.balance_after, ())
        _cover_debts(session, customer_id, entry.id, points)
        return _posting(session, entry)

    return _post(target, idempotency_key, digest, post)


def redeem(
    target: DbOrSession,
    customer_id: int,
    points: int,
    *,
    reason: str | None,
    idempotency_key: str | None,
    actor_id: int | None,
    source_type: str = REDEMPTION,
    source_id: int | str | None = None,
) -> Posting:
    """Spend ``points``, soonest-expiring lots first; InsufficientPoints if the balance is short."""
    _positive(points, "redeem")
    src = None if source_id is None else str(source_id)
    digest = request_digest(
        "redeem", customer_id=customer_id, points=points, reason=reason,
        source_type=source_type, source_id=src,
    )  # fmt: skip

    def post(session: Session) -> Posting:
        balance = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        if points > balance:
            raise InsufficientPoints(balance, points)
        entry = _append(
            session, customer_id, Kind.REDEEM, -points, balance, reason=reason,
            actor_staff_id=actor_id, source_type=source_type, source_id=src,
            idempotency_key=idempotency_key, request_digest=digest,
        )  # fmt: skip
        _draw_all(session, customer_id, entry.id, points, _lots(session, customer_id))
        return _posting(session, entry)

    return _post(target, idempotency_key, digest, post)


def restore_paid(
    session: Session,
    customer_id: int,
    order_ref: str,
    refunded: Fraction,
    *,
    key_prefix: str,
    reason: str | None = None,
) -> int:
    """Give back the points that paid receipt ``order_ref`` as far as the receipt is refunded:
    ``refunded`` is the share of it refunded so far, this return included (1: all of it).
    Each redemption that paid it (``source_type`` ORDER_PAYMENT) is restored up to
    floor(points × refunded) in total, so a full refund restores every point exactly once and
    a retry restores nothing. A restored lot expires when the latest lot it drew on did (never,
    if one never expires). Runs in the caller's session; returns the points restored now."""
    paid = session.execute(
        select(PointsEntry).where(
            PointsEntry.customer_id == customer_id, PointsEntry.kind == Kind.REDEEM,
            PointsEntry.source_type == ORDER_PAYMENT, PointsEntry.source_id == order_ref,
        ).order_by(PointsEntry.id)
    ).scalars().all()  # fmt: skip
    restored_now = 0
    for debit in paid:
        before = session.scalar(
            select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
                PointsEntry.related_entry_id == debit.id,
                PointsEntry.source_type == PAYMENT_RESTORED,
            )
        )
        due = math.floor(-debit.points * min(refunded, Fraction(1))) - int(before or 0)
        if due <= 0:
            continue
        earn(session, customer_id, due, source_type=PAYMENT_RESTORED, source_id=order_ref,
             expires_on=_latest_expiry(session, debit.id), reason=reason, explanation={},
             idempotency_key=f"{key_prefix}{debit.id}", related_entry_id=debit.id)  # fmt: skip
        restored_now += due
    return restored_now


def _latest_expiry(session: Session, debit_id: int) -> date | None:
    """The latest expiry of the lots a debit drew on (None: one of them never expires)."""
    dates = session.execute(
        select(PointsEntry.expires_on)
        .join(PointsAllocation, PointsAllocation.lot_entry_id == PointsEntry.id)
        .where(PointsAllocation.debit_entry_id == debit_id)
    ).scalars().all()  # fmt: skip
    if not dates or any(d is None for d in dates):
        return None
    return max(d for d in dates if d is not None)


def adjust(
    target: DbOrSession,
    actor: StaffMember,
    customer_id: int,
    points: int,
    reason: str,
    *,
    idempotency_key: str | None = None,
) -> Posting:
    """A manager's or the owner's correction, audited; a reason is required.

    A positive adjustment is a never-expiring lot; a negative one draws lots like a redemption
    and is refused when the balance is short.
    """
    if actor.role not in (Role.MANAGER, Role.OWNER):
        raise NotAllowed(
            f"only a manager or the owner may adjust points; {actor.name} is a {actor.role.value}"
        )
    if not reason or not reason.strip():
        raise InvalidInput("a points adjustment needs a reason: say why the balance changes")
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidInput(f"an adjustment is a whole, non-zero number of points, not {points!r}")
    reason = reason.strip()
    digest = request_digest("adjust", customer_id=customer_id, points=points, reason=reason)

    def post(session: Session) -> Posting:
        balance = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        if points < 0 and -points > balance:
            raise InsufficientPoints(balance, -points)
        entry = _append(
            session, customer_id, Kind.ADJUST, points, balance, reason=reason,
            actor_staff_id=actor.id, source_type=ADJUSTMENT, idempotency_key=idempotency_key,
            request_digest=digest,
        )  # fmt: skip
        if points > 0:
            _cover_debts(session, customer_id, entry.id, points)
        else:
            _draw_all(session, customer_id, entry.id, -points, _lots(session, customer_id))
        audit.record(session, audit.Action.POINTS_ADJUSTED, actor_id=actor.id,
                     target_type="customer", target_id=customer_id,
                     detail={"entry_id": entry.id, "points": points,
                             "balance": entry.balance_after})  # fmt: skip
        return _posting(session, entry)

    return _post(target, idempotency_key, digest, post)


def reverse_for_return(
    target: DbOrSession,
    customer_id: int,
    *,
    earned_entry_id: int,
    returned_value: Decimal,
    original_value: Decimal,
    source_id: int | str,
    idempotency_key: str | None,
    reason: str | None = None,
    actor_id: int | None = None,
) -> Posting:
    """Take back floor(earned × returned / original) points of one earn for one returned line.

    At most once per (earn, returned line): a repeat with the same values returns the first
    result, with other values it raises Conflict. The earned lot's remaining points are taken
    first, then other lots; what is already spent is clawed back below zero and flagged. The
    total reversed of one earn never exceeds what it earned.
    """
    returned = _money(returned_value, "returned_value")
    original = _money(original_value, "original_value")
    if original <= 0:
        raise InvalidInput(f"original_value must be above 0, not {original}")
    if not 0 <= returned <= original:
        raise InvalidInput(
            f"returned_value {returned} must be between 0 and the original value {original}"
        )
    src = str(source_id)
    digest = request_digest(
        "reverse", customer_id=customer_id, earned_entry_id=earned_entry_id,
        returned_value=str(returned), original_value=str(original), source_id=src, reason=reason,
    )  # fmt: skip

    def post(session: Session) -> Posting:
        balance = _lock(session, customer_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        earned = session.get(PointsEntry, earned_entry_id)
        if earned is None or earned.customer_id != customer_id or earned.kind != Kind.EARN:
            raise NotFound(f"customer {customer_id} has no earn entry {earned_entry_id}")
        before = session.execute(
            select(PointsEntry).where(
                PointsEntry.kind == Kind.REVERSE, PointsEntry.related_entry_id == earned.id
            )
        ).scalars().all()  # fmt: skip
        for prior in before:
            if prior.source_type == RETURN_LINE and prior.source_id == src:
                if prior.request_digest != digest:
                    raise Conflict(
                        f"return line {src} was already reversed for earn {earned.id} "
                        f"(entry {prior.id}, {prior.points} points) with other values"
                    )
                return _posting(session, prior, replayed=True)
        due = math.floor(Fraction(earned.points) * Fraction(returned) / Fraction(original))
        due = min(due, earned.points + sum(p.points for p in before))
        if due <= 0:
            return Posting(None, balance, ())
        entry = _append(
            session, customer_id, Kind.REVERSE, -due, balance, reason=reason,
            actor_staff_id=actor_id, source_type=RETURN_LINE, source_id=src,
            related_entry_id=earned.id, idempotency_key=idempotency_key, request_digest=digest,
            flagged=balance - due < 0, explanation={"earned": earned.points,
            "returned_value": str(returned), "original_value": str(original)},
        )  # fmt: skip
        lots = _lots(session, customer_id)
        lots.sort(key=lambda lot: lot.entry_id != earned.id)  # stable: the earned lot first
        short = _draw(session, customer_id, entry.id, due, lots)
        if (short > 0) != entry.flagged:
            raise LedgerInconsistent(
                f"points ledger of customer {customer_id}: claw-back of {due} left {short} "
                f"uncovered with balance {balance}: run check_balances"
            )
        return _posting(session, entry)

    return _post(target, idempotency_key, digest, post)


def waive(
    target: DbOrSession, actor: StaffMember, entry_id: int, *, reason: str | None = None
) -> Posting:
    """The owner forgives what a flagged claw-back still owes: a waive entry, audited."""
    if actor.role != Role.OWNER:
        raise NotAllowed(
            f"only the owner may waive a claw-back; {actor.name} is a {actor.role.value}"
        )

    def post(session: Session) -> Posting:
        flagged = session.get(PointsEntry, entry_id)
        if flagged is None:
            raise NotFound(f"points entry {entry_id} does not exist")
        if flagged.kind != Kind.REVERSE or not flagged.flagged:
            raise InvalidInput(
                f"points entry {entry_id} is a {flagged.kind}, not a flagged claw-back: "
                "only a claw-back that took the balance below zero can be waived"
            )
        balance = _lock(session, flagged.customer_id)
        owed = dict(_debts(session, flagged.customer_id)).get(entry_id, 0)
        if owed == 0:
            raise Conflict(
                f"claw-back {entry_id} owes nothing any more (waived or paid by later points)"
            )
        entry = _append(
            session, flagged.customer_id, Kind.WAIVE, owed, balance, reason=reason,
            actor_staff_id=actor.id, related_entry_id=entry_id,
        )  # fmt: skip
        _allocate(session, flagged.customer_id, entry.id, entry_id, owed)
        audit.record(session, audit.Action.POINTS_WAIVED, actor_id=actor.id,
                     target_type="customer", target_id=flagged.customer_id,
                     detail={"entry_id": entry.id, "clawback_entry_id": entry_id,
                             "points": owed})  # fmt: skip
        return _posting(session, entry)

    return _post(target, None, "", post)


def expire(target: DbOrSession, as_of: date) -> ExpiryRun:
    """Expire every lot with ``expires_on < as_of`` that has points left, exactly those points.

    Idempotent: a lot expires at most once (its remaining is then 0, and its expire entry's key
    ``expire:lot:<id>`` is unique), so running again for the same or an earlier date posts
    nothing. One transaction; customers are locked in ascending id order.
    """
    used = (
        select(func.coalesce(func.sum(PointsAllocation.points), 0))
        .where(PointsAllocation.lot_entry_id == PointsEntry.id)
        .scalar_subquery()
    )
    due = (
        select(PointsEntry.customer_id)
        .where(PointsEntry.points > 0, PointsEntry.expires_on < as_of, PointsEntry.points > used)
        .distinct()
    )

    def run(session: Session) -> ExpiryRun:
        entries: list[Entry] = []
        for customer_id in sorted(session.execute(due).scalars()):
            balance = _lock(session, customer_id)
            for lot in _lots(session, customer_id):
                if lot.expires_on is None or lot.expires_on >= as_of:
                    continue
                key = f"expire:lot:{lot.entry_id}"
                row = _append(
                    session, customer_id, Kind.EXPIRE, -lot.remaining, balance,
                    source_type=EXPIRY_RUN, source_id=as_of.isoformat(),
                    related_entry_id=lot.entry_id, idempotency_key=key, request_digest=key,
                )  # fmt: skip
                _allocate(session, customer_id, lot.entry_id, row.id, lot.remaining)
                balance = row.balance_after
                entries.append(_entry(row))
        return ExpiryRun(as_of, tuple(entries))

    if isinstance(target, Session):
        with target.begin_nested():
            return run(target)
    with target.write() as session:
        return run(session)


# -- reading ------------------------------------------------------------------------------------


def balance(db: Database, customer_id: int) -> int:
    """The customer's points balance (the cache; ``check_balances`` proves it)."""
    with db.read() as session:
        _customer(session, customer_id)
        cached = session.execute(
            select(PointsBalance.points).where(PointsBalance.customer_id == customer_id)
        ).scalar_one_or_none()
    return 0 if cached is None else int(cached)


def lots(db: Database, customer_id: int) -> list[Lot]:
    """The customer's lots with points left, in the order debits spend them."""
    with db.read() as session:
        _customer(session, customer_id)
        return _lots(session, customer_id)


def _history_select(customer_id: int, limit: int, before_id: int | None) -> Any:
    stmt = (
        select(PointsEntry)
        .where(PointsEntry.customer_id == customer_id)
        .order_by(PointsEntry.id.desc())
        .limit(max(limit, 1))
    )
    return stmt if before_id is None else stmt.where(PointsEntry.id < before_id)


def history(
    db: Database, customer_id: int, limit: int = 50, before_id: int | None = None
) -> list[Entry]:
    """The customer's entries, newest first, ``limit`` of those older than ``before_id``."""
    with db.read() as session:
        _customer(session, customer_id)
        stmt = _history_select(customer_id, limit, before_id)
        return [_entry(e) for e in session.execute(stmt).scalars()]


@dataclass(frozen=True)
class Statement:
    """A customer's points as of one moment: balance, lots left, a page of history, and what
    their flagged claw-backs still owe (entry id -> points)."""

    balance: int
    lots: tuple[Lot, ...]
    history: tuple[Entry, ...]
    owed: dict[int, int]


def statement(
    db: Database, customer_id: int, *, limit: int = 50, before_id: int | None = None
) -> Statement:
    """Everything a page or the API shows about one customer's points, in one read."""
    with db.read() as session:
        _customer(session, customer_id)
        cached = session.execute(
            select(PointsBalance.points).where(PointsBalance.customer_id == customer_id)
        ).scalar_one_or_none()
        entries = session.execute(_history_select(customer_id, limit, before_id)).scalars()
        return Statement(
            balance=0 if cached is None else int(cached),
            lots=tuple(_lots(session, customer_id)),
            history=tuple(_entry(e) for e in entries),
            owed=dict(_debts(session, customer_id)),
        )


def open_clawbacks(db: Database) -> list[Clawback]:
    """Flagged claw-backs that still owe points, oldest first: what the owner reviews."""
    with db.read() as session:
        customers = session.execute(
            select(PointsEntry.customer_id)
            .where(PointsEntry.kind == Kind.REVERSE, PointsEntry.flagged.is_(True))
            .distinct()
        ).scalars()  # fmt: skip
        owed = [d for cid in sorted(customers) for d in _debts(session, cid)]
        ids = [i for i, _ in owed]
        found = session.execute(select(PointsEntry).where(PointsEntry.id.in_(ids))).scalars()
        rows = {e.id: e for e in found}
        return [Clawback(_entry(rows[i]), n) for i, n in sorted(owed)]


def check_balances(db: Database) -> list[Mismatch]:
    """Customers whose cached balance is not SUM(entries); empty when the cache is right."""
    with db.read() as session:
        sums = {
            cid: int(total)
            for cid, total in session.execute(
                select(PointsEntry.customer_id, func.sum(PointsEntry.points)).group_by(
                    PointsEntry.customer_id
                )
            )
        }
        cached = {
            cid: int(points)
            for cid, points in session.execute(
                select(PointsBalance.customer_id, PointsBalance.points)
            )
        }
    return [
        Mismatch(cid, cached.get(cid), sums.get(cid, 0))
        for cid in sorted(sums.keys() | cached.keys())
        if cached.get(cid) != sums.get(cid, 0)
    ]


# -- internals ----------------------------------------------------------------------------------


def _post(
    target: DbOrSession, key: str | None, digest: str, post: Callable[[Session], Posting]
) -> Posting:
    """Run ``post`` once (see ``storage.once``); a concurrent duplicate of ``key`` is
    answered with the stored result."""
    return run_once(target, post, lambda s: _replay(s, key, digest))


def _replay(session: Session, key: str | None, digest: str) -> Posting | None:
    row = stored_for_key(session, PointsEntry, key, digest, lambda r: (
        f"entry {r.id}: {r.kind} of {r.points} points for customer {r.customer_id}"))  # fmt: skip
    if row is None:
        return None
    return _posting(session, row, replayed=True)


def _lock(session: Session, customer_id: int) -> int:
    """Take the customer's ledger lock; returns the cached balance (see the module docstring)."""
    is_pg = session.get_bind().dialect.name == "postgresql"
    stmt = select(PointsBalance.points).where(PointsBalance.customer_id == customer_id)
    if is_pg:
        stmt = stmt.with_for_update()
    cached = session.execute(stmt).scalar_one_or_none()
    if cached is not None:
        return int(cached)
    _customer(session, customer_id)
    values = {"customer_id": customer_id, "points": 0, "updated_at": datetime.now(UTC)}
    if is_pg:
        session.execute(pg_insert(PointsBalance).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(PointsBalance).values(values).on_conflict_do_nothing())
    return int(session.execute(stmt).scalar_one())


def _customer(session: Session, customer_id: int) -> None:
    if session.execute(select(Customer.id).where(Customer.id == customer_id)).first() is None:
        raise NotFound(f"customer {customer_id} does not exist")


def _append(
    session: Session, customer_id: int, kind: Kind, points: int, balance: int, **fields: Any
) -> PointsEntry:
    """Add one entry after ``balance`` and move the cached balance with it."""
    fields.setdefault("explanation", {})
    entry = PointsEntry(
        customer_id=customer_id, kind=kind.value, points=points, balance_after=balance + points,
        at=datetime.now(UTC), **fields,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    session.execute(
        update(PointsBalance)
        .where(PointsBalance.customer_id == customer_id)
        .values(points=entry.balance_after, updated_at=entry.at)
    )
    return entry


def _lots(session: Session, customer_id: int) -> list[Lot]:
    used = (
        select(PointsAllocation.lot_entry_id, func.sum(PointsAllocation.points).label("used"))
        .where(PointsAllocation.customer_id == customer_id)
        .group_by(PointsAllocation.lot_entry_id)
        .subquery()
    )
    rows = session.execute(
        select(PointsEntry.id, PointsEntry.kind, PointsEntry.points, PointsEntry.expires_on,
               func.coalesce(used.c.used, 0))
        .outerjoin(used, used.c.lot_entry_id == PointsEntry.id)
        .where(PointsEntry.customer_id == customer_id, PointsEntry.points > 0)
    )  # fmt: skip
    found = [
        Lot(i, Kind(kind), points, points - int(spent), expires)
        for i, kind, points, expires, spent in rows
        if points > int(spent)
    ]
    found.sort(key=lambda lot: (lot.expires_on is None, lot.expires_on or date.max, lot.entry_id))
    return found


def _debts(session: Session, customer_id: int) -> list[tuple[int, int]]:
    """(entry id, points still uncovered) of the customer's flagged claw-backs, oldest first."""
    covered = (
        select(PointsAllocation.debit_entry_id, func.sum(PointsAllocation.points).label("n"))
        .where(PointsAllocation.customer_id == customer_id)
        .group_by(PointsAllocation.debit_entry_id)
        .subquery()
    )
    rows = session.execute(
        select(PointsEntry.id, PointsEntry.points, func.coalesce(covered.c.n, 0))
        .outerjoin(covered, covered.c.debit_entry_id == PointsEntry.id)
        .where(PointsEntry.customer_id == customer_id, PointsEntry.kind == Kind.REVERSE,
               PointsEntry.flagged.is_(True))
        .order_by(PointsEntry.id)
    )  # fmt: skip
    return [(i, -points - int(n)) for i, points, n in rows if -points > int(n)]


def _cover_debts(session: Session, customer_id: int, lot_id: int, points: int) -> None:
    """A new lot pays what flagged claw-backs still owe, oldest first."""
    for debit_id, owed in _debts(session, customer_id):
        if points == 0:
            return
        take = min(points, owed)
        _allocate(session, customer_id, lot_id, debit_id, take)
        points -= take


def _draw(session: Session, customer_id: int, debit_id: int, points: int, lots: list[Lot]) -> int:
    """Allocate ``points`` of a debit over ``lots`` in order; returns what stayed uncovered."""
    for lot in lots:
        if points == 0:
            break
        take = min(points, lot.remaining)
        _allocate(session, customer_id, lot.entry_id, debit_id, take)
        points -= take
    return points


def _draw_all(
    session: Session, customer_id: int, debit_id: int, points: int, lots: list[Lot]
) -> None:
    if (short := _draw(session, customer_id, debit_id, points, lots)) > 0:
        raise LedgerInconsistent(
            f"points ledger of customer {customer_id}: the lots lack {short} of the "
            f"{points} points the cached balance allows: run check_balances"
        )


def _allocate(session: Session, customer_id: int, lot_id: int, debit_id: int, n: int) -> None:
    session.execute(insert(PointsAllocation), {
        "customer_id": customer_id, "lot_entry_id": lot_id, "debit_entry_id": debit_id,
        "points": n,
    })  # fmt: skip


def _posting(session: Session, row: PointsEntry, *, replayed: bool = False) -> Posting:
    """The result of the call that made ``row``: its allocations to or from older entries
    (later debits drawing on this lot, or later lots covering this claw-back, are not its)."""
    touching = session.execute(
        select(PointsAllocation)
        .where(or_(PointsAllocation.debit_entry_id == row.id,
                   PointsAllocation.lot_entry_id == row.id))
        .order_by(PointsAllocation.id)
    ).scalars()  # fmt: skip
    made = tuple(
        Allocation(a.lot_entry_id, a.debit_entry_id, a.points)
        for a in touching
        if min(a.lot_entry_id, a.debit_entry_id) < row.id
    )
    return Posting(_entry(row), row.balance_after, made, replayed)


def _entry(e: PointsEntry) -> Entry:
    return Entry(e.id, e.customer_id, Kind(e.kind), e.points, e.balance_after, e.at,
                 e.expires_on, e.reason, e.actor_staff_id, e.source_type, e.source_id,
                 e.related_entry_id, e.idempotency_key, dict(e.explanation or {}),
                 bool(e.flagged))  # fmt: skip


def _positive(points: int, what: str) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidInput(f"{what} takes a whole number of points above 0, not {points!r}")


def _money(value: Decimal | int, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidInput(f"{name} must be a Decimal amount, not {value!r}")
    return Decimal(value)


def _json(value: dict[str, Any]) -> dict[str, Any]:
    """The explanation as it will be stored (Decimals and dates become strings)."""
    if not isinstance(value, dict):
        raise InvalidInput(f"explanation must be a dict, not {type(value).__name__}")
    loaded = json.loads(json.dumps(value, default=str))
    assert isinstance(loaded, dict)
    return loaded
