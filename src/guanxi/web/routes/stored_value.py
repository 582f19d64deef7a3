"""Pages for stored-value cards (储值卡)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
