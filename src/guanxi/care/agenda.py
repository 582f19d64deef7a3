"""The daily agenda (今日待办): whom to contact today and why, ranked by value × urgency.

``build_agenda`` gathers candidate items from every source in ``AGENDA_SOURCES`` for one staff
member (the customers they look after and the tasks and promises that are theirs) or one store
(its customers), then ranks them:

* **value** is what the customer is worth: the latest 12-month CLV score, or the net spend of
  the last 12 months when the customer has no score yet; a win-back item uses the customer's
  past spend (a lapsed customer's CLV is near zero by definition, their past value is not);
* **urgency** comes from the days left until the item is due (1 today, 1/2 tomorrow, 1/4 in
  three days; overdue items rise up to 2) times a weight per kind (a promise weighs more than a
  festival greeting);
* **score** = max(value, ``VALUE_FLOOR``) × urgency, so a promise to a new customer (no value
  yet) still ranks above a festival greeting.

The list is capped at ``limit``; ``Agenda.more`` says how many candidates were left off.
Festivals make items only for the ``FESTIVAL_TOP`` most valuable customers in view (never one
item per customer of a 100,000-customer store).

Sources (each a function ``(session, AgendaQuery) -> Iterable[AgendaItem]``, set-based SQL):

* occasions: birthdays, anniversaries and first-purchase anniversaries within their lead days,
  and festivals (``guanxi.care.occasions`` / ``guanxi.care.calendar``); an occasion whose
  setting names a template is greeted automatically by ``guanxi daily`` and makes no item;
* open tasks due (follow-ups and others) and promises due (``guanxi.care.tasks``,
  ``guanxi.care.commitments``);
* VIPs at risk: 12-month CLV in the top ``VIP_SHARE`` of the latest scoring month (among the
  store's scored customers; the shop's when no store is given), and P(alive) fell by at least
  ``VIP_DROP`` since the previous month's scores;
* win-back: rung lapsed or lost in the latest scores, with past spend in the top
  ``WINBACK_SHARE`` (same base);
* points expiring within ``POINTS_DAYS`` days (remaining points of lots);
* tier downgrades coming within ``TIER_DAYS`` days (spend basis): the purchases that keep the
  customer in their tier drop out of the rolling 12 months.

Complaints near or past their SLA, service-plan steps due and member events coming up come from
``guanxi.feedback`` and ``guanxi.club``; those sources import their modules when first called,
because those modules build agenda items with ``item`` from here (a top-level import would be
circular). A source that raises ImportError is skipped and named in ``Agenda.unavailable``; no
scores, no programme or no tiers simply produce no items of that kind.

Reasons are English msgids (marked with ``gettext_noop``) with ``{placeholders}`` and
``params``; ``reason_text`` translates and fills them for a language.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    func,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from guanxi.care.calendar import FESTIVALS
from guanxi.care.occasions import OCCASION_LABELS
from guanxi.domain.dates import add_months
from guanxi.domain.text import gettext_noop
from guanxi.feedback.complaints import CATEGORY_LABELS as COMPLAINT_CATEGORY_LABELS
from guanxi.loyalty.tiers import (
    DEFAULT_GRACE_DAYS,
    Basis,
    basis_of,
    defined_tiers,
    qualifying_tier,
)
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerScore,
    CustomerTier,
    PointsAllocation,
    PointsEntry,
    Purchase,
    PurchaseReturn,
    Store,
)

if TYPE_CHECKING:
    from guanxi.web.i18n import Language

DEFAULT_ZONE = "Asia/Shanghai"
DEFAULT_LIMIT = 200
FESTIVAL_TOP = 20  # festival greetings: the most valuable customers in view only
POINTS_DAYS = 30  # points expiring within this many days
TIER_DAYS = 30  # tier downgrades coming within this many days
VIP_SHARE = 0.10  # VIP: 12-month CLV in the top 10 % of the store's scored customers
VIP_DROP = 0.15  # at risk: P(alive) fell by at least this much since the previous month
WINBACK_SHARE = 0.20  # win-back: past spend in the top 20 % of the store's scored customers
VALUE_FLOOR = 100.0  # yuan: the least value an item ranks with
SOURCE_CAP_FACTOR = 5  # a source yields at most limit × this many candidates
_CHUNK = 900  # ids per IN (...) list

KINDS: tuple[str, ...] = (
    "birthday", "anniversary", "festival", "followup", "task", "commitment", "vip_at_risk",
    "winback", "points_expiring", "tier_downgrade", "complaint_sla",
)  # fmt: skip

KIND_LABELS: dict[str, str] = {
    "birthday": gettext_noop("Birthday"),
    "anniversary": gettext_noop("Anniversary"),
    "festival": gettext_noop("Festival"),
    "followup": gettext_noop("Follow-up"),
    "task": gettext_noop("Task"),
    "commitment": gettext_noop("Promise"),
    "vip_at_risk": gettext_noop("VIP at risk"),
    "winback": gettext_noop("Win-back"),
    "points_expiring": gettext_noop("Points expiring"),
    "tier_downgrade": gettext_noop("Tier downgrade"),
    "complaint_sla": gettext_noop("Complaint"),
}

KIND_WEIGHTS: dict[str, float] = {
    "commitment": 1.5, "complaint_sla": 2.0, "followup": 1.2, "task": 1.2, "birthday": 1.0,
    "anniversary": 0.8, "festival": 0.6, "vip_at_risk": 1.0, "winback": 0.2,
    "points_expiring": 0.8, "tier_downgrade": 0.8,
}  # fmt: skip

FESTIVAL_LABELS: dict[str, str] = {key: OCCASION_LABELS[key] for key in FESTIVALS}

# Params whose value is a key to translate through a label table when rendering.
_LABELLED: dict[str, dict[str, str]] = {
    "festival": FESTIVAL_LABELS,
    "category": COMPLAINT_CATEGORY_LABELS,
}

Param = str | int | float | date | Decimal


@dataclass(frozen=True)
class AgendaItem:
    """One thing to do for one customer today, and why (``reason`` filled with ``params``).

    ``value``, ``score`` and an empty ``customer_name`` are filled in by ``build_agenda``;
    a source may set ``value`` where it knows better (win-back: the past spend).
    """

    customer_id: int
    customer_name: str
    kind: str
    reason: str  # English msgid with {placeholders}
    params: dict[str, Param]
    urgency: float
    value: float
    score: float
    due_on: date
    task_id: int | None = None
    commitment_id: int | None = None
    owner_staff_id: int | None = None

    def as_json(self, text: str | None = None) -> dict[str, Any]:
        """The item as plain JSON values (dates ISO, money as strings)."""
        return {
            "customer_id": self.customer_id, "customer_name": self.customer_name,
            "kind": self.kind, "reason": text if text is not None else english(self),
            "msgid": self.reason, "params": {k: _json(v) for k, v in self.params.items()},
            "urgency": round(self.urgency, 4), "value": round(self.value, 2),
            "score": round(self.score, 2), "due_on": self.due_on.isoformat(),
            "task_id": self.task_id, "commitment_id": self.commitment_id,
            "owner_staff_id": self.owner_staff_id,
        }  # fmt: skip


@dataclass
class Agenda:
    """The ranked items of one day, and what was left off."""

    day: date
    items: list[AgendaItem]
    provisional_holidays: bool  # the statutory holidays of the coming days are a guess
    more: int = 0  # candidates beyond ``limit``
    counts: dict[str, int] = field(default_factory=dict)  # candidates by kind, before the cap
    unavailable: list[str] = field(default_factory=list)  # sources whose module is missing

    def as_json(self, texts: Sequence[str] | None = None) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "items": [i.as_json(None if texts is None else texts[n])
                      for n, i in enumerate(self.items)],
            "more": self.more, "counts": self.counts,
            "provisional_holidays": self.provisional_holidays, "unavailable": self.unavailable,
        }  # fmt: skip


@dataclass(frozen=True)
class AgendaQuery:
    """Whose agenda for which day: a staff member's (``staff_id``), a store's, or both."""

    day: date
    staff_id: int | None = None
    store_id: int | None = None
    limit: int = DEFAULT_LIMIT
    zone: str = DEFAULT_ZONE

    @property
    def cap(self) -> int:
        """How many candidates one source yields at most."""
        return max(self.limit, 1) * SOURCE_CAP_FACTOR

    def customer_filter(self) -> list[ColumnElement[bool]]:
        """Conditions on ``Customer`` for the customers in view (never erased ones)."""
        where: list[ColumnElement[bool]] = [Customer.erased_at.is_(None)]
        if self.store_id is not None:
            where.append(Customer.home_store_id == self.store_id)
        if self.staff_id is not None:
            where.append(Customer.owner_staff_id == self.staff_id)
        return where


Source = Callable[[Session, AgendaQuery], Iterable[AgendaItem]]


# -- helpers ------------------------------------------------------------------------------------


def urgency(days_left: int, kind: str) -> float:
    """1 when due today, 1/(1 + days) ahead, up to 2 when overdue (by 14 days), × the kind's
    weight."""
    base = 1.0 + min(-days_left, 14) / 14 if days_left < 0 else 1.0 / (1 + days_left)
    return base * KIND_WEIGHTS.get(kind, 1.0)


def _slow_urgency(days_left: int, kind: str) -> float:
    """For slow deadlines (points, tiers): 1 today, 1/2 in a week, about 1/5 in a month."""
    return KIND_WEIGHTS.get(kind, 1.0) / (1 + max(days_left, 0) / 7)


def item(
    customer_id: int,
    kind: str,
    reason: str,
    params: dict[str, Param],
    due_on: date,
    day: date,
    *,
    customer_name: str = "",
    value: float = 0.0,
    urgency_value: float | None = None,
    task_id: int | None = None,
    commitment_id: int | None = None,
    owner_staff_id: int | None = None,
) -> AgendaItem:
    """An item with its urgency from the days left (sources use this; value comes later)."""
    u = urgency((due_on - day).days, kind) if urgency_value is None else urgency_value
    return AgendaItem(customer_id, customer_name, kind, reason, params, u, value, 0.0, due_on,
                      task_id, commitment_id, owner_staff_id)  # fmt: skip


def _json(value: Param) -> str | int | float:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for n in range(0, len(ids), _CHUNK):
        yield ids[n : n + _CHUNK]


def _fen(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


def _day_start(day: date, zone: str) -> datetime:
    """The instant a business day starts, in UTC."""
    return datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)


def _local_day(at: datetime, zone: str) -> date:
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).date()


def score_months(session: Session, day: date) -> tuple[date | None, date | None]:
    """The latest scoring month on or before ``day`` and the one before it (None: none)."""
    latest = session.execute(
        select(func.max(CustomerScore.month)).where(CustomerScore.month <= day)
    ).scalar()
    if latest is None:
        return None, None
    previous = session.execute(
        select(func.max(CustomerScore.month)).where(CustomerScore.month < latest)
    ).scalar()
    return latest, previous


_FLOORS_KEY = "guanxi.agenda.floors"


def _top_share_floor(values: list[int], count: int, share: float) -> Decimal | None:
    """The least of ``values`` (fen) among the top ``share`` of ``count`` scored customers (all
    of them: prospects count, so "top 10 %" is of the customer base), in yuan; the least value
    when fewer customers have one; None when nobody has one."""
    if not values:
        return None
    values.sort(reverse=True)
    return Decimal(values[min(max(int(count * share) - 1, 0), len(values) - 1)]) / 100


def value_floors(
    session: Session, month: date, store_id: int | None = None
) -> tuple[Decimal | None, Decimal | None]:
    """(VIP floor, win-back floor) of a scoring month among a store's customers (None: the
    shop's): the least 12-month CLV in the top ``VIP_SHARE`` of the scored customers, and the
    least past spend in their top ``WINBACK_SHARE``. One pass over the month's scores of the
    store, kept for the rest of the session."""
    key = (month, store_id)
    cached = session.info.setdefault(_FLOORS_KEY, {})
    if key in cached:
        return cast(tuple[Decimal | None, Decimal | None], cached[key])
    stmt = select(type_coerce(CustomerScore.clv_12m, BigInteger),
                  type_coerce(CustomerScore.total_spend, BigInteger))  # fmt: skip
    if store_id is None:
        stmt = stmt.where(CustomerScore.month == month)
    else:
        stmt = stmt.join(Customer, Customer.id == CustomerScore.customer_id).where(
            CustomerScore.month == month, Customer.home_store_id == store_id
        )
    count = 0
    clvs: list[int] = []
    spends: list[int] = []
    for clv, spend in session.execute(stmt):
        count += 1
        if clv is not None and clv > 0:
            clvs.append(int(clv))
        if spend is not None and spend > 0:
            spends.append(int(spend))
    floors = (_top_share_floor(clvs, count, VIP_SHARE),
              _top_share_floor(spends, count, WINBACK_SHARE))  # fmt: skip
    cached[key] = floors
    return floors


# -- sources: occasions -------------------------------------------------------------------------

_BIRTHDAY = (gettext_noop("Birthday today."), gettext_noop("Birthday on {date}."))
_BIRTHDAY_YEARS = (gettext_noop("Birthday today: turns {years}."),
                   gettext_noop("Birthday on {date}: turns {years}."))  # fmt: skip
_ANNIVERSARY = (gettext_noop("Anniversary today: {label}."),
                gettext_noop("Anniversary on {date}: {label}."))  # fmt: skip
_FIRST_PURCHASE = (
    gettext_noop("Today is {years} years since the first purchase."),
    gettext_noop("{years} years since the first purchase on {date}."),
)
_MEMBERSHIP = (
    gettext_noop("Today is {years} years of membership."),
    gettext_noop("{years} years of membership on {date}."),
)
_FESTIVAL = (
    gettext_noop("{festival} today: greet one of the most valuable customers."),
    gettext_noop("{festival} on {date}: greet one of the most valuable customers."),
)


def _pick(pair: tuple[str, str], on: date, day: date) -> str:
    return pair[0] if on == day else pair[1]


def _greeted_by_template(rule: Any) -> bool:
    return getattr(rule, "template_id", None) is not None


def occasion_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Birthdays and anniversaries within each occasion's lead days (not greeted by a template)."""
    from guanxi.care.occasions import customer_occasions, occasion_rules

    rules = occasion_rules(session)
    personal = {k: r for k, r in rules.items()
                if k in ("birthday", "anniversary", "first_purchase", "membership") and r.observed
                and not _greeted_by_template(r)}  # fmt: skip
    if not personal:
        return
    lead = max(r.lead_days for r in personal.values())
    found = [o for o in customer_occasions(session, q.day, q.day + timedelta(days=lead),
                                           store_id=q.store_id)
             if o.occasion in personal
             and 0 <= (o.on - q.day).days <= personal[o.occasion].lead_days]  # fmt: skip
    if q.staff_id is not None and found:
        mine = _filter_ids(session, q, {o.customer_id for o in found})
        found = [o for o in found if o.customer_id in mine]
    for o in found:
        params: dict[str, Param] = {"date": o.on}
        if o.occasion == "birthday":
            pair = _BIRTHDAY
            if o.years:
                pair, params["years"] = _BIRTHDAY_YEARS, o.years
            yield item(o.customer_id, "birthday", _pick(pair, o.on, q.day), params, o.on, q.day)
        elif o.occasion in ("first_purchase", "membership"):
            params["years"] = o.years or 1
            pair = _FIRST_PURCHASE if o.occasion == "first_purchase" else _MEMBERSHIP
            yield item(o.customer_id, "anniversary", _pick(pair, o.on, q.day), params, o.on,
                       q.day)  # fmt: skip
        else:
            params["label"] = o.label
            yield item(o.customer_id, "anniversary", _pick(_ANNIVERSARY, o.on, q.day), params,
                       o.on, q.day)  # fmt: skip


