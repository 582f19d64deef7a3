"""Pages for the rewards catalog (owner) and redeeming rewards."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
