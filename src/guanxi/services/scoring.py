"""The scoring job: every customer's scores as of a business date, stored per month.

One run reads a handful of aggregate queries (the CLV summary, behavioural features, the list of
customers), fits or reuses the BG/NBD and Gamma-Gamma models, scores every customer with
vectorised numpy, and replaces the month's ``customer_score`` rows in one write transaction:

- RFM quintile scores, the named RFM segment and the 8-class Chinese RFM class (buyers);
- P(alive), expected purchases in the next 90 days, 12-month discounted CLV (in margin),
  churn risk = P(no purchase in the next 90 days) and P(a purchase in the next 365 days), all
  under BG/NBD (the last is what the retention economics call a customer's annual retention);
- the loyalty-ladder rung (everyone, prospects included) and the loyalty type (buyers).

Rerunning for the same month overwrites that month's rows, so the table keeps one snapshot per
month (history for trends and ladder movements) and a rerun is harmless. The models are refitted
when the last fit is older than ``refit_after_days`` (or on request); otherwise the stored
parameters are reused, which makes a nightly run cost only the queries and the vectorised scoring.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from guanxi.analytics import clv, ladder, loyalty_type, rfm
from guanxi.analytics.features import CustomerFeatures, customer_features
from guanxi.analytics.summary import CustomerSummary, Period, customer_summary, end_of_day_utc
from guanxi.analytics.thresholds import Thresholds, load_thresholds
from guanxi.config import Settings
from guanxi.errors import InvalidInput
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerScore, ModelFit

HORIZON_DAYS = 90
PERIOD = Period.WEEK
PERIODS_PER_MONTH = 30.4375 / 7
MIN_REPEAT_BUYERS = 20
WRITE_BATCH = 5000  # fewer repeat buyers than this: no model figures, day rules only

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ScoringOptions:
    """What a run computes and with which assumptions."""

    as_of: date
    gross_margin: float = 0.35
    monthly_discount_rate: float = 0.01
    timezone: str = "Asia/Shanghai"
    refit: bool = False
    refit_after_days: int = 7
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def for_shop(cls, settings: Settings, as_of: date, *, refit: bool = False) -> ScoringOptions:
        """The shop's margin, discount rate, time zone and thresholds from its settings."""
        return cls(
            as_of=as_of,
            gross_margin=settings.gross_margin,
            monthly_discount_rate=settings.monthly_discount_rate,
            timezone=settings.timezone,
            refit=refit,
            thresholds=load_thresholds(settings.analytics_thresholds),
        )


@dataclass(frozen=True)
class ScoringReport:
    """What a run did: counts, the model parameters used, and seconds per step."""

    as_of: date
    month: date
    customers: int
    buyers: int
    model: dict[str, dict[str, float]]
    model_note: str
    refitted: bool
    seconds: dict[str, float] = field(default_factory=dict)


def month_of(day: date) -> date:
    return day.replace(day=1)


