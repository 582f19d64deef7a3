"""Coupons and vouchers (优惠券): campaigns, codes, validation and redemption at the till.

A *campaign* says what its codes give: a fixed amount off, or a percentage off with an optional
cap, of the basket's *qualifying amount* (only the lines in the campaign's categories when it
names some), given a minimum spend of that amount, in the listed stores, inside a validity
window, while active. A *coupon* is one code of a campaign: issued to one customer (then only
that customer may use it), or a pool/public code (anyone). A code is used at most
``uses_per_code`` times (None: unlimited) and, for a shared code, at most ``uses_per_customer``
times by one customer.

Validity window: ``valid_from`` (inclusive) and ``valid_until`` (exclusive) are UTC instants,
so the till's clock decides without a time zone guess; the pages take business dates in the
shop's time zone and store 00:00 of the first day and 00:00 of the day after the last.

Codes: 12 symbols of Crockford's base32 (``0-9`` and ``A-Z`` without I, L, O, U) drawn with
``secrets``: 60 bits of entropy. With a million live codes, guessing one takes 2^40 (about
10^12) tries on average, so no rate limiter is needed. Codes are stored normalised (upper
case, no separators) and shown in groups of four (``ABCD-EFGH-JKMN``); a lookup ignores case,
dashes and spaces and reads O as 0 and I/L as 1, as Crockford's decoding does.

Redemption is one transaction, serial per coupon: SQLite's write transactions begin IMMEDIATE
(``Database.write``); on PostgreSQL the coupon row is locked with ``SELECT ... FOR UPDATE``
under READ COMMITTED, so the re-validation, the use count and the new row always see the
previous redemption. A redemption stores the caller's idempotency key (unique) and the
SHA-256 of the request: a retry returns the original result, another request with the key
raises ``IdempotencyConflict``. ``(coupon, order_ref)`` is unique: one order uses a coupon once.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.domain.access import Permission, is_allowed
from guanxi.domain.staff import Role
from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.services import audit, spreadsheets
from guanxi.services.segments import segment_member_ids
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Coupon,
    CouponCampaign,
    CouponRedemption,
    Customer,
    Product,
    Purchase,
    PurchaseLine,
    Store,
)
from guanxi.storage.once import request_digest, run_once, stored_for_key

DbOrSession = Database | Session
T = TypeVar("T")

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U
CODE_LENGTH = 12
ENTROPY_BITS = 60  # 12 symbols x 5 bits
MAX_POOL = 10_000
CENT = Decimal("0.01")
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

CAMPAIGN_SAVED = audit.Action.COUPON_CAMPAIGN_SAVED
COUPONS_ISSUED = audit.Action.COUPONS_ISSUED
POOL_GENERATED = audit.Action.COUPON_POOL_GENERATED
CODES_EXPORTED = audit.Action.COUPON_CODES_EXPORTED


class Kind(StrEnum):
    """What a campaign's coupons take off."""

    FIXED = "fixed"
    PERCENT = "percent"


class Status(StrEnum):
    """A coupon's stored status (``void``: withdrawn by the owner)."""

    ACTIVE = "active"
    USED_UP = "used_up"
    VOID = "void"


class Reason(StrEnum):
    """Why a code does not apply to a basket (stable codes for the API)."""

    UNKNOWN_CODE = "unknown_code"
    INACTIVE = "inactive"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    USED_UP = "used_up"
    OTHER_CUSTOMER = "belongs_to_another_customer"
    CUSTOMER_REQUIRED = "customer_required"
    CUSTOMER_LIMIT = "customer_limit_reached"
    WRONG_STORE = "wrong_store"
    WRONG_CATEGORY = "wrong_category"
    MIN_SPEND = "min_spend_not_reached"


