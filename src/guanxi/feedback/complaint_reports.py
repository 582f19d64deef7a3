"""Complaint reports: volume by category and month, SLA compliance, time to first response,
and the recovery rate against a comparison group. Scoped to a store (None: every store).

Definitions (docs/complaints.md explains them for managers):

* **Volume**: complaints opened in each of the last 12 calendar months (the shop's zone), by
  category; one SQL ``GROUP BY`` on a ``CASE`` of the month bounds.
* **SLA compliance** over complaints opened in those 12 months: first responses within SLA =
  answered by the deadline / complaints whose first-response clock is decided (answered, or
  unanswered past the deadline); resolutions within SLA likewise (a reopened complaint counts
  by its latest resolution).
* **Time to first response**: median and 90th percentile (nearest rank) of opened → first
  response, in hours, over the answered complaints of the 12 months. Portable SQL has no
  percentile, so the durations are read (one column, one row per answered complaint).
* **Recovery rate**: complainants (customers whose complaint was resolved in the 12 months and
  at least 90 days ago; a customer counts once, by their first such resolution) who bought
  again within 90 days after the resolution. **Comparison group**: for each calendar month in
  which complainants were resolved, customers who never complained and bought in that month;
  they "bought again" when they bought within the 90 days after the month ended. Each month's
  rate is weighted by the number of complainants resolved in it, so both groups are active
  buyers of the same months and the comparison is not skewed by season.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from guanxi.domain.dates import add_months
from guanxi.feedback.complaints import CATEGORIES
from guanxi.storage.models import Complaint, Customer, Purchase

MONTHS = 12
RECOVERY_DAYS = 90


@dataclass(frozen=True)
class Share:
    """``part`` of ``whole``; ``rate`` None when the whole is 0."""

    part: int
    whole: int

    @property
    def rate(self) -> float | None:
        return None if self.whole == 0 else self.part / self.whole


@dataclass(frozen=True)
class ComplaintReport:
    """The figures of the report page and ``guanxi complaints report``."""

    months: list[date]  # first days of the 12 months, oldest first
    volume: dict[str, list[int]]  # category -> count per month
    first_response_sla: Share
    resolution_sla: Share
    first_response_median_h: float | None
    first_response_p90_h: float | None
    complainants: Share  # bought again within 90 days of the resolution
    comparison: Share  # matched non-complainants who bought again (weighted counts)
    comparison_rate: float | None
    totals: list[int] = field(default_factory=list)  # all categories per month

    def as_json(self) -> dict[str, Any]:
        return {
            "months": [m.isoformat() for m in self.months], "volume": self.volume,
            "first_response_sla": _share(self.first_response_sla),
            "resolution_sla": _share(self.resolution_sla),
            "first_response_hours": {"median": self.first_response_median_h,
                                     "p90": self.first_response_p90_h},
            "recovery": {"complainants": _share(self.complainants),
                         "comparison": _share(self.comparison),
                         "comparison_rate": self.comparison_rate},
        }  # fmt: skip


def _share(s: Share) -> dict[str, Any]:
    return {"part": s.part, "whole": s.whole, "rate": s.rate}


def month_bounds(today: date, zone: str, months: int = MONTHS) -> list[datetime]:
    """``months`` + 1 UTC instants: the starts of the last ``months`` local months, then the
    start of the next month."""
    first = today.replace(day=1)
    starts = [add_months(first, -n) for n in range(months - 1, -2, -1)]
    tz = ZoneInfo(zone)
    return [datetime.combine(d, time(), tz).astimezone(UTC) for d in starts]


def nearest_rank(values: list[float], share: float) -> float | None:
    """The ``share`` percentile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil
    return ordered[int(rank) - 1]


def _scoped(scope: int | None) -> list[Any]:
    return [] if scope is None else [Complaint.store_id == scope]


def compute_volume(session: Session, bounds: list[datetime], scope: int | None
                   ) -> dict[str, list[int]]:  # fmt: skip
    bucket = case(*[(Complaint.opened_at < b, n - 1) for n, b in enumerate(bounds) if n > 0])
    rows = session.execute(
        select(bucket, Complaint.category, func.count())
        .where(Complaint.opened_at >= bounds[0], Complaint.opened_at < bounds[-1],
               *_scoped(scope))
        .group_by(bucket, Complaint.category)
    )  # fmt: skip
    volume = {c: [0] * (len(bounds) - 1) for c in CATEGORIES}
    for month, category, n in rows:
        volume.setdefault(category, [0] * (len(bounds) - 1))[int(month)] += int(n)
    return volume


