"""Uplift of a win-back campaign: reactivation in the treated group against the holdout.

The reactivation rate of each group is a proportion; the uplift is their difference. Its 95 %
confidence interval is Newcombe's hybrid score interval (Newcombe 1998, method 10), built from
the Wilson score interval of each proportion: it stays inside [-1, 1], behaves with small groups
and rates near 0 or 1 (where the normal approximation fails), and needs no continuity
correction. Pure Python (``statistics.NormalDist`` for the normal quantile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist

CONFIDENCE = 0.95


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(
    successes: int, n: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (``n`` > 0)."""
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n} trials")
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denominator = 1 + z2 / n
    low = (centre - spread) / denominator
    high = (centre + spread) / denominator
    # Exact at the edges (rounding would otherwise leave 1e-17 below 0 or above 1).
    return (0.0 if successes == 0 else max(0.0, low), 1.0 if successes == n else min(1.0, high))


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """``p1 - p2`` and its hybrid score interval (Newcombe's method 10): (difference, low, high)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence=confidence)
    l2, u2 = wilson_interval(x2, n2, confidence=confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return difference, max(-1.0, low), min(1.0, high)


@dataclass(frozen=True)
class Uplift:
    """Reactivation of the treated group against the holdout after a campaign.

    Rates and the difference are ``None`` when a group is empty (nothing to compare).
    ``complete`` is False while the observation window is still open.
    """

    treated: int
    treated_reactivated: int
    holdout: int
    holdout_reactivated: int
    treated_rate: float | None
    holdout_rate: float | None
    difference: float | None
    low: float | None
    high: float | None
    confidence: float = CONFIDENCE
    window_days: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    complete: bool = True

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero (the campaign changed the rate)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def as_json(self) -> dict[str, object]:
        return {
            "treated": self.treated,
            "treated_reactivated": self.treated_reactivated,
            "holdout": self.holdout,
            "holdout_reactivated": self.holdout_reactivated,
            "treated_rate": self.treated_rate,
            "holdout_rate": self.holdout_rate,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "window_days": self.window_days,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "complete": self.complete,
            "significant": self.significant,
        }


def uplift(
    treated: int,
    treated_reactivated: int,
    holdout: int,
    holdout_reactivated: int,
    *,
    confidence: float = CONFIDENCE,
    window_days: int = 0,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    complete: bool = True,
) -> Uplift:
    """The comparison from the four counts (rates None for an empty group)."""
    for count, size in ((treated_reactivated, treated), (holdout_reactivated, holdout)):
        if size < 0 or not 0 <= count <= size:
            raise ValueError(f"{count} reactivated out of {size}")
    treated_rate = treated_reactivated / treated if treated else None
    holdout_rate = holdout_reactivated / holdout if holdout else None
    difference = low = high = None
    if treated and holdout:
        difference, low, high = newcombe_interval(
            treated_reactivated, treated, holdout_reactivated, holdout, confidence=confidence
        )
    return Uplift(treated, treated_reactivated, holdout, holdout_reactivated, treated_rate,
                  holdout_rate, difference, low, high, confidence, window_days, window_start,
                  window_end, complete)  # fmt: skip
