"""Complaint pages (投诉).

* ``/complaints``: the list (filters: status, category, severity, breached only) with SLA badges;
* ``/complaints/new``: log a complaint (``?customer_id=`` prefills; ``?q=`` finds a customer by
  name or phone tail among those the viewer sees);
* ``/complaints/{id}``: the timeline, the two SLA clocks and the actions (respond, note, assign,
  escalate, resolve with a recovery, close, reopen);
* ``/complaints/feedback-link`` (POST, ``customer_id``): a single-use public feedback link for
  a customer, shown as the URL to paste into WeChat or an SMS;
* ``/complaints/report`` (``complaints.manage``): volume, SLA compliance, response times and
  the recovery rate.

Staff who edit customers (clerks too) log, answer, escalate, resolve (apology, replacement,
refund), close and reopen; assigning and compensating with coupons or points need
``complaints.manage`` (managers, the owner). Managers and clerks see their store's complaints.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from guanxi.domain.access import Permission, is_allowed
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.feedback import complaint_steps as steps
from guanxi.feedback import links
from guanxi.feedback.complaint_lists import (
    Filters,
    check_in_scope,
    find_row,
    list_complaints,
    staff_choices,
    timeline,
)
from guanxi.feedback.complaint_reports import build_report
from guanxi.feedback.complaints import (
    CATEGORIES,
    CHANNELS,
    SEVERITIES,
    STATUSES,
    get_complaint,
    open_complaint,
    sla_policy,
    store_zone,
)
from guanxi.services.customers import customer_in_scope, search_customers
from guanxi.storage.models import CouponCampaign, Customer
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.routes.customers import scope_of

router = APIRouter()


def _scope(viewer: Viewer) -> int | None:
    assert viewer.signed_in is not None
    return scope_of(viewer.signed_in)


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


@router.get("/complaints", include_in_schema=False)
def complaints_page(
    request: Request,
    status: str = "active",
    category: str = "",
    severity: str = "",
    breached: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """The complaints in view, open ones first by their resolution deadline."""
    ctx = web_context(request)
    filters = Filters(status=status if status in STATUSES + ("active",) else "",
                      category=category if category in CATEGORIES else "",
                      severity=severity if severity in SEVERITIES else "",
                      breached=breached in ("1", "on", "true"))  # fmt: skip
    now = datetime.now(UTC)
    with ctx.db.read() as session:
        rows = list_complaints(session, scope=_scope(viewer), filters=filters, now=now,
                               policy=sla_policy(ctx.settings))  # fmt: skip
    context = {"viewer": viewer, "L": labels, "rows": rows, "filters": filters,
               "statuses": STATUSES, "categories": CATEGORIES,
               "severities": SEVERITIES}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "complaints/list.html", context)


def _customer(request: Request, customer_id: int | None, scope: int | None) -> Any:
    if customer_id is None:
        return None
    ctx = web_context(request)
    if not customer_in_scope(ctx.db, customer_id, scope):
        raise NotFound(f"customer {customer_id} does not exist")
    with ctx.db.read() as session:
        row = session.execute(
            select(Customer.id, Customer.name, Customer.erased_at).where(Customer.id == customer_id)
        ).one()
    if row.erased_at is not None:
        raise InvalidInput(f"customer {customer_id} was erased: log the complaint without them")
    return row


def _new_page(request: Request, viewer: Viewer, *, form: dict[str, str], error: str = "",
              status_code: int = 200) -> Response:  # fmt: skip
    ctx = web_context(request)
    scope = _scope(viewer)
    customer = _customer(request, _int(form.get("customer_id", "")), scope)
    query = request.query_params.get("q", "").strip()
    hits = search_customers(ctx.db, query, limit=10, store_id=scope) if query else []
    context = {"viewer": viewer, "L": labels, "form": form, "error": error,
               "customer": customer, "q": query, "hits": hits, "categories": CATEGORIES,
               "severities": SEVERITIES, "channels": CHANNELS}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "complaints/new.html", context,
                                          status_code=status_code)  # fmt: skip


@router.get("/complaints/new", include_in_schema=False)
def new_complaint_page(
    request: Request,
    customer_id: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """The form to log a complaint (optionally for a customer)."""
    form = {"customer_id": customer_id, "category": "product", "severity": "medium",
            "channel": "counter", "summary": ""}  # fmt: skip
    return _new_page(request, viewer, form=form)


@router.post("/complaints/new", include_in_schema=False)
def add_complaint(
    request: Request,
    customer_id: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Log the complaint; to its page, or back to the form with what is wrong (422)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = _scope(viewer)
    form = {"customer_id": customer_id, "category": category, "severity": severity,
            "channel": channel, "summary": summary}  # fmt: skip
    try:
        customer = _customer(request, _int(customer_id), scope)
        with ctx.db.write() as session:
            cid = open_complaint(
                session, customer_id=None if customer is None else customer.id,
                store_id=scope if customer is None else None, category=category,
                severity=severity, channel=channel, summary=summary,
                actor_id=viewer.signed_in.staff.id, now=datetime.now(UTC),
                policy=sla_policy(ctx.settings),
            )  # fmt: skip
    except InvalidInput as exc:
        return _new_page(request, viewer, form=form, error=str(exc), status_code=422)
    return RedirectResponse(f"/complaints/{cid}", status_code=303)


@router.post("/complaints/feedback-link", include_in_schema=False)
def feedback_link(
    request: Request,
    customer_id: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Issue a single-use public feedback link for the customer; the page shows its URL to
    paste into WeChat or an SMS (or its path, when the shop's public URL is not set)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    found = _int(customer_id)
    if found is None:
        raise NotFound("customer: choose the customer the link is for")
    customer = _customer(request, found, _scope(viewer))
    with ctx.db.write() as session:
        token = steps.issue_feedback_link(session, customer.id, actor_id=viewer.signed_in.staff.id,
                                          now=datetime.now(UTC))  # fmt: skip
    path = links.link_path("feedback", token)
    base = ctx.settings.public_url.strip().rstrip("/")
    context = {"viewer": viewer, "L": labels, "customer": customer, "path": path,
               "url": base + path if base else "",
               "days": links.DEFAULT_DAYS["feedback"]}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "complaints/feedback_link.html", context)


@router.get("/complaints/report", include_in_schema=False)
def report_page(
    request: Request, viewer: Viewer = requires(Permission.COMPLAINTS_MANAGE)
) -> Response:
    """Volume, SLA compliance, response times and recovery of the last 12 months."""
    ctx = web_context(request)
    scope = _scope(viewer)
    now = datetime.now(UTC)
    with ctx.db.read() as session:
        zone = store_zone(session, scope, sla_policy(ctx.settings))
        report = build_report(session, today=now.astimezone(ZoneInfo(zone)).date(), now=now,
                              zone=zone, scope=scope)  # fmt: skip
    context = {"viewer": viewer, "L": labels, "r": report, "categories": CATEGORIES}
    return ctx.templates.TemplateResponse(request, "complaints/report.html", context)


def _detail(request: Request, viewer: Viewer, complaint_id: int, *, error: str = "",
            status_code: int = 200) -> Response:  # fmt: skip
    ctx = web_context(request)
    scope = _scope(viewer)
    assert viewer.signed_in is not None
    manages = is_allowed(viewer.signed_in.staff.role, Permission.COMPLAINTS_MANAGE)
    with ctx.db.read() as session:
        row = find_row(session, complaint_id, scope=scope, now=datetime.now(UTC),
                       policy=sla_policy(ctx.settings))  # fmt: skip
        events = timeline(session, complaint_id)
        choices = staff_choices(session, row.store_id)
        campaigns = [(int(i), str(n)) for i, n in session.execute(
            select(CouponCampaign.id, CouponCampaign.name)
            .where(CouponCampaign.is_active.is_(True)).order_by(CouponCampaign.id)
        )] if manages else []  # fmt: skip
    staff_names = dict(choices)
    context = {"viewer": viewer, "L": labels, "c": row, "events": events, "error": error,
               "staff": choices, "staff_names": staff_names, "manages": manages,
               "campaigns": campaigns, "recoveries": steps.RECOVERY_ACTIONS,
               "done": request.query_params.get("done", "")}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "complaints/detail.html", context,
                                          status_code=status_code)  # fmt: skip


@router.get("/complaints/{complaint_id}", include_in_schema=False)
def complaint_page(
    request: Request, complaint_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    """One complaint: clocks, timeline, actions."""
    return _detail(request, viewer, complaint_id)


def _step(request: Request, viewer: Viewer, complaint_id: int, step: str, run: Any) -> Response:
    """Run one step in a write transaction (after the scope check): back to the page, or the
    page with the error (422 invalid, 409 impossible, 403 not allowed)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    try:
        with ctx.db.write() as session:
            check_in_scope(session, complaint_id, _scope(viewer))
            run(session, viewer.signed_in.staff, datetime.now(UTC))
    except (InvalidInput, Conflict, NotAllowed) as exc:
        code = 409 if isinstance(exc, Conflict) else 403 if isinstance(exc, NotAllowed) else 422
        return _detail(request, viewer, complaint_id, error=str(exc), status_code=code)
    return RedirectResponse(f"/complaints/{complaint_id}?done={step}", status_code=303)