MESSAGES: dict[Reason, str] = {
    Reason.UNKNOWN_CODE: gettext_noop("No coupon has this code: check what was typed."),
    Reason.INACTIVE: gettext_noop("This coupon's campaign is switched off."),
    Reason.NOT_STARTED: gettext_noop("This coupon is valid from %(valid_from)s."),
    Reason.EXPIRED: gettext_noop("This coupon expired at %(valid_until)s."),
    Reason.USED_UP: gettext_noop("This coupon has been used up."),
    Reason.OTHER_CUSTOMER: gettext_noop("This coupon belongs to another customer."),
    Reason.CUSTOMER_REQUIRED: gettext_noop(
        "This code is limited per customer: name the customer to use it."
    ),
    Reason.CUSTOMER_LIMIT: gettext_noop("This customer has used this code as often as allowed."),
    Reason.WRONG_STORE: gettext_noop("This coupon is not valid in this store."),
    Reason.WRONG_CATEGORY: gettext_noop(
        "Nothing in the basket is in the coupon's categories: %(categories)s."
    ),
    Reason.MIN_SPEND: gettext_noop(
        "Spend %(amount)s more to reach the minimum of %(min_spend)s (qualifying now: "
        "%(qualifying)s)."
    ),
}


class CouponNotValid(InvalidInput):
    """The coupon does not apply to the basket; ``reason`` says why."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict
        assert verdict.reason is not None
        self.reason = verdict.reason


class CouponUsedUp(Conflict):
    """The coupon has no uses left (someone else may just have used the last one)."""


class AlreadyRedeemedForOrder(Conflict):
    """This coupon was already redeemed for this order."""

    def __init__(self, code: str, order_ref: str, redemption_id: int) -> None:
        super().__init__(
            f"coupon {group(code)} was already redeemed for order {order_ref} "
            f"(redemption {redemption_id}): an order uses a coupon once"
        )
        self.redemption_id = redemption_id


# -- codes ---------------------------------------------------------------------------------------


def new_code() -> str:
    """A fresh random code: 12 symbols of Crockford's base32 (60 bits), normalised."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise(text: str) -> str:
    """'abcd-efgh jkmn' -> 'ABCDEFGHJKMN'; O reads as 0, I and L as 1."""
    return "".join(text.split()).replace("-", "").upper().translate(_READ_AS)


def group(code: str) -> str:
    """'ABCDEFGHJKMN' -> 'ABCD-EFGH-JKMN', for reading aloud."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


# -- values --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One basket line: its amount (after line discounts) and its product category."""

    amount: Decimal
    category: str | None = None


@dataclass(frozen=True)
class Basket:
    """What is being bought: in which store, by whom (None: not known), which lines."""

    store_id: int
    lines: tuple[Line, ...]
    customer_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"store_id": self.store_id, "customer_id": self.customer_id,
                "lines": [[str(x.amount), x.category] for x in self.lines]}  # fmt: skip


@dataclass(frozen=True)
class CampaignDraft:
    """A campaign as the owner sets it."""

    name: str
    kind: Kind
    value: Decimal
    max_discount: Decimal | None = None
    min_spend: Decimal | None = None
    categories: tuple[str, ...] = ()
    store_ids: tuple[int, ...] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    uses_per_code: int | None = 1
    uses_per_customer: int | None = None
    is_active: bool = True


@dataclass(frozen=True)
class Campaign(CampaignDraft):
    """A stored campaign."""

    id: int = 0
    created_at: datetime | None = None

    @property
    def valid_through(self) -> datetime | None:
        """The last instant it is valid (``valid_until`` is exclusive), for showing a day."""
        return _through(self.valid_until)


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign with its counts, for the list page."""

    campaign: Campaign
    codes: int
    redemptions: int
    discount_total: Decimal


@dataclass(frozen=True)
class Verdict:
    """Whether a code applies to a basket: the discount, or the reason and its message."""

    code: str
    reason: Reason | None
    discount: Decimal = Decimal(0)
    qualifying: Decimal = Decimal(0)
    missing: Decimal | None = None  # min_spend_not_reached: how much more to spend
    coupon_id: int | None = None
    campaign: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def message(self) -> str:
        """The reason in English with its values ('' when valid)."""
        return "" if self.reason is None else MESSAGES[self.reason] % self.values


@dataclass(frozen=True)
class Redemption:
    """One recorded use of a coupon; ``replayed``: the stored result of an earlier call."""

    id: int
    coupon_id: int
    code: str
    customer_id: int | None
    store_id: int
    order_ref: str
    discount: Decimal
    at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class CouponView:
    """A coupon as pages and the API show it; ``state`` folds in the campaign's window."""

    id: int
    code: str
    campaign_id: int
    campaign: str
    customer_id: int | None
    uses: int
    uses_per_code: int | None
    status: str
    state: str  # active, used_up, void, inactive, not_started, expired
    valid_from: datetime | None
    valid_until: datetime | None
    issued_at: datetime

    @property
    def valid_through(self) -> datetime | None:
        """The last instant it is valid (``valid_until`` is exclusive), for showing a day."""
        return _through(self.valid_until)


