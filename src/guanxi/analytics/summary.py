"""Per-customer purchase summaries for the CLV models, computed by one aggregate query.

The inputs of BG/NBD, Pareto/NBD and Gamma-Gamma (Fader, Hardie & Lee 2005) for each customer:

- ``frequency`` x: the number of *repeat* purchase days in the calibration period (purchases on
  the same business day count as one; the first purchase day is not a repeat);
- ``recency`` t_x: time from the first to the last purchase day in the calibration period;
- ``T``: time from the first purchase day to the end of the calibration period;
- ``monetary``: mean net spend per repeat purchase day (0 for customers with no repeat);

with times in periods of one day or one week (7 days, as CDNOW: weeks = days / 7). Returns are
netted out: a purchase's net amount is its total less the refunds booked against it up to the
end of observation, and a day whose net spend is not positive is no purchase day at all.

Everything is aggregated in the database (SQLite and PostgreSQL alike) by one statement; Python
receives one row per customer, never one per purchase line. ``summarise_transactions`` runs the
same aggregate over transactions from a file, in a private in-memory SQLite database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    Subquery,
    and_,
    case,
    cast,
    column,
    create_engine,
    func,
    literal_column,
    select,
    table,
    type_coerce,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from guanxi.errors import InvalidInput
from guanxi.storage.models import Purchase, PurchaseReturn

EPOCH = date(1970, 1, 1)
_JULIAN_EPOCH = 2440587.5  # julianday('1970-01-01 00:00:00')


class Period(StrEnum):
    """The time unit of recency and T."""

    DAY = "day"
    WEEK = "week"

    @property
    def days(self) -> int:
        return 7 if self is Period.WEEK else 1

    @classmethod
    def parse(cls, text: str) -> Period:
        value = text.strip().lower()
        aliases = {"d": cls.DAY, "day": cls.DAY, "days": cls.DAY,
                   "w": cls.WEEK, "week": cls.WEEK, "weeks": cls.WEEK}  # fmt: skip
        if value not in aliases:
            raise InvalidInput(f"unknown period {text!r}: use D (days) or W (weeks)")
        return aliases[value]


@dataclass(frozen=True, eq=False)
class CustomerSummary:
    """One entry per customer whose first purchase day falls in the calibration period.

    Arrays are aligned and ordered by ``customer_id``. Money is in yuan (float; the models are
    real-valued). ``holdout_*`` count what happened after the calibration end up to the end of
    observation (zeros when there is no holdout).
    """

    customer_id: npt.NDArray[np.int64]
    frequency: npt.NDArray[np.float64]
    recency: npt.NDArray[np.float64]
    T: npt.NDArray[np.float64]  # noqa: N815 - the literature's name
    monetary: npt.NDArray[np.float64]
    first_day: npt.NDArray[np.datetime64]
    last_day: npt.NDArray[np.datetime64]
    total_spend: npt.NDArray[np.float64]
    holdout_frequency: npt.NDArray[np.int64]
    holdout_spend: npt.NDArray[np.float64]
    period: Period
    calibration_end: date
    observation_end: date | None

    def __len__(self) -> int:
        return int(self.customer_id.size)

    @property
    def days_since_last(self) -> npt.NDArray[np.int64]:
        """Whole days from the last calibration purchase day to the calibration end."""
        end = np.datetime64(self.calibration_end, "D")
        return (end - self.last_day).astype(np.int64)

    @property
    def holdout_length(self) -> float:
        """The length of the holdout in periods (0 without one)."""
        if self.observation_end is None:
            return 0.0
        return (self.observation_end - self.calibration_end).days / self.period.days


def day_number(
    moment: ColumnElement[Any] | InstrumentedAttribute[Any], dialect: str, utc_offset_minutes: int
) -> ColumnElement[int]:
    """The local calendar day of a stored UTC timestamp, as whole days since 1970-01-01."""
    if dialect == "sqlite":
        shifted = func.julianday(moment, f"{utc_offset_minutes:+d} minutes")
        return cast(shifted - _JULIAN_EPOCH, Integer)
    local = cast(moment + literal_column(f"INTERVAL '{utc_offset_minutes} minutes'"), Date)
    return type_coerce(local - literal_column("DATE '1970-01-01'"), Integer)


def month_number(
    moment: ColumnElement[Any] | InstrumentedAttribute[Any], dialect: str, utc_offset_minutes: int
) -> ColumnElement[int]:
    """The local calendar month of a stored UTC timestamp, as ``year * 12 + month - 1``."""
    if dialect == "sqlite":
        shift = f"{utc_offset_minutes:+d} minutes"
        year = cast(func.strftime("%Y", moment, shift), Integer)
        month = cast(func.strftime("%m", moment, shift), Integer)
        return year * 12 + month - 1
    local = moment + literal_column(f"INTERVAL '{utc_offset_minutes} minutes'")
    return cast(func.extract("year", local) * 12 + func.extract("month", local) - 1, Integer)


def end_of_day_utc(day: date, utc_offset_minutes: int) -> datetime:
    """The UTC instant at which the local ``day`` ends."""
    return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(
        minutes=utc_offset_minutes
    )


def _check_window(calibration_end: date, observation_end: date | None) -> None:
    if observation_end is not None and observation_end <= calibration_end:
        raise InvalidInput(
            f"the observation end {observation_end} must come after the calibration end "
            f"{calibration_end}"
        )


def purchase_rows(
    dialect: str,
    *,
    until: date,
    utc_offset_minutes: int,
    store_id: int | None = None,
) -> Subquery:
    """One row per purchase up to the end of ``until``: customer, local day and month, promotion
    flag, net amount in fen, and whether it counts.

    ``counts`` is 0 for a purchase refunded in full (or more), 1 otherwise: a purchase of a free
    gift still counts as a visit, one returned whole does not.
    """
    cutoff = end_of_day_utc(until, utc_offset_minutes)
    refunds = (
        select(
            PurchaseReturn.purchase_id,
            func.sum(type_coerce(PurchaseReturn.refund_amount, BigInteger)).label("refunded"),
        )
        .where(PurchaseReturn.returned_at < cutoff)
        .group_by(PurchaseReturn.purchase_id)
        .subquery("refunds")
    )
    total = type_coerce(Purchase.total_amount, BigInteger)
    stmt = (
        select(
            Purchase.customer_id.label("customer_id"),
            day_number(Purchase.purchased_at, dialect, utc_offset_minutes).label("d"),
            month_number(Purchase.purchased_at, dialect, utc_offset_minutes).label("month"),
            Purchase.is_promotion.label("is_promotion"),
            (total - func.coalesce(refunds.c.refunded, 0)).label("net"),
            case((refunds.c.refunded.is_(None), 1), (total > refunds.c.refunded, 1), else_=0).label(
                "counts"
            ),
        )
        .outerjoin(refunds, refunds.c.purchase_id == Purchase.id)
        .where(Purchase.purchased_at < cutoff)
    )
    if store_id is not None:
        stmt = stmt.where(Purchase.store_id == store_id)
    return stmt.subquery("purchases")


def summary_select(
    rows: Subquery, calibration_day: int, observation_day: int | None
) -> Select[Any]:
    """The aggregate over ``rows`` (customer_id, d, net, counts): one row per customer.

    A day is a purchase day when at least one of its purchases counts; its amount is the sum of
    its net amounts (returns included). Rows come ordered by customer_id.
    """
    days = (
        select(rows.c.customer_id, rows.c.d, func.sum(rows.c.net).label("amount"))
        .where(rows.c.d <= (observation_day if observation_day is not None else calibration_day))
        .group_by(rows.c.customer_id, rows.c.d)
        .having(func.sum(rows.c.counts) > 0)
        .subquery("days")
    )
    first = func.min(days.c.d).over(partition_by=days.c.customer_id)
    ranked = select(days.c.customer_id, days.c.d, days.c.amount, first.label("first_d")).subquery(
        "ranked"
    )
    d, amount, first_d = ranked.c.d, ranked.c.amount, ranked.c.first_d
    in_cal = d <= calibration_day
    return (
        select(
            ranked.c.customer_id,
            func.min(first_d),
            func.max(case((in_cal, d))),
            func.sum(case((in_cal, 1), else_=0)),
            func.sum(case((and_(in_cal, d > first_d), amount), else_=0)),
            func.sum(case((in_cal, amount), else_=0)),
            func.sum(case((d > calibration_day, 1), else_=0)),
            func.sum(case((d > calibration_day, amount), else_=0)),
        )
        .where(first_d <= calibration_day)
        .group_by(ranked.c.customer_id)
        .order_by(ranked.c.customer_id)
    )


def _to_summary(
    rows: Sequence[Sequence[Any]],
    *,
    calibration_end: date,
    observation_end: date | None,
    period: Period,
) -> CustomerSummary:
    data = np.array(rows, dtype=np.int64).reshape(-1, 8)
    ids, first, last, n_days, repeat_fen, cal_fen, hold_n, hold_fen = data.T
    cal_day = (calibration_end - EPOCH).days
    frequency = (n_days - 1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, repeat_fen / 100.0 / np.maximum(frequency, 1), 0.0)
    unit = float(period.days)
    epoch = np.datetime64(EPOCH, "D")
    return CustomerSummary(
        customer_id=ids.copy(),
        frequency=frequency,
        recency=(last - first) / unit,
        T=(cal_day - first) / unit,
        monetary=monetary,
        first_day=epoch + first.astype("timedelta64[D]"),
        last_day=epoch + last.astype("timedelta64[D]"),
        total_spend=cal_fen / 100.0,
        holdout_frequency=hold_n.copy(),
        holdout_spend=hold_fen / 100.0,
        period=period,
        calibration_end=calibration_end,
        observation_end=observation_end,
    )


def customer_summary(
    session: Session,
    *,
    calibration_end: date,
    observation_end: date | None = None,
    period: Period = Period.WEEK,
    utc_offset_minutes: int = 480,
    store_id: int | None = None,
) -> CustomerSummary:
    """Summarise every customer's purchases in the database (one aggregate statement).

    ``calibration_end`` and ``observation_end`` are inclusive local business dates; days are
    counted in the shop's time zone, given as its offset from UTC (Asia/Shanghai: +480).
    ``store_id`` limits the purchases to one store's.
    """
    _check_window(calibration_end, observation_end)
    dialect = session.get_bind().dialect.name
    rows = purchase_rows(
        dialect,
        until=observation_end or calibration_end,
        utc_offset_minutes=utc_offset_minutes,
        store_id=store_id,
    )
    stmt = summary_select(
        rows,
        (calibration_end - EPOCH).days,
        None if observation_end is None else (observation_end - EPOCH).days,
    )
    result = session.execute(stmt).all()
    return _to_summary(
        result, calibration_end=calibration_end, observation_end=observation_end, period=period
    )


@dataclass(frozen=True, eq=False)
class KeyedSummary:
    """A summary of transactions from a file: ``keys[i]`` is the file's id of customer ``i``."""

    keys: list[str]
    summary: CustomerSummary