@router.post("/complaints/{complaint_id}/respond", include_in_schema=False)
def respond(request: Request, complaint_id: int, note: Annotated[str, Form()] = "",
            viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)) -> Response:  # fmt: skip
    """Record a response to the customer (stops the first-response clock)."""
    return _step(request, viewer, complaint_id, "respond",
                 lambda s, who, now: steps.respond(s, complaint_id, note, actor_id=who.id,
                                                   now=now))  # fmt: skip


@router.post("/complaints/{complaint_id}/note", include_in_schema=False)
def note(request: Request, complaint_id: int, note: Annotated[str, Form()] = "",
         viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)) -> Response:  # fmt: skip
    """Add an internal note."""
    return _step(request, viewer, complaint_id, "note",
                 lambda s, who, now: steps.add_note(s, complaint_id, note, actor_id=who.id,
                                                    now=now))  # fmt: skip


@router.post("/complaints/{complaint_id}/assign", include_in_schema=False)
def assign(request: Request, complaint_id: int, staff_id: Annotated[str, Form()] = "",
           viewer: Viewer = requires(Permission.COMPLAINTS_MANAGE)) -> Response:  # fmt: skip
    """Give the complaint to a staff member (empty: nobody)."""
    return _step(request, viewer, complaint_id, "assign",
                 lambda s, who, now: steps.assign(s, complaint_id, _int(staff_id),
                                                  actor_id=who.id, now=now))  # fmt: skip


