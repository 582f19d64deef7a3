"""The customers' public pages behind tokenised links: ``/f/<token>`` (feedback, or the
satisfaction check after a complaint) and ``/s/<token>`` (a survey).

No login. Each page shows the shop's name and the form, nothing about any customer. Requests
are rate-limited per client address (``WebContext.public_limiter``: 429 with Retry-After).
A link works once: after the answer it shows "thank you" and refuses another answer. Every
refusal is a plain page with its status: 404 for a malformed, unknown or wrong-purpose link,
410 for an expired or used link or a survey that was switched off, 429 when limited. Customer
text is stored as typed and autoescaped wherever it is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from guanxi.care import templating
from guanxi.domain.access import Permission
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput, NotFound
from guanxi.feedback import complaints, surveys
from guanxi.feedback.links import LinkRefused, LinkView, check_link, use_link
from guanxi.storage.models import Survey
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _

router = APIRouter()

MAX_FEEDBACK = 2000
STATUS = {"malformed": 404, "unknown": 404, "wrong_purpose": 404, "expired": 410, "used": 410,
          "closed": 410, "limited": 429}  # fmt: skip
FEEDBACK_PAGE = ("feedback", "satisfaction")  # the two kinds of link /f serves

CATEGORY_NAMES = {
    "product": gettext_noop("The products"),
    "service": gettext_noop("The service"),
    "price": gettext_noop("Prices"),
    "delivery": gettext_noop("Delivery"),
    "environment": gettext_noop("The shop"),
    "other": gettext_noop("Something else"),
}


def attribute_name(attribute: str) -> str:
    """A default attribute's name in the viewer's language; a typed one as typed."""
    known = surveys.ATTRIBUTE_NAMES.get(attribute)
    return _(known) if known else attribute


def _page(
    request: Request, viewer: Viewer, template: str, context: dict[str, Any], status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    ctx = web_context(request)
    with ctx.db.read() as session:
        shop = templating.shop_name(session, ctx.settings.shop_name)
    response = ctx.templates.TemplateResponse(
        request, template, {"viewer": viewer, "shop": shop, **context}, status_code=status,
        headers=headers,
    )  # fmt: skip
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays off other sites' logs
    response.headers["Cache-Control"] = "no-store"
    return response


def refused(request: Request, viewer: Viewer, reason: str, headers: dict[str, str] | None = None
            ) -> Response:  # fmt: skip
    """The one page for every refusal: a sentence for the reason, nothing else."""
    return _page(request, viewer, "public/refused.html", {"reason": reason},
                 STATUS.get(reason, 404), headers)  # fmt: skip


def _limited(request: Request, viewer: Viewer) -> Response | None:
    limiter = web_context(request).public_limiter
    if limiter.allow(viewer.ip):
        return None
    return refused(request, viewer, "limited", {"Retry-After": str(limiter.retry_after(viewer.ip))})


def _now() -> datetime:
    return datetime.now(UTC)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --- /f: feedback and satisfaction ---------------------------------------------------------------


def _feedback_page(request: Request, viewer: Viewer, link: LinkView, *, values: dict[str, str],
                   errors: dict[str, str], status: int = 200) -> Response:  # fmt: skip
    template = "public/satisfaction.html" if link.purpose == "satisfaction" else (
        "public/feedback.html")  # fmt: skip
    return _page(request, viewer, template, {
        "categories": [(c, _(CATEGORY_NAMES.get(c, c))) for c in complaints.CATEGORIES],
        "values": values, "errors": errors, "max_length": MAX_FEEDBACK,
    }, status)  # fmt: skip


@router.get("/f/{token}", include_in_schema=False)
def feedback_page(
    request: Request, token: str, viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """The feedback form, the satisfaction stars, or "thank you" once answered."""
    if (limited := _limited(request, viewer)) is not None:
        return limited
    try:
        with web_context(request).db.read() as session:
            link = check_link(session, token, now=_now(), purpose=FEEDBACK_PAGE, allow_used=True)
    except LinkRefused as refusal:
        return refused(request, viewer, refusal.reason)
    if link.uses >= link.max_uses:
        return _page(request, viewer, "public/thanks.html", {"kind": link.purpose})
    return _feedback_page(request, viewer, link, values={}, errors={})


def _check_feedback(link: LinkView, form: dict[str, str]) -> dict[str, str]:
    errors = {}
    if link.purpose == "satisfaction":
        if form.get("score", "") not in {"1", "2", "3", "4", "5"}:
            errors["score"] = _("Choose from 1 to 5 stars.")
        return errors
    if form.get("category", "") not in complaints.CATEGORIES:
        errors["category"] = _("Choose what it is about.")
    text = form.get("text", "").strip()
    if not text:
        errors["text"] = _("Tell us what happened.")
    elif len(text) > MAX_FEEDBACK:
        errors["text"] = _("Please keep it under %(n)s characters.") % {"n": MAX_FEEDBACK}
    return errors


@router.post("/f/{token}", include_in_schema=False)
async def feedback_submit(
    request: Request, token: str, viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """Open a complaint from the form (channel "link"), or record the satisfaction stars."""
    if (limited := _limited(request, viewer)) is not None:
        return limited
    form = await _form(request)
    db, now = web_context(request).db, _now()
    try:
        with db.read() as session:
            link = check_link(session, token, now=now, purpose=FEEDBACK_PAGE)
        errors = _check_feedback(link, form)
        if errors:
            values = {"category": form.get("category", ""),
                      "text": form.get("text", "")[:MAX_FEEDBACK]}  # fmt: skip
            return _feedback_page(request, viewer, link, values=values, errors=errors, status=422)
        with db.write() as session:
            used = use_link(session, token, now=now, purpose=link.purpose)
            if used.purpose == "satisfaction":
                if used.complaint_id is None:
                    raise LinkRefused("unknown")
                complaints.record_satisfaction(session, used.complaint_id, int(form["score"]),
                                               now=now)  # fmt: skip
            else:
                complaints.open_complaint(
                    session, customer_id=used.customer_id, store_id=used.store_id,
                    category=form["category"], severity="medium", channel="link",
                    summary=form["text"].strip(), actor_id=None, now=now,
                )  # fmt: skip
    except LinkRefused as refusal:
        return refused(request, viewer, refusal.reason)
    except NotFound:  # the complaint or the customer is gone
        return refused(request, viewer, "unknown")
    return _page(request, viewer, "public/thanks.html", {"kind": link.purpose})


# --- /s: surveys ---------------------------------------------------------------------------------


def _survey_of(request: Request, token: str, *, allow_used: bool) -> tuple[LinkView, Survey]:
    with web_context(request).db.read() as session:
        link = check_link(session, token, now=_now(), purpose="survey", allow_used=allow_used)
        survey = session.get(Survey, link.survey_id) if link.survey_id is not None else None
        if survey is None:
            raise LinkRefused("unknown")
        session.expunge(survey)
        return link, survey


def _survey_page(request: Request, viewer: Viewer, survey: Survey, *, values: dict[str, str],
                 errors: dict[str, str], status: int = 200) -> Response:  # fmt: skip
    attributes = [(i, attribute_name(a)) for i, a in enumerate(survey.attributes or ())]
    return _page(request, viewer, "public/survey.html", {
        "survey": survey, "attributes": attributes, "values": values,
        "errors": {k: _(v) for k, v in errors.items()}, "max_comment": surveys.MAX_COMMENT,
    }, status)  # fmt: skip


@router.get("/s/{token}", include_in_schema=False)
def survey_page(
    request: Request, token: str, viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """The survey the link names, or "thank you" once answered."""
    if (limited := _limited(request, viewer)) is not None:
        return limited
    try:
        link, survey = _survey_of(request, token, allow_used=True)
    except LinkRefused as refusal:
        return refused(request, viewer, refusal.reason)
    if link.uses >= link.max_uses:
        return _page(request, viewer, "public/thanks.html", {"kind": "survey"})
    if not survey.is_active:
        return refused(request, viewer, "closed")
    return _survey_page(request, viewer, survey, values={}, errors={})


@router.post("/s/{token}", include_in_schema=False)
async def survey_submit(
    request: Request, token: str, viewer: Viewer = requires(Permission.PUBLIC)
) -> Response:
    """Store the answers (the link's one use) and say thank you; bad answers are shown again."""
    if (limited := _limited(request, viewer)) is not None:
        return limited
    form = await _form(request)
    ctx = web_context(request)
    try:
        _, survey = _survey_of(request, token, allow_used=False)
        answers, errors = surveys.check_answers(survey.kind, survey.attributes or [], form)
        if errors:
            return _survey_page(request, viewer, survey, values=answers.values, errors=errors,
                                status=422)  # fmt: skip
        done = surveys.submit_response(ctx.db, token, answers, now=_now(),
                                       public_url=ctx.settings.public_url,
                                       locale=viewer.language.code)  # fmt: skip
    except LinkRefused as refusal:
        return refused(request, viewer, refusal.reason)
    except InvalidInput:
        return refused(request, viewer, "unknown")
    return _page(request, viewer, "public/thanks.html", {"kind": "survey", "done": done})
