"""The analytics dashboard: KPIs and charts from the latest scores, for managers and the owner.

Managers see their own store's customers; the owner sees every store and may filter by store
and by account owner. The retention economics take the acquisition cost and the retention cost
per point as GET parameters (margin and discount rate come from the settings). Chart data go to
the page as one JSON block that ``static/analytics.js`` draws with Chart.js; every chart also has
a data table, so the page reads without JavaScript.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from guanxi.analytics import ladder, rfm
from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.services.analytics_views import (
    Count,
    Dashboard,
    EconomicsInputs,
    Filters,
    dashboard,
)
from guanxi.services.customer_edits import form_choices
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext, ngettext
from guanxi.web.routes.customers import scope_of

router = APIRouter()

MAX_AMOUNT = 1e9  # yuan: anything larger is a typing slip
DEFAULTS = EconomicsInputs()

# Chart colours (Chart.js reads them from the JSON): the ladder from cool to warm, exits grey/red.
RUNG_COLOURS = {
    "prospect": "#c9d1d9", "first_time": "#9ecae1", "repeat": "#4292c6", "loyal": "#2171b5",
    "advocate": "#08519c", "lapsed": "#fdae6b", "lost": "#d94801",
}  # fmt: skip
CUSTOMERS_COLOUR = "#4292c6"
SPEND_COLOUR = "#b5382f"
FLOW_COLOURS = {"new": "#41ab5d", "reactivated": "#807dba", "returning": "#9ecae1",
                "lapsed": "#d94801", "net": "#1f2328"}  # fmt: skip
YEAR_COLOURS = ("#9ecae1", "#4292c6", "#08519c")


def _whole(name: str, text: str) -> int | None:
    """An optional id from the query string ('' means not given)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{name} must be a number (found {text!r}): choose from the list")
    return int(text)


def _amount(text: str, default: float) -> tuple[float, str | None]:
    """A yuan amount typed on the page: (value, error message in the viewer's language)."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("，", "")
    if not cleaned:
        return default, None
    try:
        value = float(cleaned)
    except ValueError:
        return default, gettext("Give an amount in yuan, such as 200.")
    if not math.isfinite(value) or value < 0:
        return default, gettext("Give an amount of 0 yuan or more.")
    if value > MAX_AMOUNT:
        return default, gettext("That amount is too large: give at most 1,000,000,000 yuan.")
    return value, None


@dataclass
class EconomicsForm:
    """What was typed into the retention economics form, and what is wrong with it."""

    acquisition_cost: str
    retention_cost_per_point: str
    errors: dict[str, str] = field(default_factory=dict)


def _economics(
    acquisition_cost: str, retention_cost_per_point: str, margin: float, discount: float
) -> tuple[EconomicsInputs, EconomicsForm]:
    form = EconomicsForm(acquisition_cost.strip(), retention_cost_per_point.strip())
    acquire, error = _amount(acquisition_cost, DEFAULTS.acquisition_cost)
    if error:
        form.errors["acquisition_cost"] = error
    per_point, error = _amount(retention_cost_per_point, DEFAULTS.retention_cost_per_point)
    if error:
        form.errors["retention_cost_per_point"] = error
    if not form.acquisition_cost:
        form.acquisition_cost = f"{DEFAULTS.acquisition_cost:g}"
    if not form.retention_cost_per_point:
        form.retention_cost_per_point = f"{DEFAULTS.retention_cost_per_point:g}"
    inputs = EconomicsInputs(acquisition_cost=acquire, retention_cost_per_point=per_point,
                             gross_margin=margin, monthly_discount_rate=discount)  # fmt: skip
    return inputs, form


@router.get("/analytics", include_in_schema=False)
def analytics_page(
    request: Request,
    store: str = "",
    owner: str = "",
    acquisition_cost: str = "",
    retention_cost_per_point: str = "",
    viewer: Viewer = requires(Permission.ANALYTICS_VIEW),
) -> Response:
    """The dashboard; with a mistyped economics input the page says so next to the form (422)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    store_id = _whole("store", store) if scope is None else None
    owner_id = _whole("account owner", owner)
    filters = Filters(store_scope=scope, store_id=store_id, owner_staff_id=owner_id)
    settings = ctx.settings
    inputs, form = _economics(acquisition_cost, retention_cost_per_point, settings.gross_margin,
                              settings.monthly_discount_rate)  # fmt: skip
    board = dashboard(ctx.db, filters, inputs=inputs, timezone=settings.timezone)
    choices = form_choices(ctx.db, viewer.signed_in.staff)
    context: dict[str, Any] = {
        "viewer": viewer,
        "d": board,
        "L": labels,
        "form": form,
        "choices": choices,
        "store_id": store_id,
        "owner_id": owner_id,
        "scope": scope,
        "settings": settings,
        "ladder_keys": ladder.RUNG_KEYS,
        "heat": heat_class,
        "charts": chart_data(board, viewer.language.html_lang) if board.month else None,
        "tables": tables(board) if board.month else None,
        "economics_shown": board.retention is not None and not form.errors,
        "segment_grid": rfm.SEGMENT_GRID,
        "years_label": years_label,
    }
    status = 422 if form.errors else 200
    return ctx.templates.TemplateResponse(
        request, "analytics/dashboard.html", context, status_code=status
    )


