"""The API's JSON bodies: what POS systems send and what they get back.

Money goes out as a string with two decimals ("1280.00"): JSON numbers are binary floats in
most clients, where 0.1 + 0.2 != 0.3. Money comes in as a string (preferred) or a number with
at most two decimals. Input is normalised here (phones to E.164, emails lower-cased), so an
error names the field it came from.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from guanxi.domain.customers import CustomerSource, Gender
from guanxi.domain.purchases import PaymentMethod
from guanxi.importers.values import (
    normalise_email,
    normalise_phone,
    parse_payment_method,
    to_halfwidth,
)

T = TypeVar("T")
MAX_ID = 2**31 - 1  # the largest id an INTEGER key holds on PostgreSQL (and SQLite)
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A row id in a URL: out of range is a 422, not a database overflow."""
IdIn = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row id in a body: out of range is a 422, not a database overflow."""
CENT = Decimal("0.01")
MILLI = Decimal("0.001")


def _money_text(value: Decimal) -> str:
    return f"{value.quantize(CENT):f}"


def _quantity_text(value: Decimal) -> str:
    return f"{value.quantize(MILLI):f}"


MoneyOut = Annotated[
    Decimal,
    PlainSerializer(_money_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1280.00"]}),
]
QuantityOut = Annotated[
    Decimal,
    PlainSerializer(_quantity_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{3}$", "examples": ["2.000"]}),
]
MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2, examples=["128.00"])]
QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3, examples=["2"])]


NO_NUL = r"^[^\x00]*$"  # a pattern for text parameters: PostgreSQL cannot store a NUL


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Strict(BaseModel):
    """Unknown fields are errors: a typo ("phon") must not be dropped silently. Text with a
    NUL character is refused (422) in every field: PostgreSQL cannot store one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


# --- errors ----------------------------------------------------------------------------


class FieldErrorOut(BaseModel):
    field: str = Field(examples=["lines.0.quantity"])
    message: str = Field(examples=["Input should be greater than 0"])


class ErrorDetailOut(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["lines.0.quantity: Input should be greater than 0"])
    fields: list[FieldErrorOut] | None = None


class ErrorOut(BaseModel):
    """Every error: a stable ``code`` to branch on and a ``message`` for people."""

    error: ErrorDetailOut


# --- customers --------------------------------------------------------------------------


def _phone(value: str | None) -> str | None:
    return None if value is None or not value.strip() else normalise_phone(value)


def _email(value: str | None) -> str | None:
    return None if value is None or not value.strip() else normalise_email(value)


def _code(value: str | None) -> str | None:
    return None if value is None else (to_halfwidth(value) or None)


def _tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    tags = list(dict.fromkeys(t for t in (to_halfwidth(v) for v in value) if t))
    if any(len(t) > 64 for t in tags):
        raise ValueError("a tag has at most 64 characters")
    return tags


class CustomerFieldsIn(Strict):
    """Fields a POS may set on a customer; absent fields are left alone."""

    gender: Gender | None = None
    phone: str | None = Field(None, max_length=40, examples=["138 1234 5678"])
    email: str | None = Field(None, max_length=254, examples=["zhang.san@example.com"])
    code: str | None = Field(None, max_length=64, description="Member card number.",
                             examples=["M000123"])  # fmt: skip
    wechat_id: str | None = Field(None, max_length=64)
    city: str | None = Field(None, max_length=64, examples=["杭州"])
    notes: str | None = Field(None, max_length=4000)
    tags: list[str] | None = Field(None, max_length=50, examples=[["VIP", "茶友"]])

    check_phone = field_validator("phone")(_phone)
    check_email = field_validator("email")(_email)
    check_code = field_validator("code")(_code)
    check_tags = field_validator("tags")(_tags)

    @field_validator("gender")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null: leave the field out to keep it")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the request sent, as stored values."""
        return self.model_dump(mode="json", include=self.model_fields_set)


