"""Member tiers (会员等级): defined with the programme, reached by rolling 12-month spend or points.

The tiers are data kept with the programme (``loyalty_program.tiers``): an ordered list, lowest
first, each with a ``key`` (what rules and rows refer to), a ``name`` shown to people (普通会员,
银卡, 金卡, 钻石卡), the ``min_spend`` that qualifies (yuan; the first tier's is 0), a
``points_multiplier``, a ``member_discount`` (the fraction off, 0..1: 0.05 is 九五折), free
text ``benefits`` (free services), ``event_access`` (members may attend member events) and
``grace_days``, how long the tier is kept before a downgrade (None: the evaluation's
default). No tiers defined (the default) means tiers are off: nothing here does anything and
accrual is unchanged.

**Qualifying spend** is the net spend of the rolling 12 months up to ``as_of``: the total of the
customer's purchases in the window minus the refunds of those purchases returned by then (a
return of an older purchase does not lower it). A date means up to the end of that day in the
shop's zone; a datetime is an instant, included.

**Upgrades** happen on a purchase (``evaluate_on_purchase``, called by accrual in the purchase's
transaction): the purchase's points use the tier held *when buying*, then the spend including
that purchase may lift the customer to a higher tier, at once. A purchase never downgrades.

**Downgrades** happen only in the periodic evaluation (``evaluate_downgrades``, e.g. nightly):
a customer whose spend no longer qualifies for their tier moves down to the tier it qualifies
for, but only after holding the tier ``grace_days``; the new tier is held from the evaluation
date, so running it again for the same date changes nothing.

A customer with no tier row yet holds the lowest tier. A held key that the owner has since
removed from the definitions counts as no tier: the next purchase sets the qualifying tier
(reason ``initial``); the evaluation leaves such rows alone.

Every change is appended to ``tier_change`` with the qualifying spend at the time.

**Qualification basis.** The shop qualifies on one basis for every tier: ``spend`` (the
default, all of the above) or ``points``: the points earned by the purchases of the rolling 12
months (earn entries of source type ``purchase`` for purchases in the window, minus the
reversals of their lines returned by ``as_of``, by the return's time as for the spend), so
redemptions, expiry and manual adjustments never move anyone. With the points basis
``Tier.min_spend`` is a number of points (whole), and accrual evaluates the upgrade *after*
posting the purchase's points, so they count. The basis travels with the tiers:
``TierLadder`` is a tuple of tiers with a ``basis`` (a plain tuple is the spend basis), stored
as the old JSON list for the spend basis and as ``{"basis": "points", "tiers": [...]}`` for
the points basis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    cast,
    func,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from guanxi.domain.dates import add_months
from guanxi.errors import InvalidInput
from guanxi.loyalty.ledger import RETURN_LINE, RETURN_LINE_KEY, Kind
from guanxi.loyalty.rules import EarningProgram, Multiplier, parse_decimal
from guanxi.storage.db import Database
from guanxi.storage.models import (
    CustomerTier,
    LoyaltyProgram,
    PointsEntry,
    Purchase,
    PurchaseReturn,
    ReturnLine,
    TierChange,
)

DEFAULT_ZONE = "Asia/Shanghai"
WINDOW_MONTHS = 12
KEY_LENGTH = 32
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Tier:
    """One member tier: reached when the rolling 12-month spend is at least ``min_spend``
    (with the points basis: when the rolling 12-month points are at least ``min_spend``)."""

    key: str
    name: str
    min_spend: Decimal  # yuan; points (whole) when the ladder's basis is points
    points_multiplier: Decimal = Decimal(1)
    member_discount: Decimal = Decimal(0)  # fraction off: 0.05 = 5 % off (九五折)
    benefits: tuple[str, ...] = ()
    event_access: bool = False  # members of this tier are invited to member events
    grace_days: int | None = None  # kept at least this long before a downgrade; None: default


MAX_GRACE_DAYS = 3660
DEFAULT_GRACE_DAYS = 30  # for tiers without their own grace_days


class Basis(StrEnum):
    """What tiers qualify on (shop-wide)."""

    SPEND = "spend"  # net spend (yuan) of the rolling 12 months
    POINTS = "points"  # net points earned by purchases of the rolling 12 months


class TierLadder(tuple[Tier, ...]):
    """The tiers, lowest first, with the shop's qualification ``basis``: a tuple, so it goes
    wherever a ``tuple[Tier, ...]`` does (a plain tuple of tiers is the spend basis)."""

    basis: Basis

    def __new__(cls, tiers: Iterable[Tier] = (), basis: Basis | str = Basis.SPEND) -> TierLadder:
        ladder = super().__new__(cls, tiers)
        try:
            ladder.basis = Basis(basis)
        except ValueError as error:
            raise InvalidInput(f"tiers: unknown basis {basis!r} (spend or points)") from error
        return ladder

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__eq__(self, other) and basis_of(self) == basis_of(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((tuple(self), self.basis))

    def __repr__(self) -> str:
        return f"TierLadder({tuple.__repr__(self)}, basis={self.basis.value!r})"


def basis_of(tiers: Sequence[Tier]) -> Basis:
    """The qualification basis of ``tiers`` (spend unless it is a points ``TierLadder``)."""
    return tiers.basis if isinstance(tiers, TierLadder) else Basis.SPEND


def validate_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """The tiers, checked: unique keys, names, first at 0, strictly ascending thresholds."""
    seen: set[str] = set()
    for n, tier in enumerate(tiers, start=1):
        label = f"tier {n} ({tier.key or tier.name or '?'})"
        if not tier.key.strip() or len(tier.key) > KEY_LENGTH:
            raise InvalidInput(f"{label}: key must be 1 to {KEY_LENGTH} characters")
        if tier.key in seen:
            raise InvalidInput(f"{label}: key {tier.key!r} is used by an earlier tier")
        seen.add(tier.key)
        if not tier.name.strip():
            raise InvalidInput(f"{label}: name is empty")
        if n == 1 and tier.min_spend != 0:
            raise InvalidInput(f"{label}: the lowest tier must start at min_spend 0, "
                               f"not {tier.min_spend}")  # fmt: skip
        if n > 1 and tier.min_spend <= tiers[n - 2].min_spend:
            raise InvalidInput(f"{label}: min_spend {tier.min_spend} must be more than the "
                               f"previous tier's {tiers[n - 2].min_spend}")  # fmt: skip
        if tier.points_multiplier < 0:
            raise InvalidInput(f"{label}: points_multiplier must be 0 or more, "
                               f"not {tier.points_multiplier}")  # fmt: skip
        if not 0 <= tier.member_discount <= 1:
            raise InvalidInput(f"{label}: member_discount must be between 0 and 1, "
                               f"not {tier.member_discount}")  # fmt: skip
        if tier.grace_days is not None and not 0 <= tier.grace_days <= MAX_GRACE_DAYS:
            raise InvalidInput(f"{label}: grace_days must be between 0 and {MAX_GRACE_DAYS}, "
                               f"not {tier.grace_days}")  # fmt: skip
        if basis_of(tiers) is Basis.POINTS and tier.min_spend != int(tier.min_spend):
            raise InvalidInput(f"{label}: with the points basis min_spend is whole points, "
                               f"not {tier.min_spend}")  # fmt: skip
    return TierLadder(tiers, basis_of(tiers))


def tiers_as_json(tiers: Sequence[Tier]) -> Any:
    """The tiers as stored: a list (the spend basis, or no tiers), else
    ``{"basis": "points", "tiers": [...]}``."""
    rows = _tier_rows(tiers)
    if rows and basis_of(tiers) is not Basis.SPEND:
        return {"basis": basis_of(tiers).value, "tiers": rows}
    return rows


def _tier_rows(tiers: Sequence[Tier]) -> list[dict[str, Any]]:
    return [{"key": t.key, "name": t.name, "min_spend": str(t.min_spend),
             "points_multiplier": str(t.points_multiplier),
             "member_discount": str(t.member_discount), "benefits": list(t.benefits),
             "event_access": t.event_access, "grace_days": t.grace_days}
            for t in tiers]  # fmt: skip


def tiers_from_json(
    data: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> tuple[Tier, ...]:
    """The tiers stored as JSON, validated: a list of tiers (the spend basis) or
    ``{"basis": ..., "tiers": [...]}``; a ``TierLadder``. None or [] is no tiers (tiers off)."""
    basis: Any = Basis.SPEND
    items: Iterable[Mapping[str, Any]] | None = None
    if isinstance(data, Mapping):
        if not isinstance(data.get("tiers"), list):
            raise InvalidInput("tiers: expected a list of tiers or {basis, tiers: [...]}")
        basis, items = data.get("basis", Basis.SPEND), data["tiers"]
    else:
        items = data
    if not isinstance(basis, str):
        raise InvalidInput(f"tiers: unknown basis {basis!r} (spend or points)")
    if not items:
        return TierLadder((), basis)
    try:
        tiers = [
            Tier(
                key=str(item["key"]),
                name=str(item["name"]),
                min_spend=parse_decimal(item["min_spend"], "min_spend"),
                points_multiplier=parse_decimal(
                    item.get("points_multiplier", "1"), "points_multiplier"
                ),
                member_discount=parse_decimal(item.get("member_discount", "0"), "member_discount"),
                benefits=tuple(str(b) for b in item.get("benefits") or ()),
                event_access=bool(item.get("event_access", False)),
                grace_days=_optional_days(item.get("grace_days")),
            )  # fmt: skip
            for item in items
        ]
    except (KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(f"tiers: missing or malformed field {error}") from error
    return validate_tiers(TierLadder(tiers, basis))


def _optional_days(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"grace_days: {value!r} is not a whole number")
    try:
        return int(value)
    except ValueError as error:
        raise InvalidInput(f"grace_days: {value!r} is not a whole number") from error


TIERS_KEY = "guanxi.tiers"


def defined_tiers(session: Session) -> tuple[Tier, ...]:
    """The programme's tiers, lowest first (empty: tiers off); read once per session."""
    cached = session.info.get(TIERS_KEY)
    if isinstance(cached, tuple):
        return cached
    stored = session.execute(
        select(LoyaltyProgram.tiers).order_by(LoyaltyProgram.id).limit(1)
    ).scalar()
    return remember_tiers(session, tiers_from_json(stored))


