"""Edit the customer archive by hand: create, update, consent, notes, export and erasure.

Every function takes the acting staff member and keeps to their scope: clerks and managers
touch only the customers of their own store (others look as if they did not exist), owners
every store. Each change is one transaction with its audit entry, which names fields, never
their values.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Text, column, delete, func, insert, inspect, or_, select, table
from sqlalchemy.orm import Session, selectinload

from guanxi.domain.access import mask_phone, sees_all_stores
from guanxi.domain.customers import Channel, CustomerSource
from guanxi.domain.names import name_keys
from guanxi.errors import ConfigError, Conflict, InvalidInput, NotFound
from guanxi.importers import values as v
from guanxi.importers.rows import SOURCES, STYLES, split_list
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Anniversary,
    Consent,
    ConsentEvent,
    Customer,
    CustomerInterest,
    CustomerTag,
    Product,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
    Staff,
    Store,
)
from guanxi.storage.types import UTCDateTime

ERASED_NAME = "已删除客户 #{id}"
ERASED_AT = "erased_at"
ERASED_PHONE_HMAC = "erased_phone_hmac"
MAX_NOTE = 2000
MAX_LABELS = 30

# The notes timeline's table (customer_note). It has no model or migration yet; this
# lightweight description lets the service use it as soon as a migration creates it, and
# until then the notes functions say the table is missing. Replace with the model then.
NOTE = table(
    "customer_note",
    column("id", Integer),
    column("customer_id", Integer),
    column("staff_id", Integer),
    column("at", UTCDateTime()),
    column("text", Text),
)


class FormErrors(InvalidInput):
    """Form input that cannot be accepted; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


# --- the form --------------------------------------------------------------------------------


@dataclass
class CleanForm:
    """A validated form: customer columns, labels and the chosen store and account owner."""

    columns: dict[str, Any]
    tags: tuple[str, ...]
    interests: tuple[str, ...]
    home_store_id: int | None
    owner_staff_id: int | None

    @classmethod
    def of(cls, values: dict[str, Any]) -> CleanForm:
        """Split parsed field values into columns, labels and links."""
        return cls(
            columns=values,
            tags=values.pop("tags"),
            interests=values.pop("interests"),
            home_store_id=values.pop("home_store_id"),
            owner_staff_id=values.pop("owner_staff_id"),
        )


