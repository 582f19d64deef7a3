"""A person's rights over their data: export everything stored about them, and erasure.

Erasure anonymises the customer in place: purchases stay (the shop's totals must not change),
consents are withdrawn with their evidence kept, and a keyed hash of the phone is kept so that
the number can be recognised, never read back. Both are audited and kept to the actor's scope.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from guanxi.errors import ConfigError
from guanxi.importers import values as v
from guanxi.services import audit
from guanxi.services.customer_consents import write_consent
from guanxi.services.customer_edits import (
    audit_customer,
    get_customer_in_scope,
    get_editable_customer,
    notes_of,
)
from guanxi.services.customer_forms import birthday_columns
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Anniversary,
    Consent,
    ConsentEvent,
    Customer,
    CustomerInterest,
    CustomerNote,
    CustomerTag,
    Product,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
    Staff,
    Store,
)

ERASED_NAME = "已删除客户 #{id}"

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
        "notes": [
            {"at": n.at, "author": n.author, "text": n.text} for n in notes_of(session, c.id)
        ],
    }


def export_customer(
    db: Database, customer_id: int, *, actor: StaffMember, ip: str | None = None
) -> dict[str, Any]:
    """Everything stored about one person, as a JSON-ready dict (audited)."""
    with db.write() as session:
        c = get_customer_in_scope(session, customer_id, actor)
        data = {
            "format": "guanxi.customer_export.v1",
            "exported_at": datetime.now(UTC),
            "customer_id": c.id,
            **_person(session, c),
            "purchases": _purchases(session, c.id),
        }
        detail = {"purchases": len(data["purchases"])}
        audit_customer(session, audit.Action.CUSTOMER_EXPORTED, actor, customer_id, ip, detail)
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
    **birthday_columns(None),
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
        write_consent(session, customer_id, channel, False, "erasure")
    return sorted(granted)


def _forget(session: Session, customer_id: int) -> None:
    for model in (CustomerTag, CustomerInterest, Anniversary, CustomerNote):
        session.execute(delete(model).where(model.customer_id == customer_id))


def erase_customer(
    db: Database, customer_id: int, *, actor: StaffMember, secret: str, ip: str | None = None
) -> None:
    """Anonymise a customer, keeping purchases, withdrawn consents and a phone HMAC."""
    if not secret:
        raise ConfigError("erasure needs a secret for the phone hash: set GUANXI_ERASURE_SECRET")
    with db.write() as session:
        c = get_editable_customer(session, customer_id, actor)
        c.erased_phone_hmac = phone_hmac(c.phone, secret) if c.phone else None
        c.erased_at = datetime.now(UTC)
        withdrawn = _withdraw_consents(session, customer_id)
        _forget(session, customer_id)
        for key, value in _ANONYMOUS.items():
            setattr(c, key, value)
        c.name, c.custom_fields = ERASED_NAME.format(id=customer_id), {}
        purchases = session.execute(
            select(func.count()).select_from(Purchase).where(Purchase.customer_id == customer_id)
        ).scalar_one()
        detail = {"consents_withdrawn": withdrawn, "purchases_kept": purchases}
        audit_customer(session, audit.Action.CUSTOMER_ERASED, actor, customer_id, ip, detail)
