"""Pages for the counter screen: find a customer by phone tail, record a purchase, redeem.

Plain forms, rendered on the server, so the screen works without JavaScript. Each action
posts, then redirects to the customer's counter page, which shows what it did (the sale's
points with how they were computed, or the redemption) read back from the database: reloading
the page repeats nothing. A sale is unique per store and receipt number, and each redeem form
carries a hidden key (``counter-redeem:<key>`` in the ledger), so a form sent twice records or
redeems once. Customers are those of the clerk's store (owners: every store); phones are
always masked. Sales go to the clerk's store; staff without one (the owner) pick a store.

The same page redeems a reward the customer can afford, checks a coupon code against a basket
amount (a GET form, so checking changes nothing) and uses it for a receipt, and shows the
stored-value card with "Pay by card" and "Top up". Each of these forms carries its own hidden
key (``counter-reward:``, ``counter-coupon:``, ``counter-sv-spend:``, ``counter-sv-top-up:``),
so a form sent twice acts once, and each redirects to the page showing what it did.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from guanxi.domain.access import Permission, mask_phone
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.loyalty import coupons, ledger, rewards
from guanxi.loyalty import stored_value as sv
from guanxi.services.counter import (
    Sale,
    card_entry,
    categories,
    coupon_basket,
    coupon_use,
    find_for_counter,
    form_time,
    now_text,
    record_sale,
    redemption,
    sale_result,
    usable_coupons,
)
from guanxi.services.customer_points import new_form_key, points_section
from guanxi.services.customer_rewards import section as rewards_offers
from guanxi.services.customer_stored_value import TopUpDraft, parse_amount
from guanxi.services.customer_tiers import tier_section
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Customer, Store
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import scope_of
from guanxi.web.routes.rewards import _refusal as reward_refusal

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
    at: str = field(default_factory=now_text)  # when the form was opened: the sale's time


@dataclass
class RedeemDraft:
    """The redeem form as typed, with its idempotency key."""

    points: str = ""
    reason: str = ""
    key: str = field(default_factory=new_form_key)


@dataclass
class CouponDraft:
    """The coupon form as typed (checked by GET, used by POST with its key)."""

    code: str = ""
    amount: str = ""
    receipt: str = ""
    category: str = ""
    store: str = ""
    key: str = field(default_factory=new_form_key)


@dataclass
class PayDraft:
    """The "pay by card" form as typed."""

    amount: str = ""
    receipt: str = ""
    key: str = field(default_factory=new_form_key)


def _key(key: str) -> str:
    return key if KEY.fullmatch(key) else new_form_key()


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
    forms: dict[str, Any] | None = None,
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
        **_money_context(request, customer_id),
        **(forms or {}),
        **(done or {}),
    }
    return web_context(request).templates.TemplateResponse(
        request, "counter/customer.html", context, status_code=status
    )


def _money_context(request: Request, customer_id: int) -> dict[str, Any]:
    """The rewards on offer, the customer's usable coupons, the card and its forms' defaults."""
    db = web_context(request).db
    return {
        "offers": rewards_offers(db, customer_id).offers,
        "my_coupons": usable_coupons(db, customer_id),
        "card": sv.balance(db, customer_id),
        "top_up_methods": sv.TOP_UP_METHODS,
        "coupon": CouponDraft(),
        "verdict": None,
        "pay": PayDraft(),
        "top_up": TopUpDraft(),
    }


@dataclass
class Done:
    """What the last action did, by the ids its redirect names."""

    sale: int | None = None
    redeemed: int | None = None
    reward: int | None = None
    coupon_used: int | None = None
    card: int | None = None

    def shown(self, request: Request, customer_id: int) -> dict[str, Any]:
        db = web_context(request).db
        found: dict[str, Any] = {
            "sale_done": self.sale and sale_result(db, customer_id, self.sale),
            "redeem_done": self.redeemed and redemption(db, customer_id, self.redeemed),
            "coupon_done": self.coupon_used and coupon_use(db, customer_id, self.coupon_used),
            "card_done": self.card and card_entry(db, customer_id, self.card),
            "reward_done": None,
        }
        if self.reward is not None:
            with suppress(NotFound):
                found["reward_done"] = rewards.redemption_of(db, customer_id, self.reward)
        return found


def coupon_query(
    coupon_code: str = "", coupon_amount: str = "", coupon_receipt: str = "",
    coupon_category: str = "", coupon_store: str = "",
) -> CouponDraft:  # fmt: skip
    """The coupon check form (a GET form: checking changes nothing)."""
    return CouponDraft(coupon_code.strip(), coupon_amount.strip(), coupon_receipt.strip(),
                       coupon_category.strip(), coupon_store.strip())  # fmt: skip


@router.get("/counter/{customer_id}", include_in_schema=False)
def counter_customer(
    request: Request,
    customer_id: int,
    done: Annotated[Done, Depends()],
    coupon: Annotated[CouponDraft, Depends(coupon_query)],
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """The chosen customer: points, tier progress, the forms; the ids in ``done`` show what
    the last action did; a typed coupon code is checked against the typed basket."""
    _visible(request, viewer, customer_id)
    forms: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if coupon.code:
        basket, errors = _coupon_basket(request, viewer, customer_id, coupon, use=False)
        verdict = None
        if basket is not None:
            verdict = coupons.validate(web_context(request).db, coupon.code, basket)
        forms = {"coupon": coupon, "verdict": verdict,
                 "verdict_text": verdict and verdict_words(verdict)}  # fmt: skip
    return _customer_page(request, viewer, customer_id, errors=errors, forms=forms,
                          done=done.shown(request, customer_id))  # fmt: skip


def _amount(text: str) -> Decimal | None:
    """A money amount above 0 with at most 2 decimals; None when it is not one."""
    try:
        number = Decimal(text.replace(",", "").replace("，", "").replace("¥", "").strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or not 0 < number <= MAX_AMOUNT or number != round(number, 2):
        return None
    return number


def _store_of(request: Request, viewer: Viewer, chosen: str) -> int | None:
    """The viewer's one store, else the chosen one if it is a store."""
    stores = dict(_stores(request, viewer))
    if len(stores) == 1:
        return next(iter(stores))
    return int(chosen) if chosen.isdigit() and int(chosen) in stores else None


