"""Behavioural features per customer and monthly activity, aggregated in the database.

``customer_features`` gives the evidence the loyalty type is derived from (promotion share,
full-price share, category breadth, the rhythm of purchase days, referrals); ``monthly_activity``
gives the distinct (customer, month) pairs behind cohorts and the leaky bucket. Each is a few
GROUP BY statements whose result has one row per customer (or per customer and month): no
purchase line travels to Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Float, and_, case, cast, distinct, func, select, type_coerce
from sqlalchemy.orm import Session

from guanxi.analytics.summary import (
    EPOCH,
    end_of_day_utc,
    purchase_rows,
)
from guanxi.storage.models import Customer, Product, Purchase, PurchaseLine


@dataclass(frozen=True, eq=False)
class CustomerFeatures:
    """Aligned arrays for the customers in ``customer_id`` (ascending); NaN where unknown."""

    customer_id: npt.NDArray[np.int64]
    promo_share: npt.NDArray[np.float64]  # share of net spend on promotion purchases
    full_price_share: npt.NDArray[np.float64]  # share of line value sold without discount
    categories_bought: npt.NDArray[np.int64]
    interval_cv: npt.NDArray[np.float64]  # std / mean of gaps between purchase days
    referrals: npt.NDArray[np.int64]  # referred customers who have bought
    categories_total: int

    def align(self, ids: npt.NDArray[np.int64]) -> CustomerFeatures:
        """The features of ``ids`` (ascending) in that order; customers without any get defaults."""
        pos = np.searchsorted(self.customer_id, ids)
        pos = np.clip(pos, 0, max(self.customer_id.size - 1, 0))
        found = self.customer_id[pos] == ids if self.customer_id.size else np.zeros(ids.size, bool)

        def pick(values: npt.NDArray[Any], default: float) -> npt.NDArray[Any]:
            if not values.size:
                return np.full(ids.size, default, dtype=values.dtype)
            return np.where(found, values[pos], default).astype(values.dtype)

        return CustomerFeatures(
            customer_id=ids,
            promo_share=pick(self.promo_share, 0.0),
            full_price_share=pick(self.full_price_share, np.nan),
            categories_bought=pick(self.categories_bought, 0),
            interval_cv=pick(self.interval_cv, np.nan),
            referrals=pick(self.referrals, 0),
            categories_total=self.categories_total,
        )


def _by_customer(rows: list[Any], columns: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, columns), np.float64)
    data = np.array([[float("nan") if v is None else v for v in row] for row in rows], np.float64)
    return data[:, 0].astype(np.int64), data[:, 1:]


def customer_features(
    session: Session, *, as_of: date, utc_offset_minutes: int = 480
) -> CustomerFeatures:
    """Features of every customer who bought up to the end of ``as_of`` (local business date)."""
    dialect = session.get_bind().dialect.name
    cutoff = end_of_day_utc(as_of, utc_offset_minutes)
    rows = purchase_rows(dialect, until=as_of, utc_offset_minutes=utc_offset_minutes)

    # Spend and promotion share per customer (net of returns).
    spend = session.execute(
        select(
            rows.c.customer_id,
            cast(func.sum(case((rows.c.is_promotion, rows.c.net), else_=0)), Float)
            / func.nullif(func.sum(rows.c.net), 0),
        )
        .group_by(rows.c.customer_id)
        .order_by(rows.c.customer_id)
    ).all()

    # Full-price share and category breadth from the lines.
    amount = type_coerce(PurchaseLine.amount, BigInteger)
    discount = type_coerce(PurchaseLine.discount, BigInteger)
    lines = session.execute(
        select(
            Purchase.customer_id,
            cast(func.sum(case((discount <= 0, amount), else_=0)), Float)
            / func.nullif(func.sum(amount), 0),
            func.count(distinct(Product.category)),
        )
        .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(Purchase.purchased_at < cutoff)
        .group_by(Purchase.customer_id)
        .order_by(Purchase.customer_id)
    ).all()
    categories_total = session.execute(
        select(func.count(distinct(Product.category))).where(Product.category.is_not(None))
    ).scalar_one()

    # The rhythm of purchase days: mean and spread of the gaps between them.
    days = (
        select(rows.c.customer_id, rows.c.d)
        .group_by(rows.c.customer_id, rows.c.d)
        .having(func.sum(rows.c.counts) > 0)
        .subquery("days")
    )
    gap = days.c.d - func.lag(days.c.d).over(partition_by=days.c.customer_id, order_by=days.c.d)
    gaps = select(days.c.customer_id, gap.label("gap")).subquery("gaps")
    g = cast(gaps.c.gap, Float)
    rhythm = session.execute(
        select(gaps.c.customer_id, func.count(gaps.c.gap), func.sum(g), func.sum(g * g))
        .group_by(gaps.c.customer_id)
        .order_by(gaps.c.customer_id)
    ).all()

    # Referrals: customers this one referred who have bought at least once.
    referred = Customer.__table__.alias("referred")
    buyers = select(Purchase.customer_id).where(Purchase.purchased_at < cutoff).distinct()
    referral_rows = session.execute(
        select(referred.c.referred_by_id, func.count())
        .where(and_(referred.c.referred_by_id.is_not(None), referred.c.id.in_(buyers)))
        .group_by(referred.c.referred_by_id)
        .order_by(referred.c.referred_by_id)
    ).all()

    ids, spend_data = _by_customer(list(spend), 1)
    line_ids, line_data = _by_customer(list(lines), 2)
    rhythm_ids, rhythm_data = _by_customer(list(rhythm), 3)
    ref_ids, ref_data = _by_customer(list(referral_rows), 1)

    def at(src_ids: npt.NDArray[np.int64], values: npt.NDArray[Any], default: float) -> Any:
        out = np.full(ids.size, default, np.float64)
        if src_ids.size:
            pos = np.clip(np.searchsorted(src_ids, ids), 0, src_ids.size - 1)
            hit = src_ids[pos] == ids
            out[hit] = values[pos[hit]]
        return out

    n_gaps = at(rhythm_ids, rhythm_data[:, 0], 0.0)
    sum_gaps = at(rhythm_ids, rhythm_data[:, 1], 0.0)
    sum_sq = at(rhythm_ids, rhythm_data[:, 2], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sum_gaps / n_gaps
        var = np.maximum(sum_sq / n_gaps - mean * mean, 0.0)
        cv = np.where(n_gaps >= 2, np.sqrt(var) / mean, np.nan)
    return CustomerFeatures(
        customer_id=ids,
        promo_share=np.nan_to_num(np.clip(spend_data[:, 0], 0.0, 1.0), nan=0.0),
        full_price_share=np.clip(at(line_ids, line_data[:, 0], np.nan), 0.0, 1.0),
        categories_bought=at(line_ids, line_data[:, 1], 0.0).astype(np.int64),
        interval_cv=cv,
        referrals=at(ref_ids, ref_data[:, 0], 0.0).astype(np.int64),
        categories_total=int(categories_total),
    )


@dataclass(frozen=True, eq=False)
class MonthlyActivity:
    """Distinct (customer, month) purchase pairs; months as ``year * 12 + month - 1``.

    ``customer_id`` and ``first_month`` describe each buyer (ascending ids); ``active_index``
    points into them, ``active_month`` is the month of that pair. ``store_id`` and
    ``owner_staff_id`` give each buyer's home store and account owner (-1 when unset) so callers
    can split cohorts per store or per staff member.
    """

    customer_id: npt.NDArray[np.int64]
    first_month: npt.NDArray[np.int64]
    store_id: npt.NDArray[np.int64]
    owner_staff_id: npt.NDArray[np.int64]
    active_index: npt.NDArray[np.int64]
    active_month: npt.NDArray[np.int64]


def monthly_activity(
    session: Session, *, as_of: date, utc_offset_minutes: int = 480
) -> MonthlyActivity:
    """Who bought in which month, up to the end of ``as_of`` (fully returned purchases excluded)."""
    dialect = session.get_bind().dialect.name
    cutoff = end_of_day_utc(as_of, utc_offset_minutes)
    rows = purchase_rows(dialect, until=as_of, utc_offset_minutes=utc_offset_minutes)
    pairs = session.execute(
        select(rows.c.customer_id, rows.c.month)
        .group_by(rows.c.customer_id, rows.c.month)
        .having(func.sum(rows.c.counts) > 0)
        .order_by(rows.c.customer_id, rows.c.month)
    ).all()
    data = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    ids, index = np.unique(data[:, 0], return_inverse=True)
    first = np.full(ids.size, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, index, data[:, 1])
    owners = session.execute(
        select(Customer.id, Customer.home_store_id, Customer.owner_staff_id)
        .where(Customer.id.in_(select(Purchase.customer_id).where(Purchase.purchased_at < cutoff)))
        .order_by(Customer.id)
    ).all()
    meta = np.array([[c, -1 if s is None else s, -1 if o is None else o] for c, s, o in owners],
                    dtype=np.int64).reshape(-1, 3)  # fmt: skip
    pos = np.searchsorted(meta[:, 0], ids)
    return MonthlyActivity(
        customer_id=ids,
        first_month=first,
        store_id=meta[pos, 1] if ids.size else np.zeros(0, np.int64),
        owner_staff_id=meta[pos, 2] if ids.size else np.zeros(0, np.int64),
        active_index=index.astype(np.int64),
        active_month=data[:, 1].copy(),
    )


__all__ = [
    "EPOCH",
    "CustomerFeatures",
    "MonthlyActivity",
    "customer_features",
    "monthly_activity",
]
