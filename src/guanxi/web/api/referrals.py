"""/api/v1 referrals: a customer's referral code and link, and how many they referred.

The code is made on the first request (so a POS can print it on the receipt); an erased
customer has none (409 ``conflict``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from guanxi.errors import NotFound
from guanxi.loyalty.referrals import link_for, referral_code
from guanxi.services.api_tokens import Scope
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Customer, ReferralReward
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.schemas import ErrorOut, IdPath
from guanxi.web.context import web_context

router = APIRouter(tags=["referrals"])


class ReferralOut(BaseModel):
    """A customer's referral code, the link to share (a path: prefix the shop's address),
    who referred them, and the customers they referred (and of those, rewarded)."""

    customer_id: int
    code: str
    link: str
    referred_by_id: int | None
    referred_count: int
    rewarded_count: int


ERASED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "`conflict`: the customer was erased."}
}


@router.get("/customers/{customer_id}/referral", response_model=ReferralOut, responses=ERASED)
def show_referral(
    request: Request, customer_id: IdPath, caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ)
) -> ReferralOut:
    """The customer's referral code (made now if new) and counts; 404 outside the caller's
    store, 409 for an erased customer."""
    db = web_context(request).db
    if not customer_in_scope(db, customer_id, caller.store_scope):
        raise NotFound(f"customer {customer_id} does not exist")
    code = referral_code(db, customer_id)
    with db.read() as session:
        referred_by = session.execute(
            select(Customer.referred_by_id).where(Customer.id == customer_id)
        ).scalar()
        referred = session.execute(
            select(func.count()).select_from(Customer).where(Customer.referred_by_id == customer_id)
        ).scalar_one()
        rewarded = session.execute(
            select(func.count())
            .select_from(ReferralReward)
            .where(ReferralReward.referrer_id == customer_id, ReferralReward.status == "rewarded")
        ).scalar_one()
    return ReferralOut(customer_id=customer_id, code=code, link=link_for(code),
                       referred_by_id=referred_by, referred_count=int(referred),
                       rewarded_count=int(rewarded))  # fmt: skip
