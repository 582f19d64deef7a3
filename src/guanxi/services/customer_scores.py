"""One customer's value and loyalty: the latest scores, why, and the rung month by month.

Reads the stored ``customer_score`` snapshots written by the scoring job (``guanxi analytics
run``). The reasons are recomputed from the snapshot's own figures and its ``evidence`` JSON with
the same rules that placed the customer, so the page says why without fitting anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from guanxi.analytics import ladder, loyalty_type
from guanxi.analytics.reasons import Reason
from guanxi.analytics.thresholds import Thresholds
from guanxi.errors import InvalidInput
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerScore

HISTORY_MONTHS = 12


@dataclass(frozen=True)
class RungMonth:
    """The customer's rung (and RFM segment, CLV) in one month's snapshot."""

    month: date
    rung: str
    rfm_segment: str | None
    clv_12m: Decimal | None


@dataclass(frozen=True)
class CustomerValue:
    """The latest snapshot of one customer's scores, with the reasons behind rung and type."""

    month: date
    computed_on: date
    rung: str
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_segment: str | None
    china_class: str | None
    loyalty_type: str | None
    purchase_days: int
    days_since_last: int | None
    total_spend: Decimal
    p_alive: float | None
    expected_purchases_90d: float | None
    clv_12m: Decimal | None
    churn_risk: float | None
    p_active_12m: float | None
    rung_reasons: list[Reason] = field(default_factory=list)
    type_reasons: list[Reason] = field(default_factory=list)
    history: list[RungMonth] = field(default_factory=list)

    @property
    def is_buyer(self) -> bool:
        return self.purchase_days > 0


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def loyalty_features(score: CustomerScore) -> loyalty_type.LoyaltyFeatures:
    """The loyalty-type evidence of one snapshot (events and satisfaction are not collected)."""
    evidence = score.evidence or {}
    return loyalty_type.LoyaltyFeatures(
        purchase_days=score.purchase_days,
        promo_share=_float(evidence.get("promo_share")),
        full_price_share=_float(evidence.get("full_price_share")),
        categories_bought=_int(evidence.get("categories_bought")),
        categories_total=_int(evidence.get("categories_total")),
        interval_cv=_float(evidence.get("interval_cv")),
        tenure_days=float(evidence.get("tenure_days") or 0),
        referrals=_int(evidence.get("referrals")),
        events_attended=_int(evidence.get("events_attended")),
        satisfaction=_float(evidence.get("satisfaction")),
    )


def _reasons(score: CustomerScore, thresholds: Thresholds) -> tuple[list[Reason], list[Reason]]:
    """Why the customer has this rung and this loyalty type; nothing where the data do not say.

    The thresholds are the shop's (the scoring job reads the same file); no NPS answers yet
    (promoter: no).
    """
    evidence = score.evidence or {}
    try:
        rung = ladder.explain_rung(
            purchase_days=score.purchase_days,
            days_since_last=score.days_since_last,
            p_alive=score.p_alive,
            referrals=_int(evidence.get("referrals")),
            is_promoter=False,
            thresholds=thresholds.ladder,
        )
    except InvalidInput:  # a snapshot that contradicts itself: say nothing rather than fail
        rung = []
    kind: list[Reason] = []
    if score.loyalty_type is not None and evidence:
        try:
            kind = loyalty_type.explain_loyalty_type(loyalty_features(score), thresholds.loyalty)
        except InvalidInput:
            kind = []
    return rung, kind


def customer_value(
    db: Database, customer_id: int, thresholds: Thresholds | None = None
) -> CustomerValue | None:
    """The customer's latest scores and rung history; None before their first scoring."""
    with db.read() as session:
        rows = list(
            session.execute(
                select(CustomerScore)
                .where(CustomerScore.customer_id == customer_id)
                .order_by(CustomerScore.month.desc())
                .limit(HISTORY_MONTHS)
            ).scalars()
        )
        if not rows:
            return None
        latest = rows[0]
        rung_reasons, type_reasons = _reasons(latest, thresholds or Thresholds())
        history = [RungMonth(r.month, r.rung, r.rfm_segment, r.clv_12m) for r in rows]
        return CustomerValue(
            month=latest.month,
            computed_on=latest.computed_on,
            rung=latest.rung,
            r_score=latest.r_score,
            f_score=latest.f_score,
            m_score=latest.m_score,
            rfm_segment=latest.rfm_segment,
            china_class=latest.china_class,
            loyalty_type=latest.loyalty_type,
            purchase_days=latest.purchase_days,
            days_since_last=latest.days_since_last,
            total_spend=latest.total_spend,
            p_alive=latest.p_alive,
            expected_purchases_90d=latest.expected_purchases_90d,
            clv_12m=latest.clv_12m,
            churn_risk=latest.churn_risk,
            p_active_12m=latest.p_active_12m,
            rung_reasons=rung_reasons,
            type_reasons=type_reasons,
            history=history,
        )


def scores_exist(db: Database) -> bool:
    """Whether the scoring job has run at all (for the hint on a customer without scores)."""
    with db.read() as session:
        return session.execute(select(CustomerScore.id).limit(1)).first() is not None
