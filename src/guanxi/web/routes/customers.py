"""Customer archive pages: the list (search as you type) and one customer's page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from guanxi.domain.access import Permission, mask_phone, sees_all_stores, sees_full_phone
from guanxi.errors import NotAllowed, NotFound
from guanxi.services import audit
from guanxi.services.customers import customer_in_scope, get_customer_detail, list_customers
from guanxi.services.staff import SignedIn
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context

router = APIRouter()


def scope_of(signed: SignedIn) -> int | None:
    """The store a viewer is limited to; None for the owner (every store)."""
    staff = signed.staff
    return None if sees_all_stores(staff.role) else (staff.store_id or -1)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )


@router.get("/customers", include_in_schema=False)
def customer_list(
    request: Request,
    q: str = "",
    tag: str = "",
    page: int = 1,
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """The list; an HTMX request (search as you type) gets only the rows."""
    assert viewer.signed_in is not None
    ctx = web_context(request)
    result = list_customers(ctx.db, query=q, tag=tag or None, page=page,
                            store_id=scope_of(viewer.signed_in))  # fmt: skip
    context = {"viewer": viewer, "result": result, "q": q, "tag": tag, "mask": mask_phone}
    name = "customers/_rows.html" if is_htmx(request) else "customers/list.html"
    return ctx.templates.TemplateResponse(request, name, context)


def _visible(request: Request, viewer: Viewer, customer_id: int) -> None:
    assert viewer.signed_in is not None
    if not customer_in_scope(web_context(request).db, customer_id, scope_of(viewer.signed_in)):
        raise NotFound(f"customer {customer_id} does not exist")  # not: "exists elsewhere"


@router.get("/customers/{customer_id}", include_in_schema=False)
def customer_page(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    _visible(request, viewer, customer_id)
    ctx = web_context(request)
    detail = get_customer_detail(ctx.db, customer_id)
    assert viewer.signed_in is not None
    staff = viewer.signed_in.staff
    may_unmask = sees_full_phone(
        staff.role, is_account_owner=detail.customer["owner_staff_id"] == staff.id
    )
    context = {
        "viewer": viewer,
        "d": detail,
        "c": detail.customer,
        "s": detail.summary,
        "phone": mask_phone(detail.customer["phone"]),
        "may_unmask": may_unmask,
    }
    return ctx.templates.TemplateResponse(request, "customers/detail.html", context)


@router.post("/customers/{customer_id}/phone", include_in_schema=False)
def reveal_phone(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    """Show the full phone number to whoever may see it; every reveal is audited."""
    _visible(request, viewer, customer_id)
    ctx = web_context(request)
    assert viewer.signed_in is not None
    staff = viewer.signed_in.staff
    detail = get_customer_detail(ctx.db, customer_id)
    owner = detail.customer["owner_staff_id"] == staff.id
    if not sees_full_phone(staff.role, is_account_owner=owner):
        raise NotAllowed("clerks see full phone numbers only of the customers they look after")
    with ctx.db.write() as session:
        audit.record(session, audit.Action.PHONE_UNMASKED, actor_id=staff.id,
                     target_type="customer", target_id=customer_id, ip=viewer.ip)  # fmt: skip
    return HTMLResponse(f'<span class="phone">{detail.customer["phone"] or ""}</span>')
