"""Occasions (关怀节点): which ones the shop observes, and the customers' occasions in a range.

An occasion is a birthday (solar or lunar), an anniversary (an ``Anniversary`` row, kept in the
solar or the lunar calendar), the membership anniversary (the ``Anniversary`` row of kind
'membership': the day the customer joined), the anniversary of the first purchase, or a
festival of ``care.calendar.FESTIVALS``. ``occasion_rules`` gives, for each, whether the shop
observes it, how many days ahead it reaches the agenda, and the greeting template that
``guanxi daily`` queues on the day (None: the occasion makes agenda items instead).

``customer_occasions`` finds the customers' birthdays and anniversaries in a date range with a
few set-based queries, fast for 100,000 customers: each day of the range is turned into the
solar (month, day) and lunar (month, day) birthdays celebrated on it (29 February on 28 February
in common years; a leap-month birthday in the regular month; the 30th on the 29th of a 29-day
month), and the customers are filtered in SQL by those keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from borax.calendars.lunardate import LunarDate
from sqlalchemy import ColumnElement, and_, exists, extract, func, or_, select
from sqlalchemy.orm import Session, aliased

from guanxi.care.calendar import FESTIVALS, lunar_keys, solar_keys
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Anniversary,
    Customer,
    MessageTemplate,
    OccasionSetting,
    Purchase,
    Store,
)

OCCASION_KEYS: tuple[str, ...] = (
    "birthday", "anniversary", "first_purchase", "membership", *FESTIVALS
)  # fmt: skip

MAX_LEAD_DAYS = 60
DEFAULT_ZONE = "Asia/Shanghai"

# Defaults when the shop has saved nothing: personal occasions and the family festivals and gift
# seasons of a Chinese shop are observed; Valentine's Day, 七夕 and Christmas are not. Lead days:
# a few days for most, longer for 春节 and 中秋 (gifts are bought well ahead).
DEFAULTS: dict[str, tuple[bool, int]] = {
    "birthday": (True, 3), "anniversary": (True, 3), "first_purchase": (True, 1),
    "membership": (True, 1),
    "new_year": (True, 3), "valentines": (False, 3), "chuxi": (True, 5),
    "spring_festival": (True, 10), "lantern": (True, 3), "womens_day": (True, 3),
    "qingming": (True, 7), "labour_day": (True, 3), "mothers_day": (True, 5),
    "dragon_boat": (True, 5), "fathers_day": (True, 5), "qixi": (False, 3),
    "mid_autumn": (True, 14), "double_ninth": (True, 5), "national_day": (True, 3),
    "laba": (True, 5), "christmas": (False, 3),
}  # fmt: skip

OCCASION_LABELS: dict[str, str] = {
    "birthday": gettext_noop("Birthday"),
    "anniversary": gettext_noop("Anniversary"),
    "first_purchase": gettext_noop("First-purchase anniversary"),
    "membership": gettext_noop("Membership anniversary"),
    "new_year": gettext_noop("New Year's Day"),
    "valentines": gettext_noop("Valentine's Day"),
    "chuxi": gettext_noop("New Year's Eve (Chuxi)"),
    "spring_festival": gettext_noop("Spring Festival"),
    "lantern": gettext_noop("Lantern Festival"),
    "womens_day": gettext_noop("Women's Day"),
    "qingming": gettext_noop("Qingming"),
    "labour_day": gettext_noop("Labour Day"),
    "mothers_day": gettext_noop("Mother's Day"),
    "dragon_boat": gettext_noop("Dragon Boat Festival"),
    "fathers_day": gettext_noop("Father's Day"),
    "qixi": gettext_noop("Qixi"),
    "mid_autumn": gettext_noop("Mid-Autumn Festival"),
    "double_ninth": gettext_noop("Double Ninth Festival"),
    "national_day": gettext_noop("National Day"),
    "laba": gettext_noop("Laba Festival"),
    "christmas": gettext_noop("Christmas"),
}
"""English names (msgids, translated where shown) of every occasion."""

_CHUNK = 1000  # ids per IN list


@dataclass(frozen=True)
class OccasionRule:
    """Whether the shop observes ``occasion``, its lead days and its greeting template."""

    occasion: str
    observed: bool
    lead_days: int
    template_id: int | None


@dataclass(frozen=True)
class CustomerOccasion:
    """One customer's occasion on a day.

    ``label``: "solar" / "lunar" for birthdays, the anniversary's own label ("结婚纪念日"), ""
    for the first purchase and the membership anniversary. ``years``: the age turned, or the
    years since the anniversary / first purchase / joining (None for a birthday without a
    birth year).
    """

    customer_id: int
    occasion: str  # "birthday" | "anniversary" | "first_purchase" | "membership"
    on: date
    label: str
    years: int | None


def default_rules() -> dict[str, OccasionRule]:
    """The documented defaults (``DEFAULTS``), no template."""
    return {key: OccasionRule(key, *DEFAULTS[key], None) for key in OCCASION_KEYS}


def occasion_rules(session: Session) -> dict[str, OccasionRule]:
    """Every occasion's rule: the saved ``occasion_setting`` row, else the default."""
    rules = default_rules()
    for row in session.execute(select(OccasionSetting)).scalars():
        if row.occasion in rules:
            rules[row.occasion] = OccasionRule(row.occasion, bool(row.observed),
                                               int(row.lead_days), row.template_id)  # fmt: skip
    return rules


