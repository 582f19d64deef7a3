"""REST API for POS systems under /api/v1: customers, purchases, returns and points, JSON.

``create_app`` includes ``router`` and calls ``install_api_errors(app)``; docs/api.md
describes the endpoints, the tokens and the error codes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from guanxi.web.api import (
    batches,
    coupons,
    customers,
    loyalty,
    purchases,
    referrals,
    rewards,
    stored_value,
)
from guanxi.web.api.errors import install_api_errors
from guanxi.web.api.schemas import ErrorOut

__all__ = ["install_api_errors", "router"]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "`bad_request`: a body that cannot be parsed (not JSON, not UTF-8); "
        "`idempotency_key_invalid` or `idempotency_key_missing`.",
    },
    401: {"model": ErrorOut, "description": "`unauthorized`: no token, or a bad or revoked one."},
    403: {"model": ErrorOut, "description": "`insufficient_scope` or `forbidden`."},
    404: {"model": ErrorOut, "description": "`not_found` (or outside the caller's store)."},
    422: {"model": ErrorOut, "description": "`invalid_input`, with the fields named."},
}

router = APIRouter(prefix="/api/v1", responses=ERRORS)
router.include_router(customers.router)
router.include_router(batches.router)
router.include_router(purchases.router)
router.include_router(loyalty.router)
router.include_router(rewards.router)
router.include_router(coupons.router)
router.include_router(stored_value.router)
router.include_router(referrals.router)
