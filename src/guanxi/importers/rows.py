"""Turn the raw cells of one file row into a validated customer or purchase-line row.

Pure functions: no database, no clock. Every problem with a cell becomes a ``CellError``
naming the column, the value and the reason; a row with any error is rejected whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from guanxi.domain.customers import Channel, CommunicationStyle, CustomerSource
from guanxi.domain.names import name_keys
from guanxi.importers import values as v
from guanxi.importers.headers import PURCHASE_FIELDS, ColumnMap

PURCHASE_FIELD_NAMES = tuple(PURCHASE_FIELDS)


@dataclass(frozen=True, slots=True)
class CellError:
    """Why one cell (or the row as a whole, column '') cannot be imported."""

    column: str
    value: str
    reason: str


_LIST_SPLIT = re.compile(r"[,，;；、|/\s]+")

SOURCES: dict[str, CustomerSource] = {
    **{s.value: s for s in CustomerSource},
    "到店": CustomerSource.WALK_IN,
    "自然到店": CustomerSource.WALK_IN,
    "进店": CustomerSource.WALK_IN,
    "推荐": CustomerSource.REFERRAL,
    "转介绍": CustomerSource.REFERRAL,
    "老带新": CustomerSource.REFERRAL,
    "介绍": CustomerSource.REFERRAL,
    "线上": CustomerSource.ONLINE,
    "网店": CustomerSource.ONLINE,
    "小程序": CustomerSource.ONLINE,
    "公众号": CustomerSource.ONLINE,
    "活动": CustomerSource.EVENT,
    "展会": CustomerSource.EVENT,
    "导入": CustomerSource.IMPORT,
    "其他": CustomerSource.OTHER,
}

STYLES: dict[str, CommunicationStyle] = {
    **{s.value: s for s in CommunicationStyle},
    "驾驭型": CommunicationStyle.DRIVER,
    "支配型": CommunicationStyle.DRIVER,
    "力量型": CommunicationStyle.DRIVER,
    "分析型": CommunicationStyle.ANALYTICAL,
    "完美型": CommunicationStyle.ANALYTICAL,
    "和蔼型": CommunicationStyle.AMIABLE,
    "友善型": CommunicationStyle.AMIABLE,
    "和平型": CommunicationStyle.AMIABLE,
    "表现型": CommunicationStyle.EXPRESSIVE,
    "表达型": CommunicationStyle.EXPRESSIVE,
    "活泼型": CommunicationStyle.EXPRESSIVE,
}

CONSENT_FIELDS: dict[str, tuple[Channel, ...]] = {
    "consent": tuple(Channel),
    "consent_sms": (Channel.SMS,),
    "consent_email": (Channel.EMAIL,),
    "consent_wechat": (Channel.WECHAT,),
    "consent_phone": (Channel.PHONE,),
}


def split_list(text: str) -> tuple[str, ...]:
    """'VIP，老客户 / 团购' -> ('VIP', '老客户', '团购'), de-duplicated, order kept."""
    return tuple(dict.fromkeys(t for t in _LIST_SPLIT.split(text) if t))


@dataclass(slots=True)
class CustomerRow:
    """A validated customer row: only fields present and non-empty in the file are set."""

    line: int
    columns: dict[str, Any] = field(default_factory=dict)  # customer table columns
    tags: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()
    consents: dict[Channel, bool] = field(default_factory=dict)
    owner_staff: str | None = None
    home_store: str | None = None
    referred_by: str | None = None
    custom_fields: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str | None, str | None, str | None]:
        """(code, phone, email): how the row is matched to an existing customer."""
        c = self.columns
        return c.get("code"), c.get("phone"), c.get("email")


def parse_customer_row(
    line: int, cells: list[str], cmap: ColumnMap, tz: ZoneInfo
) -> CustomerRow | list[CellError]:
    """Validate one customer row; return the row or every error found in it."""
    row = CustomerRow(line=line)
    errors: list[CellError] = []
    for name, index in cmap.fields.items():
        raw = cells[index] if index < len(cells) else ""
        if not raw:
            continue
        try:
            _apply_customer_field(row, name, raw, tz)
        except ValueError as exc:
            errors.append(CellError(cmap.headers[index], raw, str(exc)))
    for index in cmap.unmapped:
        raw = cells[index] if index < len(cells) else ""
        if raw:
            row.custom_fields[cmap.headers[index]] = raw
    if not errors and not any(row.keys):
        # A customer without code, phone or email can't be de-duplicated on re-import.
        errors.append(CellError("", "", "no member code, phone or email to identify the customer"))
    return errors or row


def _header(cmap: ColumnMap, name: str) -> str:
    index = cmap.fields.get(name)
    return cmap.headers[index] if index is not None else name


def _apply_customer_field(row: CustomerRow, name: str, raw: str, tz: ZoneInfo) -> None:
    c = row.columns
    if name == "name":
        text = v.to_halfwidth(raw)
        c["name"] = text
        c["name_pinyin"], c["name_initials"] = name_keys(text)
    elif name == "code":
        c["code"] = v.to_halfwidth(raw)
    elif name == "phone":
        c["phone"] = v.normalise_phone(raw)
        c["phone_last4"] = c["phone"][-4:]
    elif name == "email":
        c["email"] = v.normalise_email(raw)
    elif name == "gender":
        c["gender"] = v.parse_gender(raw).value
    elif name == "birthday":
        b = v.parse_birthday(raw)
        c.update(
            birthday_kind=b.kind.value,
            birthday_year=b.year,
            birthday_month=b.month,
            birthday_day=b.day,
            birthday_is_leap_month=b.is_leap_month,
        )
    elif name in ("wechat_id", "city", "notes"):
        c[name] = raw
    elif name == "source":
        c["source"] = _lookup(SOURCES, raw, "source").value
    elif name == "communication_style":
        c["communication_style"] = _lookup(STYLES, raw, "communication style").value
    elif name == "joined_on":
        c["created_at"] = datetime.combine(v.parse_date(raw), time(), tz)
    elif name in ("tags", "interests"):
        setattr(row, name, split_list(raw))
    elif name in CONSENT_FIELDS:
        granted = v.parse_bool(raw)
        row.consents.update(dict.fromkeys(CONSENT_FIELDS[name], granted))
    elif name in ("owner_staff", "home_store"):
        setattr(row, name, raw)
    elif name == "referred_by":
        row.referred_by = _referrer_key(raw)


def _lookup(table: dict[str, Any], raw: str, what: str) -> Any:
    found = table.get(raw.strip().lower()) or table.get(raw.strip())
    if found is None:
        known = ", ".join(sorted({str(x.value) for x in table.values()}))
        raise ValueError(f"unknown {what} {raw!r}: use one of {known}")
    return found


def _referrer_key(raw: str) -> str:
    """A referrer is named by phone (normalised) or by member code."""
    try:
        return v.normalise_phone(raw)
    except ValueError:
        return v.to_halfwidth(raw)


class PurchaseLineRow(NamedTuple):
    """A validated purchase line in stored form, cheap to pass between processes.

    Money is integer fen, the quantity integer thousandths, the time naive UTC.
    """

    line: int
    order_id: str
    purchased_at_utc: datetime
    customer_code: str | None
    phone: str | None
    email: str | None
    customer_name: str | None
    sku: str
    product_name: str | None
    category: str | None
    quantity_milli: int
    unit_price_fen: int
    discount_fen: int
    amount_fen: int
    store: str | None
    staff: str | None
    payment_method: str | None
    is_promotion: bool


_TEXT_FIELDS = ("order_id", "sku", "product_name", "customer_name", "category", "store", "staff")
_DEFAULTS: dict[str, Any] = {"quantity": Decimal(1), "discount": Decimal(0), "promotion": False}
_REQUIRED: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("order_id",), "order_id", "order id is empty"),
    (("date",), "date", "date is empty"),
    (("sku", "product_name"), "sku", "product (SKU or name) is empty"),
    (("amount", "unit_price"), "amount", "neither amount nor unit price given"),
    (("customer_code", "phone", "email"), "phone",
     "no member code, phone or email to identify the customer"),
)  # fmt: skip


class PurchaseRowParser:
    """Parses the purchase-line rows of one file (the import's hot path: keep it lean).

    Naive times in the file are read in ``tz``, the shop's time zone.
    """

    def __init__(self, cmap: ColumnMap, tz: ZoneInfo) -> None:
        self.cmap = cmap
        self.width = len(cmap.headers)
        blank = self.width  # index of an empty cell appended to every row
        self.index = {f: cmap.fields.get(f, blank) for f in PURCHASE_FIELD_NAMES}
        parsers: dict[str, Callable[[str], Any]] = {
            "date": lambda raw: v.parse_datetime(raw, tz),
            "customer_code": v.to_halfwidth, "phone": v.normalise_phone,
            "email": v.normalise_email, "quantity": v.parse_quantity,
            "unit_price": v.parse_amount, "discount": v.parse_amount, "amount": v.parse_amount,
            "payment_method": v.parse_payment_method, "promotion": v.parse_bool,
        }  # fmt: skip
        self.plan = [(f, i, parsers[f]) for f, i in self.index.items()
                     if f in parsers and i != blank]  # fmt: skip
        self.texts = [(f, self.index[f]) for f in _TEXT_FIELDS]
        self.required = [
            (tuple(self.index[f] for f in fields), _header(cmap, column), reason)
            for fields, column, reason in _REQUIRED
        ]

    def cell(self, cells: list[str], name: str) -> str:
        i = self.index[name]
        return cells[i] if i < len(cells) else ""

    def parse(self, line: int, cells: list[str]) -> PurchaseLineRow | list[CellError]:
        """Validate one line; return it or every error found in it."""
        if len(cells) < self.width + 1:
            cells = cells + [""] * (self.width + 1 - len(cells))
        got: dict[str, Any] = {f: cells[i] for f, i in self.texts}
        errors: list[CellError] = []
        for name, i, parser in self.plan:
            raw = cells[i]
            if raw:
                try:
                    got[name] = parser(raw)
                except ValueError as exc:
                    errors.append(CellError(self.cmap.headers[i], raw, str(exc)))
        for indexes, column, reason in self.required:
            for i in indexes:
                if cells[i]:
                    break
            else:
                errors.append(CellError(column, "", reason))
        if errors:
            return errors
        return self._row(line, got, cells)

    def _row(
        self, line: int, got: dict[str, Any], cells: list[str]
    ) -> PurchaseLineRow | list[CellError]:
        quantity = got.get("quantity", _DEFAULTS["quantity"])
        money = line_money(
            quantity,
            got.get("unit_price"),
            got.get("discount", _DEFAULTS["discount"]),
            got.get("amount"),
        )
        if isinstance(money, str):
            return [CellError(_header(self.cmap, "amount"), self.cell(cells, "amount"), money)]
        payment = got.get("payment_method")
        order_id = got["order_id"]
        return PurchaseLineRow(
            line, order_id if order_id.isascii() else v.to_halfwidth(order_id),
            got["date"].astimezone(UTC).replace(tzinfo=None), got.get("customer_code"),
            got.get("phone"), got.get("email"), got["customer_name"] or None,
            got["sku"] or got["product_name"], got["product_name"] or None,
            got["category"] or None, int(quantity.scaleb(3)), int(money[0].scaleb(2)),
            int(money[1].scaleb(2)), int(money[2].scaleb(2)), got["store"] or None,
            got["staff"] or None, payment.value if payment is not None else None,
            got.get("promotion", False),
        )  # fmt: skip


CENT = Decimal("0.01")


def line_money(
    qty: Decimal, unit: Decimal | None, discount: Decimal, amount: Decimal | None
) -> tuple[Decimal, Decimal, Decimal] | str:
    """Complete (unit price, discount, amount) from what the file gives, or say what's wrong."""
    if amount is not None and amount < 0:
        return "negative amount: record returns separately"
    if unit is not None and unit < 0:
        return "negative unit price"
    if unit is None:
        assert amount is not None
        unit = ((amount + discount) / qty).quantize(CENT)
        return unit, (qty * unit - amount).quantize(CENT), amount
    gross = (qty * unit).quantize(CENT)
    if amount is None:
        amount = gross - discount
        if amount < 0:
            return f"discount {discount} exceeds {qty} × {unit}"
        return unit, discount, amount
    if discount and gross - discount != amount:
        return f"amount {amount} ≠ {qty} × {unit} − {discount}"
    return unit, gross - amount, amount
