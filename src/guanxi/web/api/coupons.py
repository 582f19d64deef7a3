"""/api/v1 coupons: validate and redeem."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["coupons"])
