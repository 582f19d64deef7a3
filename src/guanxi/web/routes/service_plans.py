"""Pages and forms of customised services (专属服务).

* ``/service-plans``: open steps of active plans due in the coming days (overdue first), of the
  viewer's store (the owner: every store), by owner; a step is ticked done from the list.
* ``/customers/{id}/service-plans``: the customer's plans on a page of their own (the customer
  page shows the same block, ``customers/_service_plans.html``).
* The forms (staff who edit customers): a new plan (typed steps or a ready-made plan), change a
  plan, add or change a step, tick a step done (or undo it), complete or cancel a plan. HTMX
  gets the block back; a plain form goes back to ``next`` (default: the customer's page), or,
  refused, to the plans page with what was typed and the messages (422).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from guanxi.club import service_plans as sp
from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput, NotFound
from guanxi.services.customer_forms import FormErrors
from guanxi.services.customers import customer_in_scope
from guanxi.services.staff import StaffMember
from guanxi.storage.models import Customer
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import is_htmx, scope_of

router = APIRouter()

DEFAULT_DAYS = 14  # the list shows steps due within this many days
MAX_DAYS = 366


@dataclass(frozen=True)
class Refused:
    """A form that was refused: which one (``new``, ``plan-<id>``, ``add-<plan id>``,
    ``step-<id>``, ``cancel-<id>``), what was typed and the message of each field."""

    target: str
    draft: Any
    errors: dict[str, str]


def _actor(viewer: Viewer) -> StaffMember:
    assert viewer.signed_in is not None
    return viewer.signed_in.staff


def _safe_next(value: str) -> str:
    """Only a path on this site (no scheme, no ``//host``)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


def _section(request: Request, customer_id: int, refused: Refused | None) -> dict[str, Any]:
    with web_context(request).db.read() as session:
        section = sp.service_plan_section(session, customer_id)
    section["form"] = refused
    return section


def _block(
    request: Request,
    viewer: Viewer,
    customer_id: int,
    refused: Refused | None = None,
    next_url: str = "",
) -> Response:
    """HTMX: the block (200 even when refused: htmx swaps no error response); otherwise back
    to ``next_url`` (default: the customer's page), or the plans page with the refused form
    (422)."""
    ctx = web_context(request)
    if is_htmx(request):
        context = {"viewer": viewer, "sp": _section(request, customer_id, refused)}
        return ctx.templates.TemplateResponse(request, "customers/_service_plans.html", context)
    if refused is None:
        back = _safe_next(next_url) or f"/customers/{customer_id}#service-plans"
        return RedirectResponse(back, status_code=303)
    return _customer_page(request, viewer, customer_id, refused)


def _submit(request: Request, viewer: Viewer, customer_id: int, change: Callable[[], object],
            target: str, draft: Any, next_url: str = "") -> Response:  # fmt: skip
    """Run ``change``; refused (FormErrors), the block with form ``target``'s ``draft`` and the
    messages, otherwise the block (or ``next_url``)."""
    try:
        change()
    except FormErrors as exc:
        return _block(request, viewer, customer_id, Refused(target, draft, exc.errors))
    return _block(request, viewer, customer_id, next_url=next_url)


def _customer_page(
    request: Request, viewer: Viewer, customer_id: int, refused: Refused | None = None
) -> Response:
    ctx = web_context(request)
    with ctx.db.read() as session:
        customer = session.get(Customer, customer_id)
        name = customer.name if customer is not None else ""
    context = {"viewer": viewer, "sp": _section(request, customer_id, refused),
               "customer_name": name}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "service_plans/customer.html", context,
                                          status_code=422 if refused else 200)  # fmt: skip


# --- pages -------------------------------------------------------------------------------------


