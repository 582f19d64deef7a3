"""Pages for the counter screen: find a customer by phone tail, record a purchase, redeem.

Plain forms, rendered on the server, so the screen works without JavaScript. Each action
posts, then redirects to the customer's counter page, which shows what it did (the sale's
points with how they were computed, or the redemption) read back from the database: reloading
the page repeats nothing. A sale is unique per store and receipt number, and each redeem form
carries a hidden key (``counter-redeem:<key>`` in the ledger), so a form sent twice records or
redeems once. Customers are those of the clerk's store (owners: every store); phones are
always masked. Sales go to the clerk's store; staff without one (the owner) pick a store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from guanxi.domain.access import Permission, mask_phone
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.loyalty import ledger
from guanxi.services.counter import (
    Sale,
    categories,
    find_for_counter,
    record_sale,
    redemption,
    sale_result,
)
from guanxi.services.customer_points import new_form_key, points_section
from guanxi.services.customer_tiers import tier_section
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Customer, Store
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import scope_of

router = APIRouter()

KEY = re.compile(r"[0-9a-f]{32}")
RECEIPT_LENGTH = 64
MAX_AMOUNT = Decimal(10_000_000)
MAX_POINTS = 10_000_000
HISTORY_ROWS = 5


@dataclass
class SaleDraft:
    """The purchase form as typed."""

    receipt: str = ""
    amount: str = ""
    category: str = ""
    store: str = ""


@dataclass
class RedeemDraft:
    """The redeem form as typed, with its idempotency key."""

    points: str = ""
    reason: str = ""
    key: str = field(default_factory=new_form_key)


def _scope(viewer: Viewer) -> int | None:
    assert viewer.signed_in is not None
    return scope_of(viewer.signed_in)


def _visible(request: Request, viewer: Viewer, customer_id: int) -> None:
    if not customer_in_scope(web_context(request).db, customer_id, _scope(viewer)):
        raise NotFound(f"customer {customer_id} does not exist")


@router.get("/counter", include_in_schema=False)
def counter_page(
    request: Request, q: str = "", viewer: Viewer = requires(Permission.PURCHASES_CREATE)
) -> Response:
    """The search box (phone tail, name, member code) and the customers it finds; one match
    goes straight to that customer."""
    hits = []
    error = None
    if q.strip():
        try:
            hits = find_for_counter(web_context(request).db, q, store_id=_scope(viewer))
        except InvalidInput as exc:
            error = str(exc)
        if len(hits) == 1:
            return RedirectResponse(f"/counter/{hits[0].id}", status_code=303)
    context = {"viewer": viewer, "L": labels, "q": q, "hits": hits, "error": error}
    return web_context(request).templates.TemplateResponse(request, "counter/search.html", context)


def _stores(request: Request, viewer: Viewer) -> list[tuple[int, str]]:
    """The stores a sale may go to: the viewer's own, else every store (owners)."""
    assert viewer.signed_in is not None
    own = viewer.signed_in.staff.store_id
    with web_context(request).db.read() as session:
        stmt = select(Store.id, Store.name).order_by(Store.code)
        if own is not None:
            stmt = stmt.where(Store.id == own)
        return [(int(i), str(n)) for i, n in session.execute(stmt)]