@dataclass
class CustomerForm:
    """A customer form as typed: every field is text; ``clean`` validates it field by field."""

    name: str = ""
    phone: str = ""
    email: str = ""
    code: str = ""
    gender: str = ""
    birthday: str = ""
    wechat_id: str = ""
    city: str = ""
    source: str = ""
    communication_style: str = ""
    tags: str = ""
    interests: str = ""
    notes: str = ""
    home_store_id: str = ""
    owner_staff_id: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CustomerForm:
        """Take the known fields of submitted form data; anything else is ignored."""
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: val.strip() for k, val in data.items() if k in known and isinstance(val, str)}
        )

    @classmethod
    def from_customer(
        cls, c: Mapping[str, Any], tags: list[str], interests: list[str]
    ) -> CustomerForm:
        """The form for editing a stored customer; the phone is shown masked."""
        return cls(
            name=c["name"],
            phone=mask_phone(c["phone"]),
            email=c["email"] or "",
            code=c["code"] or "",
            gender=c["gender"],
            birthday=birthday_text(c),
            wechat_id=c["wechat_id"] or "",
            city=c["city"] or "",
            source=c["source"],
            communication_style=c["communication_style"] or "",
            tags=", ".join(tags),
            interests=", ".join(interests),
            notes=c["notes"] or "",
            home_store_id=_text(c["home_store_id"]),
            owner_staff_id=_text(c["owner_staff_id"]),
        )

    def check(self, *, masked_phone: str = "") -> tuple[dict[str, Any], dict[str, str]]:
        """Parse every field: (the values that parsed, a message for each field that did not)."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, parse in _PARSERS.items():
            raw = getattr(self, name)
            if name == "phone" and masked_phone and raw == masked_phone:
                continue  # the stored number sent back as shown (masked): keep it
            try:
                values.update(parse(raw))
            except (ValueError, InvalidInput) as exc:
                errors[name] = str(exc)
        return values, errors

    def clean(self, *, masked_phone: str = "") -> CleanForm:
        """The validated form; FormErrors names every field that is wrong."""
        values, errors = self.check(masked_phone=masked_phone)
        if errors:
            raise FormErrors(errors)
        return CleanForm.of(values)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def birthday_text(c: Mapping[str, Any]) -> str:
    """A stored birthday written the way the form reads it back (1990-01-05, 农历闰04-08)."""
    if not c.get("birthday_month"):
        return ""
    year = c.get("birthday_year")
    leap = "闰" if c.get("birthday_is_leap_month") else ""
    month_day = f"{c['birthday_month']:02d}-{c['birthday_day']:02d}"
    if c.get("birthday_kind") == "lunar":
        return f"农历{year}-{leap}{month_day}" if year else f"农历{leap}{month_day}"
    return f"{year}-{month_day}" if year else month_day


def _limited(name: str, limit: int) -> Callable[[str], dict[str, Any]]:
    def parse(raw: str) -> dict[str, Any]:
        if len(raw) > limit:
            raise ValueError(f"too long: at most {limit} characters (found {len(raw)})")
        return {name: raw or None}

    return parse


def _name(raw: str) -> dict[str, Any]:
    text = v.to_halfwidth(raw)
    if not text:
        raise ValueError("a customer needs a name: type the name the customer goes by")
    if len(text) > 100:
        raise ValueError(f"too long: at most 100 characters (found {len(text)})")
    pinyin, initials = name_keys(text)
    return {"name": text, "name_pinyin": pinyin, "name_initials": initials}


def _phone(raw: str) -> dict[str, Any]:
    if not raw:
        return {"phone": None, "phone_last4": None}
    try:
        phone = v.normalise_phone(raw)
    except ValueError:
        raise ValueError(
            "not a valid phone number: type a mobile such as 13812345678, "
            "or + and the country code for a number abroad"
        ) from None
    return {"phone": phone, "phone_last4": phone[-4:]}


def _email(raw: str) -> dict[str, Any]:
    return {"email": v.normalise_email(raw) if raw else None}


def _code(raw: str) -> dict[str, Any]:
    return _limited("code", 64)(v.to_halfwidth(raw))


def _gender(raw: str) -> dict[str, Any]:
    return {"gender": v.parse_gender(raw).value}


def _birthday(raw: str) -> dict[str, Any]:
    if not raw:
        return {
            "birthday_kind": "solar",
            "birthday_year": None,
            "birthday_month": None,
            "birthday_day": None,
            "birthday_is_leap_month": False,
        }
    b = v.parse_birthday(raw)
    return {
        "birthday_kind": b.kind.value,
        "birthday_year": b.year,
        "birthday_month": b.month,
        "birthday_day": b.day,
        "birthday_is_leap_month": b.is_leap_month,
    }


def _choice(
    name: str, table_: Mapping[str, Any], what: str, empty: str | None
) -> Callable[[str], dict[str, Any]]:
    def parse(raw: str) -> dict[str, Any]:
        if not raw:
            return {name: empty}
        found = table_.get(raw.lower()) or table_.get(raw)
        if found is None:
            known = ", ".join(sorted({str(x.value) for x in table_.values()}))
            raise ValueError(f"unknown {what} {raw!r}: choose one of {known}")
        return {name: found.value}

    return parse


def _labels(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(raw: str) -> dict[str, Any]:
        labels = split_list(v.to_halfwidth(raw))
        too_long = [x for x in labels if len(x) > 64]
        if too_long:
            raise ValueError(f"{too_long[0][:20]}… is too long: at most 64 characters each")
        if len(labels) > MAX_LABELS:
            raise ValueError(f"too many: at most {MAX_LABELS} (found {len(labels)})")
        return {name: labels}

    return parse


def _choose_id(name: str, what: str) -> Callable[[str], dict[str, Any]]:
    def parse(raw: str) -> dict[str, Any]:
        if not raw:
            return {name: None}
        if not raw.isdigit():
            raise ValueError(f"not a {what}: choose one from the list")
        return {name: int(raw)}

    return parse


_PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "name": _name,
    "phone": _phone,
    "email": _email,
    "code": _code,
    "gender": _gender,
    "birthday": _birthday,
    "wechat_id": _limited("wechat_id", 64),
    "city": _limited("city", 64),
    "source": _choice("source", SOURCES, "source", CustomerSource.OTHER.value),
    "communication_style": _choice("communication_style", STYLES, "style", None),
    "tags": _labels("tags"),
    "interests": _labels("interests"),
    "notes": _limited("notes", 4000),
    "home_store_id": _choose_id("home_store_id", "store"),
    "owner_staff_id": _choose_id("owner_staff_id", "staff member"),
}

# Columns that are written with a form field but are named after it in change lists.
_FIELD_OF = {
    "name_pinyin": "name",
    "name_initials": "name",
    "phone_last4": "phone",
    "birthday_kind": "birthday",
    "birthday_year": "birthday",
    "birthday_month": "birthday",
    "birthday_day": "birthday",
    "birthday_is_leap_month": "birthday",
}


def _audit(
    session: Session,
    action: str,
    actor: StaffMember,
    customer_id: int,
    ip: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    audit.record(session, action, actor_id=actor.id, target_type="customer",
                 target_id=customer_id, detail=detail, ip=ip)  # fmt: skip


# --- scope and checks ------------------------------------------------------------------------


def scope_store(actor: StaffMember) -> int | None:
    """The store an actor is limited to; None for the owner (every store)."""
    return None if sees_all_stores(actor.role) else (actor.store_id or -1)


def _in_scope(session: Session, customer_id: int, actor: StaffMember) -> Customer:
    c = session.get(Customer, customer_id)
    scope = scope_store(actor)
    if c is None or (scope is not None and c.home_store_id != scope):
        raise NotFound(f"customer {customer_id} does not exist: find the customer in the list")
    return c


def is_erased(custom_fields: Mapping[str, Any] | None) -> bool:
    """Whether a customer's personal data was erased."""
    return bool(custom_fields and ERASED_AT in custom_fields)


