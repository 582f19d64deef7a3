"""Message templates, campaigns (群发) and interest lists.

- ``/care/templates`` (care managers): the templates; the editor lists the variables and shows
  a live preview for a sample customer (HTMX posts the text as it is typed; without JavaScript
  the "Preview" button posts the whole form and the page comes back with it).
- ``/care/campaigns`` (campaign senders): the list; ``/care/campaigns/new`` builds a draft from a
  segment and filters (``?customer_id=``, ``?category=`` and ``?product_id=`` prefill it from
  the agenda and the interest list); ``/care/campaigns/{id}`` is the dry run (each recipient's
  message, who is excluded and why, the holdout) with the Queue button, and after queueing the
  outbox counts and the win-back report (reactivation of the treated against the holdout,
  95 % interval).
- ``/care/interests?category=`` or ``?product_id=`` (staff): "a product arrived": who is
  interested in it (stated interests matching the category or the product name, purchases in
  the category) and why, with a "message them" button for those who may send campaigns (a
  category: an interest audience; a product: these customers as explicit ids).

Managers work within their own store; the owner sees every store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from guanxi.care import campaigns, default_templates, interests, outbox, templating
from guanxi.care.campaigns import Audience
from guanxi.domain.access import Permission, is_allowed
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.loyalty.tiers import defined_tiers
from guanxi.services.customer_edits import form_choices
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Customer, CustomerTier, Segment
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import is_htmx, scope_of

router = APIRouter()

INTEREST_LIMIT = 500  # rows shown on the interest page (the count covers all)
WINBACK_WINDOW_DAYS = campaigns.WINBACK_WINDOW_DAYS


def _scope(viewer: Viewer) -> int | None:
    assert viewer.signed_in is not None
    return scope_of(viewer.signed_in)


def _staff_id(viewer: Viewer) -> int:
    assert viewer.signed_in is not None
    return viewer.signed_in.staff.id


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- templates -----------------------------------------------------------------------------------


@dataclass
class TemplateForm:
    """The template editor's fields as typed (so a refused form comes back unchanged)."""

    name: str = ""
    channel: str = "sms"
    locale: str = "zh_CN"
    occasion: str = ""
    subject: str = ""
    body: str = ""
    is_marketing: bool = True
    is_active: bool = True
    customer_id: str = ""  # the sample customer of the preview

    @classmethod
    def from_form(cls, form: FormData) -> TemplateForm:
        body = form.get("body")
        return cls(name=_text(form, "name"), channel=_text(form, "channel") or "sms",
                   locale=_text(form, "locale") or "zh_CN", occasion=_text(form, "occasion"),
                   subject=_text(form, "subject"),
                   body=body.replace("\r\n", "\n") if isinstance(body, str) else "",
                   is_marketing=form.get("is_marketing") is not None,
                   is_active=form.get("is_active") is not None,
                   customer_id=_text(form, "customer_id"))  # fmt: skip

    @classmethod
    def from_row(cls, row: campaigns.TemplateRow) -> TemplateForm:
        return cls(row.name, row.channel, row.locale, row.occasion or "", row.subject or "",
                   row.body, row.is_marketing, row.is_active)  # fmt: skip


@dataclass
class PostedTemplate:
    form: TemplateForm


async def posted_template(request: Request) -> PostedTemplate:
    return PostedTemplate(TemplateForm.from_form(await request.form()))


def _sample_id(form: TemplateForm) -> int | None:
    return int(form.customer_id) if form.customer_id.isdigit() else None


def _preview(request: Request, viewer: Viewer, form: TemplateForm) -> campaigns.Rendered:
    with web_context(request).db.read() as session:
        return campaigns.preview_template(session, body=form.body, subject=form.subject or None,
                                          locale=form.locale, customer_id=_sample_id(form),
                                          scope=_scope(viewer))  # fmt: skip


def _sample_name(request: Request, customer_id: int | None) -> str:
    if customer_id is None:
        return ""
    with web_context(request).db.read() as session:
        name = session.execute(select(Customer.name).where(Customer.id == customer_id)).scalar()
    return str(name or "")


