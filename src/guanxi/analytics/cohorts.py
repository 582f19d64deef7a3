"""Cohort retention and the leaky bucket: who keeps buying, month by month.

A *cohort* is the set of customers whose first purchase fell in the same calendar month; the
retention table shows which share of each cohort bought again k months later (the standard cohort
analysis of customer-base reporting, e.g. Fader, *Customer Centricity*, 2012). The *leaky bucket*
(Ehrenberg's image of a customer base that loses customers through a hole while new ones pour in)
splits each month's change in active customers into new, reactivated and lapsed customers.

Inputs are the distinct (customer, month) pairs in which a customer bought, with months as
integer month indexes ``year * 12 + month - 1`` (see :func:`month_index`; the same numbering as
``guanxi.analytics.summary.month_number``), plus each customer's first purchase month. A
customer's first month always counts as a month with a purchase, whether or not the pair is
passed; a pair before the customer's first month is refused. Duplicate pairs count once.

Per-store or per-staff tables: pass ``include``, a boolean mask over customers (e.g.
``home_store == 3``); only the included customers and their activity are counted. Call once per
group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guanxi.analytics.reasons import check_counts, check_flags, check_ints, check_same_length
from guanxi.errors import InvalidInput


def month_index(year: int, month: int) -> int:
    """The month index of a calendar month: ``year * 12 + month - 1`` (January 2024 is 24288)."""
    if not 1 <= month <= 12:
        raise InvalidInput(f"month must be 1..12, got {month}")
    return year * 12 + month - 1


def month_of(index: int) -> tuple[int, int]:
    """The (year, month) of a month index; the inverse of :func:`month_index`."""
    year, month = divmod(int(index), 12)
    return year, month + 1


@dataclass(frozen=True, eq=False)
class _Activity:
    """Checked, distinct purchase months, sorted by customer then month."""

    first_month: npt.NDArray[np.int64]
    customer: npt.NDArray[np.int64]
    month: npt.NDArray[np.int64]


def _activity(
    first_month: npt.ArrayLike,
    active_customer: npt.ArrayLike,
    active_month: npt.ArrayLike,
    include: npt.ArrayLike | None,
) -> _Activity:
    first = check_ints("first_month", first_month)
    customer = check_counts("active_customer", active_customer)
    month = check_ints("active_month", active_month)
    check_same_length(active_customer=customer, active_month=month)
    outside = customer >= first.size
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise InvalidInput(
            f"active_customer holds {int(outside.sum())} index(es) beyond the {first.size} "
            f"customers of first_month (first at position {index}: {customer[index]})"
        )
    early = month < first[customer]
    if early.any():
        index = int(np.flatnonzero(early)[0])
        raise InvalidInput(
            f"{int(early.sum())} activity pair(s) fall before the customer's first month (first "
            f"at position {index}: customer {customer[index]} active in month {month[index]}, "
            f"first month {first[customer[index]]}); first_month must be the earliest purchase"
        )
    everyone = np.arange(first.size, dtype=np.int64)
    customer = np.concatenate((everyone, customer))
    month = np.concatenate((first, month))
    if include is not None:
        mask = check_flags("include", include)
        check_same_length(first_month=first, include=mask)
        customer, month = customer[mask[customer]], month[mask[customer]]
    if customer.size == 0:
        return _Activity(first_month=first, customer=customer, month=month)
    low = int(month.min())
    span = int(month.max()) - low + 1
    pairs = np.sort(customer * span + (month - low))  # by customer, then month
    pairs = pairs[np.concatenate(([True], np.diff(pairs) != 0))]  # distinct
    return _Activity(first_month=first, customer=pairs // span, month=pairs % span + low)


@dataclass(frozen=True, eq=False)
class CohortTable:
    """Monthly cohort retention.

    ``cohorts``: the first-purchase month index of each cohort (ascending, only months in which
    someone first bought, up to ``last_month``); ``sizes``: customers per cohort; ``offsets``:
    0..months, the column labels; ``counts[i, k]``: customers of cohort i who bought in month
    ``cohorts[i] + k``; ``shares[i, k] = counts[i, k] / sizes[i]`` (column 0 is 1.0);
    ``observed[i, k]``: whether month ``cohorts[i] + k`` is at most ``last_month``. Unobserved
    cells (the future) hold 0 in ``counts`` and ``shares``, never NaN: charts and JSON use the
    mask. ``last_month`` is None only when there are no customers.
    """

    cohorts: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    shares: npt.NDArray[np.float64]
    observed: npt.NDArray[np.bool_]
    last_month: int | None


def cohort_retention(
    first_month: npt.ArrayLike,
    active_customer: npt.ArrayLike,
    active_month: npt.ArrayLike,
    *,
    months: int = 12,
    last_month: int | None = None,
    include: npt.ArrayLike | None = None,
) -> CohortTable:
    """Retention by first-purchase cohort for ``months`` months after the first one.

    ``first_month[c]`` is customer c's first purchase month; pair i says customer
    ``active_customer[i]`` bought in month ``active_month[i]``. The table has ``months + 1``
    columns, k = 0..months (so the default shows month 12, one year on). ``last_month`` is the
    last month with data (default: the latest month passed); activity after it is ignored.
    """
    if months < 0:
        raise InvalidInput(f"months must be >= 0, got {months}")
    a = _activity(first_month, active_customer, active_month, include)
    offsets = np.arange(months + 1, dtype=np.int64)
    if a.month.size == 0:
        return CohortTable(
            cohorts=np.zeros(0, np.int64), sizes=np.zeros(0, np.int64), offsets=offsets,
            counts=np.zeros((0, months + 1), np.int64), shares=np.zeros((0, months + 1)),
            observed=np.zeros((0, months + 1), np.bool_), last_month=last_month,
        )  # fmt: skip
    last = int(a.month.max()) if last_month is None else int(last_month)
    first = a.first_month[a.customer]
    keep = (a.month <= last) & (a.month - first <= months)
    cohorts, row = np.unique(first[keep], return_inverse=True)
    cells = row * (months + 1) + (a.month - first)[keep]
    counts = np.bincount(cells, minlength=cohorts.size * (months + 1))
    counts = counts.reshape(cohorts.size, months + 1).astype(np.int64)
    sizes = counts[:, 0].copy()
    observed = cohorts[:, None] + offsets[None, :] <= last
    return CohortTable(
        cohorts=cohorts.astype(np.int64), sizes=sizes, offsets=offsets, counts=counts,
        shares=counts / sizes[:, None], observed=observed, last_month=last,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class LeakyBucket:
    """The flows of the active customer base, one entry per calendar month ``months[j]``.

    A customer is *active at the end of month m* when they bought in one of the
    ``window_months`` months m - window_months + 1 .. m. For month m:

    - ``new``: customers whose first purchase month is m;
    - ``returning``: bought in m, not new, and active at the end of m - 1;
    - ``reactivated``: bought in m, not new, and not active at the end of m - 1 (lapsed before);
    - ``buyers`` = new + returning + reactivated: everyone who bought in m;
    - ``lapsed``: active at the end of m - 1 but not at the end of m (their last purchase was in
      month m - window_months and they did not buy in m);
    - ``active_start``: active at the end of m - 1; ``active_end``: active at the end of m;
    - ``net_change`` = active_end - active_start = new + reactivated - lapsed;
    - ``churn_rate`` = lapsed / active_start (0 when active_start is 0);
    - ``repeat_purchase_rate`` = (returning + reactivated) / buyers (0 when nobody bought).
    """

    months: npt.NDArray[np.int64]
    window_months: int
    new: npt.NDArray[np.int64]
    returning: npt.NDArray[np.int64]
    reactivated: npt.NDArray[np.int64]
    buyers: npt.NDArray[np.int64]
    lapsed: npt.NDArray[np.int64]
    active_start: npt.NDArray[np.int64]
    active_end: npt.NDArray[np.int64]
    net_change: npt.NDArray[np.int64]
    churn_rate: npt.NDArray[np.float64]
    repeat_purchase_rate: npt.NDArray[np.float64]


def leaky_bucket(
    first_month: npt.ArrayLike,
    active_customer: npt.ArrayLike,
    active_month: npt.ArrayLike,
    *,
    window_months: int = 6,
    start: int,
    end: int,
    include: npt.ArrayLike | None = None,
) -> LeakyBucket:
    """The leaky bucket for each month index from ``start`` to ``end`` (both included).

    See :class:`LeakyBucket` for the definitions. Pass the whole purchase history, not only the
    months from ``start``: whether a customer was active before ``start`` decides the first
    months' figures.
    """
    if window_months < 1:
        raise InvalidInput(f"window_months must be at least 1, got {window_months}")
    if start > end:
        raise InvalidInput(f"start ({start}) is after end ({end}): give months in order")
    a = _activity(first_month, active_customer, active_month, include)
    base = min(int(start), int(a.month.min()) if a.month.size else int(start))
    size = int(end) - base + 1
    same = np.zeros(a.customer.size, dtype=np.bool_)
    same[1:] = a.customer[1:] == a.customer[:-1]  # the pair continues the previous one's customer
    gap = np.zeros(a.customer.size, dtype=np.int64)
    gap[1:] = np.diff(a.month)
    returned = same & (gap <= window_months)
    ends_spell = np.ones(a.customer.size, dtype=np.bool_)  # no purchase for window_months after
    ends_spell[:-1] = ~returned[1:]

    def per_month(month: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        month = month[month <= end] - base
        return np.bincount(month, minlength=size).astype(np.int64)

    new = per_month(a.month[~same])
    returning = per_month(a.month[returned])
    reactivated = per_month(a.month[same & ~returned])
    lapsed = per_month(a.month[ends_spell] + window_months)
    active_end = np.cumsum(new + reactivated - lapsed)
    active_start = np.concatenate(([0], active_end[:-1]))
    window = slice(int(start) - base, size)
    return _bucket(np.arange(start, end + 1, dtype=np.int64), window_months, new[window],
                   returning[window], reactivated[window], lapsed[window],
                   active_start[window], active_end[window])  # fmt: skip


def _bucket(
    months: npt.NDArray[np.int64],
    window_months: int,
    new: npt.NDArray[np.int64],
    returning: npt.NDArray[np.int64],
    reactivated: npt.NDArray[np.int64],
    lapsed: npt.NDArray[np.int64],
    active_start: npt.NDArray[np.int64],
    active_end: npt.NDArray[np.int64],
) -> LeakyBucket:
    buyers = new + returning + reactivated
    return LeakyBucket(
        months=months, window_months=int(window_months), new=new, returning=returning,
        reactivated=reactivated, buyers=buyers, lapsed=lapsed, active_start=active_start,
        active_end=active_end, net_change=active_end - active_start,
        churn_rate=_ratio(lapsed, active_start),
        repeat_purchase_rate=_ratio(returning + reactivated, buyers),
    )  # fmt: skip


def _ratio(part: npt.NDArray[np.int64], whole: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``part / whole``, 0 where ``whole`` is 0."""
    return np.divide(part, whole, out=np.zeros(part.size), where=whole > 0)
