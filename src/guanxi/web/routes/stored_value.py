"""Pages for stored-value cards (储值卡): a customer's card (balances, full history, top up,
refund) and the owner's top-up bonus tiers.

Topping up is a counter action (``PURCHASES_CREATE``, clerks included); a refund returns paid
money only and forfeits the bonus that goes with it, so it is a manager's action
(``STORED_VALUE_REFUND``) with a reason, audited by the ledger. Each form carries a hidden key
that becomes the ledger's idempotency key, so a double submit posts once. A refused form comes
back on the card page with the values as typed and the errors next to the fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput, NotFound
from guanxi.loyalty import stored_value as sv
from guanxi.services.customer_stored_value import (
    RefundDraft,
    TopUpDraft,
    new_form_key,
    parse_amount,
    stored_value_section,
)
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Customer
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import scope_of

router = APIRouter()
KEY = re.compile(r"[0-9a-f]{32}")
BLANK_ROWS = 3


# --- a customer's card -------------------------------------------------------------------------


def _visible(request: Request, viewer: Viewer, customer_id: int) -> str:
    """The customer's name, if the viewer may see them (else 404)."""
    assert viewer.signed_in is not None
    db = web_context(request).db
    if not customer_in_scope(db, customer_id, scope_of(viewer.signed_in)):
        raise NotFound(f"customer {customer_id} does not exist")
    with db.read() as session:
        return str(session.execute(select(Customer.name).where(Customer.id == customer_id))
                   .scalar_one())  # fmt: skip


def _card_page(
    request: Request,
    viewer: Viewer,
    customer_id: int,
    *,
    before_id: int | None = None,
    status: int = 200,
    **changes: Any,
) -> Response:
    name = _visible(request, viewer, customer_id)
    section = stored_value_section(web_context(request).db, customer_id, before_id=before_id)
    assert section is not None
    section.update(changes)
    context = {"viewer": viewer, "L": labels, "name": name, "stored_value": section}
    return web_context(request).templates.TemplateResponse(
        request, "stored_value/customer.html", context, status_code=status
    )


