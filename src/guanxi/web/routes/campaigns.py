"""Placeholder router (filled in by the proactive-care work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
