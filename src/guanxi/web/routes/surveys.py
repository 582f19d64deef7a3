"""Survey pages for managers and the owner (``surveys.manage``): the list, the builder (three
ready-made starting points: NPS, CSAT, expectation vs perception), switching a survey on and
off, sending it (a dry run first: who gets it, who is excluded and why) and the satisfaction
report (NPS per month, CSAT, expectation gaps, importance vs performance, satisfaction × loyalty).

A manager sends to and reports on their own store's customers; the owner on every store's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from guanxi.care.campaigns import Audience
from guanxi.care.outbox import EXCLUSION_REASONS
from guanxi.domain.access import Permission, mask_phone, sees_full_phone
from guanxi.errors import Conflict, InvalidInput
from guanxi.feedback import satisfaction, survey_sending, surveys
from guanxi.loyalty.tiers import defined_tiers
from guanxi.services.customer_edits import form_choices
from guanxi.storage.models import Segment
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import scope_of
from guanxi.web.routes.public_links import attribute_name

router = APIRouter()

AUDIENCE_FIELDS = ("segment_id", "store_id", "tier", "customer_ids", "channel")
STARTERS = {"nps": "NPS", "csat": "CSAT", "expectation": "期望与感知"}


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return web_context(request).templates.TemplateResponse(
        request, template, {"L": labels, "kind_names": _kind_names(),
                            "attribute_name": attribute_name, **context}, status_code=status,
    )  # fmt: skip


def _kind_names() -> dict[str, str]:
    return {k: _(v) for k, v in surveys.KIND_NAMES.items()}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- the satisfaction report ---------------------------------------------------------------------


@router.get("/surveys/report", include_in_schema=False)
def report_page(
    request: Request, survey: str = "", viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """NPS per month, CSAT, attributes, importance vs performance, satisfaction × loyalty."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    survey_id = int(survey) if survey.isdigit() else None
    today = datetime.now(UTC).astimezone(viewer.language.timezone).date()
    with ctx.db.read() as session:
        report = satisfaction.satisfaction_report(session, as_of=today, scope=scope,
                                                  zone=ctx.settings.timezone,
                                                  survey_id=survey_id)  # fmt: skip
        names = satisfaction.survey_names(session)
    staff = viewer.signed_in.staff

    def phone(person: satisfaction.Person) -> str:
        full = sees_full_phone(staff.role, is_account_owner=person.owner_staff_id == staff.id)
        return (person.phone or "") if full else mask_phone(person.phone)

    return _render(request, "surveys/report.html", {
        "viewer": viewer, "r": report, "surveys": sorted(names.items()), "survey_id": survey_id,
        "phone": phone, "quadrants": {k: _(v) for k, v in satisfaction.QUADRANTS.items()},
        "charts": chart_data(report, viewer.language.html_lang),
    })  # fmt: skip


# --- list and builder ----------------------------------------------------------------------------


