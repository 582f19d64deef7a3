"""/api/v1/customers: search, list, create, show, change and erase customers.

DELETE erases (anonymises) a customer as the web UI does: purchases stay, so sales totals stay
true; it needs the customers:erase scope (managers and the owner) and is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from guanxi.domain.access import mask_phone, sees_all_stores
from guanxi.errors import NotAllowed, NotFound
from guanxi.services.api_tokens import Scope
from guanxi.services.customer_edits import create_customer, update_customer
from guanxi.services.customer_forms import CustomerValues
from guanxi.services.customer_privacy import erase_customer
from guanxi.services.customers import (
    CustomerDetail,
    customer_in_scope,
    get_customer_detail,
    list_customers,
)
from guanxi.web.api.auth import ApiCaller, api_requires
from guanxi.web.api.schemas import (
    MAX_ID,
    NO_NUL,
    CustomerCreateIn,
    CustomerOut,
    CustomerPatchIn,
    CustomerRowOut,
    ErrorOut,
    IdPath,
    PageOut,
    SpendOut,
)
from guanxi.web.context import web_context

router = APIRouter(tags=["customers"])


def _phone(caller: ApiCaller, phone: str | None, owner_staff_id: int | None) -> tuple[str, bool]:
    """The phone as this caller may see it, and whether it was masked."""
    if not phone or caller.sees_phone_of(owner_staff_id):
        return phone or "", False
    return mask_phone(phone), True


def customer_out(caller: ApiCaller, detail: CustomerDetail) -> CustomerOut:
    c, s = detail.customer, detail.summary
    phone, masked = _phone(caller, c["phone"], c["owner_staff_id"])
    spend = SpendOut(purchases=s.purchases, gross_spend=s.gross_spend, refunds=s.refunds,
                     net_spend=s.net_spend, first_at=s.first_at, last_at=s.last_at)  # fmt: skip
    return CustomerOut(
        id=c["id"], name=c["name"], code=c["code"], gender=c["gender"], phone=phone or None,
        phone_masked=masked, email=c["email"], wechat_id=c["wechat_id"], city=c["city"],
        source=c["source"], notes=c["notes"], tags=detail.tags,
        home_store_id=c["home_store_id"], home_store=detail.home_store,
        owner_staff_id=c["owner_staff_id"], owner_staff=detail.owner_staff,
        created_at=c["created_at"], updated_at=c["updated_at"], spend=spend,
    )  # fmt: skip


def _visible(request: Request, caller: ApiCaller, customer_id: int) -> None:
    if not customer_in_scope(web_context(request).db, customer_id, caller.store_scope):
        raise NotFound(f"customer {customer_id} does not exist")  # not: "exists elsewhere"


@router.get("/customers", response_model=PageOut[CustomerRowOut])
def search_or_list(
    request: Request,
    q: str = Query(
        "", max_length=100, pattern=NO_NUL, description="Name, pinyin, phone or its last 4, code…"
    ),
    page: int = Query(1, ge=1, le=MAX_ID),
    per_page: int = Query(50, ge=1, le=100),
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ),
) -> PageOut[CustomerRowOut]:
    """Search customers (best matches first, one page) or list them, newest first."""
    result = list_customers(web_context(request).db, query=q, page=page, per_page=per_page,
                            store_id=caller.store_scope)  # fmt: skip
    rows = []
    for r in result.rows:
        phone, masked = _phone(caller, r.phone, r.owner_staff_id)
        rows.append(CustomerRowOut(id=r.id, name=r.name, code=r.code, phone=phone or None,
                                   phone_masked=masked, home_store=r.store_name,
                                   owner_staff_id=r.owner_staff_id, matched=r.matched))  # fmt: skip
    return PageOut[CustomerRowOut](items=rows, total=result.total, page=result.page,
                                   per_page=result.per_page)  # fmt: skip


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorOut,
        "description": "`conflict`: another customer has this phone, email or code "
        "(`customer_id` names it).",
    }
}
NOT_CONFIGURED: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorOut,
        "description": "`not_configured`: erasure needs GUANXI_ERASURE_SECRET on the server.",
    }
}


@router.post("/customers", status_code=201, response_model=CustomerOut, responses=CONFLICT)
def create(
    request: Request,
    response: Response,
    body: CustomerCreateIn,
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_WRITE),
) -> CustomerOut:
    """Create a customer; 409 ``conflict`` names the customer who has the phone, email or code."""
    values = body.changes() | {"name": body.name, "source": body.source.value}
    values["home_store_id"] = _home_store(caller, body.home_store_id)
    db = web_context(request).db
    new = CustomerValues.of(values)
    customer_id = create_customer(db, new, actor=caller.staff, ip=caller.ip, via="api")
    response.headers["Location"] = f"/api/v1/customers/{customer_id}"
    return customer_out(caller, get_customer_detail(db, customer_id))


def _home_store(caller: ApiCaller, wanted: int | None) -> int | None:
    """Owners put a customer in any store (or none); others only in their own."""
    if sees_all_stores(caller.staff.role):
        return wanted
    own = caller.staff.store_id
    if own is None:
        raise NotAllowed("your staff record has no store: ask the owner to set one")
    if wanted is not None and wanted != own:
        raise NotAllowed(f"you may add customers only to your own store (id {own})")
    return own


@router.get("/customers/{customer_id}", response_model=CustomerOut)
def show(
    request: Request, customer_id: IdPath, caller: ApiCaller = api_requires(Scope.CUSTOMERS_READ)
) -> CustomerOut:
    """One customer with spend figures; 404 for customers outside the caller's store."""
    _visible(request, caller, customer_id)
    return customer_out(caller, get_customer_detail(web_context(request).db, customer_id))


@router.delete(
    "/customers/{customer_id}", status_code=204, responses={**CONFLICT, **NOT_CONFIGURED}
)
def erase(
    request: Request,
    customer_id: IdPath,
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_ERASE),
) -> Response:
    """Erase the customer's personal data on their request; purchases stay, anonymously."""
    _visible(request, caller, customer_id)
    ctx = web_context(request)
    erase_customer(ctx.db, customer_id, actor=caller.staff, ip=caller.ip,
                   secret=ctx.settings.erasure_secret)  # fmt: skip
    return Response(status_code=204)


@router.patch("/customers/{customer_id}", response_model=CustomerOut, responses=CONFLICT)
def change(
    request: Request,
    customer_id: IdPath,
    body: CustomerPatchIn,
    caller: ApiCaller = api_requires(Scope.CUSTOMERS_WRITE),
) -> CustomerOut:
    """Change the fields sent (null clears one); audited by field names, never values."""
    _visible(request, caller, customer_id)
    db = web_context(request).db
    changes = CustomerValues.of(body.changes())
    update_customer(db, customer_id, changes, actor=caller.staff, ip=caller.ip, via="api")
    return customer_out(caller, get_customer_detail(db, customer_id))
