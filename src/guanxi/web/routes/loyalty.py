"""Points pages: the owner's earning programme, and adjusting or waiving a customer's points.

The programme form keeps every field as typed (``ProgrammeForm``, strings), checks the numbers
here so that each error stands next to its field, then lets ``EarningProgram`` and
``save_programme`` have the last word (their ``InvalidInput`` is shown above the form). Rows of
multipliers (category, store, tier, festival) and every-Nth-purchase bonuses come as parallel
lists (``category_match`` / ``category_factor``); a row left empty is dropped, and the page
always offers a few empty rows to add more.

Adjusting points is for managers and the owner (the ledger audits it); a hidden per-form key
makes a double submit adjust once. Waiving a flagged claw-back is the owner's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput, NotFound
from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import Programme, programme, save_programme
from guanxi.loyalty.rules import AWARDS, ROUNDING, EarningProgram
from guanxi.services.customer_points import AdjustDraft, new_form_key, waive_clawback
from guanxi.services.customers import customer_in_scope
from guanxi.storage.models import Product, Store
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _
from guanxi.web.routes.customers import _detail_context, scope_of

router = APIRouter()

ROW_KINDS = ("category", "store", "tier", "festival", "every_nth")
SINGLE_BONUSES = ("first_purchase", *AWARDS)
BLANK_ROWS = 2
MAX_POINTS = 10_000_000  # any one bonus, cap or adjustment
MAX_FACTOR = Decimal(1000)
KEY = re.compile(r"[0-9a-f]{32}")


def _text(value: Decimal) -> str:
    """A factor as the form shows it: 2, 1.5, 0.25 (never 2.00 or 1E+1)."""
    return format(value.normalize(), "f")


# --- the programme form ----------------------------------------------------------------------


@dataclass
class ProgrammeForm:
    """The programme's fields as typed. ``rows`` maps a row kind to (match, factor) pairs;
    for every_nth the pair is (every, points)."""

    points_per_yuan: str = "1"
    rounding: str = "down"
    valid_months: str = ""
    rows: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    birthday_month: str = ""
    bonuses: dict[str, str] = field(default_factory=dict)
    cap_per_order: str = ""
    cap_per_day: str = ""

    @classmethod
    def from_programme(cls, prog: Programme) -> ProgrammeForm:
        rules = prog.rules
        rows: dict[str, list[tuple[str, str]]] = {kind: [] for kind in ROW_KINDS}
        birthday: Decimal | None = None
        for m in rules.multipliers:
            if m.kind == "birthday_month":  # the highest applies: one factor says it all
                birthday = m.factor if birthday is None else max(birthday, m.factor)
            else:
                rows[m.kind].append((m.match or "", _text(m.factor)))
        bonuses: dict[str, int] = {}
        for b in rules.bonuses:
            if b.kind == "every_nth":
                rows["every_nth"].append((str(b.every or ""), str(b.points)))
            else:  # several of one kind add up: one sum says the same
                bonuses[b.kind] = bonuses.get(b.kind, 0) + b.points
        return cls(
            points_per_yuan=_text(rules.points_per_yuan),
            rounding=rules.rounding,
            valid_months="" if prog.points_valid_months is None else str(prog.points_valid_months),
            rows=rows,
            birthday_month="" if birthday is None else _text(birthday),
            bonuses={kind: str(points) for kind, points in bonuses.items()},
            cap_per_order="" if rules.cap_per_order is None else str(rules.cap_per_order),
            cap_per_day="" if rules.cap_per_day is None else str(rules.cap_per_day),
        )

    @classmethod
    def from_form(cls, form: FormData) -> ProgrammeForm:
        def one(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        def many(name: str) -> list[str]:
            return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]

        rows: dict[str, list[tuple[str, str]]] = {}
        for kind in ROW_KINDS:
            first, second = ("every", "points") if kind == "every_nth" else ("match", "factor")
            pairs = zip(many(f"{kind}_{first}"), many(f"{kind}_{second}"), strict=False)
            rows[kind] = [(a, b) for a, b in pairs if a or b]
        return cls(
            points_per_yuan=one("points_per_yuan"),
            rounding=one("rounding"),
            valid_months=one("valid_months"),
            rows=rows,
            birthday_month=one("birthday_month"),
            bonuses={kind: one(kind) for kind in SINGLE_BONUSES if one(kind)},
            cap_per_order=one("cap_per_order"),
            cap_per_day=one("cap_per_day"),
        )

    def rows_for(self, kind: str) -> list[tuple[str, str]]:
        """The typed rows of ``kind`` and a few empty ones to add more."""
        return [*self.rows.get(kind, []), *[("", "")] * BLANK_ROWS]

    def parse(self) -> tuple[Programme | None, dict[str, str]]:
        """The programme the form describes, or None and the errors per field ("form": the
        rules' own objection)."""
        errors: dict[str, str] = {}
        check = _Checker(errors)
        data: dict[str, Any] = {
            "points_per_yuan": check.factor("points_per_yuan", self.points_per_yuan,
                                            required=True),
            "rounding": self.rounding,
            "multipliers": [],
            "bonuses": [],
            "cap_per_order": check.whole("cap_per_order", self.cap_per_order),
            "cap_per_day": check.whole("cap_per_day", self.cap_per_day),
        }  # fmt: skip
        if self.rounding not in ROUNDING:
            errors["rounding"] = _("Choose how to round from the list.")
        months = check.whole("valid_months", self.valid_months, low=1, high=120)
        for kind in ROW_KINDS:
            for i, (first, second) in enumerate(self.rows.get(kind, [])):
                name = f"{kind}-{i}"
                if kind == "every_nth":
                    every = check.whole(name, first, low=2, required=True)
                    points = check.whole(name, second, required=True)
                    data["bonuses"].append({"kind": kind, "points": points, "every": every})
                    continue
                if not first and kind != "festival":
                    errors[name] = _("Say what this factor applies to, or empty the row.")
                factor = check.factor(name, second, required=True)
                data["multipliers"].append({"kind": kind, "factor": factor, "match": first or None})
        birthday = check.factor("birthday_month", self.birthday_month)
        if birthday is not None:
            data["multipliers"].append({"kind": "birthday_month", "factor": birthday})
        for kind in SINGLE_BONUSES:
            points = check.whole(kind, self.bonuses.get(kind, ""))
            if points:
                data["bonuses"].append({"kind": kind, "points": points, "every": None})
        if errors:
            return None, errors
        try:
            return Programme(EarningProgram.from_json(data), months), {}
        except InvalidInput as exc:
            return None, {"form": str(exc)}


@dataclass
class _Checker:
    """Reads numbers typed in the form; a bad one puts its message under the field's name."""

    errors: dict[str, str]

    def factor(self, name: str, text: str, *, required: bool = False) -> str | None:
        """A decimal of 0 to 1000, as text; None when left empty (and allowed to be)."""
        if not text:
            if required:
                self.errors.setdefault(name, _("Type a number, e.g. 2 or 1.5."))
            return None
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            number = Decimal(-1)
        if not number.is_finite() or not 0 <= number <= MAX_FACTOR:
            self.errors.setdefault(
                name, _("Type a number from 0 to %(most)s, e.g. 2 or 1.5.") % {"most": MAX_FACTOR}
            )
            return None
        return _text(number)

    def whole(
        self, name: str, text: str, *, low: int = 0, high: int = MAX_POINTS, required: bool = False
    ) -> int | None:
        """A whole number from ``low`` to ``high``; None when left empty (and allowed to be)."""
        if not text:
            if required:
                self.errors.setdefault(name, _("Type a whole number."))
            return None
        number = _integer(text)
        if number is None or not low <= number <= high:
            self.errors.setdefault(
                name,
                _("Type a whole number from %(low)s to %(high)s.") % {"low": low, "high": high},
            )
            return None
        return number


def _integer(text: str) -> int | None:
    """'50', '+50', '-20', '−20' -> the number; anything else -> None."""
    text = text.strip().replace("−", "-").replace("－", "-").replace("＋", "+")
    if not text or "_" in text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _choices(request: Request) -> dict[str, list[str]]:
    """Known store codes and product categories, offered while typing a row."""
    with web_context(request).db.read() as session:
        stores = session.execute(select(Store.code).order_by(Store.code)).scalars().all()
        categories = session.execute(
            select(Product.category).where(Product.category.is_not(None)).distinct()
        ).scalars()
        return {"store": list(stores), "category": sorted(str(c) for c in categories if c)}


def _programme_page(
    request: Request,
    viewer: Viewer,
    form: ProgrammeForm,
    *,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    context = {
        "viewer": viewer,
        "L": labels,
        "form": form,
        "errors": errors or {},
        "saved": saved,
        "roundings": list(ROUNDING),
        "choices": _choices(request),
    }
    return web_context(request).templates.TemplateResponse(
        request, "loyalty/programme.html", context, status_code=status
    )


@router.get("/loyalty/programme", include_in_schema=False)
def programme_page(
    request: Request, saved: str = "", viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """The earning programme as the owner set it (the defaults until then), to edit."""
    with web_context(request).db.read() as session:
        current = programme(session)
    return _programme_page(request, viewer, ProgrammeForm.from_programme(current),
                           saved=bool(saved))  # fmt: skip


async def posted_programme(request: Request) -> ProgrammeForm:
    return ProgrammeForm.from_form(await request.form())


@router.post("/loyalty/programme", include_in_schema=False)
def save_programme_page(
    request: Request,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: ProgrammeForm = Depends(posted_programme),
) -> Response:
    """Replace the programme (audited); back to the page, or the form with what is wrong."""
    assert viewer.signed_in is not None
    new, errors = form.parse()
    if new is not None:
        try:
            save_programme(web_context(request).db, viewer.signed_in.staff, new)
        except InvalidInput as exc:
            errors = {"form": str(exc)}
        else:
            return RedirectResponse("/loyalty/programme?saved=1", status_code=303)
    return _programme_page(request, viewer, form, errors=errors, status=422)


# --- a customer's points ---------------------------------------------------------------------


def _visible(request: Request, viewer: Viewer, customer_id: int) -> None:
    assert viewer.signed_in is not None
    scope = scope_of(viewer.signed_in)
    if not customer_in_scope(web_context(request).db, customer_id, scope):
        raise NotFound(f"customer {customer_id} does not exist")


@router.post("/customers/{customer_id}/points/adjust", include_in_schema=False)
def adjust_points(
    request: Request,
    customer_id: int,
    points: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.POINTS_ADJUST),
) -> Response:
    """Add or take off points with a reason (audited by the ledger); back to the customer's
    page, or the page with the errors next to the fields and the values as typed."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    key = key if KEY.fullmatch(key) else new_form_key()
    draft = AdjustDraft(points.strip(), reason.strip(), key)
    errors: dict[str, str] = {}
    amount = _integer(points)
    if amount is None or amount == 0 or abs(amount) > MAX_POINTS:
        errors["points"] = _(
            "Type a whole number of points other than 0, e.g. 50 to add or -20 to take off."
        )
    if not reason.strip():
        errors["reason"] = _("Give a reason: say why the balance changes.")
    if not errors:
        assert amount is not None
        try:
            ledger.adjust(web_context(request).db, viewer.signed_in.staff, customer_id, amount,
                          reason, idempotency_key=f"web-adjust:{key}")  # fmt: skip
        except ledger.InsufficientPoints as exc:
            errors["points"] = _(
                "Not enough points: the balance is %(balance)s, so at most %(most)s can be taken "
                "off."
            ) % {"balance": labels.number(exc.balance), "most": labels.number(max(exc.balance, 0))}
        except InvalidInput as exc:
            errors["form"] = str(exc)
    if errors:
        context = _detail_context(request, viewer, customer_id)
        context.update(adjust=draft, adjust_errors=errors)
        return web_context(request).templates.TemplateResponse(
            request, "customers/detail.html", context, status_code=422
        )
    return RedirectResponse(f"/customers/{customer_id}?points=adjusted#points", status_code=303)


@router.post("/customers/{customer_id}/points/waive/{entry_id}", include_in_schema=False)
def waive_points(
    request: Request,
    customer_id: int,
    entry_id: int,
    reason: Annotated[str, Form()] = "",
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
) -> Response:
    """The owner forgives what a flagged claw-back of this customer still owes (audited)."""
    _visible(request, viewer, customer_id)
    assert viewer.signed_in is not None
    waive_clawback(web_context(request).db, viewer.signed_in.staff, customer_id, entry_id, reason)
    return RedirectResponse(f"/customers/{customer_id}?points=waived#points", status_code=303)