def _editable(session: Session, customer_id: int, actor: StaffMember) -> Customer:
    c = _in_scope(session, customer_id, actor)
    if is_erased(c.custom_fields):
        raise Conflict(
            f"customer {customer_id} was erased and cannot be changed: add the person again "
            "as a new customer if they come back"
        )
    return c


_UNIQUE = (("phone", "phone number"), ("email", "email address"), ("code", "member code"))


def _duplicates(
    session: Session, values: Mapping[str, Any], customer_id: int | None
) -> dict[str, str]:
    errors = {}
    for name, what in _UNIQUE:
        if not values.get(name):
            continue
        stmt = select(Customer.id).where(getattr(Customer, name) == values[name])
        if customer_id is not None:
            stmt = stmt.where(Customer.id != customer_id)
        other = session.execute(stmt.limit(1)).scalar()
        if other is not None:
            errors[name] = (
                f"this {what} already belongs to customer #{other}: open that customer "
                "instead of adding the person twice"
            )
    return errors


def _home_store(
    session: Session, chosen: int | None, actor: StaffMember, current: Customer | None
) -> tuple[int | None, dict[str, str]]:
    """Clerks and managers keep customers in their store; the owner chooses one."""
    if not sees_all_stores(actor.role):
        return (current.home_store_id if current else actor.store_id), {}
    if chosen is None:
        if session.execute(select(Store.id).limit(1)).first() is None:
            return None, {}  # a shop without stores set up
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
    session: Session, form: CustomerForm, actor: StaffMember, current: Customer | None
) -> CleanForm:
    """The form checked field by field, then against the database; every message at once."""
    values, errors = form.check(masked_phone=mask_phone(current.phone) if current else "")
    store_id, store_error = _home_store(session, values.get("home_store_id"), actor, current)
    values["home_store_id"] = store_id
    problems = {
        **_duplicates(session, values, current.id if current else None),
        **store_error,
        **_account_owner(session, values.get("owner_staff_id"), store_id),
        **errors,
    }
    if problems:
        raise FormErrors(problems)
    return CleanForm.of(values)


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


# --- create and update -----------------------------------------------------------------------