def heat_class(share: float) -> str:
    """The shading class of a heatmap cell: heat-0 (0 %) .. heat-10 (100 %)."""
    return f"heat-{min(max(round(share * 10), 0), 10)}"


# --- tables ----------------------------------------------------------------------------------


def tables(d: Dashboard) -> dict[str, Any]:
    """The rows of the data tables, as plain Python values (no numpy in templates)."""
    out: dict[str, Any] = {"cohorts": None, "bucket": [], "economics": [], "lorenz": [],
                           "clv": []}  # fmt: skip
    if d.cohort_table is not None and d.cohort_table.cohorts.size:
        c = d.cohort_table
        out["cohorts"] = {
            "offsets": [int(k) for k in c.offsets],
            "rows": [
                {"month": labels.month_of_index(int(c.cohorts[i])), "size": int(c.sizes[i]),
                 "cells": [(float(c.shares[i, k]), bool(c.observed[i, k]))
                           for k in range(c.offsets.size)]}
                for i in range(c.cohorts.size)
            ],
        }  # fmt: skip
    if d.bucket is not None:
        b = d.bucket
        out["bucket"] = [
            {"month": labels.month_of_index(int(b.months[j])), "new": int(b.new[j]),
             "reactivated": int(b.reactivated[j]), "returning": int(b.returning[j]),
             "lapsed": int(b.lapsed[j]), "net": int(b.net_change[j]),
             "active": int(b.active_end[j]), "churn": float(b.churn_rate[j])}
            for j in range(b.months.size)
        ]  # fmt: skip
    if d.retention is not None:
        r = d.retention
        out["economics"] = [
            {"years": int(t), "baseline_customers": float(r.baseline_customers[i]),
             "baseline_margin": float(r.baseline_margin[i]),
             "rows": [
                 {"uplift": float(r.uplifts[u]), "retention": float(r.retention[u]),
                  "extra_customers": float(r.extra_customers[u, i]),
                  "extra_margin": float(r.extra_margin[u, i]),
                  "cost": float(r.retention_cost[u, i]), "net": float(r.net_value[u, i]),
                  "acquisition": float(r.acquisition_cost[u, i])}
                 for u in range(r.uplifts.size)
             ]}
            for i, t in enumerate(r.years)
        ]  # fmt: skip
    if d.concentration is not None:
        lorenz = d.concentration.lorenz
        points = np.linspace(0.0, 1.0, 11)
        out["lorenz"] = [(float(x), float(y))
                         for x, y in zip(points, np.interp(points, lorenz.x, lorenz.y),
                                         strict=True)]  # fmt: skip
    last = len(d.clv_histogram) - 1
    out["clv"] = [(clv_bin(low, high, i == last), n)
                  for i, (low, high, n) in enumerate(d.clv_histogram)]  # fmt: skip
    return out


# --- chart data ------------------------------------------------------------------------------


def _bars(
    counts: list[Count],
    label: Any,
    *,
    customers_label: str,
    spend_label: str,
    horizontal: bool = False,
) -> dict[str, Any]:
    """A grouped bar chart of each key's share of customers and share of spend."""
    return {
        "type": "bar",
        "axis": "percent",
        "horizontal": horizontal,
        "data": {
            "labels": [label(c.key) for c in counts],
            "datasets": [
                {"label": customers_label, "data": [round(c.share, 4) for c in counts],
                 "backgroundColor": CUSTOMERS_COLOUR},
                {"label": spend_label, "data": [round(c.spend_share, 4) for c in counts],
                 "backgroundColor": SPEND_COLOUR},
            ],
        },
    }  # fmt: skip


