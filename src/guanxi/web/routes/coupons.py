"""Pages for coupon campaigns and codes (优惠券).

Managers and the owner see the campaigns with their counts and issue codes to one customer or
to every member of a saved segment (within their store). The owner creates and edits
campaigns, generates a pool of codes for anyone, and downloads the pool as CSV (audited as an
export). The form takes business days in the shop's time zone; the campaign stores UTC
instants (see ``guanxi.loyalty.coupons``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput, NotFound
from guanxi.loyalty import coupons
from guanxi.loyalty.coupons import Campaign, CampaignDraft, Kind
from guanxi.services.customers import customer_in_scope
from guanxi.services.segments import list_segments
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import scope_of

router = APIRouter()
MAX_MONEY = Decimal(10**9)


@dataclass
class CampaignForm:
    """A campaign's fields as typed."""

    name: str = ""
    kind: str = Kind.FIXED.value
    value: str = ""
    max_discount: str = ""
    min_spend: str = ""
    categories: str = ""
    store_ids: list[str] = field(default_factory=list)
    first_day: str = ""
    last_day: str = ""
    uses_per_code: str = "1"
    uses_per_customer: str = ""
    is_active: bool = True

    @classmethod
    def from_campaign(cls, c: Campaign, zone: ZoneInfo) -> CampaignForm:
        first, last = coupons.days(c.valid_from, c.valid_until, zone)
        return cls(
            name=c.name, kind=c.kind.value, value=_num(c.value), max_discount=_num(c.max_discount),
            min_spend=_num(c.min_spend), categories=", ".join(c.categories),
            store_ids=[str(i) for i in c.store_ids],
            first_day="" if first is None else first.isoformat(),
            last_day="" if last is None else last.isoformat(),
            uses_per_code=_num(c.uses_per_code), uses_per_customer=_num(c.uses_per_customer),
            is_active=c.is_active,
        )  # fmt: skip

    @classmethod
    def from_form(cls, form: FormData) -> CampaignForm:
        def one(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(
            name=one("name"), kind=one("kind"), value=one("value"),
            max_discount=one("max_discount"), min_spend=one("min_spend"),
            categories=one("categories"),
            store_ids=[v for v in form.getlist("store_ids") if isinstance(v, str)],
            first_day=one("first_day"), last_day=one("last_day"),
            uses_per_code=one("uses_per_code"), uses_per_customer=one("uses_per_customer"),
            is_active=bool(one("is_active")),
        )  # fmt: skip

    def parse(self, zone: ZoneInfo) -> tuple[CampaignDraft | None, dict[str, str]]:
        """The draft the form describes, or None and the errors per field."""
        errors: dict[str, str] = {}
        kind = self.kind if self.kind in {k.value for k in Kind} else ""
        if not kind:
            errors["kind"] = _("Choose the kind of discount from the list.")
        money = {n: _money(getattr(self, n), n, errors, required=n == "value")
                 for n in ("value", "max_discount", "min_spend")}  # fmt: skip
        uses = {n: _whole(getattr(self, n), n, errors)
                for n in ("uses_per_code", "uses_per_customer")}  # fmt: skip
        first = _day(self.first_day, "first_day", errors)
        last = _day(self.last_day, "last_day", errors)
        stores = [int(s) for s in self.store_ids if s.isdigit()]
        valid_from, valid_until = coupons.window(first, last, zone)
        categories = tuple(dict.fromkeys(c.strip() for c in self.categories.split(",")
                                         if c.strip()))  # fmt: skip
        draft = CampaignDraft(
            name=self.name, kind=Kind(kind or Kind.FIXED), value=money["value"] or Decimal(1),
            max_discount=money["max_discount"], min_spend=money["min_spend"],
            categories=categories, store_ids=tuple(stores), valid_from=valid_from,
            valid_until=valid_until, uses_per_code=uses["uses_per_code"],
            uses_per_customer=uses["uses_per_customer"], is_active=self.is_active,
        )  # fmt: skip
        for name, message in coupons.draft_errors(draft).items():
            errors.setdefault(name, _(message))
        return (None, errors) if errors else (draft, {})


def _num(value: Decimal | int | None) -> str:
    return "" if value is None else format(value, "f") if isinstance(value, Decimal) else str(value)


def _money(text: str, name: str, errors: dict[str, str], *, required: bool) -> Decimal | None:
    if not text:
        if required:
            errors[name] = _("Type an amount, e.g. 20 or 9.5.")
        return None
    try:
        amount = Decimal(text.replace(",", ".").replace("¥", ""))
    except InvalidOperation:
        amount = Decimal(-1)
    if (
        not amount.is_finite()
        or not 0 < amount <= MAX_MONEY
        or amount != amount.quantize(Decimal("0.01"))
    ):
        errors[name] = _("Type an amount above 0 with at most 2 decimals, e.g. 20 or 9.5.")
        return None
    return amount


def _whole(text: str, name: str, errors: dict[str, str]) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        errors[name] = _("Type a whole number of at least 1, or leave it empty.")
        return None
    return int(text)


def _day(text: str, name: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Type a date as YYYY-MM-DD.")
        return None


# --- pages -------------------------------------------------------------------------------------


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(web_context(request).settings.timezone)


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    ctx = web_context(request)
    context["stores"] = coupons.store_choices(ctx.db)
    return ctx.templates.TemplateResponse(
        request, f"coupons/{template}", context, status_code=status
    )


@router.get("/loyalty/coupons", include_in_schema=False)
def campaigns_page(
    request: Request, viewer: Viewer = requires(Permission.COUPONS_ISSUE)
) -> Response:
    """Every campaign with its codes, redemptions and discount given."""
    rows = coupons.list_campaigns(web_context(request).db)
    return _render(request, "list.html", {"viewer": viewer, "rows": rows})


@router.get("/loyalty/coupons/new", include_in_schema=False)
def new_campaign_page(
    request: Request, viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """An empty campaign form."""
    context = {"viewer": viewer, "form": CampaignForm(), "errors": {}, "campaign": None}
    return _render(request, "form.html", context)


async def posted_campaign(request: Request) -> CampaignForm:
    return CampaignForm.from_form(await request.form())


@router.post("/loyalty/coupons/new", include_in_schema=False)
def create_campaign(
    request: Request,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: CampaignForm = Depends(posted_campaign),
) -> Response:
    """Create the campaign (audited), or the form with what is wrong next to the fields."""
    return _save(request, viewer, None, form)


@router.post("/loyalty/coupons/{campaign_id}", include_in_schema=False)
def save_campaign(
    request: Request,
    campaign_id: int,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: CampaignForm = Depends(posted_campaign),
) -> Response:
    """Change the campaign (audited); codes already issued follow the change."""
    coupons.get_campaign(web_context(request).db, campaign_id)  # 404 before anything else
    return _save(request, viewer, campaign_id, form)


def _save(
    request: Request, viewer: Viewer, campaign_id: int | None, form: CampaignForm
) -> Response:
    assert viewer.signed_in is not None
    db = web_context(request).db
    draft, errors = form.parse(_zone(request))
    if draft is not None:
        try:
            if campaign_id is None:
                campaign_id = coupons.create_campaign(db, viewer.signed_in.staff, draft).id
            else:
                coupons.update_campaign(db, viewer.signed_in.staff, campaign_id, draft)
        except InvalidInput as exc:
            errors = {"form": str(exc)}
        else:
            return RedirectResponse(f"/loyalty/coupons/{campaign_id}?done=saved", status_code=303)
    if campaign_id is None:
        context = {"viewer": viewer, "form": form, "errors": errors, "campaign": None}
        return _render(request, "form.html", context, status=422)
    return _detail(request, viewer, campaign_id, form=form, errors=errors, status=422)


@router.get("/loyalty/coupons/{campaign_id}", include_in_schema=False)
def campaign_page(
    request: Request,
    campaign_id: int,
    done: str = "",
    viewer: Viewer = requires(Permission.COUPONS_ISSUE),
) -> Response:
    """One campaign: its terms and counts, issuing, and (owner) editing and pool codes."""
    return _detail(request, viewer, campaign_id, done=done)


def _detail(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    *,
    done: str = "",
    form: CampaignForm | None = None,
    errors: dict[str, str] | None = None,
    issue_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    assert viewer.signed_in is not None
    db = web_context(request).db
    summary = next((s for s in coupons.list_campaigns(db) if s.campaign.id == campaign_id), None)
    if summary is None:
        raise NotFound(f"coupon campaign {campaign_id} does not exist")
    zone = _zone(request)
    context = {
        "viewer": viewer, "summary": summary, "campaign": summary.campaign, "done": done,
        "form": form or CampaignForm.from_campaign(summary.campaign, zone),
        "errors": errors or {}, "issue_errors": issue_errors or {},
        "segments": list_segments(db, store_scope=scope_of(viewer.signed_in)),
        "days": coupons.days(summary.campaign.valid_from, summary.campaign.valid_until, zone),
    }  # fmt: skip
    return _render(request, "detail.html", context, status)


@router.post("/loyalty/coupons/{campaign_id}/issue", include_in_schema=False)
def issue(
    request: Request,
    campaign_id: int,
    customer_id: Annotated[str, Form()] = "",
    segment_id: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.COUPONS_ISSUE),
) -> Response:
    """Issue one code to a customer, or one to every member of a segment (audited)."""
    assert viewer.signed_in is not None
    db, staff = web_context(request).db, viewer.signed_in.staff
    scope = scope_of(viewer.signed_in)
    coupons.get_campaign(db, campaign_id)
    errors: dict[str, str] = {}
    try:
        if customer_id.strip().isdigit():
            customer = int(customer_id)
            if not customer_in_scope(db, customer, scope):
                raise NotFound(_("No customer %(id)s in your store.") % {"id": customer})
            coupons.issue_to_customer(db, staff, campaign_id, customer)
            done = "issued"
        elif segment_id.strip().isdigit():
            count = coupons.issue_to_segment(db, staff, campaign_id, int(segment_id),
                                             store_scope=scope)  # fmt: skip
            done = f"issued-{count}"
        else:
            errors["customer_id"] = _("Type a customer number, or choose a segment.")
    except (InvalidInput, NotFound) as exc:
        errors["issue"] = str(exc)
    if errors:
        return _detail(request, viewer, campaign_id, issue_errors=errors, status=422)
    return RedirectResponse(f"/loyalty/coupons/{campaign_id}?done={done}", status_code=303)


@router.post("/loyalty/coupons/{campaign_id}/pool", include_in_schema=False)
def generate(
    request: Request,
    campaign_id: int,
    count: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
) -> Response:
    """Generate a pool of codes for anyone (audited); download them from the page."""
    assert viewer.signed_in is not None
    db = web_context(request).db
    coupons.get_campaign(db, campaign_id)
    n = int(count) if count.strip().isdigit() else 0
    try:
        coupons.generate_pool(db, viewer.signed_in.staff, campaign_id, n)
    except InvalidInput:
        message = _("Type how many codes to make: 1 to %(most)s.") % {"most": coupons.MAX_POOL}
        return _detail(request, viewer, campaign_id, issue_errors={"count": message},
                       status=422)  # fmt: skip
    return RedirectResponse(f"/loyalty/coupons/{campaign_id}?done=pool-{n}", status_code=303)


@router.get("/loyalty/coupons/{campaign_id}/codes.csv", include_in_schema=False)
def download_codes(
    request: Request, campaign_id: int, viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """The campaign's pool codes as CSV (audited as an export)."""
    assert viewer.signed_in is not None
    text = coupons.pool_csv(web_context(request).db, viewer.signed_in.staff, campaign_id)
    return Response(
        "\ufeff" + text,  # a BOM, so that Excel reads the file as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="coupons-{campaign_id}.csv"'},
    )