# -- campaigns -----------------------------------------------------------------------------------


def draft_errors(draft: CampaignDraft) -> dict[str, str]:
    """What is wrong with a draft, per field (English; pages translate them); {} when fine."""
    errors: dict[str, str] = {}
    if not draft.name.strip() or len(draft.name.strip()) > 100:
        errors["name"] = gettext_noop("Give the campaign a name of up to 100 characters.")
    top = Decimal(100) if draft.kind == Kind.PERCENT else Decimal(10**9)
    if not Decimal(0) < draft.value <= top:
        errors["value"] = gettext_noop(
            "Type an amount above 0 (a percentage: above 0 and at most 100)."
        )
    for name in ("max_discount", "min_spend"):
        amount = getattr(draft, name)
        if amount is not None and amount <= 0:
            errors[name] = gettext_noop("Type an amount above 0, or leave it empty.")
    for name in ("uses_per_code", "uses_per_customer"):
        uses = getattr(draft, name)
        if uses is not None and uses < 1:
            errors[name] = gettext_noop("Type a whole number of at least 1, or leave it empty.")
    if draft.valid_from and draft.valid_until and draft.valid_until <= draft.valid_from:
        errors["valid_until"] = gettext_noop("The last day must not be before the first day.")
    return errors


def create_campaign(db: Database, actor: StaffMember, draft: CampaignDraft) -> Campaign:
    """A new campaign (owner; audited)."""
    return _save_campaign(db, actor, None, draft)


def update_campaign(
    db: Database, actor: StaffMember, campaign_id: int, draft: CampaignDraft
) -> Campaign:
    """Change a campaign (owner; audited with the values before): issued codes follow it."""
    return _save_campaign(db, actor, campaign_id, draft)


def _save_campaign(
    db: Database, actor: StaffMember, campaign_id: int | None, draft: CampaignDraft
) -> Campaign:
    _owner(actor, "set up coupon campaigns")
    if errors := draft_errors(draft):
        raise InvalidInput("; ".join(f"{k}: {m}" for k, m in errors.items()))
    with db.write() as session:
        before: dict[str, Any] | None = None
        if campaign_id is None:
            row = CouponCampaign(created_by_staff_id=actor.id, created_at=_now())
            session.add(row)
        else:
            row = _campaign_row(session, campaign_id)
            before = _json(_campaign(row))
        for name in CampaignDraft.__dataclass_fields__:
            setattr(row, name, getattr(draft, name))
        row.name, row.kind = draft.name.strip(), draft.kind.value
        row.categories = list(draft.categories) or None
        row.store_ids = list(draft.store_ids) or None
        row.updated_at = _now()
        session.flush()
        saved = _campaign(row)
        detail = {"before": before, "after": _json(saved)}
        audit.record(session, CAMPAIGN_SAVED, actor_id=actor.id, target_type="coupon_campaign",
                     target_id=row.id, detail=detail)  # fmt: skip
        return saved


def get_campaign(db: Database, campaign_id: int) -> Campaign:
    with db.read() as session:
        return _campaign(_campaign_row(session, campaign_id))


