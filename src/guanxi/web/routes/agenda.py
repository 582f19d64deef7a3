"""The agenda page (今日待办), the home page of clerks: whom to contact today and why.

``GET /agenda`` shows a staff member's own agenda by default (the customers they look after,
their tasks and promises); managers default to their store's agenda; owners choose a store (or
every store). ``view=mine|store``, ``store=ID`` (owners) and ``date=YYYY-MM-DD`` (look ahead)
change what is shown. Each item says why in words and offers the actions: log the outcome of a
task (posted to ``/care/tasks/{id}/outcome``), open the customer's page (to record a promise),
and, for those who send campaigns, write them a message.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from guanxi.care.agenda import KINDS, AgendaItem, build_agenda, kind_label, reason_text
from guanxi.domain.access import Permission
from guanxi.domain.staff import Role
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput
from guanxi.services.staff import list_stores
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.routes.customers import scope_of

router = APIRouter()

OUTCOMES: tuple[tuple[str, str], ...] = (
    ("reached", gettext_noop("Reached")),
    ("no_answer", gettext_noop("No answer")),
    ("feedback", gettext_noop("Feedback")),
    ("new_need", gettext_noop("New need")),
    ("complaint", gettext_noop("Complaint")),
)


def _day(value: str | None, zone: str) -> date:
    if not value:
        return datetime.now(ZoneInfo(zone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"date: {value!r} is not a date in the form YYYY-MM-DD") from exc


@router.get("/agenda", include_in_schema=False)
def agenda_page(
    request: Request,
    view: str | None = None,
    store: int | None = None,
    date: str | None = None,  # noqa: A002 - the query parameter's name
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """Today's agenda: the viewer's own, or their store's (owners: any store, or all)."""
    assert viewer.signed_in is not None
    me = viewer.signed_in.staff
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    default = "mine" if me.role is Role.CLERK else "store"
    chosen = view if view in ("mine", "store") else default
    stores = list_stores(ctx.db) if scope is None else []
    if scope is None:  # owners: the chosen store, or every store
        store_id = store if store is not None and any(s == store for s, _ in stores) else None
    else:
        store_id = scope
    day = _day(date, ctx.settings.timezone)
    agenda = build_agenda(ctx.db, day, staff_id=me.id if chosen == "mine" else None,
                          store_id=store_id,
                          zone=None if store_id is not None else ctx.settings.timezone)  # fmt: skip
    language = viewer.language

    def reason(item: AgendaItem) -> str:
        return reason_text(item, language)

    context = {
        "viewer": viewer,
        "L": labels,
        "agenda": agenda,
        "view": chosen,
        "stores": stores,
        "store_id": store_id,
        "date_value": date or "",
        "today": day,
        "reason": reason,
        "kind_label": lambda k: kind_label(k, language),
        "kinds": KINDS,
        "outcomes": OUTCOMES,
        "days_left": lambda i: (i.due_on - day).days,
    }
    return ctx.templates.TemplateResponse(request, "care/agenda.html", context)
