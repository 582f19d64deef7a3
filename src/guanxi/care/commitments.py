"""Promises to customers (承诺): made with a due date and an owner, reminded, kept or broken.

A commitment is due on a business date; it shows on its owner's agenda from ``remind_days``
before that date (``due_commitments``) until it is closed: kept (``fulfilled_on`` is the day it
was kept, so "kept on time" is ``fulfilled_on <= due_on``), broken, or cancelled (it no longer
counts). Making and closing one write a note on the customer's timeline and an audit entry in
the same transaction (the audit never holds the promise's words, which may be personal).

``kept_rates`` counts, per staff member or per store, the promises due in a period: kept on
time, kept late, broken, still open past their date; the rate is the share kept on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import CareTask, Commitment, Customer, CustomerNote, Staff, Store

MAX_PROMISE = 500
MAX_REMIND_DAYS = 60
STATUSES = ("open", "kept", "broken", "cancelled")


@dataclass(frozen=True)
class CommitmentRow:
    """One promise as lists and the agenda show it."""

    id: int
    customer_id: int
    customer_name: str
    promise: str
    due_on: date
    remind_days: int
    owner_staff_id: int | None
    owner_name: str | None
    store_id: int | None
    status: str
    note: str | None
    fulfilled_on: date | None

    def overdue(self, day: date) -> bool:
        return self.status == "open" and self.due_on < day

    @property
    def on_time(self) -> bool | None:
        """Kept on or before the due date (None unless kept)."""
        if self.status != "kept" or self.fulfilled_on is None:
            return None
        return self.fulfilled_on <= self.due_on


@dataclass
class KeptRate:
    """How one staff member's (or store's) promises due in a period turned out."""

    key: str
    kept_on_time: int
    kept_late: int
    broken: int
    open_overdue: int
    rate: float | None  # kept on time / all that counted; None when none counted
    id: int | None = None

    @property
    def counted(self) -> int:
        return self.kept_on_time + self.kept_late + self.broken + self.open_overdue


def commitment_errors(promise: str, due_on: date | None, remind_days: int | None, *,
                      day: date | None = None) -> dict[str, str]:  # fmt: skip
    """Field → what is wrong (empty when the promise can be saved)."""
    errors = {}
    if not promise.strip():
        errors["promise"] = "say what was promised, e.g. call when size M arrives"
    elif len(promise.strip()) > MAX_PROMISE:
        errors["promise"] = f"too long: at most {MAX_PROMISE} characters"
    if due_on is None:
        errors["due_on"] = "give the date it is due, as YYYY-MM-DD"
    elif day is not None and due_on < day:
        errors["due_on"] = f"{due_on} is in the past: a promise is due today or later"
    if remind_days is None or not 0 <= remind_days <= MAX_REMIND_DAYS:
        errors["remind_days"] = f"a whole number of days from 0 to {MAX_REMIND_DAYS}"
    return errors


def _customer(session: Session, customer_id: int, scope: int | None) -> Customer:
    c = session.get(Customer, customer_id)
    if c is None or (scope is not None and c.home_store_id != scope):
        raise NotFound(f"customer {customer_id} does not exist: find the customer in the list")
    if c.erased_at is not None:
        raise Conflict(f"customer {customer_id} was erased: no promise can be recorded")
    return c


def make_commitment(
    db: Database,
    *,
    customer_id: int,
    promise: str,
    due_on: date,
    owner_staff_id: int | None,
    remind_days: int = 1,
    actor_id: int,
    scope: int | None,
    day: date | None = None,
    from_task_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Record a promise to a customer in ``scope``; returns its id. ``owner_staff_id`` (None:
    the actor) must be an active staff member of the customer's store or an owner; ``day``
    (today) refuses due dates in the past; ``from_task_id`` links the care task whose outcome
    (a new need) led to it."""
    errors = commitment_errors(promise, due_on, remind_days, day=day)
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()))
    owner_id = actor_id if owner_staff_id is None else owner_staff_id
    now = now or datetime.now(UTC)
    with db.write() as session:
        customer = _customer(session, customer_id, scope)
        owner = session.get(Staff, owner_id)
        if owner is None or not owner.is_active:
            raise InvalidInput(f"owner_staff_id: staff member {owner_id} is not active")
        if (owner.role != "owner" and customer.home_store_id is not None
                and owner.store_id != customer.home_store_id):  # fmt: skip
            raise InvalidInput(
                f"owner_staff_id: {owner.name} works in another store: choose someone of "
                "the customer's store"
            )
        row = Commitment(customer_id=customer_id, owner_staff_id=owner_id,
                         store_id=customer.home_store_id if customer.home_store_id is not None
                         else owner.store_id,
                         promise=promise.strip(), due_on=due_on, remind_days=remind_days,
                         status="open", created_by_staff_id=actor_id, created_at=now)  # fmt: skip
        session.add(row)
        session.flush()
        if from_task_id is not None:
            session.execute(
                update(CareTask)
                .where(CareTask.id == from_task_id, CareTask.customer_id == customer_id)
                .values(commitment_id=row.id)
                .execution_options(synchronize_session=False)
            )
        text = f"承诺: {row.promise}（{due_on:%Y-%m-%d} 前，{owner.name}）"
        session.add(CustomerNote(customer_id=customer_id, staff_id=actor_id, at=now, text=text))
        audit.record(session, audit.Action.COMMITMENT_SAVED, actor_id=actor_id,
                     target_type="commitment", target_id=row.id,
                     detail={"customer_id": customer_id, "due_on": due_on.isoformat(),
                             "owner_staff_id": owner_id, "remind_days": remind_days,
                             "task_id": from_task_id})  # fmt: skip
        return row.id


