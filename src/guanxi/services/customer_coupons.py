"""The customer page's section on the customer's coupons."""

from __future__ import annotations

from typing import Any

from guanxi.storage.db import Database


def coupons_section(db: Database, customer_id: int) -> dict[str, Any] | None:
    """What the customer page shows (None: nothing to show)."""
    return None