def list_campaigns(db: Database) -> list[CampaignSummary]:
    """Every campaign, newest first, with its codes, redemptions and discount given."""
    codes = (
        select(Coupon.campaign_id, func.count().label("n")).group_by(Coupon.campaign_id).subquery()
    )
    used = (
        select(Coupon.campaign_id, func.count().label("n"),
               func.coalesce(func.sum(CouponRedemption.discount), 0).label("total"))
        .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
        .group_by(Coupon.campaign_id)
        .subquery()
    )  # fmt: skip
    stmt = (
        select(CouponCampaign, codes.c.n, used.c.n, used.c.total)
        .outerjoin(codes, codes.c.campaign_id == CouponCampaign.id)
        .outerjoin(used, used.c.campaign_id == CouponCampaign.id)
        .order_by(CouponCampaign.id.desc())
    )
    with db.read() as session:
        return [
            CampaignSummary(_campaign(c), int(n or 0), int(r or 0),
                            Decimal(int(total or 0)).scaleb(-2))
            for c, n, r, total in session.execute(stmt)
        ]  # fmt: skip


# -- issuing -------------------------------------------------------------------------------------


def issue_to_customer(
    db: Database, actor: StaffMember, campaign_id: int, customer_id: int
) -> CouponView:
    """One new code of the campaign for the customer (managers and the owner; audited)."""
    _may_issue(actor)
    with db.write() as session:
        issued = issue_in(session, campaign_id, customer_id, actor_id=actor.id)
        audit.record(session, COUPONS_ISSUED, actor_id=actor.id, target_type="customer",
                     target_id=customer_id,
                     detail={"campaign_id": campaign_id, "coupon_id": issued.id})  # fmt: skip
        return issued


def issue_in(
    session: Session, campaign_id: int, customer_id: int, *, actor_id: int | None
) -> CouponView:
    """One new code for the customer inside the caller's transaction, unchecked and
    unaudited: for a service that hands out a coupon as part of its own operation (a reward)."""
    campaign = _issuable(session, campaign_id)
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    [coupon] = _insert_codes(session, campaign, actor_id, [customer_id])
    return _view(coupon, campaign)


def issue_to_segment(
    db: Database, actor: StaffMember, campaign_id: int, segment_id: int, *, store_scope: int | None
) -> int:
    """One new code for every member of a saved segment that ``store_scope`` sees, whatever
    their marketing consent (a coupon is not a message); returns how many were issued."""
    _may_issue(actor)
    members = segment_member_ids(db, segment_id, store_scope=store_scope)
    with db.write() as session:
        campaign = _issuable(session, campaign_id)
        _insert_codes(session, campaign, actor.id, members)
        audit.record(session, COUPONS_ISSUED, actor_id=actor.id, target_type="segment",
                     target_id=segment_id,
                     detail={"campaign_id": campaign_id, "count": len(members)})  # fmt: skip
    return len(members)


def generate_pool(db: Database, actor: StaffMember, campaign_id: int, count: int) -> list[str]:
    """``count`` new codes of the campaign for anyone (owner; audited); the codes, grouped."""
    _owner(actor, "generate coupon codes")
    if isinstance(count, bool) or not 1 <= count <= MAX_POOL:
        raise InvalidInput(f"generate from 1 to {MAX_POOL} codes at a time, not {count!r}")
    with db.write() as session:
        campaign = _issuable(session, campaign_id)
        made = _insert_codes(session, campaign, actor.id, [None] * count)
        audit.record(session, POOL_GENERATED, actor_id=actor.id, target_type="coupon_campaign",
                     target_id=campaign_id, detail={"count": count})  # fmt: skip
        return [group(c.code) for c in made]


