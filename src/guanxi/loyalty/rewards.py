"""The rewards catalog (礼品) and redeeming rewards for points at the counter.

A reward is goods, a service or a coupon with a points cost, an optional stock (None:
unlimited), an optional validity window of business days (both ends inclusive) and an optional
per-customer limit (redemptions that are not cancelled). The owner keeps the catalog; every
change is audited. A reward is never deleted: it is deactivated.

Redeeming is one transaction that cannot oversell or overspend:

1. lock the reward row (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: the write transaction
   already began IMMEDIATE, so writers queue and nothing more is needed);
2. look up the idempotency key (a retry returns the original result, a reuse for another
   request raises ``IdempotencyConflict``);
3. check active, validity window, stock and the customer's limit, each read after the lock;
4. spend the points with ``guanxi.loyalty.ledger.redeem`` in the same session (a savepoint),
   which takes the customer's points lock and raises ``InsufficientPoints``;
5. decrement the stock and insert the ``reward_redemption`` row.

Lock order: the reward row first, then the customer's points lock. Plain ledger calls take
only the customer's lock and never a reward's, and a redemption or cancellation locks one
reward, so no two transactions wait on each other in opposite orders: no deadlock. Under READ
COMMITTED every statement after the reward lock sees what the previous holder committed, so
the stock and limit checks are serial per reward while other rewards proceed in parallel.

A concurrent duplicate key for another reward (which holds another row lock) fails on the
unique ``idempotency_key`` and is then answered from the stored row, as the ledger does.

Cancelling a redemption (manager or owner, audited) locks the same reward row, puts the stock
back and gives the points back exactly once: a ledger earn with the key
``reward-cancel:<redemption id>`` (a never-expiring lot, like a positive adjustment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.domain.staff import Role
from guanxi.domain.text import gettext_noop
from guanxi.errors import Conflict, InvalidInput, NotAllowed, NotFound
from guanxi.loyalty import coupons, ledger
from guanxi.loyalty.ledger import InsufficientPoints
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Coupon,
    CouponCampaign,
    Customer,
    PointsEntry,
    Reward,
    RewardRedemption,
    Store,
)
from guanxi.storage.once import IdempotencyConflict, request_digest, run_once, stored_for_key

DbOrSession = Database | Session
T = TypeVar("T")

DEFAULT_ZONE = "Asia/Shanghai"
MAX_NAME = 100
MAX_POINTS = 10_000_000
REDEEMED = "redeemed"
CANCELLED = "cancelled"

# audited actions (stable strings in the audit log)
REWARD_CREATED = audit.Action.REWARD_CREATED
REWARD_UPDATED = audit.Action.REWARD_UPDATED
REWARD_DEACTIVATED = audit.Action.REWARD_DEACTIVATED
REDEMPTION_CANCELLED = audit.Action.REWARD_REDEMPTION_CANCELLED

__all__ = [
    "IdempotencyConflict",
    "InsufficientPoints",
    "LimitReached",
    "OutOfStock",
    "RewardNotAvailable",
]


class Kind(StrEnum):
    """What a reward is."""

    GOODS = "goods"
    SERVICE = "service"
    COUPON = "coupon"


KIND_LABELS: dict[str, str] = {
    Kind.GOODS: gettext_noop("Goods"),
    Kind.SERVICE: gettext_noop("Service"),
    Kind.COUPON: gettext_noop("Coupon"),
}


class OutOfStock(Conflict):
    """The reward has no stock left."""

    code = "out_of_stock"

    def __init__(self, reward_id: int, name: str) -> None:
        super().__init__(f"reward {reward_id} ({name}) is out of stock")
        self.reward_id = reward_id


class LimitReached(Conflict):
    """The customer has redeemed this reward as often as its per-customer limit allows."""

    code = "limit_reached"

    def __init__(self, reward_id: int, name: str, limit: int) -> None:
        super().__init__(
            f"customer reached the limit of reward {reward_id} ({name}): {limit} per customer"
        )
        self.reward_id = reward_id
        self.limit = limit


class RewardNotAvailable(InvalidInput):
    """The reward is deactivated or outside its validity window."""

    code = "reward_not_available"

    def __init__(self, reward_id: int, why: str) -> None:
        super().__init__(f"reward {reward_id} cannot be redeemed: {why}")
        self.reward_id = reward_id
        self.why = why


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardDraft:
    """The editable fields of a reward (``validate`` checks them)."""

    kind: str
    name: str
    points_cost: int
    description: str | None = None
    stock: int | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    per_customer_limit: int | None = None
    active: bool = True
    coupon_campaign_id: int | None = None

    def validate(self) -> RewardDraft:
        """The draft with trimmed text; InvalidInput naming the first bad field."""
        if self.kind not in set(Kind):
            raise InvalidInput(f"kind must be one of {', '.join(Kind)}, not {self.kind!r}")
        name = (self.name or "").strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidInput(f"a reward needs a name of 1-{MAX_NAME} characters")
        _whole(self.points_cost, "points_cost", low=1)
        if self.stock is not None:
            _whole(self.stock, "stock", low=0)
        if self.per_customer_limit is not None:
            _whole(self.per_customer_limit, "per_customer_limit", low=1)
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise InvalidInput(
                f"valid_until {self.valid_until} is before valid_from {self.valid_from}"
            )
        campaign = self.coupon_campaign_id if self.kind == Kind.COUPON else None
        description = (self.description or "").strip() or None
        return RewardDraft(
            self.kind, name, self.points_cost, description, self.stock, self.valid_from,
            self.valid_until, self.per_customer_limit, bool(self.active), campaign,
        )  # fmt: skip


@dataclass(frozen=True)
class RewardView:
    """A reward as stored, and whether it can be redeemed on ``as_of`` (and if not, why)."""

    id: int
    kind: str
    name: str
    description: str | None
    points_cost: int
    stock: int | None
    valid_from: date | None
    valid_until: date | None
    per_customer_limit: int | None
    active: bool
    coupon_campaign_id: int | None
    redeemed: int  # redemptions not cancelled, all customers
    as_of: date
    unavailable: str | None  # None: available now; else 'inactive', 'not_yet', 'ended', 'stock'

    @property
    def available(self) -> bool:
        return self.unavailable is None

    def draft(self) -> RewardDraft:
        return RewardDraft(
            self.kind, self.name, self.points_cost, self.description, self.stock,
            self.valid_from, self.valid_until, self.per_customer_limit, self.active,
            self.coupon_campaign_id,
        )  # fmt: skip


@dataclass(frozen=True)
class Redemption:
    """One redemption; ``balance`` is the customer's points balance right after its debit."""

    id: int
    customer_id: int
    reward_id: int
    reward_name: str
    points: int
    points_entry_id: int
    balance: int
    status: str
    store_id: int | None
    actor_staff_id: int | None
    at: datetime
    refund_entry_id: int | None = None
    cancelled_at: datetime | None = None
    replayed: bool = False
    coupon_code: str | None = None  # the code a coupon reward handed out, grouped