_CLOSED_WORDS = {"kept": "已兑现", "broken": "未兑现", "cancelled": "已取消"}


def close_commitment(
    db: Database,
    commitment_id: int,
    *,
    kept: bool | None,
    day: date,
    actor_id: int,
    scope: int | None,
    note: str = "",
    now: datetime | None = None,
) -> None:
    """Close an open promise: kept on ``day`` (True), broken (False) or cancelled (None)."""
    note = note.strip()
    if len(note) > 2000:
        raise InvalidInput("note: too long: at most 2000 characters")
    status = "cancelled" if kept is None else ("kept" if kept else "broken")
    now = now or datetime.now(UTC)
    with db.write() as session:
        row = session.execute(
            select(Commitment, Customer.home_store_id, Customer.erased_at)
            .join(Customer, Customer.id == Commitment.customer_id)
            .where(Commitment.id == commitment_id)
        ).one_or_none()  # fmt: skip
        if row is None or (scope is not None and row.home_store_id != scope):
            raise NotFound(f"promise {commitment_id} does not exist: see the promises page")
        c = row[0]
        if c.status != "open":
            raise Conflict(f"promise {commitment_id} is already {c.status}")
        changed = session.execute(
            update(Commitment)
            .where(Commitment.id == commitment_id, Commitment.status == "open")
            .values(status=status, closed_at=now, fulfilled_on=day if kept else None,
                    note=note or None)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if getattr(changed, "rowcount", 1) != 1:
            raise Conflict(f"promise {commitment_id} was just closed by someone else: reload")
        if row.erased_at is None:
            text = f"承诺{_CLOSED_WORDS[status]}: {c.promise}" + (f" — {note}" if note else "")
            session.add(CustomerNote(customer_id=c.customer_id, staff_id=actor_id, at=now,
                                     text=text))  # fmt: skip
        audit.record(session, audit.Action.COMMITMENT_CLOSED, actor_id=actor_id,
                     target_type="commitment", target_id=commitment_id,
                     detail={"customer_id": c.customer_id, "status": status,
                             "due_on": c.due_on.isoformat(),
                             "on_time": bool(kept) and day <= c.due_on})  # fmt: skip


def _query() -> Any:
    return (
        select(Commitment.id, Commitment.customer_id, Customer.name, Commitment.promise,
               Commitment.due_on, Commitment.remind_days, Commitment.owner_staff_id, Staff.name,
               Commitment.store_id, Commitment.status, Commitment.note, Commitment.fulfilled_on)
        .join(Customer, Customer.id == Commitment.customer_id)
        .outerjoin(Staff, Staff.id == Commitment.owner_staff_id)
    )  # fmt: skip


def _row(r: Any) -> CommitmentRow:
    return CommitmentRow(int(r[0]), int(r[1]), r[2] or "", r[3], r[4], int(r[5] or 0), r[6],
                         r[7], r[8], r[9], r[10], r[11])  # fmt: skip


def due_commitments(
    session: Session,
    *,
    until: date,
    staff_id: int | None = None,
    store_id: int | None = None,
) -> list[CommitmentRow]:
    """Open promises whose reminder has started by ``until`` (``due_on - remind_days <=
    until``), overdue ones included, soonest first; for one owner and/or one store."""
    query = (
        _query()
        .where(Commitment.status == "open", Customer.erased_at.is_(None),
               Commitment.due_on <= until + timedelta(days=MAX_REMIND_DAYS))
        .order_by(Commitment.due_on, Commitment.id)
    )  # fmt: skip
    if staff_id is not None:
        query = query.where(Commitment.owner_staff_id == staff_id)
    if store_id is not None:
        query = query.where(Commitment.store_id == store_id)
    rows = [_row(r) for r in session.execute(query)]
    return [r for r in rows if r.due_on - timedelta(days=r.remind_days) <= until]


def list_commitments(
    session: Session,
    *,
    status: str | None = "open",
    store_id: int | None = None,
    staff_id: int | None = None,
    customer_id: int | None = None,
    limit: int = 500,
) -> list[CommitmentRow]:
    """Promises (open ones by default) soonest due first; closed ones newest due first."""
    query = _query().where(Customer.erased_at.is_(None))
    if status is not None:
        query = query.where(Commitment.status == status)
    if store_id is not None:
        query = query.where(Commitment.store_id == store_id)
    if staff_id is not None:
        query = query.where(Commitment.owner_staff_id == staff_id)
    if customer_id is not None:
        query = query.where(Commitment.customer_id == customer_id)
    order = (Commitment.due_on, Commitment.id) if status == "open" else (
        Commitment.due_on.desc(), Commitment.id.desc())  # fmt: skip
    return [_row(r) for r in session.execute(query.order_by(*order).limit(limit))]


def kept_rates(
    session: Session,
    *,
    start: date,
    end: date,
    by: str = "staff",
    store_id: int | None = None,
    day: date | None = None,
) -> list[KeptRate]:
    """Per staff member (``by="staff"``) or store, the promises due from ``start`` to ``end``:
    kept on time, kept late, broken and open past their date (as of ``day``, default ``end``);
    cancelled ones do not count. ``store_id`` limits to one store's promises."""
    if by not in ("staff", "store"):
        raise InvalidInput(f"by: {by!r} is not 'staff' or 'store'")
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start})")
    asof = end if day is None else min(day, end + timedelta(days=1))
    kept = Commitment.status == "kept"
    on_time = kept & (Commitment.fulfilled_on <= Commitment.due_on)

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    target: Any
    if by == "staff":
        key_id, name, target = Commitment.owner_staff_id, Staff.name, Staff
    else:
        key_id, name, target = Commitment.store_id, Store.name, Store
    query = (
        select(key_id, name, count(on_time), count(kept & ~on_time),
               count(Commitment.status == "broken"),
               count((Commitment.status == "open") & (Commitment.due_on < asof)))
        .select_from(Commitment)
        .outerjoin(target, target.id == key_id)
        .where(Commitment.due_on >= start, Commitment.due_on <= end,
               Commitment.status != "cancelled")
        .group_by(key_id, name)
    )  # fmt: skip
    if store_id is not None:
        query = query.where(Commitment.store_id == store_id)
    rates = []
    for kid, label, k_on, k_late, broken, overdue in session.execute(query):
        r = KeptRate(label or "—", int(k_on or 0), int(k_late or 0), int(broken or 0),
                     int(overdue or 0), None, kid)  # fmt: skip
        r.rate = r.kept_on_time / r.counted if r.counted else None
        rates.append(r)
    rates.sort(key=lambda r: (r.rate is None, -(r.rate or 0.0), r.key))
    return rates