@router.get("/service-plans", include_in_schema=False)
def steps_due_page(
    request: Request,
    owner: str = "",
    days: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """Open steps due within ``days`` (default 14) and overdue ones, of one owner or all."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    scope = scope_of(viewer.signed_in)
    ahead = int(days) if days.strip().isdigit() else DEFAULT_DAYS
    if ahead > MAX_DAYS:
        raise InvalidInput(f"days: at most {MAX_DAYS} (found {ahead})")
    owner_id = int(owner) if owner.strip().isdigit() else None
    if owner == "me":
        owner_id = viewer.signed_in.staff.id
    with ctx.db.read() as session:
        today = sp.business_day(session, scope)
        rows = sp.open_steps(session, until=today + timedelta(days=ahead), store_id=scope,
                             owner_staff_id=owner_id)  # fmt: skip
        owners = sp.owner_choices(session, scope)
    context = {"viewer": viewer, "rows": rows, "today": today, "owners": owners,
               "owner": owner_id, "days": ahead,
               "overdue": sum(1 for r in rows if r.overdue(today))}  # fmt: skip
    return ctx.templates.TemplateResponse(request, "service_plans/list.html", context)


@router.get("/customers/{customer_id}/service-plans", include_in_schema=False)
def customer_plans_page(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    """The customer's plans; an HTMX request gets the block alone."""
    _in_scope(request, viewer, customer_id)
    if is_htmx(request):
        return _block(request, viewer, customer_id)
    return _customer_page(request, viewer, customer_id)


def _in_scope(request: Request, viewer: Viewer, customer_id: int) -> None:
    assert viewer.signed_in is not None
    if not customer_in_scope(web_context(request).db, customer_id, scope_of(viewer.signed_in)):
        raise NotFound(f"customer {customer_id} does not exist")


# --- plans -------------------------------------------------------------------------------------


def _with_template(draft: sp.PlanDraft) -> sp.PlanDraft:
    """Fill what was left empty from the chosen ready-made plan, in the viewer's language."""
    if not draft.template:
        return draft
    template = sp.TEMPLATES_BY_KEY.get(draft.template)
    if template is None:
        raise FormErrors({"template": f"unknown ready-made plan {draft.template!r}: choose one "
                                      "from the list"})  # fmt: skip
    names = [_(n) for n, _days in template.steps]
    return sp.PlanDraft(
        name=draft.name.strip() or _(template.name),
        description=draft.description.strip() or _(template.description),
        owner_staff_id=draft.owner_staff_id,
        steps=draft.steps.strip() or sp.template_steps(template, names),
        start=draft.start,
        template=draft.template,
    )  # fmt: skip


@router.post("/customers/{customer_id}/service-plans", include_in_schema=False)
def add_plan(
    request: Request,
    customer_id: int,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    owner_staff_id: Annotated[str, Form()] = "",
    steps: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
    template: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002 - the form field's name
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Give the customer a plan (typed steps, or a ready-made plan's)."""
    _in_scope(request, viewer, customer_id)
    draft = sp.PlanDraft(name, description, owner_staff_id, steps, start, template)
    return _submit(request, viewer, customer_id,
                   lambda: sp.create_plan(web_context(request).db, customer_id,
                                          _with_template(draft), actor=_actor(viewer),
                                          ip=viewer.ip),
                   "new", draft, next_url=next)  # fmt: skip


@router.post("/service-plans/{plan_id}", include_in_schema=False)
def save_plan(
    request: Request,
    plan_id: int,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    owner_staff_id: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Change a plan's name, description or owner."""
    db = web_context(request).db
    customer_id = sp.plan_customer(db, plan_id, _actor(viewer))
    return _submit(request, viewer, customer_id,
                   lambda: sp.update_plan(db, plan_id, name=name, description=description,
                                          owner_staff_id=owner_staff_id, actor=_actor(viewer),
                                          ip=viewer.ip),
                   f"plan-{plan_id}", sp.PlanDraft(name, description, owner_staff_id))  # fmt: skip


@router.post("/service-plans/{plan_id}/complete", include_in_schema=False)
def complete_plan(
    request: Request, plan_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)
) -> Response:
    """Mark the plan completed by hand."""
    db = web_context(request).db
    customer_id = sp.plan_customer(db, plan_id, _actor(viewer))
    sp.complete_plan(db, plan_id, actor=_actor(viewer), ip=viewer.ip)
    return _block(request, viewer, customer_id)


@router.post("/service-plans/{plan_id}/cancel", include_in_schema=False)
def cancel_plan(
    request: Request,
    plan_id: int,
    reason: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Cancel the plan with a reason (kept on the customer's timeline)."""
    db = web_context(request).db
    customer_id = sp.plan_customer(db, plan_id, _actor(viewer))
    return _submit(request, viewer, customer_id,
                   lambda: sp.cancel_plan(db, plan_id, reason, actor=_actor(viewer), ip=viewer.ip),
                   f"cancel-{plan_id}", reason)  # fmt: skip


# --- steps -------------------------------------------------------------------------------------


@router.post("/service-plans/{plan_id}/steps", include_in_schema=False)
def add_step(
    request: Request,
    plan_id: int,
    step_name: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Add a step to the plan."""
    db = web_context(request).db
    customer_id = sp.plan_customer(db, plan_id, _actor(viewer))
    draft = sp.StepDraft(step_name, due_on, note)
    return _submit(request, viewer, customer_id,
                   lambda: sp.add_step(db, plan_id, draft, actor=_actor(viewer), ip=viewer.ip),
                   f"add-{plan_id}", draft)  # fmt: skip


@router.post("/service-plans/steps/{step_id}", include_in_schema=False)
def save_step(
    request: Request,
    step_id: int,
    step_name: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Change a step's name, due date or note."""
    db = web_context(request).db
    customer_id = sp.step_customer(db, step_id, _actor(viewer))
    draft = sp.StepDraft(step_name, due_on, note)
    return _submit(request, viewer, customer_id,
                   lambda: sp.update_step(db, step_id, draft, actor=_actor(viewer), ip=viewer.ip),
                   f"step-{step_id}", draft)  # fmt: skip


@router.post("/service-plans/steps/{step_id}/done", include_in_schema=False)
def tick_step(
    request: Request,
    step_id: int,
    next: Annotated[str, Form()] = "",  # noqa: A002 - the form field's name
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Tick the step done today (again: nothing changes); the plan completes after its last."""
    db = web_context(request).db
    customer_id = sp.step_customer(db, step_id, _actor(viewer))
    sp.complete_step(db, step_id, actor=_actor(viewer), ip=viewer.ip)
    return _block(request, viewer, customer_id, next_url=next)


@router.post("/service-plans/steps/{step_id}/undo", include_in_schema=False)
def untick_step(
    request: Request, step_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)
) -> Response:
    """Undo a tick made by mistake."""
    db = web_context(request).db
    customer_id = sp.step_customer(db, step_id, _actor(viewer))
    sp.reopen_step(db, step_id, actor=_actor(viewer), ip=viewer.ip)
    return _block(request, viewer, customer_id)
