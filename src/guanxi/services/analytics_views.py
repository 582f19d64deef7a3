"""What the analytics pages show: KPIs and chart data from the latest scores and monthly activity.

Everything here reads the stored ``customer_score`` snapshots (written by ``guanxi analytics
run``) and the distinct (customer, month) purchase pairs; no model is fitted while a page loads.
Figures are limited to the viewer's store scope and, optionally, to one store or account owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVarTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Select, func, select, type_coerce
from sqlalchemy.orm import Session

from guanxi.analytics import cohorts, economics, ladder, loyalty_type, pareto, rfm
from guanxi.analytics.features import MonthlyActivity, monthly_activity
from guanxi.analytics.reasons import Reason
from guanxi.domain.text import gettext_noop
from guanxi.services.scoring import utc_offset_minutes
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Customer,
    CustomerScore,
    ModelFit,
    Purchase,
    PurchaseReturn,
    Staff,
    Store,
)

ACTIVE_DAYS = 365  # "active customer": bought within the last year
LEAK_WINDOW_MONTHS = 6  # the leaky bucket's lapse window
COHORT_MONTHS = 12
CLV_BINS = 12
NO_ECONOMICS = gettext_noop(
    "Retention economics need scores with fitted models: run the scoring job once the shop has "
    "repeat buyers."
)


@dataclass(frozen=True)
class Filters:
    """Which customers the figures cover: the viewer's scope, then an optional store/owner."""

    store_scope: int | None = None  # the viewer's one store (None: every store)
    store_id: int | None = None
    owner_staff_id: int | None = None

    @property
    def store(self) -> int | None:
        return self.store_scope if self.store_scope is not None else self.store_id


@dataclass(frozen=True)
class EconomicsInputs:
    """What the owner enters on the page; margin and discount come from the settings."""

    acquisition_cost: float = 200.0
    retention_cost_per_point: float = 1000.0
    gross_margin: float = 0.35
    monthly_discount_rate: float = 0.01


@dataclass(frozen=True)
class Count:
    key: str
    count: int
    share: float  # of the customers counted
    spend_share: float = 0.0  # of their net spend


@dataclass(frozen=True)
class GroupRetention:
    """Retention figures of one store or one account owner."""

    id: int
    name: str
    customers: int
    active: int
    repeat_rate: float
    churn_rate: float  # lapsed / active at the start, over the last 12 months
    mean_clv: float | None


@dataclass(frozen=True)
class Dashboard:
    """Everything the analytics page draws; ``month`` is None before the first scoring run."""

    month: date | None
    computed_on: date | None
    filters: Filters
    kpis: dict[str, float | int | None] = field(default_factory=dict)
    rungs: list[Count] = field(default_factory=list)
    movements: tuple[tuple[str, ...], list[list[int]]] | None = None
    previous_month: date | None = None
    segments: list[Count] = field(default_factory=list)
    segment_grid: list[list[int]] = field(default_factory=list)  # [r-1][fm-1] counts
    china_classes: list[Count] = field(default_factory=list)
    loyalty_types: list[Count] = field(default_factory=list)
    concentration: pareto.Concentration | None = None
    cohort_table: cohorts.CohortTable | None = None
    bucket: cohorts.LeakyBucket | None = None
    clv_histogram: list[tuple[float, float, int]] = field(default_factory=list)
    retention: economics.RetentionTable | None = None
    retention_note: Reason | None = None
    model: dict[str, dict[str, float]] = field(default_factory=dict)
    stores: list[GroupRetention] = field(default_factory=list)
    owners: list[GroupRetention] = field(default_factory=list)


_ACTIVITY_CACHE: dict[tuple[Any, ...], MonthlyActivity] = {}
_ACTIVITY_CACHE_SIZE = 4


def _activity(session: Session, as_of: date, offset: int) -> MonthlyActivity:
    """Who bought in which month: one aggregate over every purchase, so it is kept in memory
    until a purchase or a return is added (the key is the newest id and creation time of each:
    two MAX queries, far cheaper than the aggregate). Filters and economics inputs on the page
    change nothing here, so changing them re-reads nothing."""
    newest = [
        session.execute(select(func.max(model.id), func.max(model.created_at))).one()
        for model in (Purchase, PurchaseReturn)
    ]
    key = (str(session.get_bind().engine.url), as_of, offset, *(tuple(n) for n in newest))
    found = _ACTIVITY_CACHE.get(key)
    if found is None:
        found = monthly_activity(session, as_of=as_of, utc_offset_minutes=offset)
        if len(_ACTIVITY_CACHE) >= _ACTIVITY_CACHE_SIZE:
            _ACTIVITY_CACHE.pop(next(iter(_ACTIVITY_CACHE)))
        _ACTIVITY_CACHE[key] = found
    return found


