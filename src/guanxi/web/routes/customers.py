"""Customer archive pages: the list (search as you type, filters), one customer's page, the
edit form, consent, notes, anniversaries, personal data export and erasure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup

from guanxi.analytics.thresholds import load_thresholds
from guanxi.club.bonds import bonds_section
from guanxi.club.engagement import club_section
from guanxi.club.service_plans import service_plan_section
from guanxi.config import Settings
from guanxi.domain.access import (
    Permission,
    mask_phone,
    sees_all_stores,
    sees_full_phone,
    store_scope,
)
from guanxi.domain.customers import Channel, CustomerSource, Gender
from guanxi.domain.staff import Role
from guanxi.errors import ConfigError, Conflict, InvalidInput, NotFound
from guanxi.feedback.complaint_lists import complaint_section
from guanxi.feedback.complaints import sla_policy
from guanxi.feedback.satisfaction import customer_answers
from guanxi.importers.values import parse_bool
from guanxi.services.customer_anniversaries import (
    AnniversaryDraft,
    add_anniversary,
    anniversaries_section,
    delete_anniversary,
    set_member_since,
    update_anniversary,
)
from guanxi.services.customer_care import care_section
from guanxi.services.customer_consents import current_consents, set_consent
from guanxi.services.customer_coupons import coupons_section
from guanxi.services.customer_edits import (
    DuplicateCustomer,
    add_note,
    create_customer,
    form_choices,
    is_erased,
    list_notes,
    update_customer,
)
from guanxi.services.customer_forms import CustomerForm, FormErrors
from guanxi.services.customer_points import AdjustDraft, points_section
from guanxi.services.customer_privacy import confirms_erasure, erase_customer, export_customer
from guanxi.services.customer_referrals import referrals_section
from guanxi.services.customer_rewards import rewards_section
from guanxi.services.customer_scores import customer_value, scores_exist
from guanxi.services.customer_stored_value import stored_value_section
from guanxi.services.customer_tiers import customer_zone, tier_section
from guanxi.services.customers import (
    customer_in_scope,
    get_customer_detail,
    list_customers,
)
from guanxi.services.customers import (
    reveal_phone as reveal_phone_to,
)
from guanxi.services.staff import SignedIn, StaffMember
from guanxi.storage.db import Database
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context

router = APIRouter()
SECRET_ENV = "GUANXI_ERASURE_SECRET"


def scope_of(signed: SignedIn) -> int | None:
    """The store a viewer is limited to; None for the owner (every store)."""
    return store_scope(signed.staff.role, signed.staff.store_id)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )


def _actor(viewer: Viewer) -> StaffMember:
    assert viewer.signed_in is not None
    return viewer.signed_in.staff


def _number(value: str, what: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{what} must be a number (found {value!r}): choose from the list")
    return int(value)


def _list_filters(viewer: Viewer, store: str, owner: str) -> tuple[int | None, int | None]:
    """(store scope, account owner) for the list: only the owner may pick a store."""
    assert viewer.signed_in is not None
    scope = scope_of(viewer.signed_in)
    store_id = _number(store, "store") if scope is None else scope
    return store_id, _number(owner, "account owner")


@router.get("/customers", include_in_schema=False)
def customer_list(
    request: Request,
    q: str = "",
    tag: str = "",
    store: str = "",
    owner: str = "",
    erased: str = "",
    page: int = 1,
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """The list; an HTMX request (search as you type, a filter) gets only the rows."""
    ctx = web_context(request)
    store_id, owner_id = _list_filters(viewer, store, owner)
    result = list_customers(
        ctx.db, query=q, tag=tag or None, page=page, store_id=store_id, owner_staff_id=owner_id
    )
    shown = {k: val for k, val in (("q", q), ("store", store), ("owner", owner), ("tag", tag))
             if val}  # fmt: skip
    context = {"viewer": viewer, "result": result, "q": q, "tag": tag, "store": store,
               "owner": owner, "mask": mask_phone, "filters_qs": urlencode(shown)}  # fmt: skip
    if is_htmx(request):
        return _rows_fragment(request, context, shown, page)
    context["erased"] = _number(erased, "erased customer")
    context["choices"] = form_choices(ctx.db, _actor(viewer))
    return ctx.templates.TemplateResponse(request, "customers/list.html", context)


def _rows_fragment(
    request: Request, context: dict[str, Any], shown: dict[str, str], page: int
) -> Response:
    """The rows alone; the address bar gets only the filters in use (no empty parameters)."""
    response = web_context(request).templates.TemplateResponse(
        request, "customers/_results.html", context
    )
    if page > 1:
        shown["page"] = str(page)
    response.headers["HX-Push-Url"] = "/customers" + (f"?{urlencode(shown)}" if shown else "")
    return response


def _visible(request: Request, viewer: Viewer, customer_id: int) -> None:
    assert viewer.signed_in is not None
    if not customer_in_scope(web_context(request).db, customer_id, scope_of(viewer.signed_in)):
        raise NotFound(f"customer {customer_id} does not exist")  # not: "exists elsewhere"


# --- the form --------------------------------------------------------------------------------


async def posted_customer_form(request: Request) -> CustomerForm:
    """The customer form's fields from the posted body (empty when none was sent)."""
    return CustomerForm.from_mapping(await request.form())


