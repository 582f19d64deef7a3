"""Retention economics: what a few more points of retention are worth to this shop.

Reichheld & Sasser ("Zero defections: quality comes to services", Harvard Business Review 68(5),
1990) showed that small rises in retention bring large rises in profit; Gupta & Lehmann
("Customers as assets", Journal of Interactive Marketing 17(1), 2003; Gupta, Lehmann & Stuart,
"Valuing customers", Journal of Marketing Research 41(1), 2004) value a customer as the discounted
margin of a geometrically decaying cohort, ``CLV = Σ_t m r^t / (1 + i)^t = m r / (1 + i - r)``.
This module applies that model to the shop's own figures, over a few years rather than forever,
and compares keeping customers with winning new ones.

The model: today's ``N`` active customers form one cohort; each year a share ``r`` (the annual
retention) of those still active stay, so ``N r^t`` are active in year t (customers who stop
buying do not come back, and no new customers are counted). Each customer active in year t brings
the margin ``m``, counted at the end of the year and discounted at the annual rate ``i`` by
``(1 + i)^-t``. A retention effort of ``u`` percentage points raises ``r`` to
``min(r + u / 100, 1)`` and costs ``u × retention_cost_per_point`` a year, counted like margin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guanxi.analytics.reasons import Reason, check_floats
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput


@dataclass(frozen=True, eq=False)
class RetentionTable:
    """The value of each retention uplift (rows) over each horizon in years (columns).

    ``uplifts``: percentage points added to annual retention; ``years``: horizons; ``retention``:
    the annual retention with each uplift (capped at 1). For uplift u and horizon T (arrays of
    shape ``(len(uplifts), len(years))``, money in yuan):

    - ``extra_customers``: ``N (r_u^T - r^T)``, extra customers still active at the end of year T;
    - ``extra_margin``: ``Σ_{t=1..T} N m (r_u^t - r^t) / (1 + i)^t``, extra discounted margin;
    - ``retention_cost``: ``Σ_{t=1..T} u c / (1 + i)^t``, the discounted cost of the effort;
    - ``net_value``: ``extra_margin - retention_cost``;
    - ``acquisition_cost``: ``extra_customers × acquisition cost``, what winning as many new
      customers would cost at today's price instead.

    ``baseline_customers`` and ``baseline_margin`` (one per horizon) are ``N r^T`` and
    ``Σ_{t=1..T} N m r^t / (1 + i)^t`` without any effort. ``assumptions`` say it all in words.
    """

    uplifts: npt.NDArray[np.float64]
    years: npt.NDArray[np.int64]
    retention: npt.NDArray[np.float64]
    extra_customers: npt.NDArray[np.float64]
    extra_margin: npt.NDArray[np.float64]
    retention_cost: npt.NDArray[np.float64]
    net_value: npt.NDArray[np.float64]
    acquisition_cost: npt.NDArray[np.float64]
    baseline_customers: npt.NDArray[np.float64]
    baseline_margin: npt.NDArray[np.float64]
    assumptions: tuple[Reason, ...]


def retention_value(
    *,
    active_customers: int,
    annual_retention: float,
    annual_margin_per_customer: float,
    annual_discount_rate: float,
    acquisition_cost: float,
    retention_cost_per_point: float,
    uplifts: Iterable[float] = range(1, 11),
    years: Iterable[int] = (1, 2, 3),
) -> RetentionTable:
    """The retention economics table (see :class:`RetentionTable` and the module docstring).

    ``annual_retention`` (0..1) is the share of active customers who buy again within a year;
    ``annual_margin_per_customer`` the yearly margin of an active customer in yuan;
    ``annual_discount_rate`` (>= 0, e.g. 0.08) the yearly cost of money; ``acquisition_cost`` what
    winning one new customer costs; ``retention_cost_per_point`` what raising annual retention by
    one percentage point costs a year, in total for the shop. ``uplifts`` are in percentage points
    (>= 0; 0 gives a row of zeros), ``years`` whole years (>= 1).
    """
    n = _check_number("active_customers", active_customers, whole=True)
    r = _check_number("annual_retention", annual_retention, upper=1.0)
    m = _check_number("annual_margin_per_customer", annual_margin_per_customer, lower=None)
    i = _check_number("annual_discount_rate", annual_discount_rate)
    acquire = _check_number("acquisition_cost", acquisition_cost)
    c = _check_number("retention_cost_per_point", retention_cost_per_point)
    u = check_floats("uplifts", list(uplifts), lower=0.0)
    horizons = check_floats("years", list(years), lower=1.0)
    if u.size == 0 or horizons.size == 0:
        raise InvalidInput("uplifts and years must each hold at least one value")
    if np.any(horizons != np.round(horizons)):
        raise InvalidInput(f"years must be whole numbers of years, got {horizons.tolist()}")
    years_int = horizons.astype(np.int64)

    t = np.arange(1, int(years_int.max()) + 1, dtype=np.float64)  # years 1..T_max
    discount = (1.0 + i) ** -t
    raised = np.minimum(r + u / 100.0, 1.0)
    extra_active = n * (raised[:, None] ** t[None, :] - r ** t[None, :])  # (uplifts, years)
    cumulative_margin = np.cumsum(extra_active * m * discount, axis=1)
    cumulative_cost = np.cumsum(u[:, None] * c * discount[None, :], axis=1)
    column = years_int - 1
    extra_customers = extra_active[:, column]
    extra_margin = cumulative_margin[:, column]
    cost = cumulative_cost[:, column]
    return RetentionTable(
        uplifts=u, years=years_int, retention=raised, extra_customers=extra_customers,
        extra_margin=extra_margin, retention_cost=cost, net_value=extra_margin - cost,
        acquisition_cost=extra_customers * acquire,
        baseline_customers=(n * r**t)[column],
        baseline_margin=np.cumsum(n * r**t * m * discount)[column],
        assumptions=_assumptions(int(n), r, m, i, acquire, c),
    )  # fmt: skip


def _check_number(
    name: str, value: float, *, lower: float | None = 0.0, upper: float | None = None,
    whole: bool = False,
) -> float:  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInput(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")
    if lower is not None and number < lower:
        raise InvalidInput(f"{name} must be >= {lower:g}, got {value!r}")
    if upper is not None and number > upper:
        raise InvalidInput(f"{name} must be <= {upper:g}, got {value!r}")
    if whole and number != round(number):
        raise InvalidInput(f"{name} must be a whole number, got {value!r}")
    return number


def _assumptions(
    n: int, retention: float, margin: float, discount: float, acquire: float, cost: float
) -> tuple[Reason, ...]:
    return (
        Reason(gettext_noop("{n} active customers today."), {"n": n}),
        Reason(gettext_noop("{rate:.0%} of them buy again within a year."), {"rate": retention}),
        Reason(gettext_noop("Each active customer brings ¥{margin:,.2f} margin a year."),
               {"margin": margin}),
        Reason(gettext_noop("Future margins and costs are counted at the end of each year and "
                            "discounted at {rate:.1%} a year."), {"rate": discount}),
        Reason(gettext_noop("Raising retention by one percentage point costs ¥{cost:,.2f} a "
                            "year."), {"cost": cost}),
        Reason(gettext_noop("Winning a new customer costs ¥{cost:,.2f}."), {"cost": acquire}),
        Reason(gettext_noop("Customers who stop buying do not come back, retention cannot exceed "
                            "100%, and new customers are not counted.")),
    )  # fmt: skip