def create_customer(
    db: Database, form: CustomerForm, *, actor: StaffMember, ip: str | None = None
) -> int:
    """Add a customer from the form; their home store is the creator's (the owner chooses)."""
    with db.write() as session:
        clean = _validated(session, form, actor, None)
        links = {"home_store_id": clean.home_store_id, "owner_staff_id": clean.owner_staff_id}
        customer = Customer(**clean.columns, **links, custom_fields={})
        session.add(customer)
        session.flush()
        _replace_labels(session, CustomerTag, customer.id, clean.tags)
        _replace_labels(session, CustomerInterest, customer.id, clean.interests)
        detail = {"home_store_id": links["home_store_id"]}
        _audit(session, audit.Action.CUSTOMER_CREATED, actor, customer.id, ip, detail)
        return customer.id


def update_customer(
    db: Database,
    customer_id: int,
    form: CustomerForm,
    *,
    actor: StaffMember,
    ip: str | None = None,
) -> list[str]:
    """Save the form over the stored customer; returns the names of the fields that changed."""
    with db.write() as session:
        c = _editable(session, customer_id, actor)
        clean = _validated(session, form, actor, c)
        links = {"home_store_id": clean.home_store_id, "owner_staff_id": clean.owner_staff_id}
        wanted = {**clean.columns, **links}
        changes = {k: val for k, val in wanted.items() if getattr(c, k) != val}
        for key, value in changes.items():
            setattr(c, key, value)
        changed = {_FIELD_OF.get(k, k) for k in changes}
        if _replace_labels(session, CustomerTag, customer_id, clean.tags):
            changed.add("tags")
        if _replace_labels(session, CustomerInterest, customer_id, clean.interests):
            changed.add("interests")
        if changed:
            detail = {"fields": sorted(changed)}
            _audit(session, audit.Action.CUSTOMER_UPDATED, actor, customer_id, ip, detail)
        return sorted(changed)


# --- consent ---------------------------------------------------------------------------------


def _write_consent(
    session: Session, customer_id: int, channel: str, granted: bool, source: str
) -> None:
    """Set the current consent and append its evidence (the consent event)."""
    now = datetime.now(UTC)
    current = session.get(Consent, (customer_id, channel))
    if current is None:
        session.add(
            Consent(
                customer_id=customer_id,
                channel=channel,
                is_granted=granted,
                changed_at=now,
                source=source,
            )
        )
    else:
        current.is_granted, current.changed_at, current.source = granted, now, source
    session.add(
        ConsentEvent(
            customer_id=customer_id, channel=channel, is_granted=granted, at=now, source=source
        )
    )


def set_consent(
    db: Database,
    customer_id: int,
    channel: Channel,
    granted: bool,
    *,
    actor: StaffMember,
    source: str,
    ip: str | None = None,
) -> bool:
    """Record a customer's marketing consent on one channel; False if it was already so."""
    source = source.strip()[:64]
    if not source:
        raise InvalidInput("say how the consent was given (source), e.g. 'counter' or 'web'")
    with db.write() as session:
        _editable(session, customer_id, actor)
        current = session.get(Consent, (customer_id, channel.value))
        if current is not None and current.is_granted == granted:
            return False
        _write_consent(session, customer_id, channel.value, granted, source)
        detail = {"channel": channel.value, "granted": granted, "source": source}
        _audit(session, audit.Action.CONSENT_CHANGED, actor, customer_id, ip, detail)
        return True


@dataclass(frozen=True)
class ConsentState:
    """A customer's current consent on one channel (None: never asked)."""

    channel: str
    granted: bool | None
    changed_at: datetime | None
    source: str | None


def current_consents(db: Database, customer_id: int) -> list[ConsentState]:
    """The consent on every channel, in the order of ``Channel``."""
    with db.read() as session:
        rows = session.scalars(select(Consent).where(Consent.customer_id == customer_id))
        stored = {k.channel: k for k in rows}
    return [
        ConsentState(ch.value, k.is_granted, k.changed_at, k.source)
        if (k := stored.get(ch.value))
        else ConsentState(ch.value, None, None, None)
        for ch in Channel
    ]


# --- notes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One dated note on a customer's timeline."""

    id: int
    at: datetime
    author: str | None
    text: str


def _notes_table_exists(session: Session) -> bool:
    return bool(inspect(session.connection()).has_table("customer_note"))


def notes_available(db: Database) -> bool:
    """Whether this database has the notes timeline's table."""
    with db.read() as session:
        return _notes_table_exists(session)