def _form_page(
    request: Request,
    viewer: Viewer,
    form: CustomerForm,
    customer_id: int | None,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    ctx = web_context(request)
    context = {
        "viewer": viewer,
        "form": form,
        "customer_id": customer_id,
        "errors": errors,
        "choices": form_choices(ctx.db, _actor(viewer)),
        "owner_picks_store": sees_all_stores(_actor(viewer).role),
    }
    return ctx.templates.TemplateResponse(
        request, "customers/form.html", context, status_code=status
    )


@router.get("/customers/new", include_in_schema=False)
def new_customer(
    request: Request, viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)
) -> Response:
    """An empty form; a clerk is proposed as the new customer's account owner."""
    staff = _actor(viewer)
    form = CustomerForm(
        source=CustomerSource.WALK_IN.value,
        gender=Gender.UNKNOWN.value,
        home_store_id=str(staff.store_id or ""),
        owner_staff_id=str(staff.id) if staff.role is Role.CLERK else "",
    )
    return _form_page(request, viewer, form, None, {})


@router.post("/customers", include_in_schema=False)
def add_customer(
    request: Request,
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
    form: CustomerForm = Depends(posted_customer_form),
) -> Response:
    try:
        customer_id = create_customer(
            web_context(request).db, form, actor=_actor(viewer), ip=viewer.ip
        )
    except (FormErrors, DuplicateCustomer) as exc:
        return _form_page(request, viewer, form, None, exc.errors, status=422)
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


@router.get("/customers/{customer_id}/edit", include_in_schema=False)
def edit_customer(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_EDIT)
) -> Response:
    """The form filled with the stored customer (the phone masked: retype it to change it)."""
    _visible(request, viewer, customer_id)
    d = get_customer_detail(web_context(request).db, customer_id)
    if is_erased(d.customer["erased_at"]):
        raise Conflict(f"customer {customer_id} was erased: there is nothing left to edit")
    form = CustomerForm.from_customer(d.customer, d.tags, d.interests)
    return _form_page(request, viewer, form, customer_id, {})


@router.post("/customers/{customer_id}", include_in_schema=False)
def save_customer(
    request: Request,
    customer_id: int,
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
    form: CustomerForm = Depends(posted_customer_form),
) -> Response:
    _visible(request, viewer, customer_id)
    try:
        update_customer(
            web_context(request).db, customer_id, form, actor=_actor(viewer), ip=viewer.ip
        )
    except (FormErrors, DuplicateCustomer) as exc:
        return _form_page(request, viewer, form, customer_id, exc.errors, status=422)
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


# --- one customer's page ---------------------------------------------------------------------