def compute_sla(session: Session, since: datetime, now: datetime, scope: int | None
                ) -> tuple[Share, Share]:  # fmt: skip
    responded = Complaint.first_response_at.is_not(None)
    resolved = and_(Complaint.status.in_(("resolved", "closed")),
                    Complaint.resolved_at.is_not(None))  # fmt: skip

    def one(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = session.execute(
        select(
            one(and_(responded, Complaint.first_response_at <= Complaint.first_response_due_at)),
            one(or_(responded, Complaint.first_response_due_at <= now)),
            one(and_(resolved, Complaint.resolved_at <= Complaint.resolution_due_at)),
            one(or_(resolved, Complaint.resolution_due_at <= now)),
        ).where(Complaint.opened_at >= since, Complaint.opened_at <= now, *_scoped(scope))
    ).one()  # fmt: skip
    return Share(int(row[0]), int(row[1])), Share(int(row[2]), int(row[3]))


def compute_response_hours(session: Session, since: datetime, now: datetime,
                           scope: int | None) -> list[float]:  # fmt: skip
    rows = session.execute(
        select(Complaint.opened_at, Complaint.first_response_at)
        .where(Complaint.opened_at >= since, Complaint.opened_at <= now,
               Complaint.first_response_at.is_not(None), *_scoped(scope))
    )  # fmt: skip
    return [max((done - opened).total_seconds(), 0) / 3600 for opened, done in rows if done]


def compute_complainants(session: Session, bounds: list[datetime], now: datetime,
                         scope: int | None) -> tuple[Share, dict[int, int]]:  # fmt: skip
    """(complainants who bought again, complainants per month index) for the recovery rate."""
    since = bounds[0]
    cutoff = now - timedelta(days=RECOVERY_DAYS)
    first = (
        select(Complaint.customer_id.label("cid"), func.min(Complaint.resolved_at).label("at"))
        .join(Customer, Customer.id == Complaint.customer_id)
        .where(Complaint.status.in_(("resolved", "closed")), Complaint.resolved_at >= since,
               Complaint.resolved_at <= cutoff, Customer.erased_at.is_(None), *_scoped(scope))
        .group_by(Complaint.customer_id)
        .subquery()
    )  # fmt: skip
    after = (
        select(func.min(Purchase.purchased_at))
        .where(Purchase.customer_id == first.c.cid, Purchase.purchased_at > first.c.at)
        .scalar_subquery()
    )
    rows = session.execute(select(first.c.cid, first.c.at, after)).all()
    back = 0
    for _cid, at, nxt in rows:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if nxt is not None:
            nxt = nxt if isinstance(nxt, datetime) else datetime.fromisoformat(str(nxt))
            nxt = nxt if nxt.tzinfo else nxt.replace(tzinfo=UTC)
            back += nxt - at <= timedelta(days=RECOVERY_DAYS)
    months: dict[int, int] = defaultdict(int)
    for _cid, at, _nxt in rows:
        months[_month_index(at if at.tzinfo else at.replace(tzinfo=UTC), bounds)] += 1
    return Share(back, len(rows)), dict(months)


def _month_index(at: datetime, bounds: list[datetime]) -> int:
    """Which month (0: the oldest) the instant falls in."""
    return max(n for n, b in enumerate(bounds[:-1]) if at >= b or n == 0)


def compute_comparison(session: Session, bounds: list[datetime], weights: dict[int, int],
                       now: datetime, scope: int | None) -> tuple[Share, float | None]:  # fmt: skip
    """Weighted (bought again, buyers) of the matched non-complainants, and the rate."""
    complained = select(Complaint.id).where(Complaint.customer_id == Purchase.customer_id)
    weighted_part = weighted_whole = 0.0
    part = whole = 0
    for n, weight in sorted(weights.items()):
        start, end = bounds[n], bounds[n + 1]
        if end + timedelta(days=RECOVERY_DAYS) > now:
            continue  # the month's follow-up window is not over
        later = _bought_after(end)
        where = [Purchase.purchased_at >= start, Purchase.purchased_at < end,
                 ~exists(complained), Customer.erased_at.is_(None)]  # fmt: skip
        if scope is not None:
            where.append(Customer.home_store_id == scope)
        buyers, again = session.execute(
            select(func.count(func.distinct(Purchase.customer_id)),
                   func.count(func.distinct(case((exists(later), Purchase.customer_id)))))
            .join(Customer, Customer.id == Purchase.customer_id)
            .where(*where)
        ).one()  # fmt: skip
        if buyers:
            part, whole = part + int(again), whole + int(buyers)
            weighted_part += weight * int(again) / int(buyers)
            weighted_whole += weight
    rate = weighted_part / weighted_whole if weighted_whole else None
    return Share(part, whole), rate


def _bought_after(end: datetime) -> Any:
    """A correlated query: the customer bought in the ``RECOVERY_DAYS`` after ``end``."""
    later = aliased(Purchase)
    return select(later.id).where(
        later.customer_id == Purchase.customer_id,
        later.purchased_at >= end,
        later.purchased_at < end + timedelta(days=RECOVERY_DAYS),
    )


def build_report(
    session: Session, *, today: date, now: datetime, zone: str, scope: int | None
) -> ComplaintReport:
    """The report of the 12 months ending with ``today``'s month."""
    bounds = month_bounds(today, zone)
    since = bounds[0]
    volume = compute_volume(session, bounds, scope)
    first, resolution = compute_sla(session, since, now, scope)
    hours = compute_response_hours(session, since, now, scope)
    complainants, weights = compute_complainants(session, bounds, now, scope)
    comparison, rate = compute_comparison(session, bounds, weights, now, scope)
    months = [b.astimezone(ZoneInfo(zone)).date() for b in bounds[:-1]]
    totals = [sum(v[n] for v in volume.values()) for n in range(len(months))]
    return ComplaintReport(
        months, volume, first, resolution, nearest_rank(hours, 0.5), nearest_rank(hours, 0.9),
        complainants, comparison, rate, totals,
    )  # fmt: skip
