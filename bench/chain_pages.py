"""The hot paths of a chain, as the web and the API call them, for chain_scale.py and the
hot-query test (tests/storage/test_hot_queries.py loads this file by path).

Each function is one thing a person waits for: a till recording a sale, a clerk finding a
customer, a customer's page, points redeemed at the counter. They call the same services the
routes call, in the same order, so the SQL they send is the SQL production sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from guanxi.analytics.thresholds import load_thresholds
from guanxi.club.bonds import bonds_section
from guanxi.club.engagement import club_section
from guanxi.club.service_plans import service_plan_section
from guanxi.config import Settings
from guanxi.feedback.complaint_lists import complaint_section
from guanxi.feedback.complaints import sla_policy
from guanxi.feedback.satisfaction import customer_answers
from guanxi.loyalty import ledger
from guanxi.services.customer_anniversaries import anniversaries_section
from guanxi.services.customer_care import care_section
from guanxi.services.customer_consents import current_consents
from guanxi.services.customer_coupons import coupons_section
from guanxi.services.customer_edits import list_notes
from guanxi.services.customer_points import points_section
from guanxi.services.customer_referrals import referrals_section
from guanxi.services.customer_rewards import rewards_section
from guanxi.services.customer_scores import customer_value
from guanxi.services.customer_stored_value import stored_value_section
from guanxi.services.customer_tiers import customer_zone, tier_section
from guanxi.services.customers import CustomerPage, get_customer_detail, list_customers
from guanxi.services.purchases import (
    CustomerRef,
    LineInput,
    PurchaseInput,
    Recorded,
    record_purchase,
)
from guanxi.storage.db import Database


def pos_purchase(db: Database, *, order: str, phone: str, store_id: int, at: datetime) -> Recorded:
    """A till's sale: two lines, the buyer named by phone, in the clerk's store (POST
    /api/v1/purchases does this)."""
    lines = (LineInput("SKU-7", Decimal(1), Decimal("168.00")),
             LineInput("SKU-12", Decimal(2), Decimal("38.00")))  # fmt: skip
    data = PurchaseInput(external_order_id=order, customer=CustomerRef(phone=phone),
                         purchased_at=at, lines=lines, store_id=store_id)  # fmt: skip
    return record_purchase(db, data, store_scope=store_id, now=datetime.now(UTC))


def customer_search(db: Database, query: str, *, store_id: int | None) -> CustomerPage:
    """The customer list with a search box filled in (GET /customers?q=...)."""
    return list_customers(db, query=query, store_id=store_id)


def customer_page(
    db: Database, customer_id: int, *, staff_id: int, settings: Settings
) -> dict[str, Any]:
    """Every service the customer page (GET /customers/{id}) calls, as
    web/routes/customers.py ``_detail_context`` and ``_bonds_context`` call them."""
    page: dict[str, Any] = {
        "detail": get_customer_detail(db, customer_id),
        "consents": current_consents(db, customer_id),
        "notes": list_notes(db, customer_id),
        "anniv": anniversaries_section(db, customer_id),
        "value": customer_value(db, customer_id, load_thresholds(settings.analytics_thresholds)),
        "points": points_section(db, customer_id),
        "tier": tier_section(db, customer_id),
        "rewards": rewards_section(db, customer_id),
        "coupons": coupons_section(db, customer_id),
        "stored_value": stored_value_section(db, customer_id),
        "referrals": referrals_section(db, customer_id),
        "care": care_section(db, customer_id, viewer_staff_id=staff_id),
    }
    with db.read() as session:
        plans = service_plan_section(session, customer_id)
        zone = customer_zone(session, customer_id)
        page["complaints"] = complaint_section(session, customer_id, scope=None,
                                               policy=sla_policy(settings))  # fmt: skip
        page["clubs"] = club_section(session, customer_id)
        page["answers"] = customer_answers(session, customer_id)
        page["bonds"] = bonds_section(session, customer_id, plans["today"], zone=zone)
    return page


def redeem_points(db: Database, customer_id: int, points: int, *, key: str) -> int:
    """Points spent at the counter (POST /api/v1/customers/{id}/points/redeem); the new
    balance."""
    return ledger.redeem(db, customer_id, points, reason="counter", idempotency_key=key,
                         actor_id=None).balance  # fmt: skip
