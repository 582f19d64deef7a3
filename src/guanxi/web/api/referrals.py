"""/api/v1 referrals: codes and attribution."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["referrals"])
