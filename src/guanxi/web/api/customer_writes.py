"""Create and change customers (one transaction each, audited by field names only).

Service code without FastAPI: it belongs in ``services/customers.py`` and lives here only
until that module can take it. Values arrive validated and normalised by the API schemas
(phone in E.164, email lower-cased); this module enforces uniqueness and writes the audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.domain.access import mask_phone
from guanxi.domain.names import name_keys
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerTag, Store

UNIQUE = ("phone", "email", "code")
EDITABLE = ("name", "gender", "phone", "email", "code", "wechat_id", "city", "notes", "tags")
CREATE_ONLY = ("source", "home_store_id")


class DuplicateCustomer(Conflict):
    """Another customer already has this phone, email or member code."""

    def __init__(self, field: str, value: str, customer_id: int) -> None:
        shown = mask_phone(value) if field == "phone" else value
        super().__init__(
            f"customer {customer_id} already has this {field} ({shown}): update customer "
            f"{customer_id} instead of creating another, or correct the {field}"
        )
        self.field = field
        self.customer_id = customer_id


def create_customer(
    db: Database, values: dict[str, Any], *, actor_id: int, ip: str | None = None
) -> int:
    """Insert a customer from validated ``values``; returns the new id."""
    unknown = set(values) - set(EDITABLE) - set(CREATE_ONLY)
    if unknown:
        raise InvalidInput(f"cannot set {', '.join(sorted(unknown))} on a customer")
    with db.write() as session:
        _check_unique(session, values, None)
        store_id = values.get("home_store_id")
        if store_id is not None and session.get(Store, store_id) is None:
            raise NotFound(f"store {store_id} does not exist: use one of the shop's store ids")
        customer = Customer(custom_fields={}, **_columns(values))
        session.add(customer)
        _flush(session)
        _set_tags(session, customer.id, values.get("tags") or [])
        audit.record(session, audit.Action.CUSTOMER_CREATED, actor_id=actor_id,
                     target_type="customer", target_id=customer.id, ip=ip,
                     detail={"fields": sorted(values), "via": "api"})  # fmt: skip
        return customer.id


def update_customer(
    db: Database, customer_id: int, changes: dict[str, Any], *, actor_id: int,
    ip: str | None = None,
) -> list[str]:  # fmt: skip
    """Apply ``changes`` (None clears a field); returns the names of the fields that changed."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} here")
    with db.write() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} does not exist")
        changed = _changed(session, customer, changes)
        if not changed:
            return []
        _check_unique(session, {k: changes[k] for k in changed}, customer_id)
        for column, value in _columns({k: changes[k] for k in changed if k != "tags"}).items():
            setattr(customer, column, value)
        _flush(session)
        if "tags" in changed:
            _set_tags(session, customer_id, changes["tags"] or [])
        audit.record(session, audit.Action.CUSTOMER_UPDATED, actor_id=actor_id,
                     target_type="customer", target_id=customer_id, ip=ip,
                     detail={"fields": changed, "via": "api"})  # fmt: skip
        return changed


def _changed(session: Session, customer: Customer, changes: dict[str, Any]) -> list[str]:
    """The names of the fields whose new value differs from the stored one."""
    out = []
    for name, value in changes.items():
        if name == "tags":
            current = set(session.scalars(
                select(CustomerTag.name).where(CustomerTag.customer_id == customer.id)
            ))  # fmt: skip
            if set(value or []) != current:
                out.append(name)
        elif getattr(customer, name) != value:
            out.append(name)
    return sorted(out)


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    """Column values for the given fields: keys derived from name and phone come along."""
    out = {k: v for k, v in values.items() if k != "tags"}
    if "name" in values:
        out["name_pinyin"], out["name_initials"] = name_keys(values["name"])
    if "phone" in values:
        out["phone_last4"] = values["phone"][-4:] if values["phone"] else None
    return out


def _check_unique(session: Session, values: dict[str, Any], own_id: int | None) -> None:
    for field in UNIQUE:
        value = values.get(field)
        if not value:
            continue
        column = getattr(Customer, field)
        found = session.execute(select(Customer.id).where(column == value)).scalar()
        if found is not None and found != own_id:
            raise DuplicateCustomer(field, value, int(found))


def _flush(session: Session) -> None:
    """Flush; a concurrent request that took the phone, email or code first is a Conflict."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            "another request just saved a customer with the same phone, email or member code: "
            "search for it and try again"
        ) from None


def _set_tags(session: Session, customer_id: int, tags: Iterable[str]) -> None:
    wanted = set(tags)
    current = set(session.scalars(
        select(CustomerTag.name).where(CustomerTag.customer_id == customer_id)
    ))  # fmt: skip
    for name in current - wanted:
        tag = session.get(CustomerTag, (customer_id, name))
        if tag is not None:
            session.delete(tag)
    session.add_all(CustomerTag(customer_id=customer_id, name=n) for n in sorted(wanted - current))