def _detail_context(
    request: Request, viewer: Viewer, customer_id: int, *, points_before: int | None = None
) -> dict[str, Any]:
    ctx = web_context(request)
    detail = get_customer_detail(ctx.db, customer_id)
    staff = _actor(viewer)
    may_unmask = sees_full_phone(
        staff.role, is_account_owner=detail.customer["owner_staff_id"] == staff.id
    )
    return {
        "viewer": viewer,
        "d": detail,
        "c": detail.customer,
        "s": detail.summary,
        "phone": mask_phone(detail.customer["phone"]),
        "may_unmask": may_unmask,
        "erased": is_erased(detail.customer["erased_at"]),
        "consents": current_consents(ctx.db, customer_id),
        "notes": list_notes(ctx.db, customer_id),
        "note_error": None,
        "anniv": anniversaries_section(ctx.db, customer_id),
        "anniv_form": None,
        "erase_error": None,
        **_value_context(ctx.db, customer_id, ctx.settings),
        "points": points_section(ctx.db, customer_id, before_id=points_before),
        "tier": tier_section(ctx.db, customer_id),
        "adjust": AdjustDraft(),
        "adjust_errors": {},
        "points_done": "",
        "rewards": rewards_section(ctx.db, customer_id),
        "coupons": coupons_section(ctx.db, customer_id),
        "stored_value": stored_value_section(ctx.db, customer_id),
        "referrals": referrals_section(ctx.db, customer_id),
        "care": care_section(ctx.db, customer_id, viewer_staff_id=staff.id),
        **_bonds_context(ctx.db, customer_id, viewer, ctx.settings),
    }


def _bonds_context(
    db: Database, customer_id: int, viewer: Viewer, settings: Settings
) -> dict[str, Any]:
    """Complaints, survey answers, clubs and events, service plans and the three bonds."""
    assert viewer.signed_in is not None  # the customer page needs a sign-in
    scope = scope_of(viewer.signed_in)
    with db.read() as session:
        plans = service_plan_section(session, customer_id)
        zone = customer_zone(session, customer_id)  # plans["today"] is the store's day too
        return {
            "complaints": complaint_section(session, customer_id, scope=scope,
                                            policy=sla_policy(settings)),
            "clubs": club_section(session, customer_id),
            "answers": customer_answers(session, customer_id),
            "sp": plans,
            "bonds": bonds_section(session, customer_id, plans["today"], zone=zone),
        }  # fmt: skip


def _value_context(db: Database, customer_id: int, settings: Settings) -> dict[str, Any]:
    """The "Value & loyalty" section: latest scores with reasons, or whether scoring ever ran."""
    value = customer_value(db, customer_id, load_thresholds(settings.analytics_thresholds))
    return {"value": value, "scored": value is not None or scores_exist(db), "L": labels}


@router.get("/customers/{customer_id}", include_in_schema=False)
def customer_page(
    request: Request,
    customer_id: int,
    before_id: int | None = None,
    points: str = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_VIEW),
) -> Response:
    """The customer's page; ``before_id`` pages the points history, ``points`` says what a
    points form just did (adjusted, waived)."""
    _visible(request, viewer, customer_id)
    context = _detail_context(request, viewer, customer_id, points_before=before_id)
    context["points_done"] = points
    return web_context(request).templates.TemplateResponse(
        request, "customers/detail.html", context
    )


@router.post("/customers/{customer_id}/phone", include_in_schema=False)
def show_phone(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_VIEW)
) -> Response:
    """Show the full phone number to whoever may see it; every reveal is audited."""
    assert viewer.signed_in is not None
    db = web_context(request).db
    phone = reveal_phone_to(db, customer_id, staff=viewer.signed_in.staff, ip=viewer.ip)
    return HTMLResponse(Markup('<span class="phone">{}</span>').format(phone or ""))


# --- consent and notes -----------------------------------------------------------------------


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise InvalidInput(f"unknown consent channel {value!r}: use one of {known}") from None


def _yes_no(value: str) -> bool:
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise InvalidInput(f"granted: {exc}") from None