def chart_data(d: Dashboard, lang: str) -> dict[str, Any]:
    """Everything the charts draw, as Chart.js ``data`` plus a value-axis format."""
    customers, spend = gettext("Share of customers"), gettext("Share of spend")
    charts: dict[str, Any] = {
        "ladder": {
            "type": "bar",
            "horizontal": True,
            "axis": "count",
            "legend": False,
            "data": {
                "labels": [labels.rung(c.key) for c in d.rungs],
                "datasets": [{
                    "label": gettext("Customers"), "data": [c.count for c in d.rungs],
                    "backgroundColor": [RUNG_COLOURS.get(c.key, CUSTOMERS_COLOUR)
                                        for c in d.rungs],
                }],
            },
        },  # fmt: skip
        "segments": _bars(d.segments, labels.segment, customers_label=customers,
                          spend_label=spend, horizontal=True),
        "china": _bars(d.china_classes, labels.china_class_short, customers_label=customers,
                       spend_label=spend, horizontal=True),
        "loyalty": _bars(d.loyalty_types, labels.loyalty, customers_label=customers,
                         spend_label=spend, horizontal=True),
    }  # fmt: skip
    if d.concentration is not None:
        lorenz = d.concentration.lorenz
        charts["lorenz"] = {
            "type": "scatter",
            "axis": "percent",
            "xAxis": "percent",
            "data": {"datasets": [
                {"label": gettext("Share of spend held"), "showLine": True, "pointRadius": 0,
                 "borderColor": SPEND_COLOUR, "backgroundColor": SPEND_COLOUR,
                 "data": [{"x": round(float(x), 4), "y": round(float(y), 4)}
                          for x, y in zip(lorenz.x, lorenz.y, strict=True)]},
                {"label": gettext("Equal spend"), "showLine": True, "pointRadius": 0,
                 "borderColor": "#9aa0a6", "borderDash": [4, 4],
                 "data": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]},
            ]},
        }  # fmt: skip
    if d.bucket is not None:
        b = d.bucket
        months = [labels.month_of_index(int(m)) for m in b.months]

        def flow(key: str, name: str, values: Any) -> dict[str, Any]:
            return {"label": name, "data": [int(v) for v in values], "stack": "flow",
                    "backgroundColor": FLOW_COLOURS[key], "order": 1}  # fmt: skip

        charts["bucket"] = {
            "type": "bar",
            "axis": "count",
            "stacked": True,
            "data": {"labels": months, "datasets": [
                flow("new", gettext("New"), b.new),
                flow("reactivated", gettext("Reactivated"), b.reactivated),
                flow("returning", gettext("Returning"), b.returning),
                flow("lapsed", gettext("Lapsed"), -b.lapsed),
                {"type": "line", "label": gettext("Net change"), "stack": "net",
                 "data": [int(v) for v in b.net_change], "borderColor": FLOW_COLOURS["net"],
                 "backgroundColor": FLOW_COLOURS["net"], "tension": 0.2, "order": 0,
                 "pointRadius": 3},
            ]},
        }  # fmt: skip
    if d.clv_histogram:
        charts["clv"] = {
            "type": "bar",
            "axis": "count",
            "legend": False,
            "data": {
                "labels": [clv_bin(low, high, i == len(d.clv_histogram) - 1)
                           for i, (low, high, _) in enumerate(d.clv_histogram)],
                "datasets": [{"label": gettext("Buyers"), "backgroundColor": CUSTOMERS_COLOUR,
                              "data": [n for _, _, n in d.clv_histogram]}],
            },
        }  # fmt: skip
    if d.retention is not None:
        r = d.retention
        charts["economics"] = {
            "type": "line",
            "axis": "money",
            "data": {
                "labels": [f"+{u:g}" for u in r.uplifts],
                "datasets": [
                    {"label": years_label(int(t)), "borderColor": YEAR_COLOURS[i % 3],
                     "backgroundColor": YEAR_COLOURS[i % 3],
                     "data": [round(float(v), 2) for v in r.net_value[:, i]]}
                    for i, t in enumerate(r.years)
                ],
            },
        }  # fmt: skip
    return {"lang": lang, "currency": "CNY", "charts": _plain(charts)}


def clv_bin(low: float, high: float, last: bool) -> str:
    """'¥0–¥293'; the last bin also holds the top 1 %: '¥3,219+'."""
    if last:
        return f"{labels.money(low, whole=True)}+"
    return f"{labels.money(low, whole=True)}–{labels.money(high, whole=True)}"


def years_label(years: int) -> str:
    return ngettext("%(num)s year", "%(num)s years", years) % {"num": years}


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, NaN as None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
