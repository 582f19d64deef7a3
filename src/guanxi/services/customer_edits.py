"""Change the customer archive: create and update (from the web form or the API), notes, and
the choices the form offers.

Every function takes the acting staff member and keeps to their scope: clerks and managers
touch only the customers of their own store (others look as if they did not exist), owners
every store. Each change is one transaction with its audit entry, which names fields, never
their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.domain.access import mask_phone, sees_all_stores, store_scope
from guanxi.errors import Conflict, NotFound
from guanxi.services import audit
from guanxi.services.customer_forms import (
    CustomerForm,
    CustomerValues,
    FormErrors,
    columns_of,
    salutation_choice,
    with_salutation,
)
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerInterest,
    CustomerNote,
    CustomerTag,
    Staff,
    Store,
)

MAX_NOTE = 2000
_LABEL_MODELS: dict[str, type[CustomerTag] | type[CustomerInterest]] = {
    "tags": CustomerTag,
    "interests": CustomerInterest,
}
_UNIQUE = {"phone": "phone number", "email": "email address", "code": "member code"}


class DuplicateCustomer(Conflict):
    """Other customers already have this phone, email or member code.

    The message names the first one (for the API, with ``field`` and ``customer_id``);
    ``errors`` says it for every field (for the form).
    """

    def __init__(self, taken: dict[str, tuple[str, int]]) -> None:
        field, (value, customer_id) = next(iter(taken.items()))
        shown = mask_phone(value) if field == "phone" else value
        super().__init__(
            f"customer {customer_id} already has this {field} ({shown}): update customer "
            f"{customer_id} instead of creating another, or correct the {field}"
        )
        self.field = field
        self.customer_id = customer_id
        self.errors = _taken_messages(taken)


def _taken_messages(taken: dict[str, tuple[str, int]]) -> dict[str, str]:
    return {
        name: f"this {_UNIQUE[name]} already belongs to customer #{other}: open that customer "
        "instead of adding the person twice"
        for name, (_, other) in taken.items()
    }


def audit_customer(
    session: Session,
    action: str,
    actor: StaffMember,
    customer_id: int,
    ip: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write the audit entry of a change to one customer, in the caller's transaction."""
    audit.record(session, action, actor_id=actor.id, target_type="customer",
                 target_id=customer_id, detail=detail, ip=ip)  # fmt: skip


# --- scope -----------------------------------------------------------------------------------


def scope_store(actor: StaffMember) -> int | None:
    """The store an actor is limited to; None for the owner (every store)."""
    return store_scope(actor.role, actor.store_id)


def get_customer_in_scope(session: Session, customer_id: int, actor: StaffMember) -> Customer:
    """The customer, or NotFound when there is none in the actor's scope."""
    c = session.get(Customer, customer_id)
    scope = scope_store(actor)
    if c is None or (scope is not None and c.home_store_id != scope):
        raise NotFound(f"customer {customer_id} does not exist: find the customer in the list")
    return c


def is_erased(erased_at: datetime | None) -> bool:
    """Whether a customer's personal data was erased (``customer.erased_at`` is set)."""
    return erased_at is not None


def get_editable_customer(session: Session, customer_id: int, actor: StaffMember) -> Customer:
    """The customer in the actor's scope; Conflict once their personal data was erased."""
    c = get_customer_in_scope(session, customer_id, actor)
    if is_erased(c.erased_at):
        raise Conflict(
            f"customer {customer_id} was erased and cannot be changed: add the person again "
            "as a new customer if they come back"
        )
    return c


# --- checks against the database -------------------------------------------------------------


def _taken(
    session: Session, values: Mapping[str, Any], customer_id: int | None
) -> dict[str, tuple[str, int]]:
    """(value, other customer) for each unique field whose value another customer has."""
    taken = {}
    for name in _UNIQUE:
        if not values.get(name):
            continue
        stmt = select(Customer.id).where(getattr(Customer, name) == values[name])
        if customer_id is not None:
            stmt = stmt.where(Customer.id != customer_id)
        other = session.execute(stmt.limit(1)).scalar()
        if other is not None:
            taken[name] = (values[name], int(other))
    return taken