@router.post("/customers/{customer_id}/consent", include_in_schema=False)
def change_consent(
    request: Request,
    customer_id: int,
    channel: Annotated[str, Form()] = "",
    granted: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Record consent given or withdrawn on one channel; HTMX gets the consent block back."""
    _visible(request, viewer, customer_id)
    ctx = web_context(request)
    set_consent(
        ctx.db,
        customer_id,
        _channel(channel),
        _yes_no(granted),
        actor=_actor(viewer),
        source="web",
        ip=viewer.ip,
    )
    if not is_htmx(request):
        return RedirectResponse(f"/customers/{customer_id}#consent", status_code=303)
    context = {
        "viewer": viewer,
        "c": {"id": customer_id},
        "erased": False,
        "consents": current_consents(ctx.db, customer_id),
    }
    return ctx.templates.TemplateResponse(request, "customers/_consent.html", context)


@router.post("/customers/{customer_id}/notes", include_in_schema=False)
def post_note(
    request: Request,
    customer_id: int,
    text: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Add a note to the timeline; HTMX gets the notes block back (with the error, if any)."""
    _visible(request, viewer, customer_id)
    ctx = web_context(request)
    error = None
    try:
        add_note(ctx.db, customer_id, text, actor=_actor(viewer), ip=viewer.ip)
    except FormErrors as exc:
        if not is_htmx(request):
            raise
        error = exc.errors["text"]
    if not is_htmx(request):
        return RedirectResponse(f"/customers/{customer_id}#notes", status_code=303)
    context = {
        "viewer": viewer,
        "c": {"id": customer_id},
        "erased": False,
        "note_error": error,
        "notes": list_notes(ctx.db, customer_id),
        "draft": text if error else "",
    }
    return ctx.templates.TemplateResponse(request, "customers/_notes.html", context)


# --- anniversaries and the membership date -------------------------------------------------


@dataclass(frozen=True)
class RefusedAnniversary:
    """An anniversary form that was refused: which one ("member", "new" or an anniversary
    id), what was typed, and the message of each field."""

    target: str | int
    draft: AnniversaryDraft | str
    errors: dict[str, str]


def _anniversaries(
    request: Request, viewer: Viewer, customer_id: int, refused: RefusedAnniversary | None = None
) -> Response:
    """Back to the page (or, refused, the page again with what was typed and the messages);
    HTMX gets the anniversaries block back either way."""
    ctx = web_context(request)
    if not is_htmx(request):
        if refused is None:
            return RedirectResponse(f"/customers/{customer_id}#anniversaries", status_code=303)
        context = _detail_context(request, viewer, customer_id)
        context["anniv_form"] = refused
        return ctx.templates.TemplateResponse(
            request, "customers/detail.html", context, status_code=422
        )
    context = {
        "viewer": viewer,
        "c": {"id": customer_id},
        "erased": False,
        "anniv": anniversaries_section(ctx.db, customer_id),
        "anniv_form": refused,
    }
    return ctx.templates.TemplateResponse(request, "customers/_anniversaries.html", context)


@router.post("/customers/{customer_id}/anniversaries", include_in_schema=False)
def post_anniversary(
    request: Request,
    customer_id: int,
    label: Annotated[str, Form()] = "",
    occurs_on: Annotated[str, Form()] = "",
    calendar_kind: Annotated[str, Form()] = "solar",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Record an anniversary (wedding, shop opening) of the customer."""
    return _save_anniversary(request, viewer, customer_id, None,
                             AnniversaryDraft(label, occurs_on, calendar_kind))  # fmt: skip


@router.post("/customers/{customer_id}/anniversaries/{anniversary_id}", include_in_schema=False)
def save_anniversary(
    request: Request,
    customer_id: int,
    anniversary_id: int,
    label: Annotated[str, Form()] = "",
    occurs_on: Annotated[str, Form()] = "",
    calendar_kind: Annotated[str, Form()] = "solar",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Change one of the customer's anniversaries."""
    return _save_anniversary(request, viewer, customer_id, anniversary_id,
                             AnniversaryDraft(label, occurs_on, calendar_kind))  # fmt: skip


def _save_anniversary(
    request: Request,
    viewer: Viewer,
    customer_id: int,
    anniversary_id: int | None,
    draft: AnniversaryDraft,
) -> Response:
    """Add (``anniversary_id`` None) or change one; a refused draft comes back with its errors."""
    _visible(request, viewer, customer_id)
    db, actor = web_context(request).db, _actor(viewer)
    try:
        if anniversary_id is None:
            add_anniversary(db, customer_id, draft, actor=actor, ip=viewer.ip)
        else:
            update_anniversary(db, customer_id, anniversary_id, draft, actor=actor, ip=viewer.ip)
    except FormErrors as exc:
        target = "new" if anniversary_id is None else anniversary_id
        return _anniversaries(request, viewer, customer_id,
                              RefusedAnniversary(target, draft, exc.errors))  # fmt: skip
    return _anniversaries(request, viewer, customer_id)


@router.post(
    "/customers/{customer_id}/anniversaries/{anniversary_id}/delete", include_in_schema=False
)
def remove_anniversary(
    request: Request,
    customer_id: int,
    anniversary_id: int,
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Delete one of the customer's anniversaries."""
    _visible(request, viewer, customer_id)
    delete_anniversary(web_context(request).db, customer_id, anniversary_id,
                       actor=_actor(viewer), ip=viewer.ip)  # fmt: skip
    return _anniversaries(request, viewer, customer_id)


@router.post("/customers/{customer_id}/member-since", include_in_schema=False)
def save_member_since(
    request: Request,
    customer_id: int,
    occurs_on: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EDIT),
) -> Response:
    """Record (or, empty, clear) the day the customer became a member."""
    _visible(request, viewer, customer_id)
    try:
        set_member_since(web_context(request).db, customer_id, occurs_on, actor=_actor(viewer),
                         ip=viewer.ip)  # fmt: skip
    except FormErrors as exc:
        return _anniversaries(request, viewer, customer_id,
                              RefusedAnniversary("member", occurs_on, exc.errors))  # fmt: skip
    return _anniversaries(request, viewer, customer_id)


# --- personal data: export and erasure -------------------------------------------------------


@router.get("/customers/{customer_id}/export.json", include_in_schema=False)
def export_json(
    request: Request, customer_id: int, viewer: Viewer = requires(Permission.CUSTOMERS_EXPORT)
) -> Response:
    """Everything stored about the customer, as a JSON download (audited)."""
    _visible(request, viewer, customer_id)
    data = export_customer(web_context(request).db, customer_id, actor=_actor(viewer), ip=viewer.ip)
    disposition = f'attachment; filename="customer-{customer_id}.json"'
    return JSONResponse(data, headers={"Content-Disposition": disposition})


def erasure_secret(settings: Settings) -> str:
    """The key of the erased-phone hash (GUANXI_ERASURE_SECRET)."""
    secret = settings.erasure_secret
    if not secret:
        raise ConfigError(
            f"erasure needs {SECRET_ENV} (a long random text, never changed afterwards) to "
            "keep a keyed hash of the phone: set it and restart Guanxi"
        )
    return secret


@router.post("/customers/{customer_id}/erase", include_in_schema=False)
def erase(
    request: Request,
    customer_id: int,
    confirm: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.CUSTOMERS_EXPORT),
) -> Response:
    """Anonymise the customer once their id or name was typed to confirm; back to the list."""
    _visible(request, viewer, customer_id)
    ctx = web_context(request)
    context = _detail_context(request, viewer, customer_id)
    if not confirms_erasure(confirm, customer_id, context["c"]["name"]):
        _ = viewer.language.translations.gettext
        context["erase_error"] = _("Type the customer's number or name exactly to confirm.")
        return ctx.templates.TemplateResponse(
            request, "customers/detail.html", context, status_code=422
        )
    erase_customer(
        ctx.db, customer_id, actor=_actor(viewer), secret=erasure_secret(ctx.settings), ip=viewer.ip
    )
    return RedirectResponse(f"/customers?erased={customer_id}", status_code=303)