def _filter_ids(session: Session, q: AgendaQuery, ids: Collection[int]) -> set[int]:
    """Those of ``ids`` that are in view."""
    kept: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        kept.update(session.execute(
            select(Customer.id).where(Customer.id.in_(chunk), *q.customer_filter())
        ).scalars())  # fmt: skip
    return kept


def top_customers(session: Session, q: AgendaQuery, n: int) -> list[int]:
    """The ``n`` most valuable customers in view: by the latest CLV score, else by the net
    spend of the last 12 months."""
    latest, _ = score_months(session, q.day)
    if latest is not None:
        ids = list(session.execute(
            select(CustomerScore.customer_id)
            .join(Customer, Customer.id == CustomerScore.customer_id)
            .where(CustomerScore.month == latest, CustomerScore.clv_12m.is_not(None),
                   CustomerScore.clv_12m > 0, *q.customer_filter())
            .order_by(CustomerScore.clv_12m.desc(), CustomerScore.customer_id)
            .limit(n)
        ).scalars())  # fmt: skip
        if ids:
            return ids
    start = _day_start(add_months(q.day + timedelta(days=1), -12), q.zone)
    end = _day_start(q.day + timedelta(days=1), q.zone)
    spend = func.sum(type_coerce(Purchase.total_amount, BigInteger))
    return list(session.execute(
        select(Purchase.customer_id)
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(Purchase.purchased_at >= start, Purchase.purchased_at < end, *q.customer_filter())
        .group_by(Purchase.customer_id)
        .order_by(spend.desc(), Purchase.customer_id)
        .limit(n)
    ).scalars())  # fmt: skip


