"""A customer's anniversaries: the dates staff record (wedding, shop opening) and the membership
date (the day the customer joined), which the care calendar greets every year.

Each change is one transaction with its audit entry, which names the anniversary and the
fields that changed, never their values. Only customers in the actor's scope can be changed
(``customer_edits.get_editable_customer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.domain.customers import CalendarKind
from guanxi.errors import Conflict, NotFound
from guanxi.importers import values as v
from guanxi.services import audit
from guanxi.services.customer_edits import audit_customer, get_editable_customer
from guanxi.services.customer_forms import FormErrors
from guanxi.services.customer_tiers import customer_zone
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Anniversary

MAX_LABEL = 64
MAX_PER_CUSTOMER = 20
CUSTOM = "custom"
MEMBERSHIP = "membership"
MEMBERSHIP_LABEL = "membership"  # the stored label of the membership row (the export shows it)
_KINDS = {k.value: k for k in CalendarKind}


@dataclass(frozen=True)
class AnniversaryRow:
    """One stored anniversary as shown on the customer's page."""

    id: int
    label: str
    occurs_on: date
    calendar_kind: str


@dataclass(frozen=True)
class AnniversarySection:
    """The customer's membership date (None: not recorded) and their other anniversaries."""

    member_since: date | None
    anniversaries: list[AnniversaryRow]


@dataclass
class AnniversaryDraft:
    """An anniversary as typed (every field text); ``clean`` validates it."""

    label: str = ""
    occurs_on: str = ""
    calendar_kind: str = CalendarKind.SOLAR.value

    def clean(self, today: date) -> tuple[str, date, str]:
        """(label, date, calendar kind); FormErrors names every field that is wrong."""
        errors: dict[str, str] = {}
        label = " ".join(v.to_halfwidth(self.label).split())
        if not label:
            errors["label"] = "the anniversary needs a name: e.g. 结婚纪念日 or wedding"
        elif len(label) > MAX_LABEL:
            errors["label"] = f"too long: at most {MAX_LABEL} characters (found {len(label)})"
        try:
            on = check_date(self.occurs_on, today)
        except ValueError as exc:
            errors["occurs_on"] = str(exc)
        kind = _KINDS.get(self.calendar_kind.strip().lower())
        if kind is None:
            errors["calendar_kind"] = (
                f"unknown calendar {self.calendar_kind!r}: choose solar or lunar"
            )
        if errors:
            raise FormErrors(errors)
        assert kind is not None
        return label, on, kind.value


def check_date(text: str, today: date) -> date:
    """The date an anniversary happened (2019-05-20, 2019/5/20, 2019年5月20日): not in the
    future; ValueError says what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("type the date it happened, e.g. 2019-05-20")
    on = v.parse_date(text)  # its ValueError names the forms it reads
    if on > today:
        raise ValueError(
            f"{on.isoformat()} is in the future: type the date it happened, {today.isoformat()} "
            "at the latest"
        )
    return on


# --- reading ---------------------------------------------------------------------------------


def anniversaries_of(session: Session, customer_id: int) -> AnniversarySection:
    """The customer's membership date and other anniversaries (by month and day)."""
    rows = session.scalars(
        select(Anniversary).where(Anniversary.customer_id == customer_id).order_by(Anniversary.id)
    ).all()
    member = next((a.occurs_on for a in rows if a.kind == MEMBERSHIP), None)
    others = sorted(
        (AnniversaryRow(a.id, a.label, a.occurs_on, a.calendar_kind)
         for a in rows if a.kind != MEMBERSHIP),
        key=lambda a: (a.occurs_on.month, a.occurs_on.day, a.id),
    )  # fmt: skip
    return AnniversarySection(member, others)


def anniversaries_section(db: Database, customer_id: int) -> AnniversarySection:
    """The customer's membership date and other anniversaries."""
    with db.read() as session:
        return anniversaries_of(session, customer_id)


# --- changing --------------------------------------------------------------------------------


def _today(session: Session, customer_id: int) -> date:
    """Today in the customer's store (a date that is today there is not in the future)."""
    return datetime.now(ZoneInfo(customer_zone(session, customer_id))).date()


def _stored(session: Session, customer_id: int, anniversary_id: int) -> Anniversary:
    row = session.get(Anniversary, anniversary_id)
    if row is None or row.customer_id != customer_id or row.kind != CUSTOM:
        raise NotFound(
            f"customer {customer_id} has no anniversary {anniversary_id}: it may have been "
            "deleted meanwhile; reload the customer's page"
        )
    return row


