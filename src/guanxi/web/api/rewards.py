"""/api/v1 rewards catalog and reward redemption.

Redeeming needs an ``Idempotency-Key`` header (as points redemption does): the key, prefixed
with the caller's staff id, is stored with the redemption, so a retry answers the original
result and a reuse for another reward or customer is refused. The redemption is recorded at
the caller's store.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from guanxi.loyalty import rewards
from guanxi.services.api_tokens import Scope
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.loyalty import KEY_HEADER, REPLAYED, _visible, idempotency_key
from guanxi.web.api.schemas import ErrorOut, IdPath
from guanxi.web.context import web_context

router = APIRouter(tags=["rewards"])


class RewardOut(BaseModel):
    """A reward of the catalog and whether it can be redeemed today."""

    id: int
    kind: str = Field(description="`goods`, `service` or `coupon`.")
    name: str
    description: str | None
    points_cost: int
    stock: int | None = Field(description="Left in stock; null: unlimited.")
    valid_from: date | None
    valid_until: date | None
    per_customer_limit: int | None = Field(description="null: no limit.")
    coupon_campaign_id: int | None = Field(description="For `coupon` rewards.")
    active: bool
    available: bool = Field(description="Whether it can be redeemed today.")
    unavailable_reason: str | None = Field(
        description="`inactive`, `not_yet`, `ended` or `stock`; null when available."
    )


class RewardRedemptionOut(BaseModel):
    """A reward redemption as recorded; ``replayed`` is true for the stored result of a retry."""

    id: int
    customer_id: int
    reward_id: int
    reward_name: str
    points: int = Field(description="Points spent (a positive number).")
    balance: int = Field(description="The customer's balance right after this redemption.")
    points_entry_id: int = Field(description="The points ledger debit that paid for it.")
    status: str = Field(description="`redeemed` or `cancelled`.")
    store_id: int | None
    at: datetime
    coupon_code: str | None = Field(None, description="The coupon a `coupon` reward handed out.")
    replayed: bool = False


def _reward_out(r: rewards.RewardView) -> RewardOut:
    return RewardOut(
        id=r.id, kind=r.kind, name=r.name, description=r.description, points_cost=r.points_cost,
        stock=r.stock, valid_from=r.valid_from, valid_until=r.valid_until,
        per_customer_limit=r.per_customer_limit, coupon_campaign_id=r.coupon_campaign_id,
        active=r.active, available=r.available, unavailable_reason=r.unavailable,
    )  # fmt: skip


@router.get("/rewards", response_model=list[RewardOut])
def catalog(
    request: Request,
    include_inactive: bool = Query(False, description="Also list deactivated rewards."),
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ),
) -> list[RewardOut]:
    """The rewards catalog, cheapest first, each with whether it can be redeemed today."""
    found = rewards.list_rewards(web_context(request).db, include_inactive=include_inactive)
    return [_reward_out(r) for r in found]


REDEEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": RewardRedemptionOut, "description": "A replay: the same key as before."},
    400: {"model": ErrorOut, "description": "`idempotency_key_missing` or "
          "`idempotency_key_invalid`."},
    404: {"model": ErrorOut, "description": "`not_found`: no such customer or reward."},
    409: {"model": ErrorOut, "description": "`insufficient_points` (with `balance` and "
          "`asked`), `out_of_stock` or `limit_reached` (with `reward_id`)."},
    422: {"model": ErrorOut, "description": "`reward_not_available` (deactivated or outside "
          "its validity window) or `idempotency_key_reused` (the key was used for another "
          "customer or reward)."},
}  # fmt: skip


@router.post(
    "/customers/{customer_id}/rewards/{reward_id}/redeem",
    status_code=201,
    response_model=RewardRedemptionOut,
    responses=REDEEM_RESPONSES,
)
def redeem(
    request: Request,
    response: Response,
    customer_id: IdPath,
    reward_id: IdPath,
    key: str | None = Header(
        None,
        alias=KEY_HEADER,
        description="Required: a unique value per redemption, the same on a retry.",
    ),
    caller: ApiCaller = api_requires(Scope.POINTS_REDEEM),
) -> RewardRedemptionOut:
    """Redeem a reward for the customer's points: 201 when new; 200 with
    ``Idempotent-Replayed: true`` for a retry with the same key; 409 ``insufficient_points``,
    ``out_of_stock`` or ``limit_reached``; 422 ``reward_not_available`` or
    ``idempotency_key_reused``."""
    plain = idempotency_key(key)
    _visible(request, caller, customer_id)
    done = rewards.redeem_reward(
        web_context(request).db, customer_id, reward_id, actor_id=caller.staff_id,
        idempotency_key=f"api:{caller.staff_id}:{plain}", store_id=caller.staff.store_id,
    )  # fmt: skip
    if done.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return RewardRedemptionOut(
        id=done.id, customer_id=done.customer_id, reward_id=done.reward_id,
        reward_name=done.reward_name, points=done.points, balance=done.balance,
        points_entry_id=done.points_entry_id, status=done.status, store_id=done.store_id,
        at=done.at, coupon_code=done.coupon_code, replayed=done.replayed,
    )  # fmt: skip
