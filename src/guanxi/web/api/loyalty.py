"""/api/v1 returns and points: record a return (reversing its points), read and redeem points.

A redemption needs an ``Idempotency-Key`` header, after the IETF httpapi idempotency-key draft.
``IdempotencyMiddleware`` answers retries from the stored response; the ledger also stores the
key (prefixed with the caller's staff id, so two POS clients never share one) with the SHA-256
of the request, so the points are spent once even when the stored response is gone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response

from guanxi.errors import NotFound
from guanxi.loyalty import ledger
from guanxi.services.api_tokens import Scope
from guanxi.services.customers import customer_in_scope
from guanxi.services.returns import RecordedReturn, ReturnInput, ReturnLineInput, record_return
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.idempotency import KEY_HEADER as KEY_HEADER
from guanxi.web.api.idempotency import REPLAYED as REPLAYED
from guanxi.web.api.idempotency import idempotency_key as idempotency_key
from guanxi.web.api.schemas import (
    ErrorOut,
    IdPath,
    LotOut,
    PointsBalanceOut,
    PointsEntryOut,
    RedeemIn,
    RedemptionOut,
    ReturnIn,
    ReturnLineOut,
    ReturnOut,
    ReturnPointsOut,
)
from guanxi.web.context import web_context

router = APIRouter(tags=["returns and points"])


def return_out(result: RecordedReturn) -> ReturnOut:
    r = result.ret
    lines = [ReturnLineOut(line_no=x.line_no, sku=x.sku, quantity=x.quantity, amount=x.amount,
                           points_reversed=x.points_reversed, flagged=x.flagged)
             for x in r.lines]  # fmt: skip
    points = ReturnPointsOut(reversed=result.points_reversed, restored=result.points_restored,
                             balance=result.balance, flagged=result.flagged)  # fmt: skip
    return ReturnOut(id=r.id, purchase_id=r.purchase_id, customer_id=r.customer_id,
                     external_return_id=r.external_return_id, returned_at=r.returned_at,
                     reason=r.reason, refund_amount=r.refund_amount, created_at=r.created_at,
                     lines=lines, points=points, replayed=result.replayed,
                     stored_value_returned=result.stored_value_returned)  # fmt: skip


def return_input(body: ReturnIn) -> ReturnInput:
    return ReturnInput(
        external_return_id=body.external_return_id,
        lines=tuple(ReturnLineInput(x.line_no, Decimal(x.quantity), x.amount) for x in body.lines),
        returned_at=body.returned_at,
        reason=body.reason,
    )


@router.post(
    "/purchases/{purchase_id}/returns",
    status_code=201,
    response_model=ReturnOut,
    responses={
        200: {"model": ReturnOut, "description": "A replay: recorded before, unchanged."},
        409: {
            "model": ErrorOut,
            "description": "`conflict`: the return id was used before for this purchase "
            "with different content (`return_id` names it).",
        },
    },  # fmt: skip
)
def record_a_return(
    request: Request,
    response: Response,
    purchase_id: IdPath,
    body: ReturnIn,
    caller: ApiCaller = api_requires(Scope.PURCHASES_WRITE),
) -> ReturnOut:
    """Record a return of some lines of a purchase and take back the points they earned:
    201 when new; 200 with ``replayed: true`` (and ``Idempotent-Replayed: true``) when the
    same return id was sent before with the same content; 409 ``conflict`` when with other
    content; 422 ``invalid_input`` naming the line for more than was bought."""
    db = web_context(request).db
    result = record_return(db, purchase_id, return_input(body), store_scope=caller.store_scope)
    if result.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return return_out(result)


def _visible(request: Request, caller: ApiCaller, customer_id: int) -> None:
    if not customer_in_scope(web_context(request).db, customer_id, caller.store_scope):
        raise NotFound(f"customer {customer_id} does not exist")


@router.get("/customers/{customer_id}/points", response_model=PointsBalanceOut)
def points(
    request: Request,
    customer_id: IdPath,
    limit: int = Query(20, ge=1, le=100, description="How many of the newest entries."),
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ),
) -> PointsBalanceOut:
    """The customer's balance, the lots with points left (in the order they are spent:
    soonest expiry first) and the newest ``limit`` ledger entries."""
    _visible(request, caller, customer_id)
    points = ledger.statement(web_context(request).db, customer_id, limit=limit)
    lots = [LotOut(entry_id=x.entry_id, kind=x.kind.value, points=x.points, remaining=x.remaining,
                   expires_on=x.expires_on) for x in points.lots]  # fmt: skip
    history = [_entry_out(e) for e in points.history]
    return PointsBalanceOut(customer_id=customer_id, balance=points.balance, lots=lots,
                            history=history)  # fmt: skip


def _entry_out(e: ledger.Entry) -> PointsEntryOut:
    return PointsEntryOut(id=e.id, kind=e.kind.value, points=e.points,
                          balance_after=e.balance_after, at=e.at, expires_on=e.expires_on,
                          reason=e.reason, source_type=e.source_type, source_id=e.source_id,
                          flagged=e.flagged)  # fmt: skip


REDEEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": RedemptionOut, "description": "A replay: the same key and body as before."},
    400: {"model": ErrorOut, "description": "`idempotency_key_missing` or "
          "`idempotency_key_invalid`."},
    409: {"model": ErrorOut, "description": "`insufficient_points` (with `balance` and "
          "`asked`)."},
    422: {"model": ErrorOut, "description": "`idempotency_key_reused`: the key was used for "
          "another request; or `invalid_input`."},
}  # fmt: skip


@router.post(
    "/customers/{customer_id}/points/redeem",
    status_code=201,
    response_model=RedemptionOut,
    responses=REDEEM_RESPONSES,
)
def redeem(
    request: Request,
    response: Response,
    customer_id: IdPath,
    body: RedeemIn,
    key: str | None = Header(
        None,
        alias=KEY_HEADER,
        description="Required: a unique value per redemption, the same on a retry.",
    ),
    caller: ApiCaller = api_requires(Scope.POINTS_REDEEM),
) -> RedemptionOut:
    """Spend points: 201 when new; 200 with ``Idempotent-Replayed: true`` for a retry with
    the same key and body; 422 ``idempotency_key_reused`` for the same key with another body;
    409 ``insufficient_points`` when the balance is short."""
    plain = idempotency_key(key)
    _visible(request, caller, customer_id)
    db = web_context(request).db
    paying = body.external_order_id
    posted = ledger.redeem(db, customer_id, body.points, reason=body.reason,
                           idempotency_key=f"api:{caller.staff_id}:{plain}",
                           actor_id=caller.staff_id,
                           source_type=ledger.ORDER_PAYMENT if paying else ledger.REDEMPTION,
                           source_id=paying)  # fmt: skip
    entry = posted.entry
    assert entry is not None  # a redemption always posts an entry
    if posted.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return RedemptionOut(entry_id=entry.id, customer_id=customer_id, points=-entry.points,
                         balance=entry.balance_after, reason=entry.reason, at=entry.at,
                         replayed=posted.replayed)  # fmt: skip