def festival_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Festivals within their lead days, for the ``FESTIVAL_TOP`` most valuable customers."""
    from guanxi.care.calendar import festivals_between
    from guanxi.care.occasions import occasion_rules

    rules = occasion_rules(session)
    observed = {k: r for k, r in rules.items() if k in FESTIVAL_LABELS and r.observed
                and not _greeted_by_template(r)}  # fmt: skip
    if not observed:
        return
    lead = max(r.lead_days for r in observed.values())
    coming = [(key, on) for key, on in festivals_between(q.day, q.day + timedelta(days=lead))
              if key in observed and 0 <= (on - q.day).days <= observed[key].lead_days]  # fmt: skip
    if not coming:
        return
    top = top_customers(session, q, FESTIVAL_TOP)
    for key, on in coming:
        for customer_id in top:
            yield item(customer_id, "festival", _pick(_FESTIVAL, on, q.day),
                       {"festival": key, "date": on}, on, q.day)  # fmt: skip


# -- sources: tasks and promises ----------------------------------------------------------------

_TASK_REASONS: dict[str, tuple[str, str]] = {
    "followup": (gettext_noop("Follow-up due {date}: {title}"),
                 gettext_noop("Follow-up overdue since {date}: {title}")),
    "greeting": (gettext_noop("Greeting due {date}: {title}"),
                 gettext_noop("Greeting overdue since {date}: {title}")),
    "winback": (gettext_noop("Win-back call due {date}: {title}"),
                gettext_noop("Win-back call overdue since {date}: {title}")),
    "commitment": (gettext_noop("Promise reminder due {date}: {title}"),
                   gettext_noop("Promise reminder overdue since {date}: {title}")),
    "other": (gettext_noop("Task due {date}: {title}"),
              gettext_noop("Task overdue since {date}: {title}")),
}  # fmt: skip
_TASK_KINDS = {"followup": "followup", "greeting": "task", "winback": "task",
               "commitment": "task", "other": "task"}  # fmt: skip
_PROMISE = (gettext_noop("Promise due {date}: {promise}"),
            gettext_noop("Promise overdue since {date}: {promise}"))  # fmt: skip


def task_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Open care tasks due by today (overdue ones too), assigned to the staff member / store."""
    from guanxi.care.tasks import open_tasks

    for t in open_tasks(session, until=q.day, staff_id=q.staff_id, store_id=q.store_id):
        kind = str(t.kind)
        pair = _TASK_REASONS.get(kind, _TASK_REASONS["other"])
        reason = pair[1] if t.due_on < q.day else pair[0]
        yield item(t.customer_id, _TASK_KINDS.get(kind, "task"), reason,
                   {"date": t.due_on, "title": t.title}, t.due_on, q.day,
                   customer_name=t.customer_name or "", task_id=t.id,
                   commitment_id=getattr(t, "commitment_id", None),
                   owner_staff_id=t.assignee_staff_id)  # fmt: skip