def utc_offset_minutes(timezone: str, day: date) -> int:
    """The zone's offset from UTC at noon on ``day`` (Asia/Shanghai: +480)."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone))
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


@dataclass(frozen=True)
class _Models:
    bgnbd: clv.BgNbdFit | None
    spend: clv.GammaGammaFit | None
    refitted: bool
    note: str


def _stored_fit(session: Session, kind: str, options: ScoringOptions) -> ModelFit | None:
    oldest = options.as_of - timedelta(days=options.refit_after_days)
    return session.execute(
        select(ModelFit)
        .where(ModelFit.kind == kind, ModelFit.as_of <= options.as_of, ModelFit.as_of >= oldest)
        .where(ModelFit.period == PERIOD.value)
        .order_by(ModelFit.as_of.desc())
        .limit(1)
    ).scalar_one_or_none()


def _models(session: Session, summary: CustomerSummary, options: ScoringOptions) -> _Models:
    """Reuse a recent stored fit, or fit the models now; None where the data are too thin.

    The two models stand alone: without a Gamma-Gamma fit (spend that does not vary between
    customers does not identify it) P(alive) and churn risk are still given, CLV is not.
    """
    repeaters = int(np.count_nonzero(summary.frequency > 0))
    if repeaters < MIN_REPEAT_BUYERS:
        return _Models(None, None, False, f"only {repeaters} repeat buyers: models need "
                       f"{MIN_REPEAT_BUYERS}; P(alive) and CLV are left empty")  # fmt: skip
    if not options.refit:
        count = _stored_fit(session, "bgnbd", options)
        spend = _stored_fit(session, "gamma_gamma", options)
        if count is not None:
            return _Models(
                clv.BgNbdFit.from_params(count.params, count.log_likelihood, count.n_customers),
                None if spend is None or spend.as_of != count.as_of else
                clv.GammaGammaFit.from_params(spend.params, spend.log_likelihood,
                                              spend.n_customers),
                False,
                f"models fitted on {count.as_of} reused",
            )  # fmt: skip
    try:
        count_fit = clv.fit_bgnbd(summary.frequency, summary.recency, summary.T)
    except InvalidInput as error:
        return _Models(None, None, False, f"models could not be fitted: {error}")
    repeat = summary.frequency > 0
    try:
        spend_fit = clv.fit_gamma_gamma(summary.frequency[repeat], summary.monetary[repeat])
    except InvalidInput as error:
        return _Models(count_fit, None, True, f"models fitted on {options.as_of}; no CLV: {error}")
    return _Models(count_fit, spend_fit, True, f"models fitted on {options.as_of}")


def _churn_risk(
    fit: clv.BgNbdFit, p_alive: npt.NDArray[np.float64], s: CustomerSummary, horizon: float
) -> npt.NDArray[np.float64]:
    """P(no purchase in the next ``horizon`` periods) under BG/NBD.

    A customer who is already inactive buys nothing; an active one with Gamma(r + x, α + T)
    purchase rate makes none with probability ((α + T) / (α + T + t))^(r + x) (and cannot drop out
    without a purchase).
    """
    r, alpha = fit.params["r"], fit.params["alpha"]
    none_if_alive = np.exp((r + s.frequency) * np.log((alpha + s.T) / (alpha + s.T + horizon)))
    return np.clip(1.0 - p_alive + p_alive * none_if_alive, 0.0, 1.0)


def _customers(session: Session, as_of: date, offset: int) -> npt.NDArray[np.int64]:
    cutoff = end_of_day_utc(as_of, offset)
    ids = session.execute(
        select(Customer.id)
        .where(Customer.erased_at.is_(None), Customer.created_at < cutoff)
        .order_by(Customer.id)
    ).scalars()
    return np.fromiter(ids, dtype=np.int64)


def _float_or_none(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def run_scoring(
    db: Database, options: ScoringOptions, progress: Progress | None = None
) -> ScoringReport:
    """Score every customer as of ``options.as_of`` and store the month's snapshot."""
    steps = ("summary", "features", "models", "scores", "write")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now
        if progress is not None:
            progress(name, steps.index(name) + 1, len(steps))

    offset = utc_offset_minutes(options.timezone, options.as_of)
    with db.read() as session:
        everyone = _customers(session, options.as_of, offset)
        summary = customer_summary(
            session, calibration_end=options.as_of, period=PERIOD, utc_offset_minutes=offset
        )
        step("summary")
        features = customer_features(session, as_of=options.as_of, utc_offset_minutes=offset)
        social = _engagement(session, summary.customer_id, options)
        step("features")
        models = _models(session, summary, options)
        step("models")
    # Buyers who are erased (or created after the date) are not scored.
    keep = np.isin(summary.customer_id, everyone)
    aligned = features.align(summary.customer_id)
    figures = (_figures(summary, aligned, models, options, social)
               if summary.customer_id.size else None)  # fmt: skip
    step("scores")
    rows = _score_rows(everyone, summary, keep, aligned, figures)
    month = month_of(options.as_of)
    written = 0
    with db.write() as session:
        session.execute(delete(CustomerScore).where(CustomerScore.month == month))
        while chunk := list(itertools.islice(rows, WRITE_BATCH)):  # bounded memory
            session.execute(insert(CustomerScore), chunk)
            written += len(chunk)
        if models.refitted:
            _store_fits(session, models, options)
    step("write")
    model_params: dict[str, dict[str, float]] = {}
    if models.bgnbd is not None:
        model_params["bgnbd"] = dict(models.bgnbd.params)
    if models.spend is not None:
        model_params["gamma_gamma"] = dict(models.spend.params)
    return ScoringReport(
        as_of=options.as_of,
        month=month,
        customers=written,
        buyers=int(np.count_nonzero(keep)),
        model=model_params,
        model_note=models.note,
        refitted=models.refitted,
        seconds=seconds,
    )