def _home_store(
    session: Session, values: CustomerValues, actor: StaffMember, current: Customer | None
) -> tuple[int | None, dict[str, str]]:
    """Clerks and managers keep customers in their store; the owner chooses one."""
    if not sees_all_stores(actor.role):
        return (current.home_store_id if current else actor.store_id), {}
    if current is not None and "home_store_id" not in values.fields:
        return current.home_store_id, {}  # not sent: stays
    chosen = values.fields.get("home_store_id")
    if chosen is None:
        if values.is_store_optional or session.execute(select(Store.id).limit(1)).first() is None:
            return None, {}  # allowed, or a shop without stores set up
        return None, {"home_store_id": "choose the customer's home store"}
    if session.get(Store, chosen) is None:
        return None, {"home_store_id": f"store {chosen} does not exist: choose one from the list"}
    return chosen, {}


def _account_owner(session: Session, chosen: int | None, store_id: int | None) -> dict[str, str]:
    if chosen is None:
        return {}
    staff = session.get(Staff, chosen)
    if staff is None or not staff.is_active:
        return {"owner_staff_id": "no such staff member: choose one from the list"}
    if staff.store_id not in (None, store_id):
        message = f"{staff.name} works in another store: choose someone from the home store"
        return {"owner_staff_id": message}
    return {}


def _validated(
    session: Session,
    data: CustomerForm | CustomerValues,
    actor: StaffMember,
    current: Customer | None,
) -> CustomerValues:
    """The input checked field by field, then against the database.

    FormErrors lists every problem at once; DuplicateCustomer when the only problem is a
    phone, email or member code that another customer has.
    """
    if isinstance(data, CustomerForm):
        values, errors = data.check(masked_phone=mask_phone(current.phone) if current else "")
    else:
        values, errors = data, {}
    store_id, store_error = _home_store(session, values, actor, current)
    values = replace(values, fields={**values.fields, "home_store_id": store_id})
    owner = values.fields.get("owner_staff_id")
    taken = _taken(session, values.fields, current.id if current else None)
    problems = {**store_error, **_account_owner(session, owner, store_id), **errors}
    if problems:
        raise FormErrors({**_taken_messages(taken), **problems})
    if taken:
        raise DuplicateCustomer(taken)
    return values


# --- create and update -----------------------------------------------------------------------


def _flush(session: Session) -> None:
    """Flush; a concurrent request that took the phone, email or code first is a Conflict."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            "another request just saved a customer with the same phone, email or member code: "
            "search for it and try again"
        ) from None


def _replace_labels(
    session: Session,
    model: type[CustomerTag] | type[CustomerInterest],
    customer_id: int,
    wanted: tuple[str, ...],
) -> bool:
    """Make the customer's tags (or interests) exactly ``wanted``; True if that changed them."""
    have = set(session.scalars(select(model.name).where(model.customer_id == customer_id)))
    gone, new = have - set(wanted), [x for x in wanted if x not in have]
    if gone:
        session.execute(delete(model).where(model.customer_id == customer_id, model.name.in_(gone)))
    if new:
        session.execute(insert(model), [{"customer_id": customer_id, "name": x} for x in new])
    return bool(gone or new)


def _write_labels(session: Session, customer_id: int, values: CustomerValues) -> list[str]:
    """Replace the label sets given (tags, interests); the names of those that changed."""
    given = [(name, model) for name, model in _LABEL_MODELS.items() if name in values.fields]
    return [
        name
        for name, model in given
        if _replace_labels(session, model, customer_id, values.fields[name])
    ]


def _write_columns(c: Customer, values: CustomerValues) -> list[str]:
    """Set the fields whose value differs from the stored one; the names of those fields."""
    changed = []
    for name, value in values.fields.items():
        columns = columns_of(name, value)
        if any(getattr(c, k) != x for k, x in columns.items()):
            changed.append(name)
            for k, x in columns.items():
                setattr(c, k, x)
    return changed


def _write_salutation(c: Customer, values: CustomerValues) -> list[str]:
    """Keep the form of address in the custom fields; ["salutation"] if that changed it."""
    if "salutation" not in values.fields:
        return []
    wanted = values.fields["salutation"]
    if salutation_choice(c.custom_fields) == wanted:
        return []
    c.custom_fields = with_salutation(c.custom_fields, wanted)  # a new dict: JSON is rewritten
    return ["salutation"]


def _via(detail: dict[str, Any], via: str | None) -> dict[str, Any]:
    return {**detail, "via": via} if via else detail


