"""Pages for the care calendar.

* ``/care/occasions`` (managers, owner): which occasions the shop observes, how many days ahead
  each reaches the agenda and the greeting template ``guanxi daily`` queues on the day; with
  the dates of the festivals of the chosen year.
* ``/care/calendar?year=`` (every staff member): the year's festivals and its statutory holidays
  and adjusted working days (调休), with a visible banner when the holidays are only a
  Monday–Friday guess (the year is in neither the override file nor the library).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from guanxi.care import holidays
from guanxi.care.calendar import (
    CHINESE_NAMES,
    FESTIVALS,
    FIRST_YEAR,
    LAST_YEAR,
    festival_dates,
    festival_occurrences,
)
from guanxi.care.occasions import (
    MAX_LEAD_DAYS,
    OCCASION_KEYS,
    OCCASION_LABELS,
    OccasionRule,
    occasion_rules,
    save_occasion_rules,
)
from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.storage.models import MessageTemplate
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _

router = APIRouter()


def _this_year(request: Request) -> int:
    zone = ZoneInfo(web_context(request).settings.timezone)
    return datetime.now(UTC).astimezone(zone).year


def _year(request: Request, value: str | None) -> int:
    if value is None or not value.strip():
        return _this_year(request)
    try:
        year = int(value)
    except ValueError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(_("The calendar covers the years {first} to {last}.").format(
            first=FIRST_YEAR, last=LAST_YEAR))  # fmt: skip
    return year


def _templates(request: Request) -> list[tuple[int, str]]:
    with web_context(request).db.read() as session:
        rows = session.execute(
            select(MessageTemplate.id, MessageTemplate.name, MessageTemplate.channel,
                   MessageTemplate.locale)
            .where(MessageTemplate.is_active.is_(True))
            .order_by(MessageTemplate.name, MessageTemplate.id)
        ).all()  # fmt: skip
    return [(tid, f"{name} ({channel}, {locale})") for tid, name, channel, locale in rows]


def _occasions_page(
    request: Request,
    viewer: Viewer,
    year: int,
    *,
    form: dict[str, dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = web_context(request)
    with ctx.db.read() as session:
        rules = occasion_rules(session)
    shown = form or {
        key: {"observed": r.observed, "lead_days": str(r.lead_days),
              "template_id": "" if r.template_id is None else str(r.template_id)}
        for key, r in rules.items()
    }  # fmt: skip
    context = {
        "viewer": viewer,
        "year": year,
        "keys": OCCASION_KEYS,
        "labels": OCCASION_LABELS,
        "chinese": CHINESE_NAMES,
        "dates": festival_dates(year),
        "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
        "form": shown,
        "errors": errors or {},
        "templates": _templates(request),
        "max_lead": MAX_LEAD_DAYS,
        "saved": request.query_params.get("saved", ""),
    }
    return ctx.templates.TemplateResponse(request, "care/occasions.html", context,
                                          status_code=status_code)  # fmt: skip


@router.get("/care/occasions", include_in_schema=False)
def occasions_page(
    request: Request, year: str | None = None, viewer: Viewer = requires(Permission.CARE_MANAGE)
) -> Response:
    """Every occasion with its rule, and this year's (or ``year``'s) festival dates."""
    return _occasions_page(request, viewer, _year(request, year))


@router.post("/care/occasions", include_in_schema=False)
async def save_occasions(
    request: Request, viewer: Viewer = requires(Permission.CARE_MANAGE)
) -> Response:
    """Save the rules of every occasion; back to the page, or the form with what is wrong."""
    assert viewer.signed_in is not None
    data = await request.form()
    form: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    rules: list[OccasionRule] = []
    for key in OCCASION_KEYS:
        observed = str(data.get(f"observed_{key}", "")) in ("1", "on", "true", "yes")
        lead = str(data.get(f"lead_{key}", "")).strip()
        template = str(data.get(f"template_{key}", "")).strip()
        form[key] = {"observed": observed, "lead_days": lead, "template_id": template}
        days = int(lead) if lead.isdigit() else -1
        if not 0 <= days <= MAX_LEAD_DAYS:
            errors[key] = _("Lead days must be a whole number from 0 to {max}.").format(
                max=MAX_LEAD_DAYS)  # fmt: skip
            continue
        if template and not template.isdigit():
            errors[key] = _("Choose a template from the list.")
            continue
        rules.append(OccasionRule(key, observed, days, int(template) if template else None))
    year = _this_year(request)
    if errors:
        return _occasions_page(request, viewer, year, form=form, errors=errors, status_code=422)
    try:
        save_occasion_rules(web_context(request).db, rules, actor_id=viewer.signed_in.staff.id)
    except InvalidInput:
        errors["form"] = _("A chosen template no longer exists: choose again.")
        return _occasions_page(request, viewer, year, form=form, errors=errors, status_code=422)
    return RedirectResponse("/care/occasions?saved=1", status_code=303)


@router.get("/care/calendar", include_in_schema=False)
def calendar_page(
    request: Request, year: str | None = None, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    """The year's festivals, statutory holidays and 调休 working days."""
    chosen = _year(request, year)
    cal = holidays.default_calendar()
    context = {
        "viewer": viewer,
        "year": chosen,
        "festivals": festival_occurrences(chosen),
        "keys": FESTIVALS,
        "labels": OCCASION_LABELS,
        "chinese": CHINESE_NAMES,
        "source": cal.coverage(chosen),
        "notice": cal.notices.get(chosen, ""),
        "days": cal.special_days(chosen),
        "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
        "first": FIRST_YEAR,
        "last": LAST_YEAR,
    }
    return web_context(request).templates.TemplateResponse(request, "care/calendar.html", context)