def _sale_store(request: Request, viewer: Viewer, draft: SaleDraft) -> int | None:
    return _store_of(request, viewer, draft.store)


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
    return Sale(draft.receipt, amount, draft.category or None, form_time(draft.at)), store, errors


@router.post("/counter/{customer_id}/purchase", include_in_schema=False)
def counter_purchase(
    request: Request,
    customer_id: int,
    receipt: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    store: Annotated[str, Form()] = "",
    at: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Record a sale for the customer (points accrue, the tier is evaluated); then the
    customer's counter page shows what it earned, or the form with what is wrong. The form's
    ``at`` (when it was opened) is the sale's time, so a form sent twice records once."""
    _visible(request, viewer, customer_id)
    draft = SaleDraft(receipt.strip(), amount.strip(), category.strip(), store.strip(),
                      at if form_time(at) else now_text())  # fmt: skip
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


# --- rewards, coupons, stored value ------------------------------------------------------------


def _back(customer_id: int, **shown: int) -> Response:
    """Post/redirect/get: the counter page showing what the action did."""
    query = "&".join(f"{name}={value}" for name, value in shown.items())
    return RedirectResponse(f"/counter/{customer_id}?{query}", status_code=303)


def _refused(
    request: Request, viewer: Viewer, customer_id: int, errors: dict[str, str], **forms: Any
) -> Response:
    return _customer_page(request, viewer, customer_id, errors=errors, forms=forms, status=422)


@router.post("/counter/{customer_id}/reward/{reward_id}", include_in_schema=False)
def counter_reward(
    request: Request,
    customer_id: int,
    reward_id: int,
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Redeem a reward for the customer's points (the hidden key makes a double submit
    redeem once); then the page shows the redemption, or why it was refused."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    staff = viewer.signed_in.staff
    try:
        done = rewards.redeem_reward(web_context(request).db, customer_id, reward_id,
                                     actor_id=staff.id, store_id=staff.store_id,
                                     idempotency_key=f"counter-reward:{_key(key)}")  # fmt: skip
    except (ledger.InsufficientPoints, rewards.OutOfStock, rewards.LimitReached,
            rewards.RewardNotAvailable, Conflict) as exc:  # fmt: skip
        return _refused(request, viewer, customer_id, {"reward": reward_refusal(exc)})
    return _back(customer_id, reward=done.id)


def coupon_form(
    coupon_code: Annotated[str, Form()] = "", coupon_amount: Annotated[str, Form()] = "",
    coupon_receipt: Annotated[str, Form()] = "", coupon_category: Annotated[str, Form()] = "",
    coupon_store: Annotated[str, Form()] = "", key: Annotated[str, Form()] = "",
) -> CouponDraft:  # fmt: skip
    """The "use coupon" form, with its key."""
    return CouponDraft(coupon_code.strip(), coupon_amount.strip(), coupon_receipt.strip(),
                       coupon_category.strip(), coupon_store.strip(), _key(key))  # fmt: skip


def _coupon_basket(
    request: Request, viewer: Viewer, customer_id: int, draft: CouponDraft, *, use: bool
) -> tuple[coupons.Basket | None, dict[str, str]]:
    """The basket the typed coupon applies to, or the errors of the form."""
    errors: dict[str, str] = {}
    if not draft.code:
        errors["coupon_code"] = _("Type the coupon code.")
    amount = parse_amount(draft.amount)
    if amount is None:
        errors["coupon_amount"] = _("Type the basket amount in yuan, more than 0.")
    if draft.category and draft.category not in categories(web_context(request).db):
        errors["coupon_category"] = _("Pick one of the shop's categories, or leave it empty.")
    store = _store_of(request, viewer, draft.store)
    if store is None:
        errors["coupon_store"] = _("Pick the store where the sale is made.")
    if use and (not draft.receipt or len(draft.receipt) > RECEIPT_LENGTH):
        errors["coupon_receipt"] = _("Type the receipt number (at most %(most)s characters).") % {
            "most": RECEIPT_LENGTH
        }
    if errors or amount is None or store is None:
        return None, errors
    return coupon_basket(customer_id, store, amount, draft.category or None), errors


def verdict_words(verdict: coupons.Verdict) -> str:
    """Why a coupon does not apply, in the request's language ('' when it applies)."""
    if verdict.reason is None:
        return ""
    return labels.message(coupons.MESSAGES[verdict.reason]) % verdict.values


def coupon_refusal(exc: Exception) -> str:
    """Why a coupon could not be used, in the request's language."""
    if isinstance(exc, coupons.CouponNotValid):
        return verdict_words(exc.verdict)
    if isinstance(exc, coupons.CouponUsedUp):
        return labels.message(coupons.MESSAGES[coupons.Reason.USED_UP])
    if isinstance(exc, coupons.AlreadyRedeemedForOrder):
        return _("This coupon was already used for this receipt.")
    return _("This form was already used: reload the page and try again.")


@router.post("/counter/{customer_id}/coupon", include_in_schema=False)
def counter_coupon(
    request: Request,
    customer_id: int,
    draft: Annotated[CouponDraft, Depends(coupon_form)],
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Use a coupon for a receipt (the hidden key makes a double submit use it once); then the
    page shows the discount, or why the coupon cannot be used."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    basket, errors = _coupon_basket(request, viewer, customer_id, draft, use=True)
    if basket is not None:
        try:
            used = coupons.redeem(web_context(request).db, draft.code, basket,
                                  idempotency_key=f"counter-coupon:{draft.key}",
                                  actor_id=viewer.signed_in.staff.id,
                                  order_ref=draft.receipt)  # fmt: skip
        except (InvalidInput, Conflict) as exc:
            errors["coupon"] = coupon_refusal(exc)
        else:
            return _back(customer_id, coupon_used=used.id)
    return _refused(request, viewer, customer_id, errors, coupon=draft)


@router.post("/counter/{customer_id}/card/pay", include_in_schema=False)
def counter_card_pay(
    request: Request,
    customer_id: int,
    amount: Annotated[str, Form()] = "",
    receipt: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Pay a receipt from the stored-value card (once per form); then the page shows the
    payment and the balance left, or that the card holds too little."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    draft = PayDraft(amount.strip(), receipt.strip(), _key(key))
    errors: dict[str, str] = {}
    paid = parse_amount(draft.amount)
    if paid is None:
        errors["pay_amount"] = _("Type an amount of yuan above 0, e.g. 1000 or 88.50.")
    if not draft.receipt or len(draft.receipt) > RECEIPT_LENGTH:
        errors["pay_receipt"] = _("Type the receipt number (at most %(most)s characters).") % {
            "most": RECEIPT_LENGTH
        }
    if not errors and paid is not None:
        try:
            posted = sv.spend(web_context(request).db, customer_id, paid, reference=draft.receipt,
                              idempotency_key=f"counter-sv-spend:{draft.key}",
                              actor_id=viewer.signed_in.staff.id)  # fmt: skip
        except sv.InsufficientBalance as exc:
            errors["pay_amount"] = _("Not enough on the card: it holds %(balance)s.") % {
                "balance": labels.money(exc.balance)
            }
        except (InvalidInput, Conflict):
            errors["pay_amount"] = _("This form was already used: reload the page and try again.")
        else:
            return _back(customer_id, card=posted.entry.id)
    return _refused(request, viewer, customer_id, errors, pay=draft)


@router.post("/counter/{customer_id}/card/top-up", include_in_schema=False)
def counter_card_top_up(
    request: Request,
    customer_id: int,
    amount: Annotated[str, Form()] = "",
    payment_method: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.PURCHASES_CREATE),
) -> Response:
    """Top up the card (the bonus follows the owner's tiers; once per form); then the page
    shows the money and the bonus put on the card."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    draft = TopUpDraft(amount.strip(), payment_method, "", _key(key))
    errors: dict[str, str] = {}
    paid = parse_amount(draft.amount)
    if paid is None:
        errors["top_up_amount"] = _("Type an amount of yuan above 0, e.g. 1000 or 88.50.")
    if payment_method not in sv.TOP_UP_METHODS:
        errors["top_up_method"] = _("Choose how the customer paid.")
    if not errors and paid is not None:
        try:
            posted = sv.top_up(web_context(request).db, customer_id, paid,
                               payment_method=payment_method, actor_id=viewer.signed_in.staff.id,
                               idempotency_key=f"counter-sv-top-up:{draft.key}")  # fmt: skip
        except (InvalidInput, Conflict):
            errors["top_up_amount"] = _("This form was already used: reload the page and try "
                                        "again.")  # fmt: skip
        else:
            return _back(customer_id, card=posted.entry.id)
    return _refused(request, viewer, customer_id, errors, top_up=draft)
