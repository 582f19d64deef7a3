"""Named customer segments: rules over the latest scores, tags, store and account owner.

A segment is a list of rules, all of which must hold (AND). Each rule names a field and a
condition: ``in`` a set of values (RFM segment, Chinese RFM class, ladder rung, loyalty type),
``between`` two bounds (RFM scores, P(alive), CLV, churn risk, days since the last purchase,
spend), or ``is`` one value (a tag, the home store, the account owner). Rules become one SQL
query over the latest month's ``customer_score`` joined to ``customer``; campaigns later send to
the members of a saved segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.analytics import ladder, loyalty_type, rfm
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerScore, CustomerTag, Segment

CHOICE_FIELDS: dict[str, tuple[str, ...]] = {
    "rfm_segment": rfm.SEGMENT_KEYS,
    "china_class": rfm.CHINA_CLASS_KEYS,
    "rung": ladder.RUNG_KEYS,
    "loyalty_type": loyalty_type.LOYALTY_TYPE_KEYS,
}
RANGE_FIELDS: dict[str, Any] = {
    "r_score": CustomerScore.r_score,
    "f_score": CustomerScore.f_score,
    "m_score": CustomerScore.m_score,
    "p_alive": CustomerScore.p_alive,
    "churn_risk": CustomerScore.churn_risk,
    "clv_12m": CustomerScore.clv_12m,
    "total_spend": CustomerScore.total_spend,
    "days_since_last": CustomerScore.days_since_last,
    "purchase_days": CustomerScore.purchase_days,
}
VALUE_FIELDS = ("tag", "store", "owner")
FIELDS = (*CHOICE_FIELDS, *RANGE_FIELDS, *VALUE_FIELDS)
MONEY_FIELDS = frozenset({"clv_12m", "total_spend"})


@dataclass(frozen=True)
class Rule:
    """One condition: ``field`` ``in`` values, ``between`` (low, high) or ``is`` a value."""

    field: str
    op: str
    value: Any

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value}


def _number(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{where}: {value!r} is not a number") from error
    if number != number:  # NaN
        raise InvalidInput(f"{where}: not a number")
    return number


def parse_rule(data: dict[str, Any]) -> Rule:
    """Check one rule as stored or sent by the builder; a clear error names what is wrong."""
    name = str(data.get("field", ""))
    if name in CHOICE_FIELDS:
        values = data.get("value")
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values:
            raise InvalidInput(f"{name}: choose at least one value")
        unknown = [v for v in values if v not in CHOICE_FIELDS[name]]
        if unknown:
            raise InvalidInput(f"{name}: unknown value {unknown[0]!r}; "
                               f"use one of {', '.join(CHOICE_FIELDS[name])}")  # fmt: skip
        return Rule(name, "in", sorted(set(values), key=CHOICE_FIELDS[name].index))
    if name in RANGE_FIELDS:
        bounds = data.get("value")
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise InvalidInput(f"{name}: give [low, high] (either may be empty)")
        low, high = _number(bounds[0], f"{name} low"), _number(bounds[1], f"{name} high")
        if low is None and high is None:
            raise InvalidInput(f"{name}: give a low bound, a high bound or both")
        if low is not None and high is not None and low > high:
            raise InvalidInput(f"{name}: the low bound {low:g} is above the high bound {high:g}")
        return Rule(name, "between", [low, high])
    if name in VALUE_FIELDS:
        value = data.get("value")
        if name == "tag":
            text = str(value or "").strip()
            if not text:
                raise InvalidInput("tag: give the tag's name")
            return Rule(name, "is", text)
        number = _number(value, name)
        if number is None or number != int(number):
            raise InvalidInput(f"{name}: give the {name}'s id")
        return Rule(name, "is", int(number))
    raise InvalidInput(f"unknown field {name!r}: use one of {', '.join(FIELDS)}")


def parse_rules(data: Any) -> list[Rule]:
    if not isinstance(data, list):
        raise InvalidInput("rules must be a list")
    return [parse_rule(item if isinstance(item, dict) else {}) for item in data]


def _condition(rule: Rule) -> ColumnElement[bool]:
    if rule.op == "in":
        column: ColumnElement[Any] = getattr(CustomerScore, rule.field)
        return column.in_(rule.value)
    if rule.op == "between":
        column = RANGE_FIELDS[rule.field]
        low, high = rule.value
        if rule.field in MONEY_FIELDS:  # Decimal columns: compare with Decimals
            low = None if low is None else Decimal(str(low))
            high = None if high is None else Decimal(str(high))
        parts = []
        if low is not None:
            parts.append(column >= low)
        if high is not None:
            parts.append(column <= high)
        return and_(*parts)
    if rule.field == "tag":
        tagged = select(CustomerTag.customer_id).where(CustomerTag.name == rule.value)
        return Customer.id.in_(tagged)
    owner_or_store = Customer.home_store_id if rule.field == "store" else Customer.owner_staff_id
    return owner_or_store == int(rule.value)


def latest_month(session: Session) -> date | None:
    """The month of the newest scores (None before the first scoring run)."""
    return session.execute(select(func.max(CustomerScore.month))).scalar_one_or_none()


def members_select(rules: list[Rule], month: date, *, store_scope: int | None) -> Select[int]:
    """Customer ids matching every rule in ``month``'s scores, within the viewer's store."""
    stmt = (
        select(Customer.id)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(CustomerScore.month == month, Customer.erased_at.is_(None))
        .where(*(_condition(rule) for rule in rules))
    )
    if store_scope is not None:
        stmt = stmt.where(Customer.home_store_id == store_scope)
    return stmt


@dataclass(frozen=True)
class Member:
    """One customer in a segment preview."""

    id: int
    name: str
    rung: str
    rfm_segment: str | None
    clv_12m: Decimal | None
    p_alive: float | None
    days_since_last: int | None


@dataclass(frozen=True)
class Preview:
    """How many customers match, and the first of them by 12-month CLV."""

    count: int
    month: date | None
    members: list[Member]


def preview(
    db: Database, rules: list[Rule], *, store_scope: int | None, limit: int = 50
) -> Preview:
    """Count the members of ``rules`` and list the most valuable ones."""
    with db.read() as session:
        month = latest_month(session)
        if month is None:
            return Preview(0, None, [])
        ids = members_select(rules, month, store_scope=store_scope).subquery()
        count = session.execute(select(func.count()).select_from(ids)).scalar_one()
        rows = session.execute(
            select(Customer.id, Customer.name, CustomerScore.rung, CustomerScore.rfm_segment,
                   CustomerScore.clv_12m, CustomerScore.p_alive, CustomerScore.days_since_last)
            .join(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(CustomerScore.month == month, Customer.id.in_(select(ids.c.id)))
            .order_by(CustomerScore.clv_12m.desc().nulls_last(), Customer.id)
            .limit(limit)
        ).all()  # fmt: skip
    return Preview(int(count), month, [Member(*row) for row in rows])


@dataclass(frozen=True)
class SegmentView:
    id: int
    name: str
    description: str | None
    rules: list[Rule]
    count: int


def _view(session: Session, segment: Segment, month: date | None, scope: int | None) -> SegmentView:
    rules = parse_rules(segment.rules)
    count = 0
    if month is not None:
        ids = members_select(rules, month, store_scope=scope).subquery()
        count = int(session.execute(select(func.count()).select_from(ids)).scalar_one())
    return SegmentView(segment.id, segment.name, segment.description, rules, count)


def list_segments(db: Database, *, store_scope: int | None) -> list[SegmentView]:
    """Every saved segment with its member count (within the viewer's store)."""
    with db.read() as session:
        month = latest_month(session)
        segments = session.execute(select(Segment).order_by(Segment.name)).scalars().all()
        return [_view(session, s, month, store_scope) for s in segments]


def get_segment(db: Database, segment_id: int, *, store_scope: int | None) -> SegmentView:
    with db.read() as session:
        segment = session.get(Segment, segment_id)
        if segment is None:
            raise NotFound(f"segment {segment_id} does not exist")
        return _view(session, segment, latest_month(session), store_scope)


def save_segment(
    db: Database,
    actor: StaffMember,
    *,
    name: str,
    description: str | None,
    rules: list[Rule],
    segment_id: int | None = None,
) -> int:
    """Create (or, with ``segment_id``, replace) a named segment; audited."""
    name = name.strip()
    if not name:
        raise InvalidInput("give the segment a name")
    if len(name) > 100:
        raise InvalidInput("the name is longer than 100 characters")
    if not rules:
        raise InvalidInput("add at least one rule: a segment of everyone is the customer list")
    stored = [rule.as_json() for rule in rules]
    try:
        with db.write() as session:
            if segment_id is None:
                segment = Segment(name=name, description=description or None, rules=stored,
                                  created_by_staff_id=actor.id)  # fmt: skip
                session.add(segment)
                before = None
            else:
                found = session.get(Segment, segment_id)
                if found is None:
                    raise NotFound(f"segment {segment_id} does not exist")
                segment = found
                before = {"name": segment.name, "rules": segment.rules}
                segment.name, segment.description, segment.rules = name, description or None, stored
            session.flush()
            after = {"name": name, "rules": stored}
            audit.record(session, audit.Action.SEGMENT_SAVED, actor_id=actor.id,
                         target_type="segment", target_id=str(segment.id),
                         detail={"before": before, "after": after})  # fmt: skip
            return segment.id
    except IntegrityError as error:
        raise Conflict(f"a segment named {name!r} exists already: choose another name") from error


def delete_segment(db: Database, actor: StaffMember, segment_id: int) -> None:
    with db.write() as session:
        segment = session.get(Segment, segment_id)
        if segment is None:
            raise NotFound(f"segment {segment_id} does not exist")
        audit.record(session, audit.Action.SEGMENT_DELETED, actor_id=actor.id,
                     target_type="segment", target_id=str(segment_id),
                     detail={"before": {"name": segment.name, "rules": segment.rules}})  # fmt: skip
        session.delete(segment)


def segment_member_ids(db: Database, segment_id: int, *, store_scope: int | None) -> list[int]:
    """The ids of a saved segment's members now (for campaigns)."""
    with db.read() as session:
        segment = session.get(Segment, segment_id)
        if segment is None:
            raise NotFound(f"segment {segment_id} does not exist")
        month = latest_month(session)
        if month is None:
            return []
        stmt = members_select(parse_rules(segment.rules), month, store_scope=store_scope)
        return list(session.execute(stmt.order_by(Customer.id)).scalars())