def _months(session: Session) -> list[date]:
    return list(
        session.execute(
            select(CustomerScore.month).distinct().order_by(CustomerScore.month.desc()).limit(2)
        ).scalars()
    )


Ts = TypeVarTuple("Ts")


def _scoped(stmt: Select[*Ts], filters: Filters) -> Select[*Ts]:
    stmt = stmt.join(Customer, Customer.id == CustomerScore.customer_id).where(
        Customer.erased_at.is_(None)
    )
    if filters.store is not None:
        stmt = stmt.where(Customer.home_store_id == filters.store)
    if filters.owner_staff_id is not None:
        stmt = stmt.where(Customer.owner_staff_id == filters.owner_staff_id)
    return stmt


@dataclass(frozen=True, eq=False)
class _Scores:
    customer_id: npt.NDArray[np.int64]
    store_id: npt.NDArray[np.int64]
    owner_id: npt.NDArray[np.int64]
    rung: npt.NDArray[np.str_]
    segment: npt.NDArray[np.str_]
    china: npt.NDArray[np.str_]
    kind: npt.NDArray[np.str_]
    r: npt.NDArray[np.int64]
    fm: npt.NDArray[np.int64]
    spend: npt.NDArray[np.float64]
    clv: npt.NDArray[np.float64]
    p_active: npt.NDArray[np.float64]
    churn: npt.NDArray[np.float64]
    since: npt.NDArray[np.float64]
    days: npt.NDArray[np.int64]
    computed_on: date | None


def _load_scores(session: Session, month: date, filters: Filters) -> _Scores:
    s = CustomerScore
    stmt = _scoped(
        select(
            s.customer_id, Customer.home_store_id, Customer.owner_staff_id, s.rung,
            s.rfm_segment, s.china_class, s.loyalty_type, s.r_score, s.f_score, s.m_score,
            type_coerce(s.total_spend, BigInteger), type_coerce(s.clv_12m, BigInteger),
            s.p_active_12m, s.churn_risk, s.days_since_last, s.purchase_days, s.computed_on,
        ).where(s.month == month),
        filters,
    ).order_by(s.customer_id)  # fmt: skip
    rows = session.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 17

    def ints(i: int, default: int = -1) -> npt.NDArray[np.int64]:
        return np.array([default if v is None else v for v in columns[i]], dtype=np.int64)

    def floats(i: int, scale: float = 1.0) -> npt.NDArray[np.float64]:
        return np.array([np.nan if v is None else v / scale for v in columns[i]], np.float64)

    def texts(i: int) -> npt.NDArray[np.str_]:
        return np.array(["" if v is None else v for v in columns[i]], dtype=np.str_)

    f, m = ints(8, 0), ints(9, 0)
    return _Scores(
        customer_id=ints(0), store_id=ints(1), owner_id=ints(2), rung=texts(3),
        segment=texts(4), china=texts(5), kind=texts(6), r=ints(7, 0),
        fm=np.ceil((f + m) / 2).astype(np.int64), spend=floats(10, 100.0),
        clv=floats(11, 100.0), p_active=floats(12), churn=floats(13), since=floats(14),
        days=ints(15, 0), computed_on=columns[16][0] if rows else None,
    )  # fmt: skip


def _counts(
    keys: tuple[str, ...], values: npt.NDArray[np.str_], spend: npt.NDArray[np.float64]
) -> list[Count]:
    total = max(int(np.count_nonzero(values != "")), 1)
    all_spend = float(np.nansum(spend[values != ""])) or 1.0
    out = []
    for key in keys:
        hit = values == key
        out.append(Count(key, int(hit.sum()), float(hit.sum()) / total,
                         float(np.nansum(spend[hit])) / all_spend))  # fmt: skip
    return out