def commitment_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Open promises whose reminder has started (due within their remind days) or are overdue."""
    from guanxi.care.commitments import due_commitments

    for c in due_commitments(session, until=q.day, staff_id=q.staff_id, store_id=q.store_id):
        reason = _PROMISE[1] if c.due_on < q.day else _PROMISE[0]
        yield item(c.customer_id, "commitment", reason, {"date": c.due_on, "promise": c.promise},
                   c.due_on, q.day, customer_name=getattr(c, "customer_name", "") or "",
                   commitment_id=c.id,
                   owner_staff_id=getattr(c, "owner_staff_id", None))  # fmt: skip


# -- sources: scores ----------------------------------------------------------------------------

_VIP = gettext_noop(
    "Valuable customer at risk: P(alive) fell from {before} to {after} (12-month value {clv})."
)
_WINBACK = {
    "lapsed": gettext_noop(
        "Lapsed customer worth winning back: spent {spend} in all, last purchase {days} days ago."
    ),
    "lost": gettext_noop(
        "Lost customer worth winning back: spent {spend} in all, last purchase {days} days ago."
    ),
}


def vip_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """High-CLV customers whose P(alive) fell by ``VIP_DROP`` or more since the previous month."""
    latest, previous = score_months(session, q.day)
    if latest is None or previous is None:
        return
    floor, _ = value_floors(session, latest, q.store_id)
    if floor is None:
        return
    now, before = CustomerScore, aliased(CustomerScore)
    rows = session.execute(
        select(now.customer_id, now.clv_12m, now.p_alive, before.p_alive)
        .join(before, and_(before.customer_id == now.customer_id, before.month == previous))
        .join(Customer, Customer.id == now.customer_id)
        .where(now.month == latest, now.clv_12m >= floor, now.p_alive.is_not(None),
               before.p_alive.is_not(None), before.p_alive - now.p_alive >= VIP_DROP,
               *q.customer_filter())
        .order_by(now.clv_12m.desc(), now.customer_id)
        .limit(q.cap)
    )  # fmt: skip
    for customer_id, clv, p_now, p_before in rows:
        was, now_p = float(p_before or 0.0), float(p_now or 0.0)
        drop = was - now_p
        yield item(customer_id, "vip_at_risk", _VIP,
                   {"before": round(was, 2), "after": round(now_p, 2),
                    "clv": Decimal(clv or 0)},
                   q.day, q.day,
                   urgency_value=KIND_WEIGHTS["vip_at_risk"] * min(1.0, 0.3 + drop))  # fmt: skip


def winback_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Lapsed or lost customers whose past spend is in the top ``WINBACK_SHARE`` of buyers."""
    latest, _ = score_months(session, q.day)
    if latest is None:
        return
    _, floor = value_floors(session, latest, q.store_id)
    if floor is None:
        return
    rows = session.execute(
        select(CustomerScore.customer_id, CustomerScore.rung, CustomerScore.total_spend,
               CustomerScore.days_since_last)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(CustomerScore.month == latest, CustomerScore.rung.in_(("lapsed", "lost")),
               CustomerScore.total_spend >= floor, *q.customer_filter())
        .order_by(CustomerScore.total_spend.desc(), CustomerScore.customer_id)
        .limit(q.cap)
    )  # fmt: skip
    for customer_id, rung, spend, days in rows:
        yield item(customer_id, "winback", _WINBACK[str(rung)],
                   {"spend": Decimal(spend), "days": int(days or 0)}, q.day, q.day,
                   value=float(spend), urgency_value=KIND_WEIGHTS["winback"])  # fmt: skip