def _template_page(
    request: Request,
    viewer: Viewer,
    form: TemplateForm,
    template_id: int | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    ctx = web_context(request)
    shown = _preview(request, viewer, form) if form.body.strip() else None
    context = {
        "viewer": viewer,
        "L": labels,
        "form": form,
        "template_id": template_id,
        "error": error,
        "variables": templating.VARIABLES,
        "channels": campaigns.CHANNELS,
        "preview": shown,
        "sample_name": _sample_name(request, shown.customer_id if shown else None),
    }
    return ctx.templates.TemplateResponse(request, "care/template_form.html", context,
                                          status_code=status)  # fmt: skip


@router.get("/care/templates", include_in_schema=False)
def template_list(
    request: Request, saved: str = "", viewer: Viewer = requires(Permission.CARE_MANAGE)
) -> Response:
    """Every message template, by channel."""
    ctx = web_context(request)
    with ctx.db.read() as session:
        rows = campaigns.list_templates(session)
        missing = default_templates.missing_defaults(session)
    added = request.query_params.get("added", "")
    context = {"viewer": viewer, "L": labels, "templates": rows, "saved": saved,
               "missing_defaults": missing,
               "added": int(added) if added.isdigit() else None}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "care/templates_list.html", context)


@router.post("/care/templates/defaults", include_in_schema=False)
def add_default_templates(
    request: Request, viewer: Viewer = requires(Permission.CARE_MANAGE)
) -> Response:
    """Add the ready-made templates the shop lacks (every festival, birthday, follow-up …)."""
    added = default_templates.add_default_templates(web_context(request).db,
                                                    actor_id=_staff_id(viewer))  # fmt: skip
    return RedirectResponse(f"/care/templates?added={added}", status_code=303)


@router.get("/care/templates/new", include_in_schema=False)
def new_template(
    request: Request, channel: str = "sms", viewer: Viewer = requires(Permission.CARE_MANAGE)
) -> Response:
    form = TemplateForm(channel=channel if channel in campaigns.CHANNELS else "sms")
    return _template_page(request, viewer, form, None)


@router.post("/care/templates/preview", include_in_schema=False)
def preview_template(
    request: Request,
    viewer: Viewer = requires(Permission.CARE_MANAGE),
    posted: PostedTemplate = Depends(posted_template),
) -> Response:
    """The text rendered for the sample customer: the preview block for HTMX, else the page."""
    form = posted.form
    if is_htmx(request):
        shown = _preview(request, viewer, form)
        context = {"viewer": viewer, "L": labels, "preview": shown, "form": form,
                   "sample_name": _sample_name(request, shown.customer_id)}  # fmt: skip
        return web_context(request).templates.TemplateResponse(
            request, "care/_template_preview.html", context
        )
    value = (request.query_params.get("template_id") or "").strip()
    return _template_page(request, viewer, form, int(value) if value.isdigit() else None)


@router.get("/care/templates/{template_id}", include_in_schema=False)
def edit_template(
    request: Request, template_id: int, viewer: Viewer = requires(Permission.CARE_MANAGE)
) -> Response:
    with web_context(request).db.read() as session:
        row = campaigns.get_template(session, template_id)
    return _template_page(request, viewer, TemplateForm.from_row(row), template_id)


def _save_template(
    request: Request, viewer: Viewer, form: TemplateForm, template_id: int | None
) -> Response:
    try:
        saved = campaigns.save_template(
            web_context(request).db, name=form.name, channel=form.channel, body=form.body,
            subject=form.subject or None, locale=form.locale, occasion=form.occasion or None,
            is_marketing=form.is_marketing, is_active=form.is_active, template_id=template_id,
            actor_id=_staff_id(viewer),
        )  # fmt: skip
    except InvalidInput as exc:
        return _template_page(request, viewer, form, template_id, error=str(exc), status=422)
    return RedirectResponse(f"/care/templates?saved={saved}", status_code=303)


@router.post("/care/templates", include_in_schema=False)
def create_template(
    request: Request,
    viewer: Viewer = requires(Permission.CARE_MANAGE),
    posted: PostedTemplate = Depends(posted_template),
) -> Response:
    """Save a new template (checked, audited)."""
    return _save_template(request, viewer, posted.form, None)