def _store_fits(session: Session, models: _Models, options: ScoringOptions) -> None:
    session.execute(
        delete(ModelFit).where(ModelFit.as_of == options.as_of, ModelFit.period == PERIOD.value)
    )
    fits: list[tuple[str, clv.BgNbdFit | clv.GammaGammaFit | None]] = [
        ("bgnbd", models.bgnbd),
        ("gamma_gamma", models.spend),
    ]
    for kind, fit in fits:
        if fit is None:
            continue
        session.add(
            ModelFit(
                kind=kind,
                as_of=options.as_of,
                period=PERIOD.value,
                params={k: float(v) for k, v in fit.params.items()},
                log_likelihood=float(fit.log_likelihood),
                n_customers=int(fit.n_customers),
            )
        )


_EMPTY: dict[str, Any] = {
    "r_score": None, "f_score": None, "m_score": None, "rfm_segment": None, "china_class": None,
    "loyalty_type": None, "purchase_days": 0, "days_since_last": None, "total_spend": Decimal(0),
    "p_alive": None, "expected_purchases_90d": None, "clv_12m": None, "churn_risk": None,
    "p_active_12m": None, "evidence": {},
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class _Figures:
    """Every buyer's scores as aligned arrays (index i is ``summary.customer_id[i]``)."""

    purchase_days: npt.NDArray[np.int64]
    since: npt.NDArray[np.int64]
    tenure: npt.NDArray[np.float64]
    p_alive: npt.NDArray[np.float64]
    expected: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    churn: npt.NDArray[np.float64]
    active_year: npt.NDArray[np.float64]
    scores: rfm.RfmScores
    segments: npt.NDArray[np.str_]
    classes: npt.NDArray[np.str_]
    rungs: npt.NDArray[np.str_]
    types: npt.NDArray[np.str_]


@dataclass(frozen=True)
class _Engagement:
    """The attitudinal evidence of each buyer (aligned with the summary's customers): member
    events attended in the 12 months to ``as_of``, the latest survey's satisfaction (0–1, NaN
    when never asked) and whether that answer was a promoter's (NPS 9–10)."""

    events_attended: npt.NDArray[np.int64]
    satisfaction: npt.NDArray[np.float64]
    is_promoter: npt.NDArray[np.bool_]


def _engagement(
    session: Session, customer_ids: npt.NDArray[np.int64], options: ScoringOptions
) -> _Engagement:
    """Events attended (``guanxi.club``) and survey answers (``guanxi.feedback``) up to the
    scoring date, for the loyalty ladder (promoters) and the loyalty types (emotional)."""
    from guanxi.club.engagement import attended_counts
    from guanxi.feedback.satisfaction import satisfaction_signals

    ids = [int(c) for c in customer_ids]
    until = end_of_day_utc(options.as_of, utc_offset_minutes(options.timezone, options.as_of))
    events = attended_counts(session, ids, until - timedelta(days=365), until)
    signals = satisfaction_signals(session, ids, options.as_of, zone=options.timezone)
    answered = [signals.get(c, (None, False)) for c in ids]
    return _Engagement(
        events_attended=np.array([events.get(c, 0) for c in ids], dtype=np.int64),
        satisfaction=np.array([math.nan if s is None else s for s, _ in answered]),
        is_promoter=np.array([promoter for _, promoter in answered], dtype=np.bool_),
    )


def _figures(
    summary: CustomerSummary,
    features: CustomerFeatures,
    models: _Models,
    options: ScoringOptions,
    social: _Engagement,
) -> _Figures:
    """The buyers' scores, vectorised (there is at least one buyer)."""
    n = summary.customer_id.size
    purchase_days = (summary.frequency + 1).astype(np.int64)
    since = summary.days_since_last
    tenure = np.asarray(summary.T * PERIOD.days, dtype=np.float64)
    p_alive, expected, value, churn, active_year = (np.full(n, np.nan) for _ in range(5))
    horizon = HORIZON_DAYS / PERIOD.days
    if models.bgnbd is not None:
        p_alive = models.bgnbd.p_alive(summary.frequency, summary.recency, summary.T)
        expected = models.bgnbd.expected_purchases(
            horizon, summary.frequency, summary.recency, summary.T
        )
        churn = _churn_risk(models.bgnbd, p_alive, summary, horizon)
        active_year = 1.0 - _churn_risk(models.bgnbd, p_alive, summary, 365 / PERIOD.days)
        if models.spend is not None:
            value = clv.clv(
                models.bgnbd, models.spend, summary.frequency, summary.recency, summary.T,
                summary.monetary, months=12, margin=options.gross_margin,
                monthly_discount_rate=options.monthly_discount_rate,
                periods_per_month=PERIODS_PER_MONTH,
            )  # fmt: skip
    days, recency = purchase_days.astype(np.float64), since.astype(np.float64)
    scores = rfm.rfm_scores(recency, days, summary.total_spend)
    return _Figures(
        purchase_days=purchase_days, since=since, tenure=tenure, p_alive=p_alive,
        expected=expected, value=value, churn=churn, active_year=active_year, scores=scores,
        segments=rfm.rfm_segment(scores),
        classes=rfm.china_rfm_class(recency, days, summary.total_spend),
        rungs=ladder.ladder_rungs(
            purchase_days=purchase_days, days_since_last=recency, p_alive=p_alive,
            referrals=features.referrals, is_promoter=social.is_promoter,
            thresholds=options.thresholds.ladder,
        ),
        types=loyalty_type.loyalty_types(
            purchase_days=purchase_days, promo_share=features.promo_share,
            full_price_share=features.full_price_share,
            categories_bought=features.categories_bought,
            categories_total=features.categories_total, interval_cv=features.interval_cv,
            tenure_days=tenure, referrals=features.referrals,
            events_attended=social.events_attended, satisfaction=social.satisfaction,
            thresholds=options.thresholds.loyalty,
        ),
    )  # fmt: skip


def _score_rows(
    everyone: npt.NDArray[np.int64],
    summary: CustomerSummary,
    keep: npt.NDArray[np.bool_],
    features: CustomerFeatures,
    figures: _Figures | None,
) -> Iterator[dict[str, Any]]:
    """The customer_score rows of everyone: buyers with their figures (computed beforehand,
    vectorised), prospects with their rung; made one by one as they are written."""
    month = month_of(summary.calibration_end)
    on = summary.calibration_end
    if figures is not None:
        yield from _buyer_rows(summary, keep, features, figures, month)
    buyers = summary.customer_id[keep]
    for cid in everyone[~np.isin(everyone, buyers)].tolist():
        yield {**_EMPTY, "customer_id": cid, "month": month, "computed_on": on, "rung": "prospect"}


def _money(value: float) -> Decimal | None:
    return None if math.isnan(value) else Decimal(str(round(float(value), 2)))


def _buyer_rows(
    summary: CustomerSummary,
    keep: npt.NDArray[np.bool_],
    features: CustomerFeatures,
    f: _Figures,
    month: date,
) -> Iterator[dict[str, Any]]:
    on = summary.calibration_end
    for i in np.flatnonzero(keep).tolist():
        yield ({
            "customer_id": int(summary.customer_id[i]), "month": month, "computed_on": on,
            "r_score": int(f.scores.r[i]), "f_score": int(f.scores.f[i]),
            "m_score": int(f.scores.m[i]),
            "rfm_segment": str(f.segments[i]), "china_class": str(f.classes[i]),
            "rung": str(f.rungs[i]), "loyalty_type": str(f.types[i]),
            "purchase_days": int(f.purchase_days[i]), "days_since_last": int(f.since[i]),
            "total_spend": _money(summary.total_spend[i]),
            "p_alive": _float_or_none(f.p_alive[i]),
            "expected_purchases_90d": _float_or_none(f.expected[i]),
            "clv_12m": _money(f.value[i]),
            "churn_risk": _float_or_none(f.churn[i]),
            "p_active_12m": _float_or_none(f.active_year[i]),
            "evidence": {
                "promo_share": _float_or_none(features.promo_share[i]),
                "full_price_share": _float_or_none(features.full_price_share[i]),
                "categories_bought": int(features.categories_bought[i]),
                "categories_total": features.categories_total,
                "interval_cv": _float_or_none(features.interval_cv[i]),
                "tenure_days": int(f.tenure[i]),
                "referrals": int(features.referrals[i]),
                "monetary": round(float(summary.monetary[i]), 2),
            },
        })  # fmt: skip


def month_ends(end: date, months: int) -> list[date]:
    """The last day of each of the ``months - 1`` months before ``end``'s, then ``end`` itself."""
    days = [end]
    current = end.replace(day=1)
    for _ in range(months - 1):
        current -= timedelta(days=1)  # the last day of the previous month
        days.append(current)
        current = current.replace(day=1)
    return sorted(days)


def score_history(
    db: Database,
    options: ScoringOptions,
    *,
    months: int = 12,
    progress: Progress | None = None,
) -> list[ScoringReport]:
    """Score the month ends before ``options.as_of`` and the day itself: monthly snapshots.

    Used to give a new shop (or the demo) its history at once; each month is an ordinary run.
    """
    days = month_ends(options.as_of, months)
    reports = []
    for n, day in enumerate(days, start=1):
        reports.append(run_scoring(db, replace(options, as_of=day)))
        if progress is not None:
            progress(f"scores as of {day}", n, len(days))
    return reports