def pool_csv(db: Database, actor: StaffMember, campaign_id: int) -> str:
    """The campaign's pool codes (no customer) as CSV: code, uses, status (owner; audited as
    an export, since whoever holds the file can spend the codes)."""
    _owner(actor, "download coupon codes")
    out = io.StringIO()
    writer = spreadsheets.csv_writer(out)
    writer.writerow(["code", "uses", "uses_per_code", "status"])
    with db.write() as session:
        campaign = _campaign_row(session, campaign_id)
        rows = session.execute(
            select(Coupon)
            .where(Coupon.campaign_id == campaign_id, Coupon.customer_id.is_(None))
            .order_by(Coupon.id)
        ).scalars().all()  # fmt: skip
        for c in rows:
            writer.writerow([group(c.code), c.uses, campaign.uses_per_code or "", c.status])
        audit.record(session, CODES_EXPORTED, actor_id=actor.id, target_type="coupon_campaign",
                     target_id=campaign_id, detail={"count": len(rows)})  # fmt: skip
    return out.getvalue()


def _insert_codes(
    session: Session, campaign: CouponCampaign, actor_id: int | None, owners: Sequence[int | None]
) -> list[Coupon]:
    codes = _fresh_codes(session, len(owners))
    now = _now()
    made = [
        Coupon(code=code, campaign_id=campaign.id, customer_id=owner, uses=0,
               status=Status.ACTIVE.value, issued_at=now, issued_by_staff_id=actor_id)
        for code, owner in zip(codes, owners, strict=True)
    ]  # fmt: skip
    session.add_all(made)
    session.flush()
    return made


def _fresh_codes(session: Session, n: int) -> list[str]:
    """``n`` new distinct codes that no stored coupon has (a clash is ~n²/2^61: re-drawn)."""
    codes: set[str] = set()
    while len(codes) < n:
        wanted = {new_code() for _ in range(n - len(codes))} - codes
        for chunk in _chunks(sorted(wanted), 500):
            taken = session.execute(select(Coupon.code).where(Coupon.code.in_(chunk))).scalars()
            wanted -= set(taken)
        codes |= wanted
    return sorted(codes)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- validating and redeeming --------------------------------------------------------------------


def validate(db: Database, code: str, basket: Basket, *, now: datetime | None = None) -> Verdict:
    """Whether ``code`` applies to ``basket`` now: the discount, or why not."""
    with db.read() as session:
        return _validate(session, normalise(code), basket, now or _now(), lock=False)[0]


def redeem(
    target: DbOrSession,
    code: str,
    basket: Basket,
    *,
    idempotency_key: str,
    actor_id: int | None,
    order_ref: str,
    now: datetime | None = None,
) -> Redemption:
    """Re-validate and record one use of the code for order ``order_ref``, in one transaction
    with the coupon locked. Raises CouponNotValid (with the reason), CouponUsedUp,
    AlreadyRedeemedForOrder, or IdempotencyConflict (the key was used for another request)."""
    if not idempotency_key:
        raise InvalidInput("a coupon redemption needs an idempotency key")
    if not order_ref or not order_ref.strip() or len(order_ref) > 64:
        raise InvalidInput("a coupon redemption needs the order's id (up to 64 characters)")
    norm = normalise(code)
    digest = request_digest(
        "redeem_coupon", code=norm, basket=basket.as_json(), order_ref=order_ref
    )

    def post(session: Session) -> Redemption:
        verdict, coupon = _validate(session, norm, basket, now or _now(), lock=True)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        if coupon is None:
            raise CouponNotValid(verdict)
        _not_redeemed_for(session, coupon, order_ref)
        if verdict.reason is Reason.USED_UP:
            raise CouponUsedUp(f"coupon {group(norm)}: {verdict.message}")
        if not verdict.valid:
            raise CouponNotValid(verdict)
        row = CouponRedemption(
            coupon_id=coupon.id, customer_id=basket.customer_id, store_id=basket.store_id,
            order_ref=order_ref, discount=verdict.discount, at=_now(),
            idempotency_key=idempotency_key, request_digest=digest, actor_staff_id=actor_id,
        )  # fmt: skip
        session.add(row)
        coupon.uses += 1
        limit = _campaign_row(session, coupon.campaign_id).uses_per_code
        if limit is not None and coupon.uses >= limit:
            coupon.status = Status.USED_UP.value
        session.flush()
        return _redemption(row, norm)

    return run_once(target, post, lambda s: _replay(s, idempotency_key, digest))


