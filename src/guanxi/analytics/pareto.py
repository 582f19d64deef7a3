"""The 80/20 rule: how concentrated revenue (or margin) is among customers.

Pareto's observation, applied to customers, says a minority of buyers brings most of the value.
This module measures it on the shop's own data with the share of the total held by the top
customers, the Gini coefficient and the Lorenz curve (Lorenz 1905; Gini 1912), the standard
measures of concentration.

The caller passes one value per customer: net revenue or net margin, in yuan. Negative net values
(customers whose returns exceed their purchases) are clipped at 0 before anything is computed: a
customer cannot hold a negative share of the total, and the Lorenz curve stays monotone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guanxi.analytics.reasons import check_floats
from guanxi.errors import InvalidInput

MAX_LORENZ_POINTS = 101


@dataclass(frozen=True, eq=False)
class LorenzCurve:
    """Points of the Lorenz curve, for a chart: from (0, 0) to (1, 1).

    ``x[i]`` is a share of customers, poorest first; ``y[i]`` the share of the total they hold.
    With n <= 100 customers these are the exact n + 1 corners ``(i / n, L(i / n))``; with more,
    the curve is sampled at x = 0, 0.01, …, 1 (101 points) by linear interpolation between the
    corners, which keeps it monotone and convex.
    """

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Concentration:
    """How concentrated the values are.

    ``n``: customers passed; ``total``: sum after clipping negatives at 0; ``clipped``: how many
    negative values were clipped; ``top_share``: the share of customers called "top" (0.2);
    ``top_share_of_total``: the share of ``total`` those top customers hold; ``gini``: the Gini
    coefficient in [0, (n - 1) / n]; ``lorenz``: the curve for a chart.

    When ``n`` is 0 or ``total`` is 0 there is nothing to concentrate: the result is defined as
    perfect equality (``top_share_of_total = top_share``, ``gini = 0``, the diagonal as the
    curve) so pages and JSON never see NaN; callers who want to say "no sales yet" test
    ``total == 0``.
    """

    n: int
    total: float
    clipped: int
    top_share: float
    top_share_of_total: float
    gini: float
    lorenz: LorenzCurve


def concentration(values: npt.ArrayLike, *, top_share: float = 0.2) -> Concentration:
    """Top-customer share, Gini coefficient and Lorenz curve of one value per customer.

    Definitions, with the clipped values sorted (ascending ``a``, descending ``d``) and ``S`` their
    sum:

    - ``top_share_of_total``: with ``k = top_share * n`` (not necessarily whole), the top
      ``floor(k)`` customers count in full and the next one in proportion to the fraction of
      ``k``: ``(d[0] + … + d[floor(k) - 1] + frac(k) * d[floor(k)]) / S``. This is linear
      interpolation of the cumulative curve, so 20 % of 7 customers counts the top customer and
      40 % of the second. It is never below ``top_share``.
    - ``gini``: one minus twice the area under the Lorenz curve drawn through the corners
      ``(i / n, (a[0] + … + a[i - 1]) / S)``, i.e. ``(2 Σ i·a[i-1]) / (n S) - (n + 1) / n``.

    NaN or infinite values raise InvalidInput; ``top_share`` must lie in (0, 1].
    """
    if not 0.0 < top_share <= 1.0:  # also refuses NaN
        raise InvalidInput(f"top_share must be in (0, 1], got {top_share!r} (e.g. 0.2 for 20 %)")
    raw = check_floats("values", values)
    clipped = int(np.count_nonzero(raw < 0))
    ascending = np.sort(np.clip(raw, 0.0, None))
    n = int(ascending.size)
    total = float(ascending.sum())
    if n == 0 or total <= 0.0:
        points = np.linspace(0.0, 1.0, min(max(n, 1), MAX_LORENZ_POINTS - 1) + 1)
        return Concentration(
            n=n, total=0.0, clipped=clipped, top_share=top_share, top_share_of_total=top_share,
            gini=0.0, lorenz=LorenzCurve(x=points, y=points.copy()),
        )  # fmt: skip
    cumulative = np.concatenate(([0.0], np.cumsum(ascending))) / total
    cumulative[-1] = 1.0
    corners = np.arange(n + 1, dtype=np.float64) / n
    area = float(np.sum(cumulative[1:] + cumulative[:-1])) / (2 * n)
    return Concentration(
        n=n, total=total, clipped=clipped, top_share=top_share,
        top_share_of_total=_top_share_of_total(ascending[::-1], top_share, total),
        gini=min(max(1.0 - 2.0 * area, 0.0), 1.0),
        lorenz=_sample(corners, cumulative),
    )  # fmt: skip


def _top_share_of_total(descending: npt.NDArray[np.float64], share: float, total: float) -> float:
    k = share * descending.size
    whole = min(int(math.floor(k)), descending.size)
    held = float(descending[:whole].sum())
    if whole < descending.size:
        held += (k - whole) * float(descending[whole])
    return min(max(held / total, share), 1.0)


def _sample(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> LorenzCurve:
    if x.size <= MAX_LORENZ_POINTS:
        return LorenzCurve(x=x, y=y)
    grid = np.linspace(0.0, 1.0, MAX_LORENZ_POINTS)
    sampled = np.interp(grid, x, y)
    sampled[0], sampled[-1] = 0.0, 1.0
    return LorenzCurve(x=grid, y=sampled)
