"""/api/v1 coupons: validate and redeem a code at the till, list a customer's coupons.

A redemption needs an ``Idempotency-Key`` header (as points redemptions do): the key, prefixed
with the caller's staff id, is stored with the redemption, so a retry answers the original
result and the same key for another request is refused (422 ``idempotency_key_reused``). One
order uses a coupon once (409 ``already_redeemed_for_order``); a coupon with no uses left is
409 ``coupon_used_up``; any other reason is 422 ``coupon_not_valid`` with ``reason``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from guanxi.errors import InvalidInput, NotAllowed, NotFound
from guanxi.loyalty import coupons
from guanxi.loyalty.coupons import Basket, Line
from guanxi.services.api_tokens import Scope
from guanxi.services.customers import customer_in_scope
from guanxi.services.purchases import PurchaseView
from guanxi.storage.db import Database
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.loyalty import KEY_HEADER, REPLAYED, idempotency_key
from guanxi.web.api.schemas import (
    ApplicableCouponOut,
    ErrorOut,
    IdIn,
    IdPath,
    MoneyIn,
    MoneyOut,
    Strict,
)
from guanxi.web.context import web_context

router = APIRouter(tags=["coupons"])


class BasketLineIn(Strict):
    """One line of the basket: the amount paid for it and its product category."""

    amount: MoneyIn
    category: str | None = Field(None, max_length=100, examples=["茶叶"])


class BasketIn(Strict):
    """What is being bought; ``store_id`` defaults to the caller's store."""

    customer_id: IdIn | None = Field(None, description="The buyer, when known.")
    store_id: IdIn | None = None
    lines: list[BasketLineIn] = Field(min_length=1, max_length=500)


class ValidateIn(Strict):
    """A code as typed (case, dashes and spaces do not matter) and the basket."""

    code: str = Field(min_length=1, max_length=40, examples=["ABCD-EFGH-JKMN"])
    basket: BasketIn


class RedeemCouponIn(ValidateIn):
    """A code, the basket and the POS's order id (one order uses a coupon once)."""

    external_order_id: str = Field(min_length=1, max_length=64, examples=["POS1-0001"])


class ValidationOut(BaseModel):
    """Whether the code applies: the discount, or ``reason`` (a stable code) and ``message``."""

    valid: bool
    code: str
    discount: MoneyOut
    qualifying_amount: MoneyOut
    reason: str | None = None
    message: str | None = None
    missing: MoneyOut | None = Field(None, description="min_spend_not_reached: spend this more.")
    campaign: str | None = None


class CouponRedemptionOut(BaseModel):
    """A recorded redemption; ``replayed``: the result of an earlier identical request."""

    id: int
    code: str
    customer_id: int | None
    store_id: int
    external_order_id: str
    discount: MoneyOut
    at: datetime
    replayed: bool = False


class CouponOut(BaseModel):
    """One of a customer's coupons; ``state``: active, used_up, void, inactive, not_started
    or expired."""

    code: str
    campaign: str
    status: str
    state: str
    uses: int
    uses_per_code: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    issued_at: datetime


def _basket(request: Request, caller: ApiCaller, body: BasketIn) -> Basket:
    store = body.store_id if body.store_id is not None else caller.staff.store_id
    if store is None:
        raise InvalidInput("say which store: send basket.store_id (the caller has no store)")
    scope = caller.store_scope
    if scope is not None and store != scope:
        raise NotAllowed(f"this caller works for store {scope}, not store {store}")
    if body.customer_id is not None:
        _visible(web_context(request).db, caller, body.customer_id)
    lines = tuple(Line(x.amount, x.category) for x in body.lines)
    return Basket(store, lines, body.customer_id)


def _visible(db: Database, caller: ApiCaller, customer_id: int) -> None:
    if not customer_in_scope(db, customer_id, caller.store_scope):
        raise NotFound(f"customer {customer_id} does not exist")


@router.post("/coupons/validate", response_model=ValidationOut)
def validate(
    request: Request, body: ValidateIn, caller: ApiCaller = api_requires(Scope.COUPONS_REDEEM)
) -> ValidationOut:
    """Check a code against a basket without using it: 200 with ``valid`` and the
    ``discount``, or ``reason`` (unknown_code, inactive, not_started, expired, used_up,
    belongs_to_another_customer, customer_required, customer_limit_reached, wrong_store,
    wrong_category, min_spend_not_reached with ``missing``) and a ``message``."""
    verdict = coupons.validate(web_context(request).db, body.code,
                               _basket(request, caller, body.basket))  # fmt: skip
    return ValidationOut(
        valid=verdict.valid, code=verdict.code, discount=verdict.discount,
        qualifying_amount=verdict.qualifying, reason=verdict.reason, missing=verdict.missing,
        message=verdict.message or None, campaign=verdict.campaign,
    )  # fmt: skip


REDEEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CouponRedemptionOut, "description": "A replay: same key and body."},
    400: {"model": ErrorOut, "description": "`idempotency_key_missing` or "
          "`idempotency_key_invalid`."},
    409: {"model": ErrorOut, "description": "`coupon_used_up`, or "
          "`already_redeemed_for_order` (with `redemption_id`)."},
    422: {"model": ErrorOut, "description": "`coupon_not_valid` (with `reason`), "
          "`idempotency_key_reused`, or `invalid_input`."},
}  # fmt: skip


@router.post(
    "/coupons/redeem", status_code=201, response_model=CouponRedemptionOut,
    responses=REDEEM_RESPONSES,
)  # fmt: skip
def redeem(
    request: Request,
    response: Response,
    body: RedeemCouponIn,
    key: str | None = Header(
        None, alias=KEY_HEADER, description="Required: unique per redemption, same on a retry."
    ),
    caller: ApiCaller = api_requires(Scope.COUPONS_REDEEM),
) -> CouponRedemptionOut:
    """Use a coupon on an order: 201 when new; 200 with ``Idempotent-Replayed: true`` for a
    retry with the same key and body."""
    plain = idempotency_key(key)
    basket = _basket(request, caller, body.basket)
    done = coupons.redeem(web_context(request).db, body.code, basket,
                          idempotency_key=f"api:{caller.staff_id}:{plain}",
                          actor_id=caller.staff_id, order_ref=body.external_order_id)  # fmt: skip
    if done.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return CouponRedemptionOut(
        id=done.id, code=done.code, customer_id=done.customer_id, store_id=done.store_id,
        external_order_id=done.order_ref, discount=done.discount, at=done.at,
        replayed=done.replayed,
    )  # fmt: skip


@router.get("/customers/{customer_id}/coupons", response_model=list[CouponOut])
def customer_coupons(
    request: Request, customer_id: IdPath, caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ)
) -> list[CouponOut]:
    """The customer's own coupons, newest first."""
    db = web_context(request).db
    _visible(db, caller, customer_id)
    return [
        CouponOut(code=c.code, campaign=c.campaign, status=c.status, state=c.state, uses=c.uses,
                  uses_per_code=c.uses_per_code, valid_from=c.valid_from,
                  valid_until=c.valid_until, issued_at=c.issued_at)
        for c in coupons.customer_coupons(db, customer_id)
    ]  # fmt: skip


def applicable_out(db: Database, view: PurchaseView) -> list[ApplicableCouponOut]:
    """The purchase's customer's own coupons that its basket qualifies for (POS response)."""
    return [
        ApplicableCouponOut(code=v.code, campaign=v.campaign or "", discount=v.discount)
        for v in coupons.applicable_to_purchase(db, view.id, view.customer_id)
    ]