def applicable_coupons(
    db: Database, customer_id: int, basket: Basket, *, now: datetime | None = None
) -> list[Verdict]:
    """The customer's own coupons that ``basket`` qualifies for, biggest discount first."""
    with db.read() as session:
        return _applicable(session, _held(session, customer_id), customer_id, basket, now)


def applicable_to_purchase(
    db: Database, purchase_id: int, customer_id: int, *, now: datetime | None = None
) -> list[Verdict]:
    """``applicable_coupons`` for a recorded purchase's basket, in one read; the basket is
    read only when the customer holds a coupon (most do not: one query for the POS answer)."""
    with db.read() as session:
        held = _held(session, customer_id)
        if not held:
            return []
        return _applicable(session, held, customer_id, _basket_of(session, purchase_id), now)


def purchase_basket(db: Database, purchase_id: int) -> Basket:
    """The basket of a recorded purchase: its store, customer, and lines with categories."""
    with db.read() as session:
        return _basket_of(session, purchase_id)


def _held(session: Session, customer_id: int) -> list[str]:
    """The codes of the customer's own active coupons, oldest first."""
    return list(session.execute(
        select(Coupon.code)
        .where(Coupon.customer_id == customer_id, Coupon.status == Status.ACTIVE.value)
        .order_by(Coupon.id)
    ).scalars())  # fmt: skip


def _applicable(
    session: Session, codes: list[str], customer_id: int, basket: Basket, now: datetime | None
) -> list[Verdict]:
    basket = Basket(basket.store_id, basket.lines, customer_id)
    verdicts = [_validate(session, c, basket, now or _now(), lock=False)[0] for c in codes]
    return sorted((v for v in verdicts if v.valid), key=lambda v: (-v.discount, v.code))


def _basket_of(session: Session, purchase_id: int) -> Basket:
    purchase = session.get(Purchase, purchase_id)
    if purchase is None:
        raise NotFound(f"purchase {purchase_id} does not exist")
    rows = session.execute(
        select(PurchaseLine.amount, Product.category)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(PurchaseLine.purchase_id == purchase_id)
        .order_by(PurchaseLine.line_no)
    ).all()  # fmt: skip
    lines = tuple(Line(amount, category) for amount, category in rows)
    return Basket(purchase.store_id, lines, purchase.customer_id)


def _validate(
    session: Session, code: str, basket: Basket, now: datetime, *, lock: bool
) -> tuple[Verdict, Coupon | None]:
    stmt = select(Coupon).where(Coupon.code == code).execution_options(populate_existing=True)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    coupon = session.execute(stmt).scalar_one_or_none() if _well_formed(code) else None
    if coupon is None:
        return Verdict(group(code), Reason.UNKNOWN_CODE), None
    campaign = _campaign_row(session, coupon.campaign_id)
    used_by_customer = 0
    if campaign.uses_per_customer is not None and basket.customer_id is not None:
        used_by_customer = session.execute(
            select(func.count()).where(CouponRedemption.coupon_id == coupon.id,
                                       CouponRedemption.customer_id == basket.customer_id)
        ).scalar_one()  # fmt: skip
    return judge(coupon, _campaign(campaign), basket, now, used_by_customer), coupon


