"""The three bonds (financial, social, structural): the report and one customer's panel.

* ``/bonds`` (analytics): customers per ladder rung holding 0, 1, 2 or 3 bonds, with the
  retention of each group (``guanxi.club.bonds``); managers see their store, the owner every
  store or one (``store``); ``as_of`` (default today in the shop's zone) moves the windows.
* ``/customers/{id}/bonds``: one customer's bonds with the evidence (the customer page shows
  the same panel, ``customers/_bonds.html``); an HTMX request gets the panel alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from guanxi.analytics.ladder import RUNG_KEYS
from guanxi.club import bonds
from guanxi.domain.access import Permission
from guanxi.domain.dates import add_months
from guanxi.errors import InvalidInput, NotFound
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Customer, Store
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.routes.customers import is_htmx, scope_of

router = APIRouter()


def _today(request: Request) -> date:
    zone = web_context(request).settings.timezone
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def _as_of(request: Request, text: str) -> date:
    if not text.strip():
        return _today(request)
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"as_of: {text!r} is not a date: type it as 2026-12-31") from None


@router.get("/bonds", include_in_schema=False)
def bonds_page(
    request: Request,
    as_of: str = "",
    store: str = "",
    viewer: Viewer = requires(Permission.ANALYTICS_VIEW),
) -> Response:
    """Customers by rung and number of bonds, with their retention."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    if scope is None and store.strip() and not store.strip().isdigit():
        raise InvalidInput(f"store: choose a store from the list (found {store!r})")
    store_id = scope if scope is not None else (int(store) if store.strip() else None)
    day = _as_of(request, as_of)
    with ctx.db.read() as session:
        report = bonds.bonds_report(session, day, store_id=store_id, zone=ctx.settings.timezone,
                                    rungs=RUNG_KEYS)  # fmt: skip
        stores = [
            (i, n) for i, n in session.execute(select(Store.id, Store.name).order_by(Store.id))
        ]
    w = bonds.window(day, ctx.settings.timezone)
    context = {"viewer": viewer, "L": labels, "report": report, "stores": stores,
               "store_id": store_id, "scope": scope, "as_of": day,
               "start": w.start_day, "prior_start": add_months(w.start_day, -12),
               "not_scored": bonds.NOT_SCORED}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "bonds/report.html", context)


@router.get("/customers/{customer_id}/bonds", include_in_schema=False)
def customer_bonds_page(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    """One customer's three bonds with the evidence."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    if not customer_in_scope(ctx.db, customer_id, scope_of(viewer.signed_in)):
        raise NotFound(f"customer {customer_id} does not exist")
    with ctx.db.read() as session:
        section = bonds.bonds_section(session, customer_id, _today(request),
                                      zone=ctx.settings.timezone)  # fmt: skip
        customer = session.get(Customer, customer_id)
        name = customer.name if customer is not None else ""
    context = {"viewer": viewer, "bonds": section, "customer_name": name}
    template = "customers/_bonds.html" if is_htmx(request) else "bonds/customer.html"
    return ctx.templates.TemplateResponse(request, template, context)
