"""SQLAlchemy 2 typed ORM models: one class per table; the docstring says what one row is.

Schema changes go through Alembic (``storage/migrations``); a test checks there is no drift.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from guanxi.storage.types import Money, Quantity, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Store(Base):
    """A shop location; purchases and staff belong to one."""

    __tablename__ = "store"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Staff(Base):
    """A person who serves customers: owner, manager or clerk, usually of one store."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('owner', 'manager', 'clerk')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)  # None: cannot log in
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(16))  # None: from the browser
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    store: Mapped[Store | None] = relationship()


class Customer(Base):
    """One customer (客户/会员): a person or organisation that buys, or may buy, from the shop."""

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint(
            "birthday_month IS NULL OR birthday_month BETWEEN 1 AND 12", name="birthday_month_range"
        ),
        CheckConstraint(
            "birthday_day IS NULL OR birthday_day BETWEEN 1 AND 31", name="birthday_day_range"
        ),
        CheckConstraint("birthday_kind IN ('solar', 'lunar')", name="birthday_kind_known"),
        CheckConstraint("gender IN ('female', 'male', 'unknown')", name="gender_known"),
        # Prefix search (LIKE 'zs%') can use these on PostgreSQL only with pattern ops
        # (its collation is not bytewise); SQLite ignores the option.
        *(
            Index(f"ix_customer_{col}", col, postgresql_ops={col: "varchar_pattern_ops"})
            for col in ("name", "name_pinyin", "name_initials")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64), unique=True)  # member card number
    name: Mapped[str] = mapped_column(String(100))
    name_pinyin: Mapped[str] = mapped_column(String(400), default="")
    name_initials: Mapped[str] = mapped_column(String(100), default="")
    gender: Mapped[str] = mapped_column(String(8), default="unknown")
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)  # E.164
    phone_last4: Mapped[str | None] = mapped_column(String(4), index=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # lower-cased
    wechat_id: Mapped[str | None] = mapped_column(String(64))
    birthday_kind: Mapped[str] = mapped_column(String(8), default="solar")
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_is_leap_month: Mapped[bool] = mapped_column(Boolean, default=False)
    city: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="other")
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    owner_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    home_store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"), index=True)
    communication_style: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set by erasure: when, and an HMAC of the phone so a re-import does not restore consent.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_phone_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    tags: Mapped[list[CustomerTag]] = relationship(cascade="all, delete-orphan")
    interests: Mapped[list[CustomerInterest]] = relationship(cascade="all, delete-orphan")
    consents: Mapped[list[Consent]] = relationship(cascade="all, delete-orphan")
    anniversaries: Mapped[list[Anniversary]] = relationship(cascade="all, delete-orphan")