@router.post("/complaints/{complaint_id}/escalate", include_in_schema=False)
def escalate(request: Request, complaint_id: int, note: Annotated[str, Form()] = "",
             viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)) -> Response:  # fmt: skip
    """Hand the complaint to the store's manager (the owner when there is none)."""

    def run(session: Any, who: Any, now: datetime) -> None:
        row = get_complaint(session, complaint_id)  # _step checked the scope
        target = steps.escalation_target(session, row.store_id)
        if target is None:
            raise InvalidInput("nobody to escalate to: add a manager or an owner first")
        steps.escalate(session, complaint_id, target, actor_id=who.id, now=now, note=note)

    return _step(request, viewer, complaint_id, "escalate", run)


@router.post("/complaints/{complaint_id}/resolve", include_in_schema=False)
def resolve(
    request: Request,
    complaint_id: int,
    action: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    points: Annotated[str, Form()] = "",
    campaign_id: Annotated[str, Form()] = "",
    refund: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Resolve with a recovery; the customer gets the satisfaction link when reachable."""
    ctx = web_context(request)

    def run(session: Any, who: Any, now: datetime) -> None:
        recovery = steps.Recovery(
            action=action.strip(),
            points=(_int(points) or 0) if action == "points" else 0,
            coupon_campaign_id=_int(campaign_id) if action == "coupon" else None,
            refund=steps.parse_refund(refund) if action == "refund" else None,
        )  # fmt: skip
        steps.resolve(session, complaint_id, recovery, note, actor=who, now=now,
                      public_url=ctx.settings.public_url,
                      shop=ctx.settings.shop_name or None)  # fmt: skip

    return _step(request, viewer, complaint_id, "resolve", run)


@router.post("/complaints/{complaint_id}/close", include_in_schema=False)
def close(request: Request, complaint_id: int, note: Annotated[str, Form()] = "",
          viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)) -> Response:  # fmt: skip
    """Close a resolved complaint."""
    return _step(request, viewer, complaint_id, "close",
                 lambda s, who, now: steps.close(s, complaint_id, actor_id=who.id, now=now,
                                                 note=note))  # fmt: skip


@router.post("/complaints/{complaint_id}/reopen", include_in_schema=False)
def reopen(request: Request, complaint_id: int, note: Annotated[str, Form()] = "",
           viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)) -> Response:  # fmt: skip
    """Reopen a resolved or closed complaint (with the reason)."""
    return _step(request, viewer, complaint_id, "reopen",
                 lambda s, who, now: steps.reopen(s, complaint_id, note, actor_id=who.id,
                                                  now=now))  # fmt: skip