# -- sources: loyalty ---------------------------------------------------------------------------

_POINTS = (gettext_noop("{points} points expire tonight: suggest a reward."),
           gettext_noop("{points} points expire after {date}: suggest a reward."))  # fmt: skip


def points_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Customers with points left in lots expiring within ``POINTS_DAYS`` days (the last valid
    day of a lot is its ``expires_on``)."""
    used = (
        select(func.coalesce(func.sum(PointsAllocation.points), 0))
        .where(PointsAllocation.lot_entry_id == PointsEntry.id)
        .scalar_subquery()
    )
    left = PointsEntry.points - used
    lots = (
        select(PointsEntry.customer_id.label("customer_id"), left.label("left"),
               PointsEntry.expires_on.label("expires_on"))
        .join(Customer, Customer.id == PointsEntry.customer_id)
        .where(PointsEntry.points > 0, PointsEntry.expires_on >= q.day,
               PointsEntry.expires_on <= q.day + timedelta(days=POINTS_DAYS),
               *q.customer_filter())
        .subquery()
    )  # fmt: skip
    total = func.sum(lots.c.left)
    rows = session.execute(
        select(lots.c.customer_id, total, func.min(lots.c.expires_on))
        .where(lots.c.left > 0)
        .group_by(lots.c.customer_id)
        .order_by(total.desc(), lots.c.customer_id)
        .limit(q.cap)
    )  # fmt: skip
    for customer_id, points, first in rows:
        yield item(customer_id, "points_expiring", _pick(_POINTS, first, q.day),
                   {"points": int(points), "date": first}, first, q.day,
                   urgency_value=_slow_urgency((first - q.day).days,
                                               "points_expiring"))  # fmt: skip


_TIER = (gettext_noop("Drops from {tier} to {lower} tonight unless they spend {missing} more."),
         gettext_noop("Drops from {tier} to {lower} on {date} unless they spend {missing} "
                      "more."))  # fmt: skip


def tier_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Members whose rolling 12-month spend will fall below their tier within ``TIER_DAYS``
    days as old purchases leave the window (spend basis; the points basis makes no items)."""
    tiers = defined_tiers(session)
    if len(tiers) < 2 or basis_of(tiers) is not Basis.SPEND:
        return
    by_key = {t.key: n for n, t in enumerate(tiers)}
    upper = [t.key for t in tiers[1:]]
    horizon = q.day + timedelta(days=TIER_DAYS)
    end = _day_start(q.day + timedelta(days=1), q.zone)  # purchases up to today count
    start_now = _day_start(add_months(q.day + timedelta(days=1), -12), q.zone)
    start_then = _day_start(add_months(horizon + timedelta(days=1), -12), q.zone)
    fen = type_coerce(Purchase.total_amount, BigInteger)
    refund = type_coerce(PurchaseReturn.refund_amount, BigInteger)
    mine = Purchase.customer_id == CustomerTier.customer_id

    def spent(since: datetime) -> Any:  # per holder, through the (customer, time) index
        return (
            select(func.coalesce(func.sum(fen), 0))
            .where(mine, Purchase.purchased_at >= since, Purchase.purchased_at < end)
            .scalar_subquery()
        )

    def refunded(since: datetime) -> Any:
        return (
            select(func.coalesce(func.sum(refund), 0))
            .select_from(Purchase)
            .join(PurchaseReturn, PurchaseReturn.purchase_id == Purchase.id)
            .where(mine, Purchase.purchased_at >= since, Purchase.purchased_at < end,
                   PurchaseReturn.returned_at < end)
            .scalar_subquery()
        )  # fmt: skip

    holders = session.execute(
        select(CustomerTier.customer_id, CustomerTier.tier_key, CustomerTier.since,
               spent(start_now) - refunded(start_now), spent(start_then) - refunded(start_then))
        .join(Customer, Customer.id == CustomerTier.customer_id)
        .where(CustomerTier.tier_key.in_(upper), *q.customer_filter())
    )  # fmt: skip
    at_risk: dict[int, tuple[int, date, int, int]] = {}  # customer -> tier index, since, now, then
    for customer_id, key, since, now_fen, then_fen in holders:
        index = by_key[str(key)]
        if Decimal(int(then_fen or 0)) / 100 < tiers[index].min_spend:
            at_risk[int(customer_id)] = (index, since, int(now_fen or 0), int(then_fen or 0))
    if not at_risk:
        return
    still = sorted(c for c, (index, _, now_fen, _) in at_risk.items()
                   if now_fen >= tiers[index].min_spend * 100)  # fmt: skip
    leaving = _leaving_purchases(session, still, start_now, start_then, end)
    found: list[AgendaItem] = []
    for customer_id, (index, since, now_fen, then_fen) in at_risk.items():
        tier = tiers[index]
        minimum = int(tier.min_spend * 100)
        drop_on = q.day
        if now_fen >= minimum:  # still qualifies today: when does it stop?
            left = now_fen
            for at, fen_amount in leaving.get(customer_id, []):
                left -= fen_amount
                if left < minimum:
                    drop_on = add_months(_local_day(at, q.zone), 12)
                    break
        grace = tier.grace_days if tier.grace_days is not None else DEFAULT_GRACE_DAYS
        due = max(drop_on, since + timedelta(days=grace), q.day)
        if due > horizon:
            continue
        lower = qualifying_tier(tiers, Decimal(then_fen) / 100)
        found.append(item(customer_id, "tier_downgrade", _pick(_TIER, due, q.day),
                          {"tier": tier.name, "lower": lower.name, "date": due,
                           "missing": _fen(minimum - then_fen)},
                          due, q.day,
                          urgency_value=_slow_urgency((due - q.day).days,
                                                      "tier_downgrade")))  # fmt: skip
    found.sort(key=lambda i: (i.due_on, i.customer_id))
    yield from found[: q.cap]