@router.post("/care/templates/{template_id}", include_in_schema=False)
def update_template(
    request: Request,
    template_id: int,
    viewer: Viewer = requires(Permission.CARE_MANAGE),
    posted: PostedTemplate = Depends(posted_template),
) -> Response:
    """Change a template (checked, audited); campaigns already queued keep their texts."""
    with web_context(request).db.read() as session:
        campaigns.get_template(session, template_id)  # 404 before anything else
    return _save_template(request, viewer, posted.form, template_id)


# --- campaigns -----------------------------------------------------------------------------------


@dataclass
class CampaignForm:
    """The campaign builder's fields as typed."""

    name: str = ""
    kind: str = "regular"
    channel: str = "sms"
    template_id: str = ""
    segment_id: str = ""
    store_id: str = ""
    tier: str = ""
    tags: str = ""
    interest: str = ""
    lapsed_days: str = ""
    customer_ids: str = ""
    holdout_percent: str = "0"

    @classmethod
    def from_form(cls, form: FormData) -> CampaignForm:
        typed = cls(**{name: _text(form, name) for name in (
            "name", "kind", "channel", "template_id", "segment_id", "store_id", "tier", "tags",
            "interest", "lapsed_days", "customer_ids", "holdout_percent")})  # fmt: skip
        typed.kind = typed.kind or "regular"
        return typed

    @classmethod
    def from_row(cls, row: campaigns.CampaignRow) -> CampaignForm:
        a = row.audience
        return cls(name=row.name, kind=row.kind, channel=row.channel,
                   template_id=str(row.template_id), segment_id=str(a.segment_id or ""),
                   store_id=str(a.store_id or ""), tier=a.tier or "", tags=", ".join(a.tags),
                   interest=a.interest or "", lapsed_days=str(a.lapsed_days or ""),
                   customer_ids=" ".join(str(i) for i in a.customer_ids),
                   holdout_percent=str(row.holdout_percent))  # fmt: skip

    def audience(self) -> Audience:
        return Audience.from_json({
            "segment_id": self.segment_id, "store_id": self.store_id, "tier": self.tier,
            "tags": self.tags, "interest": self.interest, "lapsed_days": self.lapsed_days,
            "customer_ids": self.customer_ids,
        })  # fmt: skip

    def holdout(self) -> int:
        try:
            return int(self.holdout_percent or 0)
        except ValueError as error:
            raise InvalidInput("holdout: give a whole percentage") from error

    def template(self) -> int:
        if not self.template_id.isdigit():
            raise InvalidInput("template: choose a template")
        return int(self.template_id)


@dataclass
class PostedCampaign:
    form: CampaignForm


async def posted_campaign(request: Request) -> PostedCampaign:
    return PostedCampaign(CampaignForm.from_form(await request.form()))


def _builder_choices(request: Request, viewer: Viewer) -> dict[str, Any]:
    ctx = web_context(request)
    assert viewer.signed_in is not None
    choices = form_choices(ctx.db, viewer.signed_in.staff)
    with ctx.db.read() as session:
        templates = campaigns.list_templates(session, active_only=True)
        segments = [
            (int(i), str(n))
            for i, n in session.execute(select(Segment.id, Segment.name).order_by(Segment.name))
        ]
        tiers = [(t.key, t.name) for t in defined_tiers(session)]
        held = {str(k) for k in session.execute(select(CustomerTier.tier_key).distinct()).scalars()}
        tiers += [(k, k) for k in sorted(held - {k for k, _ in tiers})]
        categories = interests.categories(session)
    return {"templates": templates, "segments": segments, "tiers": tiers, "stores": choices.stores,
            "tags": choices.tags, "categories": categories, "kinds": campaigns.KINDS,
            "channels": campaigns.CHANNELS}  # fmt: skip


def _campaign_form(
    request: Request,
    viewer: Viewer,
    form: CampaignForm,
    campaign_id: int | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "viewer": viewer,
        "L": labels,
        "form": form,
        "campaign_id": campaign_id,
        "error": error,
        "scope": _scope(viewer),
        **_builder_choices(request, viewer),
    }
    if form.customer_ids:
        ids = form.customer_ids.replace(",", " ").split()
        context["customer_count"] = len(ids)
    return web_context(request).templates.TemplateResponse(
        request, "care/campaign_form.html", context, status_code=status
    )