def create_customer(
    db: Database,
    data: CustomerForm | CustomerValues,
    *,
    actor: StaffMember,
    ip: str | None = None,
    via: str | None = None,
) -> int:
    """Add a customer; their home store is the creator's (the owner chooses). Returns the id.

    ``via`` names the channel in the audit entry ("api"); the web form leaves it out.
    """
    with db.write() as session:
        values = _validated(session, data, actor, None)
        custom = with_salutation({}, values.fields.get("salutation"))
        customer = Customer(**values.columns, custom_fields=custom)
        session.add(customer)
        _flush(session)
        _write_labels(session, customer.id, values)
        detail = {"fields": values.given(), "home_store_id": customer.home_store_id}
        audit_customer(session, audit.Action.CUSTOMER_CREATED, actor, customer.id, ip,
                       _via(detail, via))  # fmt: skip
        return customer.id


def update_customer(
    db: Database,
    customer_id: int,
    data: CustomerForm | CustomerValues,
    *,
    actor: StaffMember,
    ip: str | None = None,
    via: str | None = None,
) -> list[str]:
    """Save the input over the stored customer; returns the names of the fields that changed.

    Fields the input leaves out stay as they are (the API sends only what changes).
    """
    with db.write() as session:
        c = get_editable_customer(session, customer_id, actor)
        values = _validated(session, data, actor, c)
        changed = _write_columns(c, values) + _write_salutation(c, values)
        _flush(session)
        changed = sorted(changed + _write_labels(session, customer_id, values))
        if changed:
            audit_customer(session, audit.Action.CUSTOMER_UPDATED, actor, customer_id, ip,
                           _via({"fields": changed}, via))  # fmt: skip
        return changed


# --- notes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One dated note on a customer's timeline."""

    id: int
    at: datetime
    author: str | None
    text: str


def add_note(
    db: Database, customer_id: int, text: str, *, actor: StaffMember, ip: str | None = None
) -> int:
    """Add a dated note to the customer's timeline, signed by the actor; returns its id."""
    text = text.strip()
    if not text:
        raise FormErrors({"text": "the note is empty: write what happened or what to remember"})
    if len(text) > MAX_NOTE:
        raise FormErrors({"text": f"too long: at most {MAX_NOTE} characters ({len(text)})"})
    with db.write() as session:
        get_editable_customer(session, customer_id, actor)
        note = CustomerNote(
            customer_id=customer_id, staff_id=actor.id, at=datetime.now(UTC), text=text
        )
        session.add(note)
        session.flush()
        return note.id


def notes_of(session: Session, customer_id: int) -> list[Note]:
    """The customer's notes, newest first, in the caller's session."""
    rows = session.execute(
        select(CustomerNote.id, CustomerNote.at, Staff.name, CustomerNote.text)
        .outerjoin(Staff, Staff.id == CustomerNote.staff_id)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(CustomerNote.at.desc(), CustomerNote.id.desc())
    )
    return [Note(*row) for row in rows]


def list_notes(db: Database, customer_id: int) -> list[Note]:
    """The customer's notes, newest first."""
    with db.read() as session:
        return notes_of(session, customer_id)


# --- choices for forms and filters -----------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What a staff member may pick in forms and list filters, within their scope."""

    stores: list[tuple[int, str]] = field(default_factory=list)
    staff: list[tuple[int, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def form_choices(db: Database, actor: StaffMember) -> Choices:
    """Stores (all for the owner), active staff and the most used tags in the actor's scope."""
    scope = scope_store(actor)
    staff = select(Staff.id, Staff.name, Store.name).outerjoin(Store, Store.id == Staff.store_id)
    staff = staff.where(Staff.is_active.is_(True)).order_by(Staff.name, Staff.id)
    tags = select(CustomerTag.name).group_by(CustomerTag.name)
    if scope is not None:
        # staff without a store (the owner) may look after any store's customers
        staff = staff.where(or_(Staff.store_id == scope, Staff.store_id.is_(None)))
        tags = tags.join(Customer, Customer.id == CustomerTag.customer_id).where(
            Customer.home_store_id == scope
        )
    with db.read() as session:
        stores = session.execute(select(Store.id, Store.name).order_by(Store.name, Store.id))
        return Choices(
            stores=[(i, n) for i, n in stores] if scope is None else [],
            staff=[(i, f"{n} · {s}" if s else n) for i, n, s in session.execute(staff)],
            tags=list(
                session.scalars(tags.order_by(func.count().desc(), CustomerTag.name).limit(200))
            ),
        )
