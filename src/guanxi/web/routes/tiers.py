"""The owner's member tier ladder (会员等级): thresholds, benefits, grace days.

The tiers are kept with the points programme (``guanxi.loyalty.tiers``), so saving them goes
through ``save_programme`` (owner only, audited with before and after), keeping the earning
rules as they are. The form names each row's fields by index (``t0_key``, ``t0_event``...), so
a checkbox left unticked cannot shift the rows; a row left empty is dropped, and the page
always offers a few empty rows to add tiers. Rows are ordered by their threshold when saved.
The shop-wide qualification basis (``basis``: 12-month spend or 12-month points) is saved with
the tiers; with the points basis the thresholds are whole points.
Every field is checked here so that each error stands next to its field; ``validate_tiers``
and ``save_programme`` have the last word (shown above the form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from guanxi.domain.access import Permission
from guanxi.errors import InvalidInput
from guanxi.loyalty.accrual import programme, save_programme
from guanxi.loyalty.tiers import (
    DEFAULT_GRACE_DAYS,
    KEY_LENGTH,
    MAX_GRACE_DAYS,
    Basis,
    Tier,
    TierLadder,
    basis_of,
)
from guanxi.web import labels
from guanxi.web.access import requires
from guanxi.web.context import Viewer, web_context
from guanxi.web.i18n import gettext as _

router = APIRouter()

BLANK_ROWS = 2
MAX_ROWS = 20
MAX_SPEND = Decimal(100_000_000)
MAX_FACTOR = Decimal(1000)
NAME_LENGTH = 50
BENEFIT_LENGTH = 200
MAX_BENEFITS = 20
KEY = re.compile(r"[A-Za-z0-9_-]+")
FIELDS = ("key", "name", "min_spend", "multiplier", "discount", "grace_days", "benefits")


def _text(value: Decimal) -> str:
    """A number as the form shows it: 1000, 1.5, 0.25 (never 1000.00 or 1E+3)."""
    return format(value.normalize(), "f")


@dataclass
class TierRow:
    """One tier's fields as typed (strings); ``discount`` is a percentage (5 = 5 % off)."""

    key: str = ""
    name: str = ""
    min_spend: str = ""
    multiplier: str = ""
    discount: str = ""
    grace_days: str = ""
    benefits: str = ""  # one per line
    event: bool = False

    @classmethod
    def of(cls, tier: Tier) -> TierRow:
        return cls(
            key=tier.key,
            name=tier.name,
            min_spend=_text(tier.min_spend),
            multiplier=_text(tier.points_multiplier),
            discount=_text(tier.member_discount * 100),
            grace_days="" if tier.grace_days is None else str(tier.grace_days),
            benefits="\n".join(tier.benefits),
            event=tier.event_access,
        )

    @property
    def blank(self) -> bool:
        return not self.event and not any(getattr(self, name) for name in FIELDS)


