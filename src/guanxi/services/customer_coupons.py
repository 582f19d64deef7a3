"""The customer page's section on the customer's coupons."""

from __future__ import annotations

from typing import Any

from guanxi.domain.text import gettext_noop
from guanxi.loyalty.coupons import customer_coupons
from guanxi.storage.db import Database

STATES = {
    "active": gettext_noop("usable"),
    "used_up": gettext_noop("used"),
    "void": gettext_noop("withdrawn"),
    "inactive": gettext_noop("campaign off"),
    "not_started": gettext_noop("not yet valid"),
    "expired": gettext_noop("expired"),
}


def coupons_section(db: Database, customer_id: int) -> dict[str, Any] | None:
    """What the customer page shows: the customer's coupons, newest first, and the words for
    their states (msgids; the template translates them)."""
    return {"rows": customer_coupons(db, customer_id), "states": STATES}