def rule_errors(rule: OccasionRule) -> list[str]:
    """What is wrong with a rule, in words (empty when it can be saved)."""
    errors = []
    if rule.occasion not in OCCASION_KEYS:
        errors.append(f"unknown occasion {rule.occasion!r}")
    if not 0 <= rule.lead_days <= MAX_LEAD_DAYS:
        errors.append(f"lead days must be 0-{MAX_LEAD_DAYS} (found {rule.lead_days})")
    return errors


def save_occasion_rules(db: Database, rules: Sequence[OccasionRule], *, actor_id: int) -> None:
    """Save the rules that differ from what is stored (or the defaults); audited, with the
    changes only. Raises InvalidInput for an unknown occasion, lead days outside 0–60 or a
    template that does not exist."""
    for rule in rules:
        errors = rule_errors(rule)
        if errors:
            raise InvalidInput("; ".join(errors))
    with db.write() as session:
        templates = {r.template_id for r in rules if r.template_id is not None}
        if templates:
            found = set(session.execute(
                select(MessageTemplate.id).where(MessageTemplate.id.in_(templates))
            ).scalars())  # fmt: skip
            if templates - found:
                raise InvalidInput(f"no message template {sorted(templates - found)[0]}")
        current = occasion_rules(session)
        stored = {row.occasion: row for row in session.execute(select(OccasionSetting)).scalars()}
        changes: dict[str, dict[str, object]] = {}
        now = datetime.now(UTC)
        for rule in rules:
            before = current[rule.occasion]
            if before == rule:
                continue
            row = stored.get(rule.occasion)
            if row is None:
                row = OccasionSetting(occasion=rule.occasion)
                session.add(row)
            row.observed, row.lead_days, row.template_id = (rule.observed, rule.lead_days,
                                                            rule.template_id)  # fmt: skip
            row.updated_at = now
            changes[rule.occasion] = {
                field: [getattr(before, field), getattr(rule, field)]
                for field in ("observed", "lead_days", "template_id")
                if getattr(before, field) != getattr(rule, field)
            }
        if changes:
            audit.record(session, audit.Action.OCCASIONS_CHANGED, actor_id=actor_id,
                         target_type="occasion_setting", detail={"changes": changes})  # fmt: skip


# -- customers' occasions -----------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _code(month: int, day: int) -> int:
    return month * 100 + day


def _lunar_of(on: date) -> tuple[int, tuple[tuple[int, int], ...]] | None:
    """``calendar.lunar_keys`` where borax has data (lunar years 1900–2100), else None."""
    if not LunarDate.min.to_solar_date() <= on <= LunarDate.max.to_solar_date():
        return None
    return lunar_keys(on)


def _chunks(ids: set[int] | None) -> Iterator[list[int] | None]:
    if ids is None:
        yield None
        return
    ordered = sorted(ids)
    for n in range(0, len(ordered), _CHUNK):
        yield ordered[n : n + _CHUNK]


def _zone(session: Session, store_id: int | None, zone: str | None) -> ZoneInfo:
    if zone is None and store_id is not None:
        zone = session.execute(select(Store.timezone).where(Store.id == store_id)).scalar()
    return ZoneInfo(zone or DEFAULT_ZONE)