@dataclass
class TiersForm:
    """The ladder as typed, and the errors found, keyed ``t<row>_<field>`` (or ``form``)."""

    rows: list[TierRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    basis: str = Basis.SPEND.value

    @classmethod
    def of(cls, tiers: tuple[Tier, ...]) -> TiersForm:
        return cls([TierRow.of(t) for t in tiers], basis=basis_of(tiers).value)

    @property
    def by_points(self) -> bool:
        return self.basis == Basis.POINTS.value

    @classmethod
    def from_form(cls, form: FormData) -> TiersForm:
        def one(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        count = _whole(one("rows"))
        rows = []
        for n in range(min(count or 0, MAX_ROWS)):
            texts = {name: one(f"t{n}_{name}") for name in FIELDS}
            rows.append(TierRow(**texts, event=bool(one(f"t{n}_event"))))
        return cls(rows, basis=one("basis") or Basis.SPEND.value)

    def shown(self) -> list[TierRow]:
        """The rows to show: those typed, then empty ones to add tiers with."""
        room = max(0, min(BLANK_ROWS, MAX_ROWS - len(self.rows)))
        return self.rows + [TierRow() for _ in range(room)]

    def parse(self) -> tuple[Tier, ...] | None:
        """The tiers, lowest first, or None with ``errors`` saying what is wrong where."""
        found: list[tuple[int, Tier]] = []
        for n, row in enumerate(self.rows):
            if not row.blank:
                tier = self._tier(n, row)
                if tier is not None:
                    found.append((n, tier))
        found.sort(key=lambda pair: pair[1].min_spend)
        self._check_ladder(found)
        if self.basis not in {b.value for b in Basis}:
            self.errors["basis"] = _("Choose what tiers qualify on: spend or points.")
        return None if self.errors else TierLadder((t for _, t in found), self.basis)

    def _error(self, n: int, name: str, message: str) -> None:
        self.errors.setdefault(f"t{n}_{name}", message)

    def _tier(self, n: int, row: TierRow) -> Tier | None:
        if not KEY.fullmatch(row.key) or len(row.key) > KEY_LENGTH:
            self._error(n, "key", _("Type 1 to %(most)s letters, digits, - or _, e.g. gold.")
                        % {"most": KEY_LENGTH})  # fmt: skip
        if not row.name or len(row.name) > NAME_LENGTH:
            self._error(n, "name", _("Type a name of 1 to %(most)s characters, e.g. 金卡.")
                        % {"most": NAME_LENGTH})  # fmt: skip
        spend = self._decimal(n, "min_spend", row.min_spend, MAX_SPEND, required=True)
        factor = self._decimal(n, "multiplier", row.multiplier, MAX_FACTOR)
        discount = self._decimal(n, "discount", row.discount, Decimal(100))
        if self.by_points and spend is not None and spend != int(spend):
            self._error(n, "min_spend", _("Type whole points, e.g. 0 or 5000."))
        grace = _whole(row.grace_days)
        if row.grace_days and (grace is None or not 0 <= grace <= MAX_GRACE_DAYS):
            self._error(n, "grace_days", _("Type a whole number of days from 0 to %(most)s, or "
                                           "leave empty.") % {"most": MAX_GRACE_DAYS})  # fmt: skip
        benefits = tuple(line.strip() for line in row.benefits.splitlines() if line.strip())
        if len(benefits) > MAX_BENEFITS or any(len(b) > BENEFIT_LENGTH for b in benefits):
            self._error(n, "benefits", _("At most %(count)s lines of %(most)s characters each.")
                        % {"count": MAX_BENEFITS, "most": BENEFIT_LENGTH})  # fmt: skip
        if any(key.startswith(f"t{n}_") for key in self.errors) or spend is None:
            return None
        return Tier(row.key, row.name, spend, Decimal(1) if factor is None else factor,
                    Decimal(0) if discount is None else discount / 100, benefits, row.event,
                    grace)  # fmt: skip

    def _decimal(
        self, n: int, name: str, text: str, most: Decimal, *, required: bool = False
    ) -> Decimal | None:
        """A number from 0 to ``most``, at most 2 decimals; None when empty or wrong."""
        if not text:
            if required:
                self._error(n, name, _("Type an amount, e.g. 0 or 1000."))
            return None
        try:
            number = Decimal(text.replace(",", "").replace("，", "").replace("¥", ""))
        except InvalidOperation:
            number = Decimal(-1)
        if not number.is_finite() or not 0 <= number <= most or number != round(number, 2):
            self._error(n, name, _("Type a number from 0 to %(most)s, with at most 2 decimals.")
                        % {"most": labels.number(most)})  # fmt: skip
            return None
        return number

    def _check_ladder(self, found: list[tuple[int, Tier]]) -> None:
        """Unique keys, the lowest tier at 0, no two tiers at the same threshold."""
        seen: set[str] = set()
        for n, tier in sorted(found):
            if tier.key in seen:
                self._error(n, "key", _("Another tier above uses this key: each needs its own."))
            seen.add(tier.key)
        if found and found[0][1].min_spend != 0:
            self._error(found[0][0], "min_spend", _("The lowest tier must start at 0: every "
                                                    "member holds at least it."))  # fmt: skip
        for (_n, lower), (n, upper) in zip(found, found[1:], strict=False):
            if upper.min_spend == lower.min_spend:
                self._error(n, "min_spend", _("Another tier starts at this amount: each tier "
                                              "needs its own threshold."))  # fmt: skip


def _whole(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _page(
    request: Request, viewer: Viewer, form: TiersForm, *, saved: bool = False, status: int = 200
) -> Response:
    context = {
        "viewer": viewer,
        "L": labels,
        "form": form,
        "errors": form.errors,
        "rows": form.shown(),
        "saved": saved,
        "default_grace": DEFAULT_GRACE_DAYS,
    }
    return web_context(request).templates.TemplateResponse(
        request, "tiers/tiers.html", context, status_code=status
    )


@router.get("/loyalty/tiers", include_in_schema=False)
def tiers_page(
    request: Request, saved: str = "", viewer: Viewer = requires(Permission.LOYALTY_MANAGE)
) -> Response:
    """The member tiers as the owner set them (none until then: tiers off), to edit."""
    with web_context(request).db.read() as session:
        current = programme(session).tiers or ()
    return _page(request, viewer, TiersForm.of(current), saved=bool(saved))


async def posted_tiers(request: Request) -> TiersForm:
    return TiersForm.from_form(await request.form())


@router.post("/loyalty/tiers", include_in_schema=False)
def save_tiers_page(
    request: Request,
    viewer: Viewer = requires(Permission.LOYALTY_MANAGE),
    form: TiersForm = Depends(posted_tiers),
) -> Response:
    """Replace the tiers, keeping the earning rules (audited); back to the page, or the form
    with what is wrong next to the fields."""
    assert viewer.signed_in is not None
    tiers = form.parse()
    if tiers is not None:
        db = web_context(request).db
        with db.read() as session:
            current = programme(session)
        try:
            save_programme(db, viewer.signed_in.staff, replace(current, tiers=tiers))
        except InvalidInput as exc:
            form.errors["form"] = str(exc)
        else:
            return RedirectResponse("/loyalty/tiers?saved=1", status_code=303)
    return _page(request, viewer, form, status=422)
