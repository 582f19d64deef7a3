"""Pages for coupon campaigns and codes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