def _require_notes(session: Session) -> None:
    if not _notes_table_exists(session):
        raise ConfigError(
            "this database has no notes timeline (table customer_note): upgrade Guanxi and "
            "run its database migrations"
        )


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
        _editable(session, customer_id, actor)
        _require_notes(session)
        values = {
            "customer_id": customer_id,
            "staff_id": actor.id,
            "at": datetime.now(UTC),
            "text": text,
        }
        return int(session.execute(insert(NOTE).returning(NOTE.c.id), values).scalar_one())


def _notes(session: Session, customer_id: int) -> list[Note]:
    if not _notes_table_exists(session):
        return []
    rows = session.execute(
        select(NOTE.c.id, NOTE.c.at, Staff.name, NOTE.c.text)
        .outerjoin(Staff, Staff.id == NOTE.c.staff_id)
        .where(NOTE.c.customer_id == customer_id)
        .order_by(NOTE.c.at.desc(), NOTE.c.id.desc())
    )
    return [Note(*row) for row in rows]


def list_notes(db: Database, customer_id: int) -> list[Note]:
    """The customer's notes, newest first (none while the table is missing)."""
    with db.read() as session:
        return _notes(session, customer_id)


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


# --- export ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A stored value as JSON can carry it: dates in ISO 8601, money as a decimal string."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(x) for x in value]
    return value


def _profile(session: Session, c: Customer) -> dict[str, Any]:
    data = {col.key: getattr(c, col.key) for col in Customer.__table__.columns}
    store = session.get(Store, c.home_store_id) if c.home_store_id else None
    owner = session.get(Staff, c.owner_staff_id) if c.owner_staff_id else None
    data["home_store"] = store.name if store else None
    data["owner_staff"] = owner.name if owner else None
    return data


def _purchases(session: Session, customer_id: int) -> list[dict[str, Any]]:
    purchases = session.scalars(
        select(Purchase)
        .where(Purchase.customer_id == customer_id)
        .options(selectinload(Purchase.lines))
        .order_by(Purchase.purchased_at, Purchase.id)
    ).all()
    returns = session.scalars(
        select(PurchaseReturn)
        .where(PurchaseReturn.purchase_id.in_([p.id for p in purchases]))
        .options(selectinload(PurchaseReturn.lines))
        .order_by(PurchaseReturn.returned_at, PurchaseReturn.id)
    ).all()
    product_ids = {line.product_id for p in purchases for line in p.lines}
    products = {
        x.id: x for x in session.scalars(select(Product).where(Product.id.in_(product_ids)))
    }
    stores: dict[int, str] = dict(session.execute(select(Store.id, Store.name)).all())
    return [
        _purchase(p, [r for r in returns if r.purchase_id == p.id], stores, products)
        for p in purchases
    ]


def _purchase(
    p: Purchase, returns: list[PurchaseReturn], stores: dict[int, str], products: dict[int, Product]
) -> dict[str, Any]:
    line_no = {line.id: line.line_no for line in p.lines}
    return {
        "store": stores.get(p.store_id),
        "order_id": p.external_order_id,
        "purchased_at": p.purchased_at,
        "total_amount": p.total_amount,
        "payment_method": p.payment_method,
        "is_promotion": p.is_promotion,
        "lines": [_line(line, products[line.product_id]) for line in p.lines],
        "returns": [_return(r, line_no) for r in returns],
    }


def _line(line: PurchaseLine, product: Product) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "sku": product.sku,
        "product": product.name,
        "category": product.category,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "discount": line.discount,
        "amount": line.amount,
    }


def _return(r: PurchaseReturn, line_no: dict[int, int]) -> dict[str, Any]:
    lines = [
        {"line_no": line_no.get(x.purchase_line_id), "quantity": x.quantity, "amount": x.amount}
        for x in r.lines
    ]
    return {
        "return_id": r.external_return_id,
        "returned_at": r.returned_at,
        "reason": r.reason,
        "refund_amount": r.refund_amount,
        "lines": lines,
    }