def _customer_page(
    request: Request,
    viewer: Viewer,
    customer_id: int,
    *,
    sale: SaleDraft | None = None,
    redeem: RedeemDraft | None = None,
    errors: dict[str, str] | None = None,
    done: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    db = web_context(request).db
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        who = {"id": customer.id, "name": customer.name, "code": customer.code,
               "phone": mask_phone(customer.phone)}  # fmt: skip
    context = {
        "viewer": viewer,
        "L": labels,
        "customer": who,
        "points": points_section(db, customer_id, limit=HISTORY_ROWS),
        "tier": tier_section(db, customer_id),
        "tier_compact": True,
        "sale": sale or SaleDraft(),
        "redeem": redeem or RedeemDraft(),
        "errors": errors or {},
        "categories": categories(db),
        "stores": _stores(request, viewer),
        **(done or {}),
    }
    return web_context(request).templates.TemplateResponse(
        request, "counter/customer.html", context, status_code=status
    )


@router.get("/counter/{customer_id}", include_in_schema=False)
def counter_customer(
    request: Request,
    customer_id: int,
    sale: int | None = None,
    redeemed: int | None = None,
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """The chosen customer: points, tier progress, the purchase and redeem forms; ``sale`` or
    ``redeemed`` shows what the last action did."""
    _visible(request, viewer, customer_id)
    db = web_context(request).db
    done = {
        "sale_done": None if sale is None else sale_result(db, customer_id, sale),
        "redeem_done": None if redeemed is None else redemption(db, customer_id, redeemed),
    }
    return _customer_page(request, viewer, customer_id, done=done)


def _amount(text: str) -> Decimal | None:
    """A money amount above 0 with at most 2 decimals; None when it is not one."""
    try:
        number = Decimal(text.replace(",", "").replace("，", "").replace("¥", "").strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or not 0 < number <= MAX_AMOUNT or number != round(number, 2):
        return None
    return number


def _sale_store(request: Request, viewer: Viewer, draft: SaleDraft) -> int | None:
    stores = dict(_stores(request, viewer))
    if len(stores) == 1:
        return next(iter(stores))
    return int(draft.store) if draft.store.isdigit() and int(draft.store) in stores else None


def _check_sale(
    request: Request, viewer: Viewer, draft: SaleDraft
) -> tuple[Sale | None, int | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if not draft.receipt or len(draft.receipt) > RECEIPT_LENGTH:
        errors["receipt"] = _("Type the receipt number (at most %(most)s characters).") % {
            "most": RECEIPT_LENGTH
        }
    amount = _amount(draft.amount)
    if amount is None:
        errors["amount"] = _("Type the amount paid in yuan, more than 0, e.g. 128 or 99.50.")
    if draft.category and draft.category not in categories(web_context(request).db):
        errors["category"] = _("Pick one of the shop's categories, or leave it empty.")
    store = _sale_store(request, viewer, draft)
    if store is None:
        errors["store"] = _("Pick the store where the sale is made.")
    if errors or amount is None:
        return None, store, errors
    return Sale(draft.receipt, amount, draft.category or None), store, errors


@router.post("/counter/{customer_id}/purchase", include_in_schema=False)
def counter_purchase(
    request: Request,
    customer_id: int,
    receipt: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    store: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Record a sale for the customer (points accrue, the tier is evaluated); then the
    customer's counter page shows what it earned, or the form with what is wrong."""
    _visible(request, viewer, customer_id)
    draft = SaleDraft(receipt.strip(), amount.strip(), category.strip(), store.strip())
    sale, store_id, errors = _check_sale(request, viewer, draft)
    if sale is not None and store_id is not None:
        try:
            recorded = record_sale(web_context(request).db, customer_id, sale, store_id=store_id,
                                   scope=_scope(viewer))  # fmt: skip
        except Conflict as exc:
            errors["receipt"] = _(
                "This receipt number was recorded before with a different amount or customer: "
                "check the number. (%(detail)s)"
            ) % {"detail": str(exc)}
        else:
            url = f"/counter/{customer_id}?sale={recorded.purchase.id}"
            return RedirectResponse(url, status_code=303)
    return _customer_page(request, viewer, customer_id, sale=draft, errors=errors, status=422)


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


@router.post("/counter/{customer_id}/redeem", include_in_schema=False)
def counter_redeem(
    request: Request,
    customer_id: int,
    points: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Redeem points (the hidden key makes a double submit redeem once); then the customer's
    counter page shows the redemption, or the form with what is wrong."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    draft = RedeemDraft(
        points.strip(), reason.strip(), key if KEY.fullmatch(key) else new_form_key()
    )
    errors: dict[str, str] = {}
    count = _whole(draft.points)
    if count is None or not 0 < count <= MAX_POINTS:
        errors["points"] = _("Type the number of points to redeem, a whole number above 0.")
    if not draft.reason:
        errors["reason"] = _("Say what the points are for, e.g. a gift or a discount.")
    if not errors and count is not None:
        try:
            posting = ledger.redeem(web_context(request).db, customer_id, count,
                                    reason=draft.reason, actor_id=viewer.signed_in.staff.id,
                                    idempotency_key=f"counter-redeem:{draft.key}")  # fmt: skip
        except ledger.InsufficientPoints as exc:
            errors["points"] = _(
                "Not enough points: the balance is %(balance)s, so at most %(most)s can be "
                "redeemed."
            ) % {"balance": labels.number(exc.balance), "most": labels.number(max(exc.balance, 0))}
        except Conflict as exc:
            errors["form"] = str(exc)
        else:
            assert posting.entry is not None
            url = f"/counter/{customer_id}?redeemed={posting.entry.id}"
            return RedirectResponse(url, status_code=303)
    return _customer_page(request, viewer, customer_id, redeem=draft, errors=errors, status=422)
