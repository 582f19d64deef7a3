"""Pages for follow-up plans (回访计划), task outcomes and promises (承诺).

* ``/care/plans`` (managers, owner): the follow-up plans; add one, deactivate or reactivate.
* ``POST /care/tasks/{id}/outcome`` (staff who edit customers): log what came of a contact;
  HTMX gets the task's list item back (``care/_task.html``), a plain form goes back to ``next``.
* ``/care/commitments``: open promises (overdue first) and the kept-on-time rate per staff
  member and store; ``POST /customers/{id}/commitments`` records one (from the customer page's
  care section), ``POST /care/commitments/{id}/close`` closes one (kept, broken, cancelled).

Clerks and managers see their store's customers only; the owner every store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from guanxi.care import commitments as promises
from guanxi.care import tasks
from guanxi.domain.access import Permission
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.feedback.complaints import sla_policy
from guanxi.services.customer_care import CommitmentDraft, care_section
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Store
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import _detail_context, is_htmx, scope_of

router = APIRouter()

RATE_DAYS = 90  # the default period of the kept-on-time rates


def _today(request: Request, scope: int | None) -> date:
    """Today in the viewer's store's zone (the shop's zone for the owner)."""
    ctx = web_context(request)
    zone = ctx.settings.timezone
    if scope is not None:
        with ctx.db.read() as session:
            zone = session.execute(select(Store.timezone).where(Store.id == scope)).scalar() or zone
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def _safe_next(value: str, fallback: str) -> str:
    """Only a path on this site (no scheme, no ``//host``)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


# --- follow-up plans ---------------------------------------------------------------------------


def _plans_page(
    request: Request,
    viewer: Viewer,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = web_context(request)
    context = {
        "viewer": viewer,
        "L": labels,
        "plans": tasks.list_plans(ctx.db),
        "categories": tasks.plan_categories(ctx.db),
        "form": form
        or {
            "name": "",
            "category": "",
            "days_after": "7",
            "action": "",
            "skip_holidays": True,
        },  # fmt: skip
        "errors": errors or {},
        "saved": request.query_params.get("saved", ""),
    }
    return ctx.templates.TemplateResponse(request, "care/plans.html", context,
                                          status_code=status_code)  # fmt: skip


@router.get("/care/plans", include_in_schema=False)
def plans_page(request: Request, viewer: Viewer = requires(Permission.CARE_MANAGE)) -> Response:
    """The follow-up plans and the form to add one."""
    return _plans_page(request, viewer)


@router.post("/care/plans", include_in_schema=False)
def add_plan(
    request: Request,
    name: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    days_after: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    skip_holidays: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CARE_MANAGE),
) -> Response:
    """Add a plan; back to the list, or the form with what is wrong (422)."""
    assert viewer.signed_in is not None
    days = _int(days_after)
    skip = skip_holidays in ("1", "on", "true", "yes")
    errors = tasks.plan_errors(name, category, days, action)
    form = {"name": name, "category": category, "days_after": days_after, "action": action,
            "skip_holidays": skip}  # fmt: skip
    if errors or days is None:
        return _plans_page(request, viewer, form=form, errors=errors, status_code=422)
    tasks.save_plan(web_context(request).db, name=name, category=category or None,
                    days_after=days, action=action, skip_holidays=skip,
                    actor_id=viewer.signed_in.staff.id)  # fmt: skip
    return RedirectResponse("/care/plans?saved=1", status_code=303)


@router.post("/care/plans/{plan_id}/active", include_in_schema=False)
def set_plan_active(
    request: Request,
    plan_id: int,
    active: Annotated[str, Form()] = "0",
    viewer: Viewer = requires(Permission.CARE_MANAGE),
) -> Response:
    """Deactivate (``active=0``) or reactivate (``active=1``) a plan."""
    assert viewer.signed_in is not None
    tasks.set_plan_active(web_context(request).db, plan_id, active == "1",
                          actor_id=viewer.signed_in.staff.id)  # fmt: skip
    return RedirectResponse("/care/plans", status_code=303)


# --- task outcomes -----------------------------------------------------------------------------


@router.post("/care/tasks/{task_id}/outcome", include_in_schema=False)
def task_outcome(
    request: Request,
    task_id: int,
    outcome: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002 - the form field's name
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Log the outcome of a task. HTMX: the task's item (done, or with the error); otherwise
    a redirect to ``next`` (default: the customer's page)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    with ctx.db.read() as session:
        task = tasks.get_task(session, task_id, scope=scope)  # NotFound outside the scope
    error = ""
    try:
        tasks.log_outcome(ctx.db, task_id, outcome, note, actor_id=viewer.signed_in.staff.id,
                          scope=scope, sla=sla_policy(ctx.settings))  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        if not is_htmx(request):
            raise
        error = str(exc)
    if not is_htmx(request):
        back = _safe_next(next, f"/customers/{task.customer_id}#care")
        return RedirectResponse(back, status_code=303)
    with ctx.db.read() as session:
        task = tasks.get_task(session, task_id, scope=scope)
    context = {
        "viewer": viewer,
        "L": labels,
        "task": task,
        "error": error,
        "promise_due": (_today(request, scope) + timedelta(days=7)).isoformat(),
        "next": _safe_next(next, ""),
    }
    return ctx.templates.TemplateResponse(request, "care/_task.html", context)


# --- promises ----------------------------------------------------------------------------------


@router.get("/care/commitments", include_in_schema=False)
def commitments_page(
    request: Request,
    start: str = "",
    end: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """Open promises (the viewer's store; the owner every store) and the kept-on-time rates of
    the promises due in the period (default: the last 90 days)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    today = _today(request, scope)
    until = _date(end) or today
    since = _date(start) or until - timedelta(days=RATE_DAYS - 1)
    if since > until:
        raise InvalidInput(f"the period ends ({until}) before it starts ({since})")
    with ctx.db.read() as session:
        open_rows = promises.list_commitments(session, status="open", store_id=scope)
        by_staff = promises.kept_rates(session, start=since, end=until, by="staff",
                                       store_id=scope, day=today)  # fmt: skip
        by_store = promises.kept_rates(session, start=since, end=until, by="store",
                                       store_id=scope, day=today)  # fmt: skip
    context = {
        "viewer": viewer,
        "L": labels,
        "today": today,
        "rows": open_rows,
        "overdue": sum(1 for r in open_rows if r.overdue(today)),
        "by_staff": by_staff,
        "by_store": by_store,
        "start": since,
        "end": until,
        "closed": request.query_params.get("closed", ""),
    }
    return ctx.templates.TemplateResponse(request, "care/commitments.html", context)


@router.post("/customers/{customer_id}/commitments", include_in_schema=False)
def add_commitment(
    request: Request,
    customer_id: int,
    promise: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
    owner_staff_id: Annotated[str, Form()] = "",
    remind_days: Annotated[str, Form()] = "1",
    task_id: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002 - the form field's name
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Record a promise to the customer; back to their page (or ``next``). A refused form
    comes back with what is wrong (HTMX: the care section; otherwise the page, 422)."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    if not customer_in_scope(ctx.db, customer_id, scope):
        raise NotFound(f"customer {customer_id} does not exist")
    today = _today(request, scope)
    due, remind, owner = _date(due_on), _int(remind_days), _int(owner_staff_id)
    from_task = _int(task_id)
    errors = promises.commitment_errors(promise, due, remind, day=today)
    if not errors and due is not None and remind is not None:
        try:
            promises.make_commitment(
                ctx.db, customer_id=customer_id, promise=promise, due_on=due,
                owner_staff_id=owner, remind_days=remind, actor_id=viewer.signed_in.staff.id,
                scope=scope, day=today, from_task_id=from_task,
            )  # fmt: skip
        except InvalidInput as exc:
            field, _sep, text = str(exc).partition(": ")
            errors = {field if text else "promise": text or str(exc)}
        else:
            back = _safe_next(next, f"/customers/{customer_id}?care=saved#care")
            return RedirectResponse(back, status_code=303)
    draft = CommitmentDraft(promise, due_on, owner, remind_days, from_task, errors)
    care = care_section(ctx.db, customer_id, day=today,
                        viewer_staff_id=viewer.signed_in.staff.id, draft=draft)  # fmt: skip
    if is_htmx(request):
        context = {"viewer": viewer, "L": labels, "care": care}
        return ctx.templates.TemplateResponse(request, "customers/_care.html", context,
                                              status_code=422)  # fmt: skip
    context = _detail_context(request, viewer, customer_id)
    context["care"] = care
    return ctx.templates.TemplateResponse(request, "customers/detail.html", context,
                                          status_code=422)  # fmt: skip


_RESULTS = {"kept": True, "broken": False, "cancelled": None}


@router.post("/care/commitments/{commitment_id}/close", include_in_schema=False)
def close_commitment(
    request: Request,
    commitment_id: int,
    result: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002 - the form field's name
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Close a promise as kept (today), broken or cancelled; back to ``next`` or the list."""
    assert viewer.signed_in is not None
    if result not in _RESULTS:
        raise InvalidInput(_("Choose whether the promise was kept, broken or cancelled."))
    scope = scope_of(viewer.signed_in)
    promises.close_commitment(web_context(request).db, commitment_id, kept=_RESULTS[result],
                              day=_today(request, scope), actor_id=viewer.signed_in.staff.id,
                              scope=scope, note=note)  # fmt: skip
    return RedirectResponse(_safe_next(next, f"/care/commitments?closed={result}"),
                            status_code=303)  # fmt: skip
