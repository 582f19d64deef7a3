"""RFM: recency, frequency and monetary scores, the classic named segments and China's 8 classes.

RFM scoring goes back to direct marketing (Hughes, *Strategic Database Marketing*, 1994): rank
customers on how recently they bought (R), how often (F) and how much (M), and cut each ranking
into quintiles scored 1 (worst) to 5 (best). The named segments are the widely used R × FM grid
(Champions, Loyal customers, …, Lost) popularised by RFM tools such as Putler's; the 8-class model
(重要价值客户 … 一般挽留客户) is the high/low split against the average that Chinese CRM texts and
retail systems use.

Every function takes one entry per customer and is vectorised; the caller passes buyers only
(customers with no purchase have no recency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from guanxi.analytics.reasons import (
    check_counts,
    check_floats,
    check_ints,
    check_same_length,
)
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput


@dataclass(frozen=True, eq=False)
class RfmScores:
    """Quintile scores 1..5 per customer; 5 is best (most recent, most frequent, highest spend)."""

    r: npt.NDArray[np.int8]
    f: npt.NDArray[np.int8]
    m: npt.NDArray[np.int8]

    def __post_init__(self) -> None:
        for name in ("r", "f", "m"):
            values = check_ints(f"RFM score {name}", getattr(self, name))
            if values.size and (values.min() < 1 or values.max() > 5):
                raise InvalidInput(
                    f"RFM score {name} must lie in 1..5, got values from {values.min()} to "
                    f"{values.max()}"
                )
            object.__setattr__(self, name, values.astype(np.int8))
        check_same_length(r=self.r, f=self.f, m=self.m)

    def __len__(self) -> int:
        return int(self.r.size)

    @property
    def fm(self) -> npt.NDArray[np.int8]:
        """The FM score: the average of F and M rounded half up, i.e. ``ceil((f + m) / 2)``."""
        total = self.f.astype(np.int16) + self.m.astype(np.int16)
        return ((total + 1) // 2).astype(np.int8)


def quintile_scores(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    """Score 1..5 by rank: the quintile of each value's mid-rank percentile (larger is better).

    With ``rank`` the 1-based ascending rank (ties get the average of their ranks) and ``n`` the
    number of values, the score is ``floor(5 * (rank - 1/2) / n) + 1``: the quintile in which the
    percentile ``(rank - 1/2) / n`` falls. Equal values therefore get equal scores; distinct values
    fill the five scores as evenly as possible (sizes differ by at most one); all-equal values and
    a single value get the neutral 3; two values get 2 and 4. The computation is exact (integers
    only).
    """
    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)  # the highest rank in each group of equal values
    twice_rank = (2 * last_rank - counts + 1)[inverse]  # twice the average rank, an integer
    return ((5 * (twice_rank - 1)) // (2 * n) + 1).astype(np.int8)


def rfm_scores(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> RfmScores:
    """Quintile scores R, F and M by rank among the customers passed (see :func:`quintile_scores`).

    ``recency_days``: days since the last purchase (>= 0; fewer days score higher).
    ``frequency``: number of purchases or purchase days (a count >= 0; more scores higher).
    ``monetary``: spend or margin in yuan (any finite number, net of returns; more scores higher).
    """
    recency = check_floats("recency_days", recency_days, lower=0.0)
    freq = check_counts("frequency", frequency).astype(np.float64)
    money = check_floats("monetary", monetary)
    check_same_length(recency_days=recency, frequency=freq, monetary=money)
    return RfmScores(r=quintile_scores(-recency), f=quintile_scores(freq), m=quintile_scores(money))


@dataclass(frozen=True)
class Segment:
    """A named RFM segment: stable key, English label and description (both translatable)."""

    key: str
    label: str
    description: str


SEGMENTS: tuple[Segment, ...] = (
    Segment("champions", gettext_noop("Champions"),
            gettext_noop("Bought recently, buy often and spend the most.")),
    Segment("loyal_customers", gettext_noop("Loyal customers"),
            gettext_noop("Buy often and spend well; respond to recognition.")),
    Segment("potential_loyalists", gettext_noop("Potential loyalists"),
            gettext_noop("Recent customers with average frequency and spend; could become loyal.")),
    Segment("new_customers", gettext_noop("New customers"),
            gettext_noop("Bought very recently but not often or much yet.")),
    Segment("promising", gettext_noop("Promising"),
            gettext_noop("Bought fairly recently but not often or much yet.")),
    Segment("need_attention", gettext_noop("Need attention"),
            gettext_noop("Average recency, frequency and spend; may slip without attention.")),
    Segment("about_to_sleep", gettext_noop("About to sleep"),
            gettext_noop("Below-average recency, frequency and spend; will be lost without "
                         "reactivation.")),
    Segment("at_risk", gettext_noop("At risk"),
            gettext_noop("Used to buy often and spend well, but not for a long time.")),
    Segment("cant_lose_them", gettext_noop("Can't lose them"),
            gettext_noop("Were among the best customers but have not bought for a long time.")),
    Segment("hibernating", gettext_noop("Hibernating"),
            gettext_noop("Last bought long ago; few purchases and low spend.")),
    Segment("lost", gettext_noop("Lost"),
            gettext_noop("Lowest recency, frequency and spend.")),
)  # fmt: skip

SEGMENT_KEYS: tuple[str, ...] = tuple(segment.key for segment in SEGMENTS)

# SEGMENT_GRID[r - 1][fm - 1]: the segment of each cell of the R x FM grid (FM = ceil((f + m)/2)).
# The cells follow the widely used grid: champions R5 FM4-5; loyal R3-4 FM4-5; potential
# loyalists R4-5 FM2-3; new R5 FM1; promising R4 FM1; need attention R3 FM3; about to sleep
# R3 FM1-2; at risk R1-2 FM3-4; can't lose them R1-2 FM5; hibernating R2 FM1-2; lost R1 FM1-2.
SEGMENT_GRID: tuple[tuple[str, ...], ...] = (
    ("lost", "lost", "at_risk", "at_risk", "cant_lose_them"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose_them"),
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal_customers", "loyal_customers"),
    ("promising", "potential_loyalists", "potential_loyalists", "loyal_customers",
     "loyal_customers"),
    ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
)  # fmt: skip

_GRID_INDEX = np.array([[SEGMENT_KEYS.index(key) for key in row] for row in SEGMENT_GRID])


def rfm_segment(scores: RfmScores) -> npt.NDArray[np.str_]:
    """The segment key of each customer, looked up in :data:`SEGMENT_GRID` by R and FM.

    FM is the average of F and M rounded half up (:attr:`RfmScores.fm`); every (r, f, m) in
    1..5³ falls in exactly one segment.
    """
    index = _GRID_INDEX[scores.r.astype(np.intp) - 1, scores.fm.astype(np.intp) - 1]
    keys: npt.NDArray[np.str_] = np.asarray(SEGMENT_KEYS, dtype=np.str_)[index]
    return keys


@dataclass(frozen=True)
class ChinaClass:
    """One class of the 8-class RFM model: key, English label, Chinese name, description."""

    key: str
    label: str
    name_zh: str
    description: str


CHINA_CLASSES: tuple[ChinaClass, ...] = (
    ChinaClass("important_value", gettext_noop("Important value"), "重要价值客户",
               gettext_noop("Recent, frequent and high-spending: keep them delighted.")),
    ChinaClass("important_development", gettext_noop("Important development"), "重要发展客户",
               gettext_noop("Recent and high-spending but infrequent: raise how often they buy.")),
    ChinaClass("important_retention", gettext_noop("Important retention"), "重要保持客户",
               gettext_noop("Frequent and high-spending but not recent: contact them to keep "
                            "them.")),
    ChinaClass("important_winback", gettext_noop("Important win-back"), "重要挽留客户",
               gettext_noop("High-spending but neither recent nor frequent: win them back.")),
    ChinaClass("general_value", gettext_noop("General value"), "一般价值客户",
               gettext_noop("Recent and frequent but low-spending: raise the basket.")),
    ChinaClass("general_development", gettext_noop("General development"), "一般发展客户",
               gettext_noop("Recent but infrequent and low-spending: new or occasional "
                            "customers.")),
    ChinaClass("general_retention", gettext_noop("General retention"), "一般保持客户",
               gettext_noop("Frequent but neither recent nor high-spending.")),
    ChinaClass("general_winback", gettext_noop("General win-back"), "一般挽留客户",
               gettext_noop("Low on recency, frequency and spend.")),
)  # fmt: skip

CHINA_CLASS_KEYS: tuple[str, ...] = tuple(c.key for c in CHINA_CLASSES)


def china_rfm_class(
    recency_days: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    *,
    reference: Literal["mean", "median"] = "mean",
) -> npt.NDArray[np.str_]:
    """The 8-class RFM key of each customer (``"important_value"`` … ``"general_winback"``).

    Each of R, F and M is *high* or *low* against the ``reference`` (the mean or the median over
    the customers passed): R is high when ``recency_days`` is strictly below the reference (more
    recent than average), F and M are high when strictly above it; a value equal to the reference
    (within floating-point rounding: a relative 1e-9) counts as low. M decides important (重要,
    M high) or general (一般, M low); R and F then give value (价值: R high, F high), development
    (发展: R high, F low), retention (保持: R low, F high) or win-back (挽留: R low, F low), in the
    order of :data:`CHINA_CLASSES`.
    """
    if reference not in ("mean", "median"):
        raise InvalidInput(f"reference must be 'mean' or 'median', got {reference!r}")
    recency = check_floats("recency_days", recency_days, lower=0.0)
    freq = check_counts("frequency", frequency).astype(np.float64)
    money = check_floats("monetary", monetary)
    if check_same_length(recency_days=recency, frequency=freq, monetary=money) == 0:
        return np.zeros(0, dtype=np.str_)
    r_low = ~_above(-recency, reference)
    f_low = ~_above(freq, reference)
    m_low = ~_above(money, reference)
    index = 4 * m_low.astype(np.intp) + 2 * r_low.astype(np.intp) + f_low.astype(np.intp)
    keys: npt.NDArray[np.str_] = np.asarray(CHINA_CLASS_KEYS, dtype=np.str_)[index]
    return keys


def _above(values: npt.NDArray[np.float64], reference: str) -> npt.NDArray[np.bool_]:
    """Whether each value is above the mean or median, beyond rounding (all-equal: none is)."""
    centre = float(np.mean(values) if reference == "mean" else np.median(values))
    return values > centre + 1e-9 * max(1.0, abs(centre))