@router.get("/customers/{customer_id}/stored-value", include_in_schema=False)
def card_page(
    request: Request,
    customer_id: int,
    before_id: int | None = None,
    done: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """The customer's card: balances, the full history page by page, the forms."""
    return _card_page(request, viewer, customer_id, before_id=before_id,
                      done=done if done in ("topped_up", "refunded") else "")  # fmt: skip


def _key(key: str) -> str:
    return key if KEY.fullmatch(key) else new_form_key()


@router.post("/customers/{customer_id}/stored-value/top-up", include_in_schema=False)
def top_up(
    request: Request,
    customer_id: int,
    amount: Annotated[str, Form()] = "",
    payment_method: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Top up the card (the bonus follows the owner's tiers); back to the card page."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    draft = TopUpDraft(amount.strip(), payment_method, reference.strip(), _key(key))
    errors: dict[str, str] = {}
    paid = parse_amount(amount)
    if paid is None:
        errors["amount"] = _("Type an amount of yuan above 0, e.g. 1000 or 88.50.")
    if payment_method not in sv.TOP_UP_METHODS:
        errors["payment_method"] = _("Choose how the customer paid.")
    if len(draft.reference) > 100:
        errors["reference"] = _("At most 100 characters.")
    if not errors:
        assert paid is not None
        try:
            sv.top_up(web_context(request).db, customer_id, paid, payment_method=payment_method,
                      reference=draft.reference, idempotency_key=f"web-sv-top-up:{draft.key}",
                      actor_id=viewer.signed_in.staff.id)  # fmt: skip
        except InvalidInput as exc:
            errors["top_up"] = str(exc)
    if errors:
        return _card_page(request, viewer, customer_id, status=422, top_up=draft,
                          errors=errors)  # fmt: skip
    return RedirectResponse(f"/customers/{customer_id}/stored-value?done=topped_up",
                            status_code=303)  # fmt: skip


@router.post("/customers/{customer_id}/stored-value/refund", include_in_schema=False)
def refund(
    request: Request,
    customer_id: int,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    payment_method: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.STORED_VALUE_REFUND),
) -> Response:
    """Return paid money (empty amount: all of it) and forfeit the bonus that goes with it;
    a reason is required and the ledger audits it."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    draft = RefundDraft(amount.strip(), reason.strip(), payment_method, _key(key))
    errors: dict[str, str] = {}
    paid = parse_amount(amount) if draft.amount else None
    if draft.amount and paid is None:
        errors["refund_amount"] = _("Type an amount of yuan above 0, or leave it empty to "
                                    "refund all the paid money.")  # fmt: skip
    if not draft.reason:
        errors["reason"] = _("Give a reason: say why the money goes back.")
    if payment_method not in sv.TOP_UP_METHODS:
        errors["refund_method"] = _("Choose how the money goes back.")
    if not errors:
        try:
            sv.refund(web_context(request).db, viewer.signed_in.staff, customer_id, draft.reason,
                      paid, payment_method=payment_method,
                      idempotency_key=f"web-sv-refund:{draft.key}")  # fmt: skip
        except sv.InsufficientBalance as exc:
            errors["refund_amount"] = _(
                "Only paid money can be refunded: %(most)s is left to refund."
            ) % {"most": labels.money(exc.balance)}
        except InvalidInput as exc:
            errors["refund"] = str(exc)
    if errors:
        return _card_page(request, viewer, customer_id, status=422, refund=draft,
                          errors=errors)  # fmt: skip
    return RedirectResponse(f"/customers/{customer_id}/stored-value?done=refunded",
                            status_code=303)  # fmt: skip


# --- the owner's top-up bonus tiers ------------------------------------------------------------


@dataclass
class TiersForm:
    """The tiers as typed: (top-up from, bonus) pairs; empty rows are dropped."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_rules(cls, tiers: tuple[sv.BonusRule, ...]) -> TiersForm:
        return cls([(f"{r.min_amount:f}", f"{r.bonus:f}") for r in reversed(tiers)])

    @classmethod
    def from_form(cls, form: FormData) -> TiersForm:
        def many(name: str) -> list[str]:
            return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]

        pairs = zip(many("min_amount"), many("bonus"), strict=False)
        return cls([(a, b) for a, b in pairs if a or b])

    def shown(self) -> list[tuple[str, str]]:
        """The typed rows and a few empty ones to add more."""
        return [*self.rows, *[("", "")] * BLANK_ROWS]

    def parse(self) -> tuple[list[sv.BonusRule] | None, dict[str, str]]:
        errors: dict[str, str] = {}
        found: list[sv.BonusRule] = []
        for i, (least, bonus) in enumerate(self.rows):
            a, b = parse_amount(least), parse_amount(bonus)
            if a is None or b is None:
                errors[f"row-{i}"] = _("Type two amounts of yuan above 0, e.g. 1000 and 100.")
            else:
                found.append(sv.BonusRule(a, b))
        if errors:
            return None, errors
        try:
            sv.validate_rules(found)
        except InvalidInput as exc:
            return None, {"form": str(exc)}
        return found, {}


def _tiers_page(
    request: Request, viewer: Viewer, form: TiersForm, *, errors: dict[str, str] | None = None,
    saved: bool = False, status: int = 200,
) -> Response:  # fmt: skip
    context = {"viewer": viewer, "L": labels, "form": form, "errors": errors or {},
               "saved": saved}  # fmt: skip
    return web_context(request).templates.TemplateResponse(
        request, "stored_value/tiers.html", context, status_code=status
    )


@router.get("/loyalty/stored-value", include_in_schema=False)
def tiers_page(
    request: Request, saved: str = "", viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """The top-up bonus tiers, to edit."""
    current = sv.rules(web_context(request).db)
    return _tiers_page(request, viewer, TiersForm.from_rules(current), saved=bool(saved))


async def posted_tiers(request: Request) -> TiersForm:
    return TiersForm.from_form(await request.form())


@router.post("/loyalty/stored-value", include_in_schema=False)
def save_tiers(
    request: Request,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: TiersForm = Depends(posted_tiers),
) -> Response:
    """Replace the tiers (audited); back to the page, or the form with what is wrong."""
    assert viewer.signed_in is not None
    found, errors = form.parse()
    if found is not None:
        sv.save_rules(web_context(request).db, viewer.signed_in.staff, found)
        return RedirectResponse("/loyalty/stored-value?saved=1", status_code=303)
    return _tiers_page(request, viewer, form, errors=errors, status=422)