class CustomerCreateIn(CustomerFieldsIn):
    """A new customer; ``name`` is required, the rest optional."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "张三", "phone": "13812345678", "code": "M000123", "tags": ["VIP"],
        "source": "walk_in",
    }]})  # fmt: skip

    name: str = Field(min_length=1, max_length=100, examples=["张三"])
    source: CustomerSource = CustomerSource.OTHER
    home_store_id: IdIn | None = Field(
        None, description="Default: the token's store (owners: none unless given)."
    )


class CustomerPatchIn(CustomerFieldsIn):
    """Fields to change; null clears an optional field, ``tags`` replaces all tags."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "city": "杭州", "tags": ["VIP", "茶友"], "email": None,
    }]})  # fmt: skip

    name: str | None = Field(None, min_length=1, max_length=100, examples=["张三"])

    @field_validator("name")
    @classmethod
    def _has_name(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("cannot be null: a customer keeps a name")
        return value


class SpendOut(BaseModel):
    purchases: int
    gross_spend: MoneyOut
    refunds: MoneyOut
    net_spend: MoneyOut
    first_at: datetime | None
    last_at: datetime | None


class CustomerOut(BaseModel):
    """One customer; ``phone`` is masked (138****5678) where the caller may not see it."""

    id: int
    name: str
    code: str | None
    gender: str
    phone: str | None = Field(examples=["+8613812345678", "138****5678"])
    phone_masked: bool
    email: str | None
    wechat_id: str | None
    city: str | None
    source: str
    notes: str | None
    tags: list[str]
    home_store_id: int | None
    home_store: str | None
    owner_staff_id: int | None
    owner_staff: str | None
    created_at: datetime
    updated_at: datetime
    spend: SpendOut


class CustomerRowOut(BaseModel):
    """A customer in a list or search result."""

    id: int
    name: str
    code: str | None
    phone: str | None
    phone_masked: bool
    home_store: str | None
    owner_staff_id: int | None
    matched: str | None = Field(None, description="Why a search matched: phone, name, tag…")


class PageOut(BaseModel, Generic[T]):
    """One page of results; a search (``q``) answers one page of best matches."""

    items: list[T]
    total: int
    page: int
    per_page: int


# --- purchases --------------------------------------------------------------------------


class CustomerRefIn(Strict):
    """Who bought: an ``id``, or ``code``/``phone``/``email`` (an unknown one is created)."""

    id: IdIn | None = None
    code: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=40, examples=["13812345678"])
    email: str | None = Field(None, max_length=254)
    name: str | None = Field(None, max_length=100, description="For a new customer.")

    check_phone = field_validator("phone")(_phone)
    check_email = field_validator("email")(_email)
    check_code = field_validator("code")(_code)

    @model_validator(mode="after")
    def _named(self) -> CustomerRefIn:
        if self.id is None and not (self.code or self.phone or self.email):
            raise ValueError("name the customer by id, code, phone or email")
        return self


class LineIn(Strict):
    """One receipt line: give ``unit_price``, ``amount`` (what was paid) or both."""

    sku: str = Field(min_length=1, max_length=64, examples=["TEA-LJ-250"])
    name: str | None = Field(None, max_length=200, examples=["明前龙井 250g"])
    category: str | None = Field(None, max_length=100, examples=["茶叶"])
    quantity: QuantityIn = Decimal(1)
    unit_price: MoneyIn | None = None
    discount: MoneyIn = Decimal(0)
    amount: MoneyIn | None = None

    @model_validator(mode="after")
    def _priced(self) -> LineIn:
        if self.unit_price is None and self.amount is None:
            raise ValueError("give unit_price, amount or both")
        return self


class PurchaseIn(Strict):
    """One receipt from a POS; the store defaults to the token's store."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "store_code": "A", "external_order_id": "POS1-20240105-0042",
        "customer": {"phone": "13812345678", "name": "张三"},
        "purchased_at": "2024-01-05T14:30:00+08:00",
        "lines": [{"sku": "TEA-LJ-250", "name": "明前龙井 250g", "quantity": "2",
                   "unit_price": "640.00"}],
        "payment_method": "wechat_pay", "is_promotion": False,
    }]})  # fmt: skip

    store_id: IdIn | None = None
    store_code: str | None = Field(None, max_length=32)
    external_order_id: str = Field(min_length=1, max_length=64, examples=["POS1-20240105-0042"])
    customer: CustomerRefIn
    purchased_at: datetime = Field(description="ISO 8601; without an offset: store time.")
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    payment_method: PaymentMethod | None = Field(
        None, description="cash, wechat_pay, alipay, card, stored_value, points, other "
        "(or 现金, 微信, 支付宝, 刷卡…)",
    )  # fmt: skip
    is_promotion: bool = False

    @field_validator("external_order_id")
    @classmethod
    def _order(cls, value: str) -> str:
        return to_halfwidth(value)

    @field_validator("payment_method", mode="before")
    @classmethod
    def _payment(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {m.value for m in PaymentMethod}:
            return parse_payment_method(value)
        return value

    @model_validator(mode="after")
    def _one_store(self) -> PurchaseIn:
        if self.store_id is not None and self.store_code is not None:
            raise ValueError("give store_id or store_code, not both")
        return self


class LineOut(BaseModel):
    line_no: int
    sku: str
    name: str
    quantity: QuantityOut
    unit_price: MoneyOut
    discount: MoneyOut
    amount: MoneyOut


class ReasonOut(BaseModel):
    """One step of how points came about: English text, and the template with its values."""

    text: str
    template: str
    values: dict[str, Any]


class PointsOut(BaseModel):
    """The points a purchase earned and the customer's balance after them."""

    earned: int
    balance: int
    expires_on: date | None = Field(description="The earned points expire after this day.")
    explanation: list[ReasonOut]


class TierOut(BaseModel):
    """The customer's member tier after the purchase and how far the next one is."""

    key: str
    name: str
    spend_12m: MoneyOut = Field(description="Qualifying spend: the last 12 months, net.")
    next_key: str | None = Field(description="The next tier; null at the top.")
    next_name: str | None
    to_next: MoneyOut | None = Field(
        description="Yuan still to spend to reach the next tier (spend basis); null at the top "
        "and with the points basis (see points_to_next)."
    )
    basis: str = Field(
        "spend",
        description="What tiers qualify on: spend (12-month spend) or points (12-month points).",
        examples=["spend", "points"],
    )
    points_12m: int | None = Field(
        None, description="Points basis: points earned by purchases, last 12 months, net."
    )
    points_to_next: int | None = Field(
        None, description="Points basis: points still to earn to reach the next tier."
    )


