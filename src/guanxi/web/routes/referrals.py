"""Pages for the referral graph and advocate ranking."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