def _leaving_purchases(
    session: Session, ids: Sequence[int], start: datetime, until: datetime, end: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    """Per customer, the purchases in [start, until) with their net amounts (fen), oldest first:
    the ones that leave the rolling window in the coming days."""
    out: dict[int, list[tuple[datetime, int]]] = {}
    refunded = (
        select(func.coalesce(func.sum(type_coerce(PurchaseReturn.refund_amount, BigInteger)), 0))
        .where(PurchaseReturn.purchase_id == Purchase.id, PurchaseReturn.returned_at < end)
        .scalar_subquery()
    )
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Purchase.customer_id, Purchase.purchased_at,
                   type_coerce(Purchase.total_amount, BigInteger) - refunded)
            .where(Purchase.customer_id.in_(chunk), Purchase.purchased_at >= start,
                   Purchase.purchased_at < until)
            .order_by(Purchase.customer_id, Purchase.purchased_at)
        )  # fmt: skip
        for customer_id, at, fen_amount in rows:
            out.setdefault(int(customer_id), []).append((at, int(fen_amount or 0)))
    return out


def complaint_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Open complaints near or past a deadline of their SLA (``guanxi.feedback``)."""
    from guanxi.feedback.escalation import complaint_items as items

    return iter(items(session, q))


def service_step_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Steps of customised service plans due within days or overdue (``guanxi.club``)."""
    from guanxi.club.service_plans import service_step_items as items

    return iter(items(session, q))