class CustomerTag(Base):
    """A free label on a customer (e.g. 'VIP', '孕妈'), used for search and filters."""

    __tablename__ = "customer_tag"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class CustomerInterest(Base):
    """Something a customer cares about (e.g. '茶艺', 'outdoor'), for clubs and messages."""

    __tablename__ = "customer_interest"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Anniversary(Base):
    """A date worth remembering for a customer other than the birthday (wedding, opening).

    ``kind`` 'membership' marks the day the customer became a member (at most one per
    customer, kept in the solar calendar); 'custom' rows are the dates staff recorded.
    """

    __tablename__ = "anniversary"
    __table_args__ = (
        CheckConstraint("kind IN ('custom', 'membership')", name="kind_known"),
        CheckConstraint("calendar_kind IN ('solar', 'lunar')", name="calendar_kind_known"),
        Index(
            "uq_anniversary_membership",
            "customer_id",
            unique=True,
            sqlite_where=text("kind = 'membership'"),
            postgresql_where=text("kind = 'membership'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(64))
    occurs_on: Mapped[date] = mapped_column(Date)
    calendar_kind: Mapped[str] = mapped_column(String(8), default="solar")
    kind: Mapped[str] = mapped_column(String(16), default="custom", server_default="custom")


class Consent(Base):
    """The current marketing consent of one customer on one channel."""

    __tablename__ = "consent"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    is_granted: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))


class ConsentEvent(Base):
    """One change of consent, kept forever as evidence (who, when, how it was given)."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    is_granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64))


class Product(Base):
    """Something the shop sells, identified by SKU."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    list_price: Mapped[Decimal | None] = mapped_column(Money())


class ImportBatch(Base):
    """One run of an import: which file, when, and what it changed."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class Purchase(Base):
    """A receipt from a store: unique per store + external order id; a fact, never edited."""

    __tablename__ = "purchase"
    __table_args__ = (
        UniqueConstraint("store_id", "external_order_id"),
        Index("ix_purchase_customer_id_purchased_at", "customer_id", "purchased_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    external_order_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    total_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    is_promotion: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_method: Mapped[str | None] = mapped_column(String(16))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lines: Mapped[list[PurchaseLine]] = relationship(
        cascade="all, delete-orphan", order_by="PurchaseLine.line_no"
    )


class PurchaseLine(Base):
    """One line of a receipt: product, quantity, unit price, discount and the amount paid."""

    __tablename__ = "purchase_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(
        ForeignKey("purchase.id", ondelete="CASCADE"), index=True
    )
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(Money())
    discount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    amount: Mapped[Decimal] = mapped_column(Money())
    source_line: Mapped[int | None] = mapped_column(Integer)  # line number in the import file


class PurchaseReturn(Base):
    """A return or refund against one purchase; its lines say what came back."""

    __tablename__ = "purchase_return"

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"), index=True)
    external_return_id: Mapped[str | None] = mapped_column(String(64))
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    refund_amount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lines: Mapped[list[ReturnLine]] = relationship(cascade="all, delete-orphan")


class ReturnLine(Base):
    """How much of one purchase line came back, and the money refunded for it."""

    __tablename__ = "return_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_return.id", ondelete="CASCADE"), index=True
    )
    purchase_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_line.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    amount: Mapped[Decimal] = mapped_column(Money())


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A staff member's token for the REST API (POS systems), limited to some scopes."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(400))  # space-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what to whom, when: append-only; never holds personal data in clear."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))


class LoginAttempt(Base):
    """One try to sign in, kept for rate limiting and for the owner's review."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class CustomerNote(Base):
    """One dated note on a customer's timeline, written by a staff member."""

    __tablename__ = "customer_note"
    __table_args__ = (Index("ix_customer_note_customer_id_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)


class ModelFit(Base):
    """One maximum-likelihood fit of a CLV model on the shop's purchases, as of a business date.

    ``kind`` is ``bgnbd`` or ``gamma_gamma``; ``params`` the fitted parameters by their
    literature names; the scoring job reuses a recent fit instead of refitting every night.
    """

    __tablename__ = "model_fit"
    __table_args__ = (UniqueConstraint("kind", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(8))  # time unit of the parameters: day / week
    params: Mapped[dict[str, float]] = mapped_column(JSON)
    log_likelihood: Mapped[float] = mapped_column(Float)
    n_customers: Mapped[int] = mapped_column(Integer)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerScore(Base):
    """One customer's scores for one month: the latest run in a month overwrites that month's row.

    The rows of past months are the monthly snapshots behind trends and ladder movements.
    Buyers carry RFM scores and model figures; prospects only their rung. ``evidence`` keeps the
    features the rung and loyalty type were derived from, so the page can say why.
    """

    __tablename__ = "customer_score"
    __table_args__ = (
        UniqueConstraint("customer_id", "month"),
        Index("ix_customer_score_month_rung", "month", "rung"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)  # the first day of the month the scores are for
    computed_on: Mapped[date] = mapped_column(Date)  # the business date they are as of
    r_score: Mapped[int | None] = mapped_column(SmallInteger)
    f_score: Mapped[int | None] = mapped_column(SmallInteger)
    m_score: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    china_class: Mapped[str | None] = mapped_column(String(32))
    rung: Mapped[str] = mapped_column(String(16))
    loyalty_type: Mapped[str | None] = mapped_column(String(16))
    purchase_days: Mapped[int] = mapped_column(Integer, default=0)
    days_since_last: Mapped[int | None] = mapped_column(Integer)
    total_spend: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases_90d: Mapped[float | None] = mapped_column(Float)
    clv_12m: Mapped[Decimal | None] = mapped_column(Money())
    churn_risk: Mapped[float | None] = mapped_column(Float)  # P(no purchase in the next 90 days)
    p_active_12m: Mapped[float | None] = mapped_column(Float)  # P(a purchase in the next year)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Segment(Base):
    """A named, saved customer segment: filters over the latest scores, tags, store and owner."""

    __tablename__ = "segment"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PointsEntry(Base):
    """One signed, integer change of a customer's points (积分流水): append-only, never edited.

    A positive entry (earn, a positive adjust, waive) is a *lot*; debits (redeem, expire, a
    negative adjust, reverse) say which lots they drew on in ``points_allocation``, so a lot's
    remaining points are derived. ``related_entry_id`` names the lot a reverse or expire is about,
    or the flagged claw-back a waive clears. ``request_digest`` is the SHA-256 of the request
    that made it, so a retry with the same ``idempotency_key`` is told apart from a reuse.
    No cascade from customer: erasure anonymises the customer, the ledger keeps its entries.
    """

    __tablename__ = "points_entry"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('earn', 'redeem', 'expire', 'adjust', 'reverse', 'waive')", name="kind_known"
        ),
        CheckConstraint("points <> 0", name="points_nonzero"),
        Index("ix_points_entry_customer_id_id", "customer_id", "id"),
        Index("ix_points_entry_source_type_source_id", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)  # lots only; None: never
    reason: Mapped[str | None] = mapped_column(Text)
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(64))
    related_entry_id: Mapped[int | None] = mapped_column(ForeignKey("points_entry.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # claw-back went negative


class PointsAllocation(Base):
    """How many points of one lot a debit consumed (or, for a waive or a later lot, how much
    of a flagged claw-back's shortfall a positive entry covered): append-only."""

    __tablename__ = "points_allocation"
    __table_args__ = (CheckConstraint("points > 0", name="points_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    lot_entry_id: Mapped[int] = mapped_column(ForeignKey("points_entry.id"), index=True)
    debit_entry_id: Mapped[int] = mapped_column(ForeignKey("points_entry.id"), index=True)
    points: Mapped[int] = mapped_column(Integer)


class PointsBalance(Base):
    """A customer's points balance: a cache of SUM(points_entry.points), written only by the
    ledger service in the same transaction as the entries; its row is the per-customer lock."""

    __tablename__ = "points_balance"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoyaltyProgram(Base):
    """The shop's points programme (one row): earning rules as JSON and how long points last.

    ``rules`` is ``guanxi.loyalty.rules.EarningProgram.as_json()``; ``points_valid_months``
    None means points never expire; ``tiers`` the member tiers (会员等级), lowest first.
    """

    __tablename__ = "loyalty_program"

    id: Mapped[int] = mapped_column(primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    points_valid_months: Mapped[int | None] = mapped_column(Integer)  # None: never expire
    # ``guanxi.loyalty.tiers.tiers_as_json()``: the ordered member tiers; None or []: tiers off
    tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    updated_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerTier(Base):
    """The member tier (会员等级) a customer holds now: one row per customer, moved by
    ``guanxi.loyalty.tiers`` (up on a purchase, down by the periodic evaluation)."""

    __tablename__ = "customer_tier"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    tier_key: Mapped[str] = mapped_column(String(32), index=True)
    since: Mapped[date] = mapped_column(Date)  # the business day the tier was reached
    evaluated_on: Mapped[date] = mapped_column(Date)  # the last day it was checked


class TierChange(Base):
    """One change of a customer's tier (append-only history): from, to, when, why, and the
    rolling 12-month spend that decided it."""

    __tablename__ = "tier_change"
    __table_args__ = (
        CheckConstraint("reason IN ('initial', 'upgrade', 'downgrade')", name="reason_known"),
        Index("ix_tier_change_customer_id_at", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    from_tier: Mapped[str | None] = mapped_column(String(32))  # None: no tier before
    to_tier: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(16))
    spend: Mapped[Decimal] = mapped_column(Money())  # qualifying spend at the time


# --- rewards catalog (migration 0009) ---


class Reward(Base):
    """One reward of the catalog (礼品): goods, a service or a coupon, bought with points.

    ``stock`` None means unlimited; ``per_customer_limit`` None means no limit (it counts the
    customer's redemptions that are not cancelled); ``valid_from``/``valid_until`` are business
    days, both inclusive, None: open. ``coupon_campaign_id`` names the coupon campaign a
    'coupon' reward hands out (no foreign key yet: coupons are built separately). The row is
    the lock that serialises the reward's redemptions (``guanxi.loyalty.rewards``).
    """

    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("kind IN ('goods', 'service', 'coupon')", name="kind_known"),
        CheckConstraint("points_cost > 0", name="points_cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint(
            "per_customer_limit IS NULL OR per_customer_limit > 0", name="limit_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    points_cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    coupon_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_campaign.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RewardRedemption(Base):
    """One reward redeemed by a customer: the points it cost, the ledger debit that paid them,
    and, once cancelled, the ledger entry that gave them back. ``request_digest`` tells a retry
    with the same ``idempotency_key`` from a reuse for another request."""

    __tablename__ = "reward_redemption"
    __table_args__ = (
        CheckConstraint("status IN ('redeemed', 'cancelled')", name="status_known"),
        Index("ix_reward_redemption_customer_id_reward_id", "customer_id", "reward_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), index=True)
    points: Mapped[int] = mapped_column(Integer)
    points_entry_id: Mapped[int] = mapped_column(ForeignKey("points_entry.id"))
    status: Mapped[str] = mapped_column(String(16), default="redeemed")
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    refund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("points_entry.id"))
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupon.id"))  # a coupon reward's


# --- coupons (migration 0010) ---


class CouponCampaign(Base):
    """A coupon campaign (优惠券活动): what its codes give and when they may be used.

    ``kind`` 'fixed' takes ``value`` yuan off, 'percent' takes ``value`` % off (at most
    ``max_discount``) of the qualifying amount: the lines in ``categories`` (None: every line).
    ``valid_from`` (inclusive) and ``valid_until`` (exclusive) are UTC instants; None: open.
    ``uses_per_code`` None: unlimited; ``uses_per_customer`` limits one customer on a shared code.
    """

    __tablename__ = "coupon_campaign"
    __table_args__ = (
        CheckConstraint("kind IN ('fixed', 'percent')", name="kind_known"),
        CheckConstraint("value > 0", name="value_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Money())  # yuan, or percent for 'percent'
    max_discount: Mapped[Decimal | None] = mapped_column(Money())
    min_spend: Mapped[Decimal | None] = mapped_column(Money())
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    store_ids: Mapped[list[int] | None] = mapped_column(JSON)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    uses_per_code: Mapped[int | None] = mapped_column(Integer)
    uses_per_customer: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Coupon(Base):
    """One coupon code (券码) of a campaign, normalised (no dashes, upper case); issued to one
    customer, or a pool/public code (``customer_id`` None). Its row is the redemption lock."""

    __tablename__ = "coupon"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'used_up', 'void')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("coupon_campaign.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class CouponRedemption(Base):
    """One use of a coupon on one order (append-only); at most one per coupon and order."""

    __tablename__ = "coupon_redemption"
    __table_args__ = (UniqueConstraint("coupon_id", "order_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupon.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    order_ref: Mapped[str] = mapped_column(String(64))
    discount: Mapped[Decimal] = mapped_column(Money())
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


# --- stored value (migration 0011) ---


class StoredValueEntry(Base):
    """One change of a customer's stored-value card (储值流水): append-only, never edited.

    Each entry moves the paid money and the bonus money apart (signed ``paid`` and ``bonus``,
    at least one non-zero) and records both balances after it. ``related_entry_id`` names the
    spend a spend_reversal gives back, or the refund a forfeit goes with. ``request_digest`` is
    the SHA-256 of the request, so a retry with the same ``idempotency_key`` is told apart from
    a reuse. Written only by ``guanxi.loyalty.stored_value``.
    """

    __tablename__ = "stored_value_entry"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('top_up', 'spend', 'refund', 'forfeit', 'spend_reversal', 'adjust')",
            name="kind_known",
        ),
        CheckConstraint("paid <> 0 OR bonus <> 0", name="amount_nonzero"),
        CheckConstraint("paid_after >= 0 AND bonus_after >= 0", name="after_not_negative"),
        Index("ix_stored_value_entry_customer_id_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    paid: Mapped[Decimal] = mapped_column(Money())
    bonus: Mapped[Decimal] = mapped_column(Money())
    paid_after: Mapped[Decimal] = mapped_column(Money())
    bonus_after: Mapped[Decimal] = mapped_column(Money())
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    payment_method: Mapped[str | None] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(100))  # POS order / payment reference
    related_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("stored_value_entry.id"), index=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StoredValueBalance(Base):
    """A customer's card balances: a cache of SUM(paid) and SUM(bonus) of their entries,
    written only with the entries; its row is the per-customer lock."""

    __tablename__ = "stored_value_balance"
    __table_args__ = (CheckConstraint("paid >= 0 AND bonus >= 0", name="not_negative"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    bonus: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StoredValueRule(Base):
    """One top-up bonus tier: a top-up of at least ``min_amount`` gets ``bonus`` (the highest
    tier met applies, one bonus per top-up). The owner replaces the whole set at once."""

    __tablename__ = "stored_value_rule"
    __table_args__ = (CheckConstraint("min_amount > 0 AND bonus > 0", name="amounts_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    min_amount: Mapped[Decimal] = mapped_column(Money(), unique=True)
    bonus: Mapped[Decimal] = mapped_column(Money())
    updated_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- referrals (migration 0012) ---


class ReferralCode(Base):
    """A customer's referral code (推荐码), made on demand: short, unique, easy to say; staff
    share it, or the link ``/r/<code>``, with the friends the customer brings."""

    __tablename__ = "referral_code"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferralReward(Base):
    """The outcome of one referral (推荐奖励), decided once on the referred customer's first
    purchase: both rewarded (the points each got), or refused with the reason why."""

    __tablename__ = "referral_reward"
    __table_args__ = (
        CheckConstraint("status IN ('rewarded', 'refused')", name="status_known"),
        Index("ix_referral_reward_referrer_id_business_day", "referrer_id", "business_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referred_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))  # why refused (a key, see referrals)
    referrer_points: Mapped[int] = mapped_column(Integer, default=0)
    referred_points: Mapped[int] = mapped_column(Integer, default=0)
    business_day: Mapped[date] = mapped_column(Date)  # the purchase's day in its store's zone
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- API idempotency keys (migration 0013) ---


class ApiIdempotencyKey(Base):
    """One ``Idempotency-Key`` an API client sent with a write, and the response it got.

    ``client`` is the SHA-256 of the client's bearer token (the digest ``api_token`` keeps), so
    keys are scoped per API client. ``state`` is ``in_flight`` while the first request runs and
    ``done`` once its response is stored; rows older than the retention (7 days by default)
    are purged by ``guanxi loyalty nightly``.
    """

    __tablename__ = "api_idempotency_key"
    __table_args__ = (
        UniqueConstraint("client", "key"),
        CheckConstraint("state IN ('in_flight', 'done')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    request: Mapped[str] = mapped_column(String(300))  # "POST /api/v1/...", for people
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- Proactive care (migration 0014): occasions, follow-ups, commitments, messages ---


class OccasionSetting(Base):
    """Whether the shop observes one occasion (a festival key such as ``mid_autumn``, or
    ``birthday`` / ``anniversary``) and how many days ahead it lands on the agenda."""

    __tablename__ = "occasion_setting"

    occasion: Mapped[str] = mapped_column(String(32), primary_key=True)
    observed: Mapped[bool] = mapped_column(Boolean, default=True)
    lead_days: Mapped[int] = mapped_column(SmallInteger, default=3)
    # When set, ``guanxi daily`` queues this template to each consenting customer on the day
    # (at most once per customer, occasion and year); when None the occasion makes agenda items.
    template_id: Mapped[int | None] = mapped_column(ForeignKey("message_template.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AppSetting(Base):
    """One shop-wide value kept in the database (e.g. the generated secret that signs
    unsubscribe links, so links keep working across restarts without configuration)."""

    __tablename__ = "app_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FollowupPlan(Base):
    """A follow-up rule (回访计划): ``days_after`` a purchase (in ``category``, or any when
    None) the customer's account owner contacts them to do ``action``."""

    __tablename__ = "followup_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(64))
    days_after: Mapped[int] = mapped_column(SmallInteger)
    action: Mapped[str] = mapped_column(Text)
    skip_holidays: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Commitment(Base):
    """A promise made to a customer (承诺), due on a business date; kept, broken or cancelled.

    ``fulfilled_on`` is the business date it was kept, so "kept on time" is
    ``fulfilled_on <= due_on``.
    """

    __tablename__ = "commitment"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'kept', 'broken', 'cancelled')", name="status_known"),
        Index("ix_commitment_owner_staff_id_status_due_on", "owner_staff_id", "status", "due_on"),
        Index("ix_commitment_store_id_status_due_on", "store_id", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    owner_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    promise: Mapped[str] = mapped_column(String(500))
    due_on: Mapped[date] = mapped_column(Date)
    remind_days: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fulfilled_on: Mapped[date | None] = mapped_column(Date)


class CareTask(Base):
    """One contact to make (a follow-up visit, a greeting, a win-back call): assigned, due on a
    business date, done with an outcome. ``source_key`` makes generation idempotent, e.g.
    ``followup:<plan>:<purchase>`` or ``greeting:mid_autumn:2026-09-25:<customer>``."""

    __tablename__ = "care_task"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('followup', 'greeting', 'commitment', 'winback', 'other')", name="kind_known"
        ),
        CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status_known"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('reached', 'no_answer', 'feedback', 'new_need', "
            "'complaint')",
            name="outcome_known",
        ),
        Index("ix_care_task_assignee_staff_id_status_due_on", "assignee_staff_id", "status",
              "due_on"),
        Index("ix_care_task_store_id_status_due_on", "store_id", "status", "due_on"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    due_on: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(String(160), unique=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("followup_plan.id"))
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchase.id"))
    commitment_id: Mapped[int | None] = mapped_column(ForeignKey("commitment.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MessageTemplate(Base):
    """A message text (模板) in the sandboxed template language, for one channel and language;
    ``occasion`` ties a greeting template to a festival or birthday."""

    __tablename__ = "message_template"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email', 'wechat')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16), default="zh_CN")
    occasion: Mapped[str | None] = mapped_column(String(32), index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    is_marketing: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Campaign(Base):
    """A bulk message (群发): a template sent through one channel to an audience (a saved
    segment and/or filters, kept in ``audience``), with an optional random holdout group."""

    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email', 'wechat')", name="channel_known"),
        CheckConstraint(
            "kind IN ('regular', 'winback', 'interest', 'greeting')", name="kind_known"
        ),
        CheckConstraint("status IN ('draft', 'queued', 'done', 'cancelled')", name="status_known"),
        CheckConstraint("holdout_percent BETWEEN 0 AND 90", name="holdout_percent_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="regular")
    channel: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[int] = mapped_column(ForeignKey("message_template.id"))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    holdout_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    is_marketing: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    excluded: Mapped[int] = mapped_column(Integer, default=0)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CampaignHoldout(Base):
    """A customer of a campaign's audience deliberately not sent the message (control group)."""

    __tablename__ = "campaign_holdout"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )


class Message(Base):
    """One message to one customer in the outbox (消息), sent at most once.

    ``dedupe_key`` is unique (``campaign:<id>:<customer>``,
    ``greeting:<occasion>:<date>:<customer>``) so nothing is queued twice. The address is read
    from the customer at send time, never copied here. A message is marked ``sending``
    (committed) before the channel is called; one found in ``sending`` later had an unknown
    outcome and becomes ``unknown``: it is never resent blindly.
    """

    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email', 'wechat')", name="channel_known"),
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'unknown', 'skipped', "
            "'cancelled', 'exported')",
            name="status_known",
        ),
        Index("ix_message_status_not_before", "status", "not_before"),
        Index("ix_message_customer_id_sent_at", "customer_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    is_marketing: Mapped[bool] = mapped_column(Boolean, default=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(String(200))  # why skipped / failed / unknown
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(100))


# --- Listen and belong (migration 0016): complaints, links, surveys, clubs, service plans ---


class Complaint(Base):
    """A problem a customer raised (投诉), with its SLA clocks, owner and recovery.

    The deadlines are fixed when the complaint is opened (from the shop's SLA settings), so a
    later change of settings does not move the clocks of complaints already open. Every change
    of state is a ``ComplaintEvent``; the timestamps here are the first of each kind.
    """

    __tablename__ = "complaint"
    __table_args__ = (
        CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity_known"),
        CheckConstraint(
            "status IN ('open', 'in_progress', 'resolved', 'closed')", name="status_known"
        ),
        CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_range"
        ),
        CheckConstraint("recovery_points >= 0", name="recovery_points_not_negative"),
        Index("ix_complaint_status_resolution_due_at", "status", "resolution_due_at"),
        Index("ix_complaint_store_id_status", "store_id", "status"),
        Index("ix_complaint_assignee_staff_id_status", "assignee_staff_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    category: Mapped[str] = mapped_column(String(32))  # product, service, price, delivery …
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    channel: Mapped[str] = mapped_column(String(16))  # counter, phone, wechat, link, followup …
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    first_response_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_to_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    recovery_action: Mapped[str | None] = mapped_column(String(16))  # apology, coupon, points …
    recovery_points: Mapped[int] = mapped_column(Integer, default=0)
    recovery_coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupon.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)  # with the resolution, 1–5
    source_task_id: Mapped[int | None] = mapped_column(ForeignKey("care_task.id"))
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class ComplaintEvent(Base):
    """One timestamped step of a complaint (opened, responded, assigned, escalated, resolved,
    reopened, closed, note, satisfaction): the complaint's history and the SLA's evidence."""

    __tablename__ = "complaint_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("complaint.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    note: Mapped[str | None] = mapped_column(Text)


class PublicLink(Base):
    """A tokenised link sent to one customer (feedback form, survey, event RSVP, satisfaction
    check): no login, expiring, single-use where ``max_uses`` is 1. Only the token's SHA-256
    is stored, so a copy of the database gives no working links."""

    __tablename__ = "public_link"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('feedback', 'survey', 'rsvp', 'satisfaction')", name="purpose_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("survey.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("club_event.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    max_uses: Mapped[int] = mapped_column(SmallInteger, default=1)
    uses: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Survey(Base):
    """A questionnaire (问卷): NPS, CSAT, or expectation vs perception over ``attributes``
    (e.g. product quality, price fairness, service attitude), with overall satisfaction,
    repurchase intention and share of wallet."""

    __tablename__ = "survey"
    __table_args__ = (CheckConstraint("kind IN ('nps', 'csat', 'expectation')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    intro: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SurveyResponse(Base):
    """One customer's answers to one survey (答卷); per-attribute scores are ``SurveyAnswer``s."""

    __tablename__ = "survey_response"
    __table_args__ = (
        CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="nps_range"),
        CheckConstraint("csat IS NULL OR csat BETWEEN 1 AND 5", name="csat_range"),
        CheckConstraint("overall IS NULL OR overall BETWEEN 1 AND 7", name="overall_range"),
        CheckConstraint(
            "repurchase IS NULL OR repurchase BETWEEN 1 AND 5", name="repurchase_range"
        ),
        CheckConstraint(
            "share_of_wallet IS NULL OR share_of_wallet BETWEEN 0 AND 100",
            name="share_of_wallet_range",
        ),
        Index("ix_survey_response_survey_id_submitted_at", "survey_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    link_id: Mapped[int | None] = mapped_column(ForeignKey("public_link.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    overall: Mapped[int | None] = mapped_column(SmallInteger)
    repurchase: Mapped[int | None] = mapped_column(SmallInteger)
    share_of_wallet: Mapped[int | None] = mapped_column(SmallInteger)  # percent
    comment: Mapped[str | None] = mapped_column(Text)


class SurveyAnswer(Base):
    """Expected and perceived score (1–7) of one attribute in one response; satisfaction with
    the attribute is ``perceived - expected``."""

    __tablename__ = "survey_answer"
    __table_args__ = (
        CheckConstraint("expected BETWEEN 1 AND 7", name="expected_range"),
        CheckConstraint("perceived BETWEEN 1 AND 7", name="perceived_range"),
    )

    response_id: Mapped[int] = mapped_column(
        ForeignKey("survey_response.id", ondelete="CASCADE"), primary_key=True
    )
    attribute: Mapped[str] = mapped_column(String(64), primary_key=True)
    expected: Mapped[int] = mapped_column(SmallInteger)
    perceived: Mapped[int] = mapped_column(SmallInteger)


class Club(Base):
    """A club (俱乐部) customers belong to (VIP club, mothers' club, outdoor club): joined by
    a rule (``rule``: tier, segment) or by invitation."""

    __tablename__ = "club"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClubMember(Base):
    """One customer's membership of one club; ``left_at`` ends it (history is kept)."""

    __tablename__ = "club_member"

    club_id: Mapped[int] = mapped_column(
        ForeignKey("club.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[str] = mapped_column(String(16), default="invitation")  # rule, staff …
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClubEvent(Base):
    """A gathering (活动): lecture, training, outdoor activity, year-end gala, with a capacity;
    a recurring event's occurrences share ``series_id`` (the first occurrence's id)."""

    __tablename__ = "club_event"
    __table_args__ = (
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        CheckConstraint(
            "recurrence IN ('none', 'monthly', 'quarterly', 'yearly')", name="recurrence_known"
        ),
        CheckConstraint("status IN ('planned', 'cancelled', 'done')", name="status_known"),
        CheckConstraint("attendance_points >= 0", name="attendance_points_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int | None] = mapped_column(ForeignKey("club.id"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("club_event.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="other")
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    location: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    capacity: Mapped[int | None] = mapped_column(Integer)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)  # cached, written under lock
    recurrence: Mapped[str] = mapped_column(String(16), default="none")
    attendance_points: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventRsvp(Base):
    """One customer's place at one event: invited, confirmed, waitlisted (``waitlist_at``
    orders the queue), declined or cancelled; ``checked_in_at`` records attendance."""

    __tablename__ = "event_rsvp"
    __table_args__ = (
        CheckConstraint(
            "status IN ('invited', 'confirmed', 'waitlisted', 'declined', 'cancelled')",
            name="status_known",
        ),
        Index("ix_event_rsvp_event_id_status", "event_id", "status"),
    )

    event_id: Mapped[int] = mapped_column(
        ForeignKey("club_event.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="invited")
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    waitlist_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class ServicePlan(Base):
    """A customised service for one customer (专属服务: a skin-care plan, a maintenance
    schedule): a structural bond, made of dated ``ServiceStep``s with an owner."""

    __tablename__ = "service_plan"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'completed', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    owner_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ServiceStep(Base):
    """One dated step of a service plan; ``done_on`` is the business date it was done."""

    __tablename__ = "service_step"
    __table_args__ = (Index("ix_service_step_done_on_due_on", "done_on", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("service_plan.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    name: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)
    done_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    note: Mapped[str | None] = mapped_column(Text)