def remember_tiers(session: Session, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Keep the programme's tiers for the rest of ``session`` (``defined_tiers`` reads them)."""
    kept = TierLadder(tiers, basis_of(tiers))
    session.info[TIERS_KEY] = kept
    return kept


def with_tier_multipliers(rules: EarningProgram, tiers: Sequence[Tier]) -> EarningProgram:
    """The rules plus each tier's ``points_multiplier`` as a tier multiplier on its key.

    Within the tier kind the highest factor applies, so a rules' own tier multiplier for the
    same key and the tier's multiplier do not stack: the higher wins.
    """
    extra = tuple(Multiplier("tier", t.points_multiplier, t.key)
                  for t in tiers if t.points_multiplier != 1)  # fmt: skip
    return dataclasses.replace(rules, multipliers=rules.multipliers + extra) if extra else rules


def qualifying_tier(tiers: Sequence[Tier], spend: Decimal) -> Tier:
    """The highest tier ``spend`` reaches (the lowest for no or negative spend)."""
    reached = [t for t in tiers if t.min_spend <= spend]
    return reached[-1] if reached else tiers[0]


def _index(tiers: Sequence[Tier], key: str | None) -> int | None:
    return next((n for n, t in enumerate(tiers) if t.key == key), None)


def _window(as_of: date | datetime, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of the rolling 12 months ending with ``as_of`` (see the module docstring)."""
    tz = ZoneInfo(zone)
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise InvalidInput(f"naive datetime {as_of!r}: attach a time zone")
        local = as_of.astimezone(tz)
        end = local + _TICK
        start = datetime.combine(add_months(local.date(), -WINDOW_MONTHS), local.time(), tz)
        return (start + _TICK).astimezone(UTC), end.astimezone(UTC)
    next_day = as_of + timedelta(days=1)
    end = datetime.combine(next_day, time(), tz)
    start = datetime.combine(add_months(next_day, -WINDOW_MONTHS), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _spend_query(
    start: datetime, end: datetime, customer_id: int | None = None
) -> Select[int, int]:
    """Net spend in fen per customer: purchases in the window minus their refunds by ``end``
    (every customer, or only ``customer_id``)."""
    where = [Purchase.purchased_at >= start, Purchase.purchased_at < end]
    if customer_id is not None:
        where.append(Purchase.customer_id == customer_id)
    bought = select(
        Purchase.customer_id.label("customer_id"),
        type_coerce(Purchase.total_amount, BigInteger).label("fen"),
    ).where(*where)
    refunded = (
        select(Purchase.customer_id.label("customer_id"),
               (literal(0, BigInteger) - type_coerce(PurchaseReturn.refund_amount, BigInteger))
               .label("fen"))
        .join(Purchase, Purchase.id == PurchaseReturn.purchase_id)
        .where(*where, PurchaseReturn.returned_at < end)
    )  # fmt: skip
    moves = union_all(bought, refunded).subquery()
    return select(moves.c.customer_id, func.sum(moves.c.fen)).group_by(moves.c.customer_id)


def _points_query(
    start: datetime, end: datetime, customer_id: int | None = None
) -> Select[int, int]:
    """Net points per customer earned by the purchases in the window: their earn entries
    minus the reversals of their lines returned before ``end`` (every customer, or only
    ``customer_id``). Redemptions, expiry and adjustments are not counted."""
    earn, back = aliased(PointsEntry), aliased(PointsEntry)
    where = [Purchase.purchased_at >= start, Purchase.purchased_at < end,
             earn.kind == Kind.EARN, earn.source_type == "purchase"]  # fmt: skip
    if customer_id is not None:
        where.append(earn.customer_id == customer_id)
    bought = select(earn.customer_id.label("customer_id"), earn.points.label("points"))
    bought = bought.join(Purchase, cast(Purchase.id, String) == earn.source_id).where(*where)
    line_key = literal(RETURN_LINE_KEY, String) + cast(ReturnLine.id, String)
    returned = (
        select(back.customer_id.label("customer_id"), back.points.label("points"))
        .join(earn, earn.id == back.related_entry_id)
        .join(Purchase, cast(Purchase.id, String) == earn.source_id)
        .join(ReturnLine, line_key == back.source_id)
        .join(PurchaseReturn, PurchaseReturn.id == ReturnLine.return_id)
        .where(*where, back.kind == Kind.REVERSE, back.source_type == RETURN_LINE,
               PurchaseReturn.returned_at < end)
    )  # fmt: skip
    moves = union_all(bought, returned).subquery()
    return select(moves.c.customer_id, func.sum(moves.c.points)).group_by(moves.c.customer_id)


def _fen(value: Any) -> Decimal:
    return Decimal(int(value or 0)) / 100


def qualifying_spend(
    session: Session, customer_id: int, as_of: date | datetime, *, zone: str = DEFAULT_ZONE
) -> Decimal:
    """Net spend (yuan) of the rolling 12 months up to ``as_of``: one SQL aggregate."""
    start, end = _window(as_of, zone)
    row = session.execute(_spend_query(start, end, customer_id)).first()
    return _fen(None if row is None else row[1])


def qualifying_points(
    session: Session, customer_id: int, as_of: date | datetime, *, zone: str = DEFAULT_ZONE
) -> int:
    """Net points earned by the purchases of the rolling 12 months up to ``as_of`` (see the
    module docstring): one SQL aggregate."""
    start, end = _window(as_of, zone)
    row = session.execute(_points_query(start, end, customer_id)).first()
    return int(0 if row is None or row[1] is None else row[1])


def _qualifying(
    session: Session, customer_id: int, as_of: date | datetime, zone: str, tiers: Sequence[Tier]
) -> tuple[Decimal, int | None]:
    """The qualifying spend, and the qualifying points when ``tiers`` qualify on points."""
    spend = qualifying_spend(session, customer_id, as_of, zone=zone)
    if basis_of(tiers) is not Basis.POINTS:
        return spend, None
    return spend, qualifying_points(session, customer_id, as_of, zone=zone)


def _amounts(session: Session, start: datetime, end: datetime, basis: Basis) -> dict[int, Decimal]:
    """Every customer's qualifying amount in the window (yuan, or points), by customer id."""
    if basis is Basis.POINTS:
        rows = session.execute(_points_query(start, end))
        return {int(c): Decimal(int(points or 0)) for c, points in rows}
    return {int(c): _fen(fen) for c, fen in session.execute(_spend_query(start, end))}


@dataclass(frozen=True)
class TierMove:
    """One change of tier, as recorded in ``tier_change``."""

    customer_id: int
    from_tier: str | None
    to_tier: str
    reason: str  # initial / upgrade / downgrade
    spend: Decimal  # the qualifying spend (yuan) at the time, whatever the basis
    at: datetime
    points: int | None = None  # the qualifying points that decided it (points basis only)


def held_tier(session: Session, customer_id: int, tiers: Sequence[Tier]) -> Tier | None:
    """The tier the customer holds now: their row's, or the lowest when they have none (or a
    removed key); None when tiers are off."""
    if not tiers:
        return None
    key = session.execute(
        select(CustomerTier.tier_key).where(CustomerTier.customer_id == customer_id)
    ).scalar()
    index = _index(tiers, key)
    return tiers[0 if index is None else index]


def _locked_row(session: Session, customer_id: int) -> CustomerTier | None:
    stmt = select(CustomerTier).where(CustomerTier.customer_id == customer_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def _record(session: Session, move: TierMove) -> TierMove:
    session.add(TierChange(customer_id=move.customer_id, from_tier=move.from_tier,
                           to_tier=move.to_tier, at=move.at, reason=move.reason,
                           spend=move.spend))  # fmt: skip
    return move


def evaluate_on_purchase(
    session: Session,
    customer_id: int,
    as_of: datetime,
    *,
    zone: str = DEFAULT_ZONE,
    tiers: Sequence[Tier] | None = None,
) -> TierMove | None:
    """Upgrade the customer at once if the spend up to ``as_of`` (a purchase's time, included)
    reaches a higher tier; never a downgrade. Records the change; None when nothing changed.
    A customer's first evaluation sets the qualifying tier (reason ``initial``)."""
    tiers = defined_tiers(session) if tiers is None else tiers
    if not tiers:
        return None
    spend, points = _qualifying(session, customer_id, as_of, zone, tiers)
    target = qualifying_tier(tiers, spend if points is None else Decimal(points))
    day = as_of.astimezone(ZoneInfo(zone)).date()
    row = _locked_row(session, customer_id)
    if row is None:
        values = {"customer_id": customer_id, "tier_key": target.key, "since": day,
                  "evaluated_on": day}  # fmt: skip
        is_pg = session.get_bind().dialect.name == "postgresql"
        insert = pg_insert if is_pg else sqlite_insert
        inserted = session.execute(
            insert(CustomerTier)
            .values(values)
            .on_conflict_do_nothing()
            .returning(CustomerTier.customer_id)
        ).first()
        if inserted is not None:
            return _record(session, TierMove(customer_id, None, target.key, "initial", spend,
                                             as_of, points))  # fmt: skip
        row = _locked_row(session, customer_id)  # created meanwhile by another transaction
        assert row is not None
    current = _index(tiers, row.tier_key)
    row.evaluated_on = max(row.evaluated_on, day)
    if current is not None and tiers.index(target) <= current:
        return None
    move = TierMove(customer_id, row.tier_key, target.key,
                    "initial" if current is None else "upgrade", spend, as_of,
                    points)  # fmt: skip
    row.tier_key, row.since = target.key, day
    return _record(session, move)


def evaluate_downgrades(
    db: Database, as_of: date, grace_days: int = DEFAULT_GRACE_DAYS, *, zone: str = DEFAULT_ZONE
) -> list[TierMove]:
    """The periodic evaluation for ``as_of``: each customer whose spend (or points, with the
    points basis) no longer qualifies for
    their tier, held at least its ``grace_days`` (``grace_days`` here for a tier without its
    own), moves down to the tier it qualifies for (held
    from ``as_of``). Running again for the same date changes nothing. Returns the moves."""
    if grace_days < 0:
        raise InvalidInput(f"grace_days must be 0 or more, not {grace_days}")
    moves: list[TierMove] = []
    with db.write() as session:
        tiers = defined_tiers(session)
        if not tiers:
            return moves
        start, end = _window(as_of, zone)
        spends = _amounts(session, start, end, Basis.SPEND)
        by_points = basis_of(tiers) is Basis.POINTS
        amounts = _amounts(session, start, end, Basis.POINTS) if by_points else spends
        stmt = select(CustomerTier).order_by(CustomerTier.customer_id)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        now = datetime.now(UTC)
        for row in session.execute(stmt).scalars():
            current = _index(tiers, row.tier_key)
            if current is None or as_of < row.since:
                continue
            row.evaluated_on = max(row.evaluated_on, as_of)
            amount = amounts.get(row.customer_id, Decimal(0))
            target = qualifying_tier(tiers, amount)
            lower = tiers.index(target)
            grace = tiers[current].grace_days
            grace = grace_days if grace is None else grace
            if lower >= current or row.since + timedelta(days=grace) > as_of:
                continue
            spend = spends.get(row.customer_id, Decimal(0))
            move = TierMove(row.customer_id, row.tier_key, target.key, "downgrade", spend, now,
                            int(amount) if by_points else None)  # fmt: skip
            row.tier_key, row.since = target.key, as_of
            moves.append(_record(session, move))
    return moves


@dataclass(frozen=True)
class TierProgress:
    """Where a customer stands: the tier held, the next one, the spend and what is missing."""

    current: Tier
    next: Tier | None  # None: the top tier
    spend: Decimal  # qualifying spend (rolling 12 months, net of refunds), whatever the basis
    # what is still missing to reach ``next`` (0 if already reached): yuan to spend, or
    # points to earn with the points basis
    to_next: Decimal | None
    basis: Basis = Basis.SPEND
    points: int | None = None  # qualifying points (rolling 12 months), points basis only

    @property
    def amount(self) -> Decimal:
        """The qualifying amount in the basis' unit: yuan, or points."""
        return self.spend if self.points is None else Decimal(self.points)


def tier_progress(
    session: Session, customer_id: int, as_of: date | datetime, *, zone: str = DEFAULT_ZONE
) -> TierProgress | None:
    """The customer's tier, the next tier and how far it is; None when tiers are off."""
    tiers = defined_tiers(session)
    current = held_tier(session, customer_id, tiers)
    if current is None:
        return None
    spend, points = _qualifying(session, customer_id, as_of, zone, tiers)
    index = _index(tiers, current.key)
    assert index is not None
    nxt = tiers[index + 1] if index + 1 < len(tiers) else None
    progress = TierProgress(current, nxt, spend, None, basis_of(tiers), points)
    if nxt is None:
        return progress
    return dataclasses.replace(progress, to_next=max(nxt.min_spend - progress.amount, Decimal(0)))
