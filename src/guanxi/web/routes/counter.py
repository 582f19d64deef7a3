"""Pages for the counter screen: find a customer by phone tail, record a purchase, redeem."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