def _person(session: Session, c: Customer) -> dict[str, Any]:
    history = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.customer_id == c.id)
        .order_by(ConsentEvent.at, ConsentEvent.id)
    )
    return {
        "profile": _profile(session, c),
        "tags": sorted(t.name for t in c.tags),
        "interests": sorted(i.name for i in c.interests),
        "consents": [
            {
                "channel": k.channel,
                "granted": k.is_granted,
                "changed_at": k.changed_at,
                "source": k.source,
            }
            for k in c.consents
        ],
        "consent_history": [
            {"channel": e.channel, "granted": e.is_granted, "at": e.at, "source": e.source}
            for e in history
        ],
        "anniversaries": [
            {"label": a.label, "occurs_on": a.occurs_on, "calendar": a.calendar_kind}
            for a in c.anniversaries
        ],
        "notes": [{"at": n.at, "author": n.author, "text": n.text} for n in _notes(session, c.id)],
    }


def export_customer(
    db: Database, customer_id: int, *, actor: StaffMember, ip: str | None = None
) -> dict[str, Any]:
    """Everything stored about one person, as a JSON-ready dict (audited)."""
    with db.write() as session:
        c = _in_scope(session, customer_id, actor)
        data = {
            "format": "guanxi.customer_export.v1",
            "exported_at": datetime.now(UTC),
            "customer_id": c.id,
            **_person(session, c),
            "purchases": _purchases(session, c.id),
        }
        detail = {"purchases": len(data["purchases"])}
        _audit(session, audit.Action.CUSTOMER_EXPORTED, actor, customer_id, ip, detail)
    plain: dict[str, Any] = _plain(data)
    return plain


# --- erasure ---------------------------------------------------------------------------------


def phone_hmac(phone: str, secret: str) -> str:
    """The keyed hash (HMAC-SHA256, hex) kept of an erased customer's phone in E.164 form."""
    return hmac.new(secret.encode(), phone.encode(), hashlib.sha256).hexdigest()


def confirms_erasure(typed: str, customer_id: int, name: str) -> bool:
    """Whether the text typed to confirm an erasure is the customer's id (#12 or 12) or name."""
    text = v.to_halfwidth(typed).strip()
    return bool(text) and (text.lstrip("#") == str(customer_id) or text == name.strip())


_ANONYMOUS = {
    "name_pinyin": "",
    "name_initials": "",
    "phone": None,
    "phone_last4": None,
    "email": None,
    "code": None,
    "wechat_id": None,
    "gender": "unknown",
    "birthday_kind": "solar",
    "birthday_year": None,
    "birthday_month": None,
    "birthday_day": None,
    "birthday_is_leap_month": False,
    "city": None,
    "communication_style": None,
    "notes": None,
}


def _withdraw_consents(session: Session, customer_id: int) -> list[str]:
    granted = session.scalars(
        select(Consent.channel).where(
            Consent.customer_id == customer_id, Consent.is_granted.is_(True)
        )
    ).all()
    for channel in granted:
        _write_consent(session, customer_id, channel, False, "erasure")
    return sorted(granted)


def _forget(session: Session, customer_id: int) -> None:
    for model in (CustomerTag, CustomerInterest, Anniversary):
        session.execute(delete(model).where(model.customer_id == customer_id))
    if _notes_table_exists(session):
        session.execute(delete(NOTE).where(NOTE.c.customer_id == customer_id))


def erase_customer(
    db: Database, customer_id: int, *, actor: StaffMember, secret: str, ip: str | None = None
) -> None:
    """Anonymise a customer, keeping purchases, withdrawn consents and a phone HMAC."""
    if not secret:
        raise ConfigError("erasure needs a secret for the phone hash: set GUANXI_ERASURE_SECRET")
    with db.write() as session:
        c = _editable(session, customer_id, actor)
        kept = {
            ERASED_AT: datetime.now(UTC).isoformat(),
            ERASED_PHONE_HMAC: phone_hmac(c.phone, secret) if c.phone else None,
        }
        withdrawn = _withdraw_consents(session, customer_id)
        _forget(session, customer_id)
        for key, value in _ANONYMOUS.items():
            setattr(c, key, value)
        c.name, c.custom_fields = ERASED_NAME.format(id=customer_id), kept
        purchases = session.execute(
            select(func.count()).select_from(Purchase).where(Purchase.customer_id == customer_id)
        ).scalar_one()
        detail = {"consents_withdrawn": withdrawn, "purchases_kept": purchases}
        _audit(session, audit.Action.CUSTOMER_ERASED, actor, customer_id, ip, detail)