def judge(
    coupon: Coupon, campaign: Campaign, basket: Basket, now: datetime, used_by_customer: int = 0
) -> Verdict:
    """The verdict on one coupon for one basket, in a fixed order of checks (pure)."""

    def no(reason: Reason, missing: Decimal | None = None, **values: str) -> Verdict:
        return Verdict(group(coupon.code), reason, qualifying=qualifying, missing=missing,
                       coupon_id=coupon.id, campaign=campaign.name, values=values)  # fmt: skip

    qualifying = Decimal(0)

    if not campaign.is_active or coupon.status == Status.VOID:
        return no(Reason.INACTIVE)
    if campaign.valid_from is not None and now < campaign.valid_from:
        return no(Reason.NOT_STARTED, valid_from=campaign.valid_from.isoformat())
    if campaign.valid_until is not None and now >= campaign.valid_until:
        return no(Reason.EXPIRED, valid_until=campaign.valid_until.isoformat())
    limit = campaign.uses_per_code
    if coupon.status == Status.USED_UP or (limit is not None and coupon.uses >= limit):
        return no(Reason.USED_UP)
    if coupon.customer_id is not None and coupon.customer_id != basket.customer_id:
        return no(Reason.OTHER_CUSTOMER)
    if coupon.customer_id is None and campaign.uses_per_customer is not None:
        if basket.customer_id is None:
            return no(Reason.CUSTOMER_REQUIRED)
        if used_by_customer >= campaign.uses_per_customer:
            return no(Reason.CUSTOMER_LIMIT)
    if campaign.store_ids and basket.store_id not in campaign.store_ids:
        return no(Reason.WRONG_STORE)
    wanted = set(campaign.categories)
    lines = [x for x in basket.lines if not wanted or x.category in wanted]
    if wanted and not lines:
        return no(Reason.WRONG_CATEGORY, categories=", ".join(campaign.categories))
    qualifying += sum((x.amount for x in lines), Decimal(0))
    if campaign.min_spend is not None and qualifying < campaign.min_spend:
        missing = campaign.min_spend - qualifying
        return no(Reason.MIN_SPEND, missing, amount=_text(missing),
                  min_spend=_text(campaign.min_spend), qualifying=_text(qualifying))  # fmt: skip
    return Verdict(group(coupon.code), None, discount_of(campaign, qualifying), qualifying,
                   coupon_id=coupon.id, campaign=campaign.name)  # fmt: skip


def discount_of(campaign: CampaignDraft, qualifying: Decimal) -> Decimal:
    """Fixed: the value; percent: value % rounded down to the fen, at most ``max_discount``;
    never more than the qualifying amount."""
    if campaign.kind == Kind.FIXED:
        off = campaign.value
    else:
        off = (qualifying * campaign.value / 100).quantize(CENT, rounding=ROUND_DOWN)
        if campaign.max_discount is not None:
            off = min(off, campaign.max_discount)
    return max(min(off, qualifying), Decimal(0)).quantize(CENT)


def _not_redeemed_for(session: Session, coupon: Coupon, order_ref: str) -> None:
    prior = session.execute(
        select(CouponRedemption.id).where(CouponRedemption.coupon_id == coupon.id,
                                          CouponRedemption.order_ref == order_ref)
    ).scalar_one_or_none()  # fmt: skip
    if prior is not None:
        raise AlreadyRedeemedForOrder(coupon.code, order_ref, prior)


def _replay(session: Session, key: str, digest: str) -> Redemption | None:
    row = stored_for_key(session, CouponRedemption, key, digest, lambda r: (
        f"coupon redemption {r.id} for order {r.order_ref}"))  # fmt: skip
    if row is None:
        return None
    code = session.execute(select(Coupon.code).where(Coupon.id == row.coupon_id)).scalar_one()
    return _redemption(row, code, replayed=True)


# -- reading -------------------------------------------------------------------------------------


def customer_coupons(
    db: Database, customer_id: int, *, now: datetime | None = None
) -> list[CouponView]:
    """The customer's own coupons, newest first."""
    stmt = (
        select(Coupon, CouponCampaign)
        .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
        .where(Coupon.customer_id == customer_id)
        .order_by(Coupon.id.desc())
    )
    with db.read() as session:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"customer {customer_id} does not exist")
        return [_view(c, k, now) for c, k in session.execute(stmt)]


def store_choices(db: Database) -> list[tuple[int, str]]:
    """(id, 'code name') of every store, for the campaign form."""
    with db.read() as session:
        rows = session.execute(select(Store.id, Store.code, Store.name).order_by(Store.code))
        return [(i, f"{code} {name}") for i, code, name in rows]