class ApplicableCouponOut(BaseModel):
    """One of the customer's own coupons that this basket qualifies for."""

    code: str = Field(examples=["ABCD-EFGH-JKMN"])
    campaign: str
    discount: MoneyOut


class PurchaseOut(BaseModel):
    """A recorded purchase; ``replayed`` is true when it had been recorded before."""

    id: int
    store_id: int
    store_code: str
    external_order_id: str
    customer_id: int
    purchased_at: datetime = Field(description="In the store's time zone, with offset.")
    total: MoneyOut
    payment_method: str | None
    is_promotion: bool
    created_at: datetime
    lines: list[LineOut]
    replayed: bool = False
    points: PointsOut | None = Field(
        default=None, description="Points earned (on record and replay); null when none."
    )
    tier: TierOut | None = Field(
        default=None, description="The member tier after the purchase; null without tiers."
    )
    applicable_coupons: list[ApplicableCouponOut] = Field(
        default_factory=list, description="The customer's coupons this basket qualifies for."
    )


# --- returns and points -----------------------------------------------------------------


class ReturnLineIn(Strict):
    """One purchase line coming back; ``amount`` (the refund) defaults to its share."""

    line_no: int = Field(ge=1, le=MAX_ID, examples=[1])
    quantity: QuantityIn = Decimal(1)
    amount: MoneyIn | None = Field(
        None, description="The refund; default: the line's amount × quantity / bought."
    )


class ReturnIn(Strict):
    """A return of some lines of one purchase, idempotent per purchase + return id."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "external_return_id": "POS1-R-0007", "returned_at": "2024-01-09T10:05:00+08:00",
        "reason": "damaged", "lines": [{"line_no": 1, "quantity": "1"}],
    }]})  # fmt: skip

    external_return_id: str = Field(min_length=1, max_length=64, examples=["POS1-R-0007"])
    returned_at: datetime | None = Field(
        None, description="ISO 8601; without an offset: store time. Default: now."
    )
    reason: str | None = Field(None, max_length=500)
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)

    @field_validator("external_return_id")
    @classmethod
    def _return_id(cls, value: str) -> str:
        return to_halfwidth(value)


class ReturnLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: QuantityOut
    amount: MoneyOut = Field(description="The money refunded for this line.")
    points_reversed: int
    flagged: bool = Field(description="The reversal took the balance below zero (claw-back).")


class ReturnPointsOut(BaseModel):
    """The points the return took back and the customer's balance after them."""

    reversed: int
    restored: int = Field(0, description="Points that paid the receipt, given back.")
    balance: int = Field(description="Negative when spent points were clawed back.")
    flagged: bool


class ReturnOut(BaseModel):
    """A recorded return; ``replayed`` is true when it had been recorded before."""

    id: int
    purchase_id: int
    customer_id: int
    external_return_id: str
    returned_at: datetime = Field(description="In the store's time zone, with offset.")
    reason: str | None
    refund_amount: MoneyOut
    created_at: datetime
    lines: list[ReturnLineOut]
    points: ReturnPointsOut
    stored_value_returned: MoneyOut = Field(
        Decimal(0), description="Money put back on the stored-value card that paid the order."
    )
    replayed: bool = False


class LotOut(BaseModel):
    """Points of one lot (an earn, a positive adjustment…) not yet spent or expired."""

    entry_id: int
    kind: str
    points: int
    remaining: int
    expires_on: date | None = Field(description="Expire after this day; null: never.")


class PointsEntryOut(BaseModel):
    """One change of the balance (积分流水)."""

    id: int
    kind: str = Field(examples=["earn", "redeem", "expire", "adjust", "reverse", "waive"])
    points: int
    balance_after: int
    at: datetime
    expires_on: date | None
    reason: str | None
    source_type: str | None
    source_id: str | None
    flagged: bool


class PointsBalanceOut(BaseModel):
    """A customer's balance, lots in spending order, and the newest entries."""

    customer_id: int
    balance: int
    lots: list[LotOut]
    history: list[PointsEntryOut]


class RedeemIn(Strict):
    """Spend points at the till; send an ``Idempotency-Key`` header with it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "points": 500, "reason": "gift: tea cup",
    }]})  # fmt: skip

    points: int = Field(gt=0, le=100_000_000, examples=[500])
    reason: str = Field(min_length=1, max_length=200, examples=["gift: tea cup"])
    external_order_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="The receipt these points pay (part of): a return of it gives them back.",
    )  # fmt: skip


class RedemptionOut(BaseModel):
    """A redemption as recorded; ``replayed`` is true for the stored result of a retry."""

    entry_id: int
    customer_id: int
    points: int = Field(description="Points spent (a positive number).")
    balance: int = Field(description="The balance after this redemption.")
    reason: str | None
    at: datetime
    replayed: bool = False