def event_items(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
    """Confirmed guests of member events in the next days, to remind (``guanxi.club``)."""
    from guanxi.club.engagement import event_items as items

    return iter(items(session, q))


AGENDA_SOURCES: list[Source] = [
    occasion_items,
    festival_items,
    task_items,
    commitment_items,
    vip_items,
    winback_items,
    points_items,
    tier_items,
    complaint_items,
    service_step_items,
    event_items,
]
"""Every source of agenda items, in order (the last three read complaints, service plans and
events from ``guanxi.feedback`` and ``guanxi.club``)."""


# -- building -----------------------------------------------------------------------------------

_GREETINGS = ("birthday", "anniversary", "festival")
_GREETING_TASK = frozenset(_TASK_REASONS["greeting"])


@dataclass(frozen=True)
class _Customer:
    name: str
    owner_staff_id: int | None
    value: float


def customer_values(session: Session, ids: Collection[int], day: date, zone: str) -> dict[
    int, _Customer
]:  # fmt: skip
    """Name, account owner and value of each customer: the latest CLV score, else the net
    spend of the last 12 months (a few set-based queries, in chunks)."""
    latest, _ = score_months(session, day)
    found: dict[int, _Customer] = {}
    no_score: list[int] = []
    ordered = sorted(ids)
    for chunk in _chunks(ordered):
        on = and_(CustomerScore.customer_id == Customer.id, CustomerScore.month == latest)
        stmt = (
            select(Customer.id, Customer.name, Customer.owner_staff_id, CustomerScore.clv_12m)
            .outerjoin(CustomerScore, on)
            .where(Customer.id.in_(chunk))
        )
        for cid, name, owner, clv in session.execute(stmt):
            found[int(cid)] = _Customer(name, owner, float(clv) if clv is not None else 0.0)
            if clv is None:
                no_score.append(int(cid))
    if no_score:
        start = _day_start(add_months(day + timedelta(days=1), -12), zone)
        end = _day_start(day + timedelta(days=1), zone)
        spent: dict[int, int] = {}
        for chunk in _chunks(no_score):
            for cid, fen in session.execute(
                select(Purchase.customer_id, func.sum(type_coerce(Purchase.total_amount,
                                                                  BigInteger)))
                .where(Purchase.customer_id.in_(chunk), Purchase.purchased_at >= start,
                       Purchase.purchased_at < end)
                .group_by(Purchase.customer_id)
            ):  # fmt: skip
                spent[int(cid)] = int(fen or 0)
            for cid, fen in session.execute(
                select(Purchase.customer_id,
                       func.sum(type_coerce(PurchaseReturn.refund_amount, BigInteger)))
                .join(Purchase, Purchase.id == PurchaseReturn.purchase_id)
                .where(Purchase.customer_id.in_(chunk), Purchase.purchased_at >= start,
                       Purchase.purchased_at < end, PurchaseReturn.returned_at < end)
                .group_by(Purchase.customer_id)
            ):  # fmt: skip
                spent[int(cid)] = spent.get(int(cid), 0) - int(fen or 0)
        for cid in no_score:
            c = found[cid]
            found[cid] = dataclasses.replace(c, value=max(spent.get(cid, 0), 0) / 100)
    return found


def _zone(session: Session, store_id: int | None, zone: str | None) -> str:
    if zone:
        return zone
    if store_id is not None:
        tz = session.execute(select(Store.timezone).where(Store.id == store_id)).scalar()
        if tz:
            return str(tz)
    return DEFAULT_ZONE


def _provisional(day: date, horizon: date) -> bool:
    """Whether the statutory holidays of the coming days are only a guess (no notice yet)."""
    try:
        from guanxi.care.holidays import coverage
    except ImportError:
        return False
    return any(coverage(year) == "provisional" for year in {day.year, horizon.year})


def _source_name(source: Source) -> str:
    return getattr(source, "__name__", repr(source))


def collect(session: Session, q: AgendaQuery, sources: Sequence[Source]) -> tuple[
    list[AgendaItem], list[str]
]:  # fmt: skip
    """Every source's items for ``q`` (a source whose module is missing is skipped and named)."""
    items: list[AgendaItem] = []
    unavailable: list[str] = []
    for source in sources:
        try:
            items.extend(source(session, q))
        except ImportError:
            unavailable.append(_source_name(source))
    return items, unavailable


def _dedupe(items: list[AgendaItem]) -> list[AgendaItem]:
    """One item per (customer, kind, due day, task, promise); no greeting item where an open
    greeting task exists, no win-back item for a customer already flagged as a VIP at risk, no
    promise item where a task about that promise is due."""
    greeting_tasks = {i.customer_id for i in items
                      if i.task_id is not None and i.reason in _GREETING_TASK}  # fmt: skip
    vips = {i.customer_id for i in items if i.kind == "vip_at_risk"}
    task_promises = {i.commitment_id for i in items if i.task_id is not None}
    seen: set[tuple[Any, ...]] = set()
    kept: list[AgendaItem] = []
    for i in items:
        if i.kind in _GREETINGS and i.customer_id in greeting_tasks:
            continue
        if i.kind == "winback" and i.customer_id in vips:
            continue
        if i.task_id is None and i.kind == "commitment" and i.commitment_id in task_promises:
            continue  # the task about this promise is on the agenda already
        key = (i.customer_id, i.kind, i.due_on, i.task_id, i.commitment_id,
               i.params.get("festival"))  # fmt: skip
        if key in seen:
            continue
        seen.add(key)
        kept.append(i)
    return kept


def rank(
    items: Iterable[AgendaItem],
    customers: Mapping[int, _Customer] | None = None,
    limit: int | None = None,
) -> list[AgendaItem]:
    """The items best first (by value × urgency), the first ``limit`` of them (None: all),
    with value, score, names and account owners filled in."""
    known = customers or {}
    scored: list[tuple[float, float, AgendaItem]] = []
    for i in items:
        c = known.get(i.customer_id)
        value = max(i.value, c.value if c else 0.0)
        scored.append((max(value, VALUE_FLOOR) * i.urgency, value, i))
    scored.sort(key=lambda t: (-t[0], t[2].due_on, t[2].customer_id, t[2].kind))
    ranked: list[AgendaItem] = []
    for score, value, i in scored if limit is None else scored[:limit]:
        c = known.get(i.customer_id)
        ranked.append(dataclasses.replace(
            i, value=value, score=score,
            customer_name=i.customer_name or (c.name if c else ""),
            owner_staff_id=i.owner_staff_id if i.owner_staff_id is not None
            else (c.owner_staff_id if c else None),
        ))  # fmt: skip
    return ranked


def build_agenda(
    db: Database | Session,
    day: date,
    *,
    staff_id: int | None = None,
    store_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    zone: str | None = None,
    sources: Sequence[Source] | None = None,
) -> Agenda:
    """The agenda of ``day`` for a staff member (``staff_id``: the customers they look after,
    their tasks and promises) and/or a store (``store_id``: its customers); neither: the shop.

    Ranked by value × urgency and capped at ``limit`` (``Agenda.more`` counts the rest).
    ``zone`` is the time zone of business dates (default: the store's, else Asia/Shanghai).
    """
    if isinstance(db, Session):
        return _build(db, day, staff_id, store_id, limit, zone, sources)
    with db.read() as session:
        return _build(session, day, staff_id, store_id, limit, zone, sources)


def _build(
    session: Session,
    day: date,
    staff_id: int | None,
    store_id: int | None,
    limit: int,
    zone: str | None,
    sources: Sequence[Source] | None,
) -> Agenda:
    q = AgendaQuery(day, staff_id, store_id, max(limit, 0), _zone(session, store_id, zone))
    items, unavailable = collect(session, q, AGENDA_SOURCES if sources is None else sources)
    items = _dedupe(items)
    counts: dict[str, int] = {}
    for i in items:
        counts[i.kind] = counts.get(i.kind, 0) + 1
    values = customer_values(session, {i.customer_id for i in items}, day, q.zone)
    ranked = rank(items, values, q.limit)
    horizon = day + timedelta(days=max(POINTS_DAYS, TIER_DAYS))
    return Agenda(day, ranked, _provisional(day, horizon),
                  more=max(len(items) - q.limit, 0), counts=counts,
                  unavailable=unavailable)  # fmt: skip


# -- words --------------------------------------------------------------------------------------


def _fill(
    params: Mapping[str, Param],
    translate: Callable[[str], str],
    fmt_date: Callable[[date], str],
    fmt_money: Callable[[Decimal], str],
) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if key in _LABELLED and isinstance(value, str):
            label = _LABELLED[key].get(value)
            out[key] = translate(label) if label else value
        elif isinstance(value, date):
            out[key] = fmt_date(value)
        elif isinstance(value, Decimal):
            out[key] = fmt_money(value)
        elif isinstance(value, float):
            out[key] = f"{value:.2f}"
        else:
            out[key] = str(value)
    return out


def english(i: AgendaItem) -> str:
    """The reason in English: ISO dates, ¥ amounts."""
    values = _fill(i.params, lambda s: s, date.isoformat, lambda d: f"¥{d:,.2f}")
    try:
        return i.reason.format(**values)
    except (KeyError, IndexError, ValueError):
        return i.reason


def reason_text(i: AgendaItem, language: Language) -> str:
    """The reason translated into ``language`` with its placeholders filled in its formats."""
    translate = language.translations.gettext
    values = _fill(i.params, translate, language.date, language.money)
    try:
        return translate(i.reason).format(**values)
    except (KeyError, IndexError, ValueError):  # a translation that broke a placeholder
        return english(i)


def kind_label(kind: str, language: Language | None = None) -> str:
    """The kind's label (translated when a language is given)."""
    label = KIND_LABELS.get(kind, kind)
    return language.translations.gettext(label) if language is not None else label
