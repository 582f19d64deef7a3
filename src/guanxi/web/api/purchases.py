"""/api/v1/purchases: record one receipt from a POS (idempotent per store + order id), list."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from guanxi.loyalty.accrual import Accrued
from guanxi.loyalty.tiers import TierProgress
from guanxi.services.api_tokens import Scope
from guanxi.services.purchases import (
    CustomerRef,
    LineInput,
    PurchaseInput,
    PurchaseView,
    get_purchase,
    list_purchases,
    record_purchase,
)
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.coupons import applicable_out
from guanxi.web.api.schemas import (
    MAX_ID,
    ErrorOut,
    IdPath,
    PageOut,
    PointsOut,
    PurchaseIn,
    PurchaseOut,
    ReasonOut,
    TierOut,
)
from guanxi.web.context import web_context

router = APIRouter(tags=["purchases"])
REPLAYED = "Idempotent-Replayed"


def points_out(points: Accrued | None) -> PointsOut | None:
    if points is None:
        return None
    steps = [ReasonOut(text=r.render(), template=r.template, values=dict(r.values))
             for r in points.reasons]  # fmt: skip
    return PointsOut(earned=points.points, balance=points.balance, expires_on=points.expires_on,
                     explanation=steps)  # fmt: skip


def tier_out(tier: TierProgress | None) -> TierOut | None:
    if tier is None:
        return None
    nxt = tier.next
    by_points = tier.points is not None
    missing = int(tier.to_next) if by_points and tier.to_next is not None else None
    return TierOut.model_validate({
        "key": tier.current.key, "name": tier.current.name, "spend_12m": tier.spend,
        "next_key": nxt.key if nxt else None, "next_name": nxt.name if nxt else None,
        "to_next": None if by_points else tier.to_next, "basis": tier.basis.value,
        "points_12m": tier.points, "points_to_next": missing,
    })  # fmt: skip


def purchase_out(
    view: PurchaseView,
    *,
    replayed: bool = False,
    points: Accrued | None = None,
    tier: TierProgress | None = None,
) -> PurchaseOut:
    out = PurchaseOut.model_validate({**asdict(view), "replayed": replayed})
    out.points = points_out(points)
    out.tier = tier_out(tier)
    return out


def purchase_input(body: PurchaseIn) -> PurchaseInput:
    c = body.customer
    return PurchaseInput(
        external_order_id=body.external_order_id,
        customer=CustomerRef(id=c.id, code=c.code, phone=c.phone, email=c.email, name=c.name),
        purchased_at=body.purchased_at,
        lines=tuple(LineInput(sku=x.sku, quantity=x.quantity, unit_price=x.unit_price,
                              discount=x.discount, amount=x.amount, name=x.name,
                              category=x.category) for x in body.lines),
        store_id=body.store_id, store_code=body.store_code,
        payment_method=body.payment_method, is_promotion=body.is_promotion,
    )  # fmt: skip


@router.post(
    "/purchases",
    status_code=201,
    response_model=PurchaseOut,
    responses={
        200: {"model": PurchaseOut, "description": "A replay: recorded before, unchanged."},
        409: {
            "model": ErrorOut,
            "description": "`conflict`: the order id was recorded before "
            "with different content (`purchase_id` names it).",
        },
    },  # fmt: skip
)
def record(
    request: Request,
    response: Response,
    body: PurchaseIn,
    caller: ApiCaller = api_requires(Scope.PURCHASES_WRITE),
) -> PurchaseOut:
    """Record one purchase: 201 when new; 200 with ``replayed: true`` (and the header
    ``Idempotent-Replayed: true``) when the same store + order id was sent before with the
    same content; 409 ``conflict`` when it was sent before with different content. ``points``
    says what the purchase earned under the shop's points programme, and how."""
    db = web_context(request).db
    result = record_purchase(db, purchase_input(body), store_scope=caller.store_scope)
    if result.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    response.headers["Location"] = f"/api/v1/purchases/{result.purchase.id}"
    out = purchase_out(result.purchase, replayed=result.replayed, points=result.points,
                       tier=result.tier)  # fmt: skip
    out.applicable_coupons = applicable_out(db, result.purchase)
    return out


@router.get("/purchases", response_model=PageOut[PurchaseOut])
def listing(
    request: Request,
    customer_id: int | None = Query(
        None, ge=1, le=MAX_ID, description="Only this customer's purchases."
    ),
    since: datetime | None = Query(
        None, description="From this time on (ISO 8601; without offset: the shop's time zone)."
    ),
    page: int = Query(1, ge=1, le=MAX_ID),
    per_page: int = Query(50, ge=1, le=100),
    caller: ApiCaller = api_requires(Scope.PURCHASES_READ),
) -> PageOut[PurchaseOut]:
    """Purchases of the caller's store (owners: every store), newest first."""
    ctx = web_context(request)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo(ctx.settings.timezone))
    result = list_purchases(ctx.db, store_scope=caller.store_scope, customer_id=customer_id,
                            since=since, page=page, per_page=per_page)  # fmt: skip
    return PageOut[PurchaseOut](items=[purchase_out(v) for v in result.rows], total=result.total,
                                page=result.page, per_page=result.per_page)  # fmt: skip


@router.get("/purchases/{purchase_id}", response_model=PurchaseOut)
def show(
    request: Request, purchase_id: IdPath, caller: ApiCaller = api_requires(Scope.PURCHASES_READ)
) -> PurchaseOut:
    """One purchase; 404 for purchases of other stores."""
    db = web_context(request).db
    return purchase_out(get_purchase(db, purchase_id, store_scope=caller.store_scope))