def customer_occasions(
    session: Session,
    start: date,
    end: date,
    *,
    store_id: int | None = None,
    customer_ids: Collection[int] | None = None,
    zone: str | None = None,
) -> list[CustomerOccasion]:
    """The birthdays, anniversaries (membership ones included) and first-purchase anniversaries
    from ``start`` to ``end`` (both included) of the customers of ``store_id`` (home store) or
    of ``customer_ids``, never erased ones; by date, then occasion, then customer.

    First purchases are dated in ``zone`` (default: the store's zone, else Asia/Shanghai).
    """
    if end < start:
        return []
    days = _days(start, end)
    solar: dict[int, list[date]] = defaultdict(list)
    lunar: dict[int, list[tuple[date, int]]] = defaultdict(list)  # code -> (day, lunar year)
    for day in days:
        for month, mday in solar_keys(day):
            solar[_code(month, mday)].append(day)
        found = _lunar_of(day)
        if found is not None:
            for month, mday in found[1]:
                lunar[_code(month, mday)].append((day, found[0]))
    where: list[ColumnElement[bool]] = [Customer.erased_at.is_(None)]
    if store_id is not None:
        where.append(Customer.home_store_id == store_id)
    wanted = None if customer_ids is None else set(customer_ids)
    out: list[CustomerOccasion] = []
    for chunk in _chunks(wanted):
        ids = [] if chunk is None else [Customer.id.in_(chunk)]
        out += _birthdays(session, [*where, *ids], solar, lunar)
    if wanted is None or wanted:
        out += _anniversaries(session, where, wanted, solar, lunar)
        out += _first_purchases(session, where, wanted, days, solar,
                                _zone(session, store_id, zone),
                                one_store=store_id is not None)  # fmt: skip
    out.sort(key=lambda o: (o.on, o.occasion, o.customer_id, o.label))
    return out


def _birthdays(
    session: Session,
    where: list[ColumnElement[bool]],
    solar: dict[int, list[date]],
    lunar: dict[int, list[tuple[date, int]]],
) -> list[CustomerOccasion]:
    code = Customer.birthday_month * 100 + Customer.birthday_day
    kinds = [and_(Customer.birthday_kind == "solar", code.in_(sorted(solar)))]
    if lunar:
        kinds.append(and_(Customer.birthday_kind == "lunar", code.in_(sorted(lunar))))
    rows = session.execute(
        select(Customer.id, Customer.birthday_kind, Customer.birthday_year,
               Customer.birthday_month, Customer.birthday_day)
        .where(*where, Customer.birthday_month.is_not(None), Customer.birthday_day.is_not(None),
               or_(*kinds))
    ).all()  # fmt: skip
    out = []
    for cid, kind, born, month, mday in rows:
        assert month is not None and mday is not None  # filtered in SQL
        key = _code(month, mday)
        if kind == "lunar":
            for day, lunar_year in lunar.get(key, ()):
                out.append(CustomerOccasion(cid, "birthday", day, "lunar",
                                            _years(lunar_year, born)))  # fmt: skip
        else:
            for day in solar.get(key, ()):
                out.append(CustomerOccasion(cid, "birthday", day, "solar", _years(day.year, born)))
    return out


def _years(year: int, since: int | None) -> int | None:
    if since is None or year - since <= 0:
        return None
    return year - since


def _in_view(
    session: Session, where: list[ColumnElement[bool]], wanted: set[int] | None, ids: set[int]
) -> set[int]:
    """Those of ``ids`` that are ``wanted`` (None: any) and pass the conditions ``where``."""
    kept: set[int] = set()
    ordered = sorted(ids if wanted is None else ids & wanted)
    for n in range(0, len(ordered), _CHUNK):
        kept.update(session.execute(
            select(Customer.id).where(Customer.id.in_(ordered[n : n + _CHUNK]), *where)
        ).scalars())  # fmt: skip
    return kept


