"""/api/v1 stored value (储值卡): read the card, top up and spend at the till.

Both writes need an ``Idempotency-Key`` header (as a points redemption does): the key, prefixed
with the caller's staff id, is stored with the entry and the SHA-256 of the request, so a retry
answers the original result (200, ``Idempotent-Replayed: true``) and a reuse for another
request is refused (422 ``idempotency_key_reused``). Refunds are not on the API: they are a
manager's action in the web UI (``Permission.STORED_VALUE_REFUND``), with a reason, audited.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from guanxi.errors import NotFound
from guanxi.loyalty import stored_value as sv
from guanxi.services.api_tokens import Scope
from guanxi.services.customers import customer_in_scope
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.idempotency import KEY_HEADER, REPLAYED, idempotency_key
from guanxi.web.api.schemas import ErrorOut, IdPath, MoneyOut, Strict
from guanxi.web.context import web_context

router = APIRouter(tags=["stored value"])

AmountIn = Annotated[
    Decimal, Field(gt=0, le=sv.MAX_AMOUNT, max_digits=15, decimal_places=2, examples=["1000.00"])
]


# --- schemas -----------------------------------------------------------------------------------


class TopUpIn(Strict):
    """Paid money onto the card; the bonus follows the shop's top-up tiers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "amount": "1000.00", "payment_method": "wechat_pay", "external_reference": "WX-8812",
    }]})  # fmt: skip

    amount: AmountIn
    payment_method: Literal["cash", "wechat_pay", "alipay", "card", "other"]
    external_reference: str | None = Field(None, max_length=100, examples=["WX-8812"])


class SpendIn(Strict):
    """Pay from the card."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "amount": "128.00", "external_order_id": "POS1-0001",
    }]})  # fmt: skip

    amount: AmountIn
    external_order_id: str | None = Field(None, max_length=100, examples=["POS1-0001"])


class StoredBalanceOut(BaseModel):
    """The card's money: paid (refundable) and bonus (spendable only)."""

    paid: MoneyOut
    bonus: MoneyOut
    total: MoneyOut


class StoredValueEntryOut(BaseModel):
    """One change of the card (储值流水): signed paid and bonus parts."""

    id: int
    kind: str = Field(examples=["top_up", "spend", "refund", "forfeit", "spend_reversal", "adjust"])
    paid: MoneyOut
    bonus: MoneyOut
    paid_after: MoneyOut
    bonus_after: MoneyOut
    at: datetime
    reason: str | None
    payment_method: str | None
    reference: str | None


class StoredValueOut(StoredBalanceOut):
    """The card and its newest entries."""

    customer_id: int
    entries: list[StoredValueEntryOut]


class StoredValuePostingOut(BaseModel):
    """A top-up or a spend as recorded; ``replayed`` is true for the stored result of a retry."""

    entry_id: int
    customer_id: int
    kind: str = Field(examples=["top_up", "spend"])
    amount: MoneyOut = Field(description="The amount paid in (top-up, without the bonus) or spent.")
    paid: MoneyOut = Field(description="Paid money added (top-up) or taken (spend).")
    bonus: MoneyOut = Field(description="Bonus given (top-up) or bonus money taken (spend).")
    balance: StoredBalanceOut = Field(description="The card after this posting.")
    reference: str | None
    at: datetime
    replayed: bool = False


# --- routes ------------------------------------------------------------------------------------


def _visible(request: Request, caller: ApiCaller, customer_id: int) -> None:
    if not customer_in_scope(web_context(request).db, customer_id, caller.store_scope):
        raise NotFound(f"customer {customer_id} does not exist")


def _balance_out(b: sv.Balance) -> StoredBalanceOut:
    return StoredBalanceOut(paid=b.paid, bonus=b.bonus, total=b.total)


def _entry_out(e: sv.Entry) -> StoredValueEntryOut:
    return StoredValueEntryOut(id=e.id, kind=e.kind.value, paid=e.paid, bonus=e.bonus,
                               paid_after=e.paid_after, bonus_after=e.bonus_after, at=e.at,
                               reason=e.reason, payment_method=e.payment_method,
                               reference=e.reference)  # fmt: skip


