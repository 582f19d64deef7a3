"""/api/v1 rewards catalog and reward redemption."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["rewards"])
