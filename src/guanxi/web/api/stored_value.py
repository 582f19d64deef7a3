"""/api/v1 stored value (储值卡): balance, top up, spend, refund."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["stored value"])