def _histogram(values: npt.NDArray[np.float64]) -> list[tuple[float, float, int]]:
    values = values[~np.isnan(values)]
    if not values.size:
        return []
    top = float(np.quantile(values, 0.99)) or float(values.max()) or 1.0
    edges = np.linspace(0.0, top, CLV_BINS + 1)
    counts, _ = np.histogram(np.clip(values, 0.0, top), bins=edges)
    return [(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(CLV_BINS)]


def _names(session: Session, model: type[Store] | type[Staff]) -> dict[int, str]:
    return {int(i): str(n) for i, n in session.execute(select(model.id, model.name)).all()}


def dashboard(
    db: Database,
    filters: Filters,
    *,
    inputs: EconomicsInputs | None = None,
    timezone: str = "Asia/Shanghai",
) -> Dashboard:
    """The analytics page's figures for the customers ``filters`` select."""
    inputs = inputs or EconomicsInputs()
    with db.read() as session:
        months = _months(session)
        if not months:
            return Dashboard(None, None, filters)
        month = months[0]
        scores = _load_scores(session, month, filters)
        previous = months[1] if len(months) > 1 else None
        movements = None
        if previous is not None:
            before = session.execute(
                _scoped(select(CustomerScore.customer_id, CustomerScore.rung)
                        .where(CustomerScore.month == previous), filters)
            ).all()  # fmt: skip
            earlier: dict[int, str] = {int(c): str(r) for c, r in before}
            prior = [earlier.get(int(c), ladder.NEW_TO_ARCHIVE) for c in scores.customer_id]
            movements = _movements(prior, scores.rung)
        as_of = scores.computed_on or month
        activity = _activity(session, as_of, utc_offset_minutes(timezone, as_of))
        store_names = _names(session, Store)
        staff_names = _names(session, Staff)
        fits = _fits_used(session, month, as_of)
    buyers = scores.days > 0
    active = buyers & (scores.since <= ACTIVE_DAYS)
    include = np.ones(activity.customer_id.size, dtype=bool)
    if filters.store is not None:
        include &= activity.store_id == filters.store
    if filters.owner_staff_id is not None:
        include &= activity.owner_staff_id == filters.owner_staff_id
    last = cohorts.month_index(as_of.year, as_of.month)
    cohort_table = bucket = None
    if activity.customer_id.size:
        cohort_table = cohorts.cohort_retention(
            activity.first_month, activity.active_index, activity.active_month,
            months=COHORT_MONTHS, last_month=last, include=include,
        )  # fmt: skip
        cohort_table = _last_cohorts(cohort_table, COHORT_MONTHS)
        bucket = cohorts.leaky_bucket(
            activity.first_month, activity.active_index, activity.active_month,
            window_months=LEAK_WINDOW_MONTHS, start=last - 11, end=last, include=include,
        )  # fmt: skip
    conc = pareto.concentration(scores.spend[buyers]) if buyers.any() else None
    retention, note = _retention(scores, active, inputs)
    grid = np.zeros((5, 5), dtype=np.int64)
    scored = buyers & (scores.r > 0)
    np.add.at(grid, (scores.r[scored] - 1, np.clip(scores.fm[scored], 1, 5) - 1), 1)
    kpis: dict[str, float | int | None] = {
        "customers": int(scores.customer_id.size),
        "buyers": int(buyers.sum()),
        "active": int(active.sum()),
        "repeat_rate": _share(scores.days[buyers] >= 2),
        "p_active_12m": _mean(scores.p_active[active]),
        "clv_total": float(np.nansum(scores.clv)) if np.isfinite(scores.clv).any() else None,
        "clv_mean": _mean(scores.clv[active]),
        "top20_share": conc.top_share_of_total if conc else None,
        "gini": conc.gini if conc else None,
        "at_risk_vips": _at_risk_vips(scores),
        "churn_rate": float(bucket.churn_rate[-1]) if bucket is not None else None,
    }
    return Dashboard(
        month=month,
        computed_on=scores.computed_on,
        filters=filters,
        kpis=kpis,
        rungs=_counts(ladder.RUNG_KEYS, scores.rung, scores.spend),
        movements=movements,
        previous_month=previous,
        segments=_counts(rfm.SEGMENT_KEYS, scores.segment, scores.spend),
        segment_grid=grid.tolist(),
        china_classes=_counts(rfm.CHINA_CLASS_KEYS, scores.china, scores.spend),
        loyalty_types=_counts(loyalty_type.LOYALTY_TYPE_KEYS, scores.kind, scores.spend),
        concentration=conc,
        cohort_table=cohort_table,
        bucket=bucket,
        clv_histogram=_histogram(scores.clv[buyers]),
        retention=retention,
        retention_note=note,
        model=fits,
        stores=_groups(scores, activity, include, "store", store_names, last),
        owners=_groups(scores, activity, include, "owner", staff_names, last),
    )


def _fits_used(session: Session, month: date, as_of: date) -> dict[str, dict[str, float]]:
    """The model parameters behind the month's scores; none when the run fitted no model.

    The scoring job uses the newest BG/NBD fit up to its date with the Gamma-Gamma fit of the
    same date (or none), and stores no fit when the data are too thin: then an older fit must
    not be shown as if the scores came from it.
    """
    modelled = session.execute(
        select(CustomerScore.id)
        .where(CustomerScore.month == month, CustomerScore.p_alive.is_not(None))
        .limit(1)
    ).first()
    if modelled is None:
        return {}
    fits = (
        session.execute(
            select(ModelFit).where(ModelFit.as_of <= as_of).order_by(ModelFit.as_of.desc())
        )
        .scalars()
        .all()
    )
    count = next((fit for fit in fits if fit.kind == "bgnbd"), None)
    if count is None:
        return {}
    return {
        fit.kind: {k: float(v) for k, v in fit.params.items()}
        for fit in fits
        if fit.as_of == count.as_of
    }


def _share(flags: npt.NDArray[np.bool_]) -> float | None:
    return float(flags.mean()) if flags.size else None


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _at_risk_vips(scores: _Scores) -> int | None:
    """Customers in the top 20 % by 12-month CLV whose churn risk is above one half."""
    known = np.isfinite(scores.clv) & np.isfinite(scores.churn)
    if not known.any():
        return None
    cut = np.quantile(scores.clv[known], 0.8)
    return int(np.count_nonzero(known & (scores.clv >= cut) & (scores.churn > 0.5)))


def _movements(
    prior: list[str], after: npt.NDArray[np.str_]
) -> tuple[tuple[str, ...], list[list[int]]]:
    keys, matrix = ladder.ladder_movements(np.array(prior, dtype=np.str_), after)
    return tuple(keys), np.asarray(matrix).tolist()


def _last_cohorts(table: cohorts.CohortTable, n: int) -> cohorts.CohortTable:
    if table.cohorts.size <= n:
        return table
    keep = slice(table.cohorts.size - n, None)
    return cohorts.CohortTable(
        cohorts=table.cohorts[keep], sizes=table.sizes[keep], offsets=table.offsets,
        counts=table.counts[keep], shares=table.shares[keep], observed=table.observed[keep],
        last_month=table.last_month,
    )  # fmt: skip


def _retention(
    scores: _Scores, active: npt.NDArray[np.bool_], inputs: EconomicsInputs
) -> tuple[economics.RetentionTable | None, Reason | None]:
    """Retention economics from the fitted models: retention = mean P(a purchase next year)."""
    n = int(active.sum())
    p = scores.p_active[active]
    margin = scores.clv[active]
    if n == 0 or not np.isfinite(p).any() or not np.isfinite(margin).any():
        return None, Reason(NO_ECONOMICS)
    annual = (1 + inputs.monthly_discount_rate) ** 12 - 1
    table = economics.retention_value(
        active_customers=n,
        annual_retention=float(np.nanmean(p)),
        annual_margin_per_customer=float(np.nanmean(margin)),
        annual_discount_rate=annual,
        acquisition_cost=inputs.acquisition_cost,
        retention_cost_per_point=inputs.retention_cost_per_point,
    )
    return table, None


def _groups(
    scores: _Scores,
    activity: Any,
    include: npt.NDArray[np.bool_],
    kind: str,
    names: dict[int, str],
    last: int,
) -> list[GroupRetention]:
    """Retention per home store or per account owner ("loyal staff keep loyal customers")."""
    key = scores.store_id if kind == "store" else scores.owner_id
    act_key = activity.store_id if kind == "store" else activity.owner_staff_id
    out = []
    for group in sorted(set(key.tolist()) - {-1}):
        mine = key == group
        buyers = mine & (scores.days > 0)
        churn = 0.0
        mask = include & (act_key == group)
        if mask.any():
            bucket = cohorts.leaky_bucket(
                activity.first_month, activity.active_index, activity.active_month,
                window_months=LEAK_WINDOW_MONTHS, start=last - 11, end=last, include=mask,
            )  # fmt: skip
            start_active = int(bucket.active_start.sum())
            churn = int(bucket.lapsed.sum()) / start_active if start_active else 0.0
        out.append(GroupRetention(
            id=int(group), name=names.get(int(group), f"#{group}"),
            customers=int(mine.sum()),
            active=int(np.count_nonzero(buyers & (scores.since <= ACTIVE_DAYS))),
            repeat_rate=float((scores.days[buyers] >= 2).mean()) if buyers.any() else 0.0,
            churn_rate=churn, mean_clv=_mean(scores.clv[buyers]),
        ))  # fmt: skip
    return out