def summarise_transactions(
    customers: Sequence[str],
    days: Sequence[date],
    amounts: Sequence[Decimal],
    *,
    calibration_end: date,
    observation_end: date | None = None,
    period: Period = Period.WEEK,
) -> KeyedSummary:
    """Summarise transactions given as three aligned columns (customer id, date, amount).

    Runs the same aggregate as ``customer_summary`` in a private in-memory SQLite database.
    Amounts are rounded to the fen; a negative amount is a return (it lowers that day's spend and
    is no visit by itself).
    """
    if not (len(customers) == len(days) == len(amounts)):
        raise InvalidInput("customers, days and amounts must have the same length")
    if not customers:
        raise InvalidInput("no transactions to summarise")
    _check_window(calibration_end, observation_end)
    keys, index = np.unique(np.asarray(customers, dtype=str), return_inverse=True)
    day_numbers = [(day - EPOCH).days for day in days]
    fen = [int((Decimal(a) * 100).to_integral_value()) for a in amounts]
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE txn (customer_id INTEGER, d INTEGER, net INTEGER, counts INTEGER)"
            )
            conn.exec_driver_sql(
                "INSERT INTO txn VALUES (?, ?, ?, ?)",
                [
                    (c, d, f, int(f >= 0))
                    for c, d, f in zip(index.tolist(), day_numbers, fen, strict=True)
                ],
            )
            txn = table("txn", column("customer_id"), column("d"), column("net"), column("counts"))
            rows = select(txn.c.customer_id, txn.c.d, txn.c.net, txn.c.counts).subquery("purchases")
            stmt = summary_select(
                rows,
                (calibration_end - EPOCH).days,
                None if observation_end is None else (observation_end - EPOCH).days,
            )
            result = conn.execute(stmt).all()
    finally:
        engine.dispose()
    summary = _to_summary(
        result, calibration_end=calibration_end, observation_end=observation_end, period=period
    )
    return KeyedSummary(keys=[str(keys[i]) for i in summary.customer_id], summary=summary)