@router.get("/care/campaigns", include_in_schema=False)
def campaign_list(
    request: Request, viewer: Viewer = requires(Permission.CAMPAIGNS_SEND)
) -> Response:
    """The campaigns, newest first (a manager's: their store's)."""
    ctx = web_context(request)
    with ctx.db.read() as session:
        rows = campaigns.list_campaigns(session, scope=_scope(viewer))
    context = {"viewer": viewer, "L": labels, "campaigns": rows}
    return ctx.templates.TemplateResponse(request, "care/campaigns.html", context)


@router.get("/care/campaigns/new", include_in_schema=False)
def new_campaign(
    request: Request,
    customer_id: int | None = None,
    category: str = "",
    product_id: int | None = None,
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """A new draft; ``customer_id`` (from the agenda), ``category`` or ``product_id`` (from the
    interest list) fill in the audience."""
    form = CampaignForm()
    if customer_id is not None:
        if not customer_in_scope(web_context(request).db, customer_id, _scope(viewer)):
            raise NotFound(f"customer {customer_id} does not exist")
        form.customer_ids = str(customer_id)
        form.name = _("Message to one customer")
    category = category.strip()
    if category:
        form.interest, form.kind = category, "interest"
        form.name = _("New arrivals: %(category)s") % {"category": category}
    if product_id is not None:
        _arrival_audience(request, viewer, form, product_id)
    return _campaign_form(request, viewer, form, None)


def _arrival_audience(
    request: Request, viewer: Viewer, form: CampaignForm, product_id: int
) -> None:
    """The customers interested in the product, as explicit ids (its name matters, which an
    interest audience, a category, cannot say)."""
    with web_context(request).db.read() as session:
        arrival = interests.product_arrival(session, product_id)
        rows = interests.interested_customers(session, arrival, scope=_scope(viewer))
    form.customer_ids = " ".join(
        str(r.customer_id) for r in sorted(rows, key=lambda r: r.customer_id)
    )
    form.kind = "interest"
    form.name = _("New arrivals: %(category)s") % {"category": arrival.label}


def _save_campaign(
    request: Request, viewer: Viewer, form: CampaignForm, campaign_id: int | None
) -> Response:
    try:
        saved = campaigns.save_campaign(
            web_context(request).db, name=form.name, template_id=form.template(),
            audience=form.audience(), channel=form.channel or None, kind=form.kind,
            holdout_percent=form.holdout(), campaign_id=campaign_id, actor_id=_staff_id(viewer),
            scope=_scope(viewer),
        )  # fmt: skip
    except InvalidInput as exc:
        return _campaign_form(request, viewer, form, campaign_id, error=str(exc), status=422)
    except Conflict as exc:
        return _campaign_form(request, viewer, form, campaign_id, error=str(exc), status=409)
    return RedirectResponse(f"/care/campaigns/{saved}", status_code=303)


@router.post("/care/campaigns", include_in_schema=False)
def create_campaign(
    request: Request,
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
    posted: PostedCampaign = Depends(posted_campaign),
) -> Response:
    """Save a draft (audited) and show its dry run."""
    return _save_campaign(request, viewer, posted.form, None)


def _row(request: Request, viewer: Viewer, campaign_id: int) -> campaigns.CampaignRow:
    with web_context(request).db.read() as session:
        return campaigns.get_campaign(session, campaign_id, scope=_scope(viewer))


@router.get("/care/campaigns/{campaign_id}", include_in_schema=False)
def campaign_page(
    request: Request,
    campaign_id: int,
    queued: str = "",
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
) -> Response:
    """The dry run of a draft (or what was queued), the Queue button, the win-back report."""
    ctx = web_context(request)
    scope = _scope(viewer)
    row = _row(request, viewer, campaign_id)
    now = datetime.now(UTC)
    run = None
    if row.status == "draft":
        run = campaigns.dry_run(ctx.db, campaign_id, now=now, scope=scope)
    with ctx.db.read() as session:
        counts = campaigns.message_counts(session, campaign_id)
        report = (campaigns.winback_report(session, campaign_id, now=now, scope=scope,
                                           window_days=WINBACK_WINDOW_DAYS)
                  if row.queued_at is not None else None)  # fmt: skip
        segment = None
        if row.audience.segment_id:
            segment = session.execute(
                select(Segment.name).where(Segment.id == row.audience.segment_id)
            ).scalar()
    context = {
        "viewer": viewer, "L": labels, "campaign": row, "run": run, "counts": counts,
        "report": report, "queued": queued, "segment_name": segment,
        "reason_text": outbox.EXCLUSION_REASONS,
    }  # fmt: skip
    return ctx.templates.TemplateResponse(request, "care/campaign.html", context)


@router.get("/care/campaigns/{campaign_id}/edit", include_in_schema=False)
def edit_campaign(
    request: Request, campaign_id: int, viewer: Viewer = requires(Permission.CAMPAIGNS_SEND)
) -> Response:
    row = _row(request, viewer, campaign_id)
    if row.status != "draft":
        return RedirectResponse(f"/care/campaigns/{campaign_id}", status_code=303)
    return _campaign_form(request, viewer, CampaignForm.from_row(row), campaign_id)


@router.post("/care/campaigns/{campaign_id}", include_in_schema=False)
def update_campaign(
    request: Request,
    campaign_id: int,
    viewer: Viewer = requires(Permission.CAMPAIGNS_SEND),
    posted: PostedCampaign = Depends(posted_campaign),
) -> Response:
    """Change a draft (audited)."""
    _row(request, viewer, campaign_id)  # 404 outside the viewer's store
    return _save_campaign(request, viewer, posted.form, campaign_id)


@router.post("/care/campaigns/{campaign_id}/queue", include_in_schema=False)
def queue_campaign(
    request: Request, campaign_id: int, viewer: Viewer = requires(Permission.CAMPAIGNS_SEND)
) -> Response:
    """Queue the campaign (audited; a second click queues nothing new)."""
    try:
        result = campaigns.queue_campaign(web_context(request).db, campaign_id,
                                          now=datetime.now(UTC), actor_id=_staff_id(viewer),
                                          scope=_scope(viewer))  # fmt: skip
    except Conflict:
        return RedirectResponse(f"/care/campaigns/{campaign_id}", status_code=303)
    flag = "again" if result.already_queued else str(result.queued)
    return RedirectResponse(f"/care/campaigns/{campaign_id}?queued={flag}", status_code=303)


@router.post("/care/campaigns/{campaign_id}/cancel", include_in_schema=False)
def cancel_campaign(
    request: Request, campaign_id: int, viewer: Viewer = requires(Permission.CAMPAIGNS_SEND)
) -> Response:
    """Cancel a draft, or the messages of a queued campaign not sent yet (audited)."""
    campaigns.cancel_campaign(web_context(request).db, campaign_id, actor_id=_staff_id(viewer),
                              scope=_scope(viewer))  # fmt: skip
    return RedirectResponse(f"/care/campaigns/{campaign_id}", status_code=303)


# --- interests -----------------------------------------------------------------------------------


@router.get("/care/interests", include_in_schema=False)
def interests_page(
    request: Request,
    category: str = "",
    product_id: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """What arrived (a product, or a category or free text) and who is interested in it, why."""
    ctx = web_context(request)
    assert viewer.signed_in is not None
    category = category.strip()
    with ctx.db.read() as session:
        arrival: interests.Arrival | None = None
        if product_id.strip().isdigit():
            arrival = interests.product_arrival(session, int(product_id))
        elif category:
            arrival = interests.find_arrival(session, category)
        rows = (interests.interested_customers(session, arrival, scope=_scope(viewer))
                if arrival is not None else [])  # fmt: skip
        names, products = interests.categories(session), interests.products(session)
    context = {
        "viewer": viewer, "L": labels, "category": category, "arrival": arrival,
        "rows": rows[:INTEREST_LIMIT], "total": len(rows), "categories": names,
        "products": products,
        "can_send": is_allowed(viewer.signed_in.staff.role, Permission.CAMPAIGNS_SEND),
    }  # fmt: skip
    return ctx.templates.TemplateResponse(request, "care/interests.html", context)