@router.get("/surveys", include_in_schema=False)
def surveys_page(
    request: Request, viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """Every survey with its links issued and responses; buttons for the three starters."""
    with web_context(request).db.read() as session:
        rows = surveys.list_surveys(session)
    return _render(request, "surveys/list.html", {"viewer": viewer, "surveys": rows,
                                                  "kinds": surveys.KINDS})  # fmt: skip


def _form_page(
    request: Request,
    viewer: Viewer,
    form: dict[str, str],
    survey_id: int | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return _render(request, "surveys/form.html", {
        "viewer": viewer, "form": form, "survey_id": survey_id, "error": error,
        "kinds": surveys.KINDS, "defaults": surveys.DEFAULT_ATTRIBUTES,
    }, status)  # fmt: skip


@router.get("/surveys/new", include_in_schema=False)
def new_survey_page(
    request: Request, kind: str = "nps", viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """The builder, started from one of the three templates."""
    kind = kind if kind in surveys.KINDS else "nps"
    attributes = "\n".join(surveys.DEFAULT_ATTRIBUTES) if kind == "expectation" else ""
    form = {"name": STARTERS[kind], "kind": kind, "attributes": attributes, "intro": ""}
    return _form_page(request, viewer, form, None)


def _save(request: Request, viewer: Viewer, form: FormData, survey_id: int | None) -> Response:
    assert viewer.signed_in is not None
    typed = {k: _text(form, k) for k in ("name", "kind", "attributes", "intro")}
    try:
        saved = surveys.save_survey(
            web_context(request).db, name=typed["name"], kind=typed["kind"],
            attributes=typed["attributes"].splitlines(), intro=typed["intro"],
            survey_id=survey_id, actor_id=viewer.signed_in.staff.id,
        )  # fmt: skip
    except (InvalidInput, Conflict) as error:
        return _form_page(request, viewer, typed, survey_id, error=str(error), status=422)
    return RedirectResponse(f"/surveys/{saved}?saved=1", status_code=303)


@router.post("/surveys/new", include_in_schema=False)
async def create_survey(
    request: Request, viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """Save a new survey; back to the builder with the reason when refused."""
    return _save(request, viewer, await request.form(), None)


@router.post("/surveys/{survey_id}", include_in_schema=False)
async def update_survey(
    request: Request, survey_id: int, viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """Save changes to a survey."""
    return _save(request, viewer, await request.form(), survey_id)


@router.post("/surveys/{survey_id}/active", include_in_schema=False)
async def toggle_survey(
    request: Request, survey_id: int, viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """Switch a survey on (``active=1``) or off: a closed survey's links take no answers."""
    assert viewer.signed_in is not None
    active = _text(await request.form(), "active") == "1"
    surveys.set_survey_active(web_context(request).db, survey_id, active,
                              actor_id=viewer.signed_in.staff.id)  # fmt: skip
    return RedirectResponse(f"/surveys/{survey_id}", status_code=303)


# --- one survey: edit, dry run, send -------------------------------------------------------------


def _audience_choices(request: Request, viewer: Viewer) -> dict[str, Any]:
    assert viewer.signed_in is not None
    ctx = web_context(request)
    choices = form_choices(ctx.db, viewer.signed_in.staff)
    with ctx.db.read() as session:
        segments = [(int(i), str(n)) for i, n in session.execute(
            select(Segment.id, Segment.name).order_by(Segment.name))]  # fmt: skip
        tiers = [(t.key, t.name) for t in defined_tiers(session)]
    return {"segments": segments, "tiers": tiers, "stores": choices.stores,
            "channels": surveys.CHANNELS}  # fmt: skip


def _audience(typed: dict[str, str]) -> Audience:
    return Audience.from_json({k: typed.get(k, "") for k in AUDIENCE_FIELDS if k != "channel"})


@router.get("/surveys/{survey_id}", include_in_schema=False)
def survey_page(
    request: Request, survey_id: int, viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """A survey: its settings, the send form and, with audience fields given, the dry run."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    typed = {k: request.query_params.get(k, "").strip() for k in AUDIENCE_FIELDS}
    typed["channel"] = typed["channel"] or "sms"
    plan, error = None, None
    with ctx.db.read() as session:
        survey = surveys.get_survey(session, survey_id)
        if request.query_params.get("preview"):
            try:
                plan = survey_sending.plan_send(session, survey_id, _audience(typed),
                                                typed["channel"], now=datetime.now(UTC),
                                                scope=scope)  # fmt: skip
            except InvalidInput as exc:
                error = str(exc)
    form = {"name": survey.name, "kind": survey.kind, "intro": survey.intro or "",
            "attributes": "\n".join(survey.attributes)}  # fmt: skip
    return _render(request, "surveys/detail.html", {
        "viewer": viewer, "survey": survey, "form": form, "kinds": surveys.KINDS,
        "defaults": surveys.DEFAULT_ATTRIBUTES, "send": typed, "plan": plan, "error": error,
        "scope": scope, "reasons": {k: _(v) for k, v in EXCLUSION_REASONS.items()},
        "sent": request.query_params.get("sent"), "saved": request.query_params.get("saved"),
        "has_public_url": bool(ctx.settings.public_url.strip()),
        **_audience_choices(request, viewer),
    }, 422 if error else 200)  # fmt: skip


@router.post("/surveys/{survey_id}/send", include_in_schema=False)
async def send_survey(
    request: Request, survey_id: int, viewer: Viewer = requires(Permission.SURVEYS_MANAGE)
) -> Response:
    """Issue the links and queue the invitations (after the dry run); back to the survey."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    form = await request.form()
    typed = {k: _text(form, k) for k in AUDIENCE_FIELDS}
    query = {k: v for k, v in typed.items() if v}
    try:
        result = survey_sending.send_survey(
            ctx.db, survey_id, _audience(typed), typed["channel"] or "sms",
            now=datetime.now(UTC), actor_id=viewer.signed_in.staff.id,
            scope=scope_of(viewer.signed_in), public_url=ctx.settings.public_url,
            locale=viewer.language.code,
        )  # fmt: skip
    except (InvalidInput, Conflict) as error:
        query.update(preview="1", send_error=str(error))
        return RedirectResponse(f"/surveys/{survey_id}?{urlencode(query)}", status_code=303)
    query = {"sent": str(result.queued)}
    return RedirectResponse(f"/surveys/{survey_id}?{urlencode(query)}", status_code=303)


def chart_data(report: satisfaction.SatisfactionReport, lang: str) -> dict[str, Any]:
    """The NPS trend and the importance–performance scatter, as the analytics charts draw them."""
    charts: dict[str, Any] = {
        "nps": {"type": "bar", "axis": "count", "stacked": True, "data": {
            "labels": [labels.month_short(m.month) for m in report.months],
            "datasets": [
                {"label": _("Promoters"), "data": [m.promoters for m in report.months],
                 "backgroundColor": "#1a7f37", "stack": "n"},
                {"label": _("Passives"), "data": [m.passives for m in report.months],
                 "backgroundColor": "#bf8700", "stack": "n"},
                {"label": _("Detractors"), "data": [m.detractors for m in report.months],
                 "backgroundColor": "#cf222e", "stack": "n"},
            ]}},
    }  # fmt: skip
    rated = [a for a in report.attributes if a.importance is not None]
    if rated:
        charts["ipa"] = {"type": "scatter", "axis": "count", "legend": True, "data": {
            "datasets": [{"label": attribute_name(a.attribute), "pointRadius": 7,
                          "data": [{"x": round(a.importance or 0.0, 3),
                                    "y": round(a.perceived, 2)}]} for a in rated],
        }}  # fmt: skip
    return {"lang": lang, "currency": "CNY", "charts": charts}