def _posting_out(response: Response, customer_id: int, posted: sv.Posting) -> StoredValuePostingOut:
    e = posted.entry
    if posted.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return StoredValuePostingOut(
        entry_id=e.id, customer_id=customer_id, kind=e.kind.value,
        amount=e.paid if e.kind is sv.Kind.TOP_UP else -e.amount,
        paid=abs(e.paid), bonus=abs(e.bonus), balance=_balance_out(posted.balance),
        reference=e.reference, at=e.at, replayed=posted.replayed,
    )  # fmt: skip


@router.get("/customers/{customer_id}/stored-value", response_model=StoredValueOut)
def card(
    request: Request,
    customer_id: IdPath,
    limit: int = Query(20, ge=1, le=100, description="How many of the newest entries."),
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ),
) -> StoredValueOut:
    """The card's paid, bonus and total money and its newest ``limit`` entries."""
    _visible(request, caller, customer_id)
    found = sv.statement(web_context(request).db, customer_id, limit=limit)
    b = found.balance
    return StoredValueOut(customer_id=customer_id, paid=b.paid, bonus=b.bonus, total=b.total,
                          entries=[_entry_out(e) for e in found.history])  # fmt: skip


def _responses(conflict: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": StoredValuePostingOut,
              "description": "A replay: the same key and body as before."},
        400: {"model": ErrorOut,
              "description": "`idempotency_key_missing` or `idempotency_key_invalid`."},
        409: {"model": ErrorOut, "description": conflict},
        422: {"model": ErrorOut, "description": "`idempotency_key_reused`: the key was used "
              "for another request; or `invalid_input`."},
    }  # fmt: skip


KEY = Header(
    None, alias=KEY_HEADER, description="Required: a unique value per posting, the same on a retry."
)


@router.post(
    "/customers/{customer_id}/stored-value/top-up",
    status_code=201,
    response_model=StoredValuePostingOut,
    responses=_responses("`conflict`: the key is being used by another request right now."),
)
def top_up(
    request: Request,
    response: Response,
    customer_id: IdPath,
    body: TopUpIn,
    key: str | None = KEY,
    caller: ApiCaller = api_requires(Scope.STORED_VALUE_WRITE),
) -> StoredValuePostingOut:
    """Top up the card: 201 with the bonus given and the new balances; 200 with
    ``Idempotent-Replayed: true`` for a retry with the same key and body."""
    plain = idempotency_key(key)
    _visible(request, caller, customer_id)
    posted = sv.top_up(web_context(request).db, customer_id, body.amount,
                       payment_method=body.payment_method, reference=body.external_reference,
                       idempotency_key=f"api:{caller.staff_id}:{plain}",
                       actor_id=caller.staff_id)  # fmt: skip
    return _posting_out(response, customer_id, posted)


@router.post(
    "/customers/{customer_id}/stored-value/spend",
    status_code=201,
    response_model=StoredValuePostingOut,
    responses=_responses("`insufficient_balance` (with `balance` and `asked`)."),
)
def spend(
    request: Request,
    response: Response,
    customer_id: IdPath,
    body: SpendIn,
    key: str | None = KEY,
    caller: ApiCaller = api_requires(Scope.STORED_VALUE_WRITE),
) -> StoredValuePostingOut:
    """Pay from the card (paid and bonus money in proportion to the balances): 201; 200 for a
    replay; 409 ``insufficient_balance`` when the card holds less than ``amount``."""
    plain = idempotency_key(key)
    _visible(request, caller, customer_id)
    posted = sv.spend(web_context(request).db, customer_id, body.amount,
                      reference=body.external_order_id,
                      idempotency_key=f"api:{caller.staff_id}:{plain}",
                      actor_id=caller.staff_id)  # fmt: skip
    return _posting_out(response, customer_id, posted)