# -- the catalog --------------------------------------------------------------------------------


def create_reward(db: Database, actor: StaffMember, draft: RewardDraft) -> RewardView:
    """Add a reward to the catalog (the owner's; audited)."""
    _owner(actor)
    clean = draft.validate()
    with db.write() as session:
        _check_campaign(session, clean)
        now = datetime.now(UTC)
        row = Reward(**_fields(clean), created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        audit.record(session, REWARD_CREATED, actor_id=actor.id, target_type="reward",
                     target_id=row.id, detail=_audit_detail(clean))  # fmt: skip
        return _view(session, row, business_day())


def update_reward(
    db: Database, actor: StaffMember, reward_id: int, draft: RewardDraft
) -> RewardView:
    """Replace a reward's fields (the owner's; audited with what changed). The row is locked
    as a redemption locks it, so a restock never races a redemption."""
    _owner(actor)
    clean = draft.validate()
    with db.write() as session:
        _check_campaign(session, clean)
        row = _lock_reward(session, reward_id)
        before = _audit_detail(_view(session, row, business_day()).draft())
        after = _audit_detail(clean)
        for name, value in _fields(clean).items():
            setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        session.flush()
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        audit.record(session, REWARD_UPDATED, actor_id=actor.id, target_type="reward",
                     target_id=reward_id, detail={"changed": changed})  # fmt: skip
        return _view(session, row, business_day())


def deactivate_reward(db: Database, actor: StaffMember, reward_id: int) -> RewardView:
    """Take a reward off the catalog (the owner's; audited); its redemptions stay."""
    _owner(actor)
    with db.write() as session:
        row = _lock_reward(session, reward_id)
        if row.active:
            row.active = False
            row.updated_at = datetime.now(UTC)
            session.flush()
            audit.record(session, REWARD_DEACTIVATED, actor_id=actor.id, target_type="reward",
                         target_id=reward_id, detail={"name": row.name})  # fmt: skip
        return _view(session, row, business_day())


def get_reward(db: Database, reward_id: int, *, as_of: date | None = None) -> RewardView:
    with db.read() as session:
        row = session.get(Reward, reward_id)
        if row is None:
            raise NotFound(f"reward {reward_id} does not exist")
        return _view(session, row, as_of or business_day())


def list_rewards(
    db: Database, *, as_of: date | None = None, include_inactive: bool = True
) -> list[RewardView]:
    """The catalog, cheapest first, each with its "available now" state on ``as_of``
    (default: today in the shop's time zone)."""
    day = as_of or business_day()
    stmt = select(Reward).order_by(Reward.points_cost, Reward.id)
    if not include_inactive:
        stmt = stmt.where(Reward.active.is_(True))
    with db.read() as session:
        counts = _redeemed_counts(session)
        return [_view(session, r, day, counts.get(r.id, 0)) for r in session.scalars(stmt)]


def customer_redemptions(db: Database, customer_id: int, limit: int = 50) -> list[Redemption]:
    """The customer's redemptions, newest first."""
    stmt = (
        select(RewardRedemption)
        .where(RewardRedemption.customer_id == customer_id)
        .order_by(RewardRedemption.id.desc())
        .limit(limit)
    )
    with db.read() as session:
        return [_redemption(session, r) for r in session.scalars(stmt)]


def redemption_of(db: Database, customer_id: int, redemption_id: int) -> Redemption:
    """One redemption of this customer (NotFound when it is another's or none)."""
    with db.read() as session:
        row = session.get(RewardRedemption, redemption_id)
        if row is None or row.customer_id != customer_id:
            raise NotFound(f"customer {customer_id} has no reward redemption {redemption_id}")
        return _redemption(session, row)


def customer_counts(db: Database, customer_id: int) -> dict[int, int]:
    """reward id -> how many times the customer redeemed it (not cancelled)."""
    with db.read() as session:
        return _redeemed_counts(session, customer_id)


# -- redeeming ----------------------------------------------------------------------------------


def redeem_reward(
    target: DbOrSession,
    customer_id: int,
    reward_id: int,
    *,
    actor_id: int | None,
    idempotency_key: str,
    store_id: int | None = None,
    as_of: date | None = None,
) -> Redemption:
    """Redeem one reward for ``customer_id``: spend its points, take one from stock.

    One transaction (or a savepoint of the caller's session). Raises RewardNotAvailable,
    OutOfStock, LimitReached, ledger.InsufficientPoints, IdempotencyConflict; a retry with the
    same key and request returns the original result with ``replayed=True``.
    """
    if not idempotency_key or len(idempotency_key) > 120:
        raise InvalidInput("a reward redemption needs an idempotency key of 1-120 characters")
    digest = request_digest("redeem_reward", customer_id=customer_id, reward_id=reward_id,
                     store_id=store_id)  # fmt: skip

    def post(session: Session) -> Redemption:
        reward = _lock_reward(session, reward_id)
        if (found := _replay(session, idempotency_key, digest)) is not None:
            return found
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"customer {customer_id} does not exist")
        day = as_of or business_day(_zone_of(session, store_id))
        _check_available(reward, day)
        _check_limit(session, reward, customer_id)
        posted = ledger.redeem(
            session, customer_id, reward.points_cost, reason=reward.name,
            idempotency_key=f"reward:{idempotency_key}", actor_id=actor_id,
            source_type=ledger.REDEMPTION, source_id=f"reward:{reward.id}",
        )  # fmt: skip
        assert posted.entry is not None
        if reward.stock is not None:
            reward.stock -= 1
        coupon_id = None
        if reward.kind == Kind.COUPON and reward.coupon_campaign_id is not None:
            coupon_id = coupons.issue_in(session, reward.coupon_campaign_id, customer_id,
                                         actor_id=actor_id).id  # fmt: skip
        row = RewardRedemption(
            customer_id=customer_id, reward_id=reward.id, points=reward.points_cost,
            points_entry_id=posted.entry.id, status=REDEEMED, store_id=store_id,
            actor_staff_id=actor_id, at=datetime.now(UTC), idempotency_key=idempotency_key,
            request_digest=digest, coupon_id=coupon_id,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return _redemption(session, row)

    return run_once(target, post, lambda s: _replay(s, idempotency_key, digest))


def cancel_redemption(
    db: Database, actor: StaffMember, redemption_id: int, *, reason: str
) -> Redemption:
    """Undo a redemption (manager or owner; audited): the stock goes back and the points are
    given back once, as a never-expiring lot. Cancelling again returns the first result."""
    if actor.role not in (Role.MANAGER, Role.OWNER):
        raise NotAllowed(
            f"only a manager or the owner may cancel a redemption; {actor.name} is a "
            f"{actor.role.value}"
        )
    if not reason or not reason.strip():
        raise InvalidInput("cancelling a redemption needs a reason")
    with db.read() as session:
        found = session.get(RewardRedemption, redemption_id)
        if found is None:
            raise NotFound(f"reward redemption {redemption_id} does not exist")
        reward_id = found.reward_id
    with db.write() as session:
        reward = _lock_reward(session, reward_id)  # the lock order of a redemption
        row = session.get(RewardRedemption, redemption_id, populate_existing=True)
        assert row is not None
        if row.status == CANCELLED:
            return _redemption(session, row, replayed=True)
        back = ledger.earn(
            session, row.customer_id, row.points, source_type=ledger.REDEMPTION,
            source_id=f"cancel:{row.id}", expires_on=None, reason=reason.strip(),
            explanation={}, idempotency_key=f"reward-cancel:{row.id}", actor_id=actor.id,
        )  # fmt: skip
        assert back.entry is not None
        if reward.stock is not None:
            reward.stock += 1
        row.status, row.cancelled_at = CANCELLED, datetime.now(UTC)
        row.cancelled_by_staff_id, row.cancel_reason = actor.id, reason.strip()
        row.refund_entry_id = back.entry.id
        session.flush()
        audit.record(session, REDEMPTION_CANCELLED, actor_id=actor.id,
                     target_type="customer", target_id=row.customer_id,
                     detail={"redemption_id": row.id, "reward_id": reward.id,
                             "points": row.points, "entry_id": back.entry.id})  # fmt: skip
        return _redemption(session, row)


def business_day(zone: str = DEFAULT_ZONE) -> date:
    """Today in the shop's time zone."""
    return datetime.now(ZoneInfo(zone)).date()


# -- internals ----------------------------------------------------------------------------------


def _lock_reward(session: Session, reward_id: int) -> Reward:
    """The reward row, locked on PostgreSQL (SQLite: the IMMEDIATE transaction is the lock)."""
    stmt = select(Reward).where(Reward.id == reward_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"reward {reward_id} does not exist")
    return row


def _replay(session: Session, key: str, digest: str) -> Redemption | None:
    row = stored_for_key(session, RewardRedemption, key, digest, lambda r: (
        f"redemption {r.id}: reward {r.reward_id} for customer {r.customer_id}"))  # fmt: skip
    if row is None:
        return None
    return _redemption(session, row, replayed=True)


def _unavailable(reward: Reward, day: date) -> str | None:
    if not reward.active:
        return "inactive"
    if reward.valid_from is not None and day < reward.valid_from:
        return "not_yet"
    if reward.valid_until is not None and day > reward.valid_until:
        return "ended"
    if reward.stock is not None and reward.stock <= 0:
        return "stock"
    return None


def _check_available(reward: Reward, day: date) -> None:
    why = _unavailable(reward, day)
    if why == "stock":
        raise OutOfStock(reward.id, reward.name)
    if why == "inactive":
        raise RewardNotAvailable(reward.id, "it is no longer offered")
    if why == "not_yet":
        raise RewardNotAvailable(reward.id, f"it is offered from {reward.valid_from} on")
    if why == "ended":
        raise RewardNotAvailable(reward.id, f"it was offered until {reward.valid_until}")


def _check_limit(session: Session, reward: Reward, customer_id: int) -> None:
    if reward.per_customer_limit is None:
        return
    done = _redeemed_counts(session, customer_id).get(reward.id, 0)
    if done >= reward.per_customer_limit:
        raise LimitReached(reward.id, reward.name, reward.per_customer_limit)


def _redeemed_counts(session: Session, customer_id: int | None = None) -> dict[int, int]:
    stmt = (
        select(RewardRedemption.reward_id, func.count())
        .where(RewardRedemption.status == REDEEMED)
        .group_by(RewardRedemption.reward_id)
    )
    if customer_id is not None:
        stmt = stmt.where(RewardRedemption.customer_id == customer_id)
    return {int(r): int(n) for r, n in session.execute(stmt)}


def _zone_of(session: Session, store_id: int | None) -> str:
    if store_id is None:
        return DEFAULT_ZONE
    zone = session.scalar(select(Store.timezone).where(Store.id == store_id))
    if zone is None:
        raise NotFound(f"store {store_id} does not exist")
    return str(zone)


def _view(session: Session, row: Reward, day: date, redeemed: int | None = None) -> RewardView:
    if redeemed is None:
        redeemed = session.scalar(
            select(func.count()).where(
                RewardRedemption.reward_id == row.id, RewardRedemption.status == REDEEMED
            )
        )
    return RewardView(
        row.id, row.kind, row.name, row.description, row.points_cost, row.stock, row.valid_from,
        row.valid_until, row.per_customer_limit, bool(row.active), row.coupon_campaign_id,
        int(redeemed or 0), day, _unavailable(row, day),
    )  # fmt: skip


def _redemption(session: Session, row: RewardRedemption, *, replayed: bool = False) -> Redemption:
    name = session.scalar(select(Reward.name).where(Reward.id == row.reward_id))
    entry = session.get(PointsEntry, row.points_entry_id)
    assert entry is not None
    coupon = None if row.coupon_id is None else session.get(Coupon, row.coupon_id)
    return Redemption(
        row.id, row.customer_id, row.reward_id, str(name), row.points, row.points_entry_id,
        entry.balance_after, row.status, row.store_id, row.actor_staff_id, row.at,
        row.refund_entry_id, row.cancelled_at, replayed,
        None if coupon is None else coupons.group(coupon.code),
    )  # fmt: skip


def _check_campaign(session: Session, draft: RewardDraft) -> None:
    """A coupon reward must name a coupon campaign that exists."""
    if draft.kind != Kind.COUPON:
        return
    if draft.coupon_campaign_id is None:
        raise InvalidInput("a coupon reward needs the coupon campaign whose coupon it hands out")
    if session.get(CouponCampaign, draft.coupon_campaign_id) is None:
        raise InvalidInput(f"coupon campaign {draft.coupon_campaign_id} does not exist")


def _fields(draft: RewardDraft) -> dict[str, Any]:
    return {
        "kind": draft.kind, "name": draft.name, "description": draft.description,
        "points_cost": draft.points_cost, "stock": draft.stock, "valid_from": draft.valid_from,
        "valid_until": draft.valid_until, "per_customer_limit": draft.per_customer_limit,
        "active": draft.active, "coupon_campaign_id": draft.coupon_campaign_id,
    }  # fmt: skip


def _audit_detail(draft: RewardDraft) -> dict[str, Any]:
    loaded = json.loads(json.dumps(_fields(draft), default=str))
    assert isinstance(loaded, dict)
    return loaded


def _owner(actor: StaffMember) -> None:
    if actor.role != Role.OWNER:
        raise NotAllowed(
            f"only the owner may change the rewards catalog; {actor.name} is a {actor.role.value}"
        )


def _whole(value: Any, name: str, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_POINTS:
        raise InvalidInput(f"{name} must be a whole number from {low} to {MAX_POINTS}")