def _anniversaries(
    session: Session,
    where: list[ColumnElement[bool]],
    wanted: set[int] | None,
    solar: dict[int, list[date]],
    lunar: dict[int, list[tuple[date, int]]],
) -> list[CustomerOccasion]:
    """Solar anniversaries filtered in SQL by month/day; lunar ones (few) converted here. The
    (small) anniversary table is read first, then its customers checked against ``where``.
    A row of kind 'membership' is the "membership" occasion, with no label."""
    code = extract("month", Anniversary.occurs_on) * 100 + extract("day", Anniversary.occurs_on)
    base = select(Anniversary.customer_id, Anniversary.kind, Anniversary.label,
                  Anniversary.occurs_on)  # fmt: skip
    found: list[CustomerOccasion] = []
    for cid, kind, label, since in session.execute(
        base.where(Anniversary.calendar_kind != "lunar", code.in_(sorted(solar)))
    ):
        for day in solar.get(_code(since.month, since.day), ()):
            found += _anniversary(cid, kind, label, day, _years(day.year, since.year))
    if lunar:
        for cid, kind, label, since in session.execute(
            base.where(Anniversary.calendar_kind == "lunar")
        ):
            if _lunar_of(since) is None:  # outside borax's years
                continue
            origin = LunarDate.from_solar(since)  # the lunar date of the day it happened
            key = _code(origin.month, origin.day)  # a leap month counts as the regular one
            for day, lunar_year in lunar.get(key, ()):
                found += _anniversary(cid, kind, label, day, _years(lunar_year, origin.year))
    if not found:
        return []
    kept = _in_view(session, where, wanted, {o.customer_id for o in found})
    return [o for o in found if o.customer_id in kept]


def _anniversary(
    cid: int, kind: str, label: str, day: date, years: int | None
) -> list[CustomerOccasion]:
    """The occasion of one anniversary row on ``day`` (none before its first anniversary)."""
    if not years:
        return []
    if kind == "membership":
        return [CustomerOccasion(cid, "membership", day, "", years)]
    return [CustomerOccasion(cid, "anniversary", day, label, years)]


def _first_purchases(
    session: Session,
    where: list[ColumnElement[bool]],
    wanted: set[int] | None,
    days: list[date],
    solar: dict[int, list[date]],
    zone: ZoneInfo,
    *,
    one_store: bool = False,
) -> list[CustomerOccasion]:
    """Customers whose first purchase (local date in ``zone``) has its anniversary in ``days``:
    the purchases of the same month/day of earlier years (an index range per year) that no
    purchase of the customer came before, then their customers checked against ``where``.
    For ``one_store`` the window's purchases (materialised on PostgreSQL) are joined to the
    store's customers before that probe: a chain's day of purchases is mostly other stores'."""
    first = session.execute(select(func.min(Purchase.purchased_at))).scalar()
    if first is None:
        return []
    first_year = first.astimezone(zone).year
    locals_: set[date] = set()
    for day in days:
        for year in range(first_year, day.year):
            for month, mday in solar_keys(day):
                try:
                    locals_.add(date(year, month, mday))
                except ValueError:  # 29 February of a common year
                    continue
    if not locals_:
        return []
    ranges: list[ColumnElement[bool]] = []
    for lo, hi in _runs(sorted(locals_)):
        ranges.append(and_(Purchase.purchased_at >= _utc(lo, zone),
                           Purchase.purchased_at < _utc(hi + timedelta(days=1), zone)))  # fmt: skip
    earlier = aliased(Purchase)
    found = select(Purchase.customer_id, Purchase.purchased_at).where(or_(*ranges))
    if one_store:  # the window's purchases first (an index range), then only the store's
        window = found.cte("window").prefix_with("MATERIALIZED", dialect="postgresql")
        found = (select(window.c.customer_id, window.c.purchased_at)
                 .join(Customer, Customer.id == window.c.customer_id).where(*where))  # fmt: skip
        is_first = ~exists().where(
            earlier.customer_id == window.c.customer_id,
            earlier.purchased_at < window.c.purchased_at,
        )
    else:
        is_first = ~exists().where(
            earlier.customer_id == Purchase.customer_id,
            earlier.purchased_at < Purchase.purchased_at,
        )
    rows = session.execute(found.where(is_first)).all()
    if not rows:
        return []
    kept = _in_view(session, where, wanted, {cid for cid, _ in rows})
    out: dict[tuple[int, date], CustomerOccasion] = {}
    for cid, at in rows:
        if cid not in kept:
            continue
        local = at.astimezone(zone).date()
        for day in solar.get(_code(local.month, local.day), ()):
            years = _years(day.year, local.year)
            if years:
                out[cid, day] = CustomerOccasion(cid, "first_purchase", day, "", years)
    return list(out.values())


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days merged into (first, last) runs."""
    lo = hi = days[0]
    for day in days[1:]:
        if day == hi + timedelta(days=1):
            hi = day
            continue
        yield lo, hi
        lo = hi = day
    yield lo, hi


def _utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)