def add_anniversary(
    db: Database,
    customer_id: int,
    draft: AnniversaryDraft,
    *,
    actor: StaffMember,
    ip: str | None = None,
) -> int:
    """Record an anniversary of the customer; returns its id."""
    with db.write() as session:
        get_editable_customer(session, customer_id, actor)
        label, on, kind = draft.clean(_today(session, customer_id))
        count = session.scalar(
            select(func.count()).where(Anniversary.customer_id == customer_id,
                                       Anniversary.kind == CUSTOM)
        ) or 0  # fmt: skip
        if count >= MAX_PER_CUSTOMER:
            message = (f"customer {customer_id} already has {count} anniversaries: delete one "
                       "that no longer matters first")  # fmt: skip
            raise FormErrors({"label": message})
        row = Anniversary(customer_id=customer_id, label=label, occurs_on=on,
                          calendar_kind=kind, kind=CUSTOM)  # fmt: skip
        session.add(row)
        session.flush()
        audit_customer(session, audit.Action.ANNIVERSARY_ADDED, actor, customer_id, ip,
                       {"anniversary_id": row.id, "calendar_kind": kind})  # fmt: skip
        return row.id


def update_anniversary(
    db: Database,
    customer_id: int,
    anniversary_id: int,
    draft: AnniversaryDraft,
    *,
    actor: StaffMember,
    ip: str | None = None,
) -> list[str]:
    """Save the draft over a stored anniversary; the names of the fields that changed."""
    with db.write() as session:
        get_editable_customer(session, customer_id, actor)
        label, on, kind = draft.clean(_today(session, customer_id))
        row = _stored(session, customer_id, anniversary_id)
        wanted = {"label": label, "occurs_on": on, "calendar_kind": kind}
        changed = sorted(k for k, x in wanted.items() if getattr(row, k) != x)
        for k in changed:
            setattr(row, k, wanted[k])
        if changed:
            audit_customer(session, audit.Action.ANNIVERSARY_UPDATED, actor, customer_id, ip,
                           {"anniversary_id": anniversary_id, "fields": changed})  # fmt: skip
        return changed


def delete_anniversary(
    db: Database,
    customer_id: int,
    anniversary_id: int,
    *,
    actor: StaffMember,
    ip: str | None = None,
) -> None:
    """Delete one of the customer's anniversaries (not the membership date)."""
    with db.write() as session:
        get_editable_customer(session, customer_id, actor)
        session.delete(_stored(session, customer_id, anniversary_id))
        audit_customer(session, audit.Action.ANNIVERSARY_DELETED, actor, customer_id, ip,
                       {"anniversary_id": anniversary_id})  # fmt: skip


def set_member_since(
    db: Database, customer_id: int, text: str, *, actor: StaffMember, ip: str | None = None
) -> bool:
    """Record the day the customer became a member (empty text clears it); False if it was
    already so. The membership anniversary is kept in the solar calendar."""
    on = None
    with db.write() as session:
        get_editable_customer(session, customer_id, actor)
        if text.strip():
            try:
                on = check_date(text, _today(session, customer_id))
            except ValueError as exc:
                raise FormErrors({"member_since": str(exc)}) from None
        row = session.scalars(
            select(Anniversary).where(
                Anniversary.customer_id == customer_id, Anniversary.kind == MEMBERSHIP
            )
        ).first()
        before = row.occurs_on if row else None
        if before == on:
            return False
        _write_membership(session, customer_id, row, on)
        state = "cleared" if on is None else ("changed" if before else "set")
        audit_customer(session, audit.Action.MEMBER_SINCE_CHANGED, actor, customer_id, ip,
                       {"member_since": state})  # fmt: skip
        return True


def _write_membership(
    session: Session, customer_id: int, row: Anniversary | None, on: date | None
) -> None:
    """Add, move or delete the membership row; a concurrent request that added one first is
    a Conflict (at most one per customer: the unique index ``uq_anniversary_membership``)."""
    if row is not None and on is None:
        session.delete(row)
    elif row is not None and on is not None:
        row.occurs_on = on
    elif on is not None:
        solar = CalendarKind.SOLAR.value
        session.add(Anniversary(customer_id=customer_id, label=MEMBERSHIP_LABEL, occurs_on=on,
                                calendar_kind=solar, kind=MEMBERSHIP))  # fmt: skip
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            "another request just recorded this customer's membership date: reload the page "
            "and check it"
        ) from None