def _view(coupon: Coupon, campaign: CouponCampaign, now: datetime | None = None) -> CouponView:
    now = now or _now()
    state = coupon.status
    if state == Status.ACTIVE:
        if not campaign.is_active:
            state = "inactive"
        elif campaign.valid_until is not None and now >= campaign.valid_until:
            state = "expired"
        elif campaign.valid_from is not None and now < campaign.valid_from:
            state = "not_started"
    return CouponView(coupon.id, group(coupon.code), campaign.id, campaign.name,
                      coupon.customer_id, coupon.uses, campaign.uses_per_code, coupon.status,
                      state, campaign.valid_from, campaign.valid_until,
                      coupon.issued_at)  # fmt: skip


def window(
    first: date | None, last: date | None, zone: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """Business days (in the shop's time zone) -> (valid_from, valid_until) in UTC: 00:00 of
    the first day, and 00:00 of the day after the last."""
    start = None if first is None else datetime.combine(first, time(0), zone).astimezone(UTC)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time(0), zone)
    return start, None if end is None else end.astimezone(UTC)


def days(
    valid_from: datetime | None, valid_until: datetime | None, zone: tzinfo
) -> tuple[date | None, date | None]:
    """The inverse of ``window``: the first and the last business day."""
    first = None if valid_from is None else valid_from.astimezone(zone).date()
    if valid_until is None:
        return first, None
    return first, (valid_until.astimezone(zone) - timedelta(seconds=1)).date()


# -- internals -----------------------------------------------------------------------------------


def _campaign_row(session: Session, campaign_id: int) -> CouponCampaign:
    row = session.get(CouponCampaign, campaign_id)
    if row is None:
        raise NotFound(f"coupon campaign {campaign_id} does not exist")
    return row


def _issuable(session: Session, campaign_id: int) -> CouponCampaign:
    row = _campaign_row(session, campaign_id)
    if not row.is_active:
        raise InvalidInput(f"campaign {row.name!r} is switched off: switch it on to issue codes")
    if row.valid_until is not None and _now() >= row.valid_until:
        raise InvalidInput(f"campaign {row.name!r} has ended: extend it to issue codes")
    return row


def _campaign(row: CouponCampaign) -> Campaign:
    return Campaign(
        name=row.name, kind=Kind(row.kind), value=row.value, max_discount=row.max_discount,
        min_spend=row.min_spend, categories=tuple(row.categories or ()),
        store_ids=tuple(row.store_ids or ()), valid_from=row.valid_from,
        valid_until=row.valid_until, uses_per_code=row.uses_per_code,
        uses_per_customer=row.uses_per_customer, is_active=bool(row.is_active), id=row.id,
        created_at=row.created_at,
    )  # fmt: skip


def _redemption(row: CouponRedemption, code: str, *, replayed: bool = False) -> Redemption:
    return Redemption(row.id, row.coupon_id, group(code), row.customer_id, row.store_id,
                      row.order_ref, row.discount, row.at, replayed)  # fmt: skip


def _owner(actor: StaffMember, what: str) -> None:
    if actor.role is not Role.OWNER:
        raise NotAllowed(f"only the owner may {what}; {actor.name} is a {actor.role.value}")


def _may_issue(actor: StaffMember) -> None:
    if not is_allowed(actor.role, Permission.COUPONS_ISSUE):
        raise NotAllowed(
            f"only a manager or the owner may issue coupons; {actor.name} is a {actor.role.value}"
        )


def _well_formed(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(c in ALPHABET for c in code)


def _text(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def _through(valid_until: datetime | None) -> datetime | None:
    return None if valid_until is None else valid_until - timedelta(seconds=1)


def _now() -> datetime:
    return datetime.now(UTC)


def _json(campaign: Campaign) -> dict[str, Any]:
    loaded = json.loads(json.dumps(campaign.__dict__, default=str))
    assert isinstance(loaded, dict)
    return loaded
