"""The loyalty ladder (忠诚阶梯): where each customer stands, why, and how customers move.

The ladder of relationship marketing (Christopher, Payne & Ballantyne, *Relationship Marketing*,
1991; Raphel & Raphel, *Loyalty Ladder*, 1995) climbs from prospect to first-time customer,
repeat customer, loyal customer and advocate; lapsed and lost are the exits. Guanxi places each
customer on one rung from purchase days, recency, the BG/NBD or Pareto/NBD probability of still
being a customer (P(alive)), referrals and the NPS answer, with thresholds a shop can change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guanxi.analytics.reasons import (
    Reason,
    check_counts,
    check_flags,
    check_floats,
    check_same_length,
)
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput


@dataclass(frozen=True)
class Rung:
    """One rung of the ladder: stable key, English label and description (translatable)."""

    key: str
    label: str
    description: str


RUNGS: tuple[Rung, ...] = (
    Rung("prospect", gettext_noop("Prospect"),
         gettext_noop("In the archive but has never bought.")),
    Rung("first_time", gettext_noop("First-time customer"),
         gettext_noop("Has bought on one day.")),
    Rung("repeat", gettext_noop("Repeat customer"),
         gettext_noop("Has bought on two or more days.")),
    Rung("loyal", gettext_noop("Loyal customer"),
         gettext_noop("Buys regularly: many purchase days, likely still a customer, bought "
                      "recently.")),
    Rung("advocate", gettext_noop("Advocate"),
         gettext_noop("A repeat or loyal customer who recommends the shop: referred a customer "
                      "who bought, or is an NPS promoter.")),
    Rung("lapsed", gettext_noop("Lapsed"),
         gettext_noop("Has not bought for a long time, or is unlikely to still be a customer.")),
    Rung("lost", gettext_noop("Lost"),
         gettext_noop("Has not bought for so long, or is so unlikely to buy again, that the "
                      "customer counts as gone.")),
)  # fmt: skip

RUNG_KEYS: tuple[str, ...] = tuple(rung.key for rung in RUNGS)

NEW_TO_ARCHIVE = "new_to_archive"
"""The "before" key of a customer who was not in the archive at the earlier snapshot."""

MOVEMENT_KEYS: tuple[str, ...] = (NEW_TO_ARCHIVE, *RUNG_KEYS)


@dataclass(frozen=True)
class LadderThresholds:
    """The rules that place a customer on a rung; the defaults suit a shop bought from monthly.

    - ``loyal_min_purchases`` (4): purchase days needed to be loyal.
    - ``loyal_min_p_alive`` (0.7): P(alive) needed to be loyal (ignored where P(alive) is NaN).
    - ``active_days`` (90): a loyal customer bought within this many days.
    - ``lapsed_after_days`` (180): lapsed when the last purchase is more than this many days ago…
    - ``lapsed_p_alive`` (0.5): … or P(alive) is below this.
    - ``lost_after_days`` (365): lost when the last purchase is more than this many days ago…
    - ``lost_p_alive`` (0.2): … or P(alive) is below this and the last purchase is more than
      ``active_days`` ago (a frequent buyer's short pause is not a loss).
    """

    loyal_min_purchases: int = 4
    loyal_min_p_alive: float = 0.7
    active_days: float = 90
    lapsed_after_days: float = 180
    lapsed_p_alive: float = 0.5
    lost_after_days: float = 365
    lost_p_alive: float = 0.2

    def __post_init__(self) -> None:
        if self.loyal_min_purchases < 2:
            raise InvalidInput(
                f"loyal_min_purchases must be at least 2 (loyal customers are repeat customers), "
                f"got {self.loyal_min_purchases}"
            )
        if not 0 < self.active_days <= self.lapsed_after_days < self.lost_after_days:
            raise InvalidInput(
                "day thresholds must satisfy 0 < active_days <= lapsed_after_days < "
                f"lost_after_days, got {self.active_days}, {self.lapsed_after_days}, "
                f"{self.lost_after_days}"
            )
        if not 0 <= self.lost_p_alive <= self.lapsed_p_alive <= self.loyal_min_p_alive <= 1:
            raise InvalidInput(
                "P(alive) thresholds must satisfy 0 <= lost_p_alive <= lapsed_p_alive <= "
                f"loyal_min_p_alive <= 1, got {self.lost_p_alive}, {self.lapsed_p_alive}, "
                f"{self.loyal_min_p_alive}"
            )


@dataclass(frozen=True, eq=False)
class _Evidence:
    """The rule outcomes per customer, shared by :func:`ladder_rungs` and :func:`explain_rung`."""

    prospect: npt.NDArray[np.bool_]
    lost_days: npt.NDArray[np.bool_]
    lost_p: npt.NDArray[np.bool_]
    lapsed_days: npt.NDArray[np.bool_]
    lapsed_p: npt.NDArray[np.bool_]
    repeat: npt.NDArray[np.bool_]
    advocacy: npt.NDArray[np.bool_]
    loyal_days: npt.NDArray[np.bool_]
    loyal_p: npt.NDArray[np.bool_]
    loyal_recent: npt.NDArray[np.bool_]

    def rungs(self) -> npt.NDArray[np.str_]:
        exits = ~self.prospect
        conditions = [
            self.prospect,
            exits & (self.lost_days | self.lost_p),
            exits & (self.lapsed_days | self.lapsed_p),
            self.repeat & self.advocacy,
            self.loyal_days & self.loyal_p & self.loyal_recent,
            self.repeat,
        ]
        choices = ["prospect", "lost", "lapsed", "advocate", "loyal", "repeat"]
        return np.asarray(np.select(conditions, choices, default="first_time"), dtype=np.str_)


def _evidence(
    purchase_days: npt.ArrayLike,
    days_since_last: npt.ArrayLike,
    p_alive: npt.ArrayLike,
    referrals: npt.ArrayLike,
    is_promoter: npt.ArrayLike,
    thresholds: LadderThresholds,
) -> _Evidence:
    days = check_counts("purchase_days", purchase_days)
    since = check_floats("days_since_last", days_since_last, allow_nan=True, lower=0.0)
    # Model output may stray from [0, 1] by rounding: accept and clip within 1e-9.
    alive = check_floats("p_alive", p_alive, allow_nan=True, lower=-1e-9, upper=1.0 + 1e-9)
    alive = np.clip(alive, 0.0, 1.0)
    referred = check_counts("referrals", referrals)
    promoter = check_flags("is_promoter", is_promoter)
    check_same_length(purchase_days=days, days_since_last=since, p_alive=alive,
                      referrals=referred, is_promoter=promoter)  # fmt: skip
    missing = (days > 0) & np.isnan(since)
    if missing.any():
        index = int(np.flatnonzero(missing)[0])
        raise InvalidInput(
            f"days_since_last is NaN for {int(missing.sum())} customer(s) who bought (first at "
            f"index {index}, {days[index]} purchase days): only prospects may have no last purchase"
        )
    t = thresholds
    return _Evidence(
        prospect=days == 0,
        lost_days=since > t.lost_after_days,
        # P(alive) alone calls nobody lost within active_days of a purchase: a frequent buyer's
        # pause of a few weeks makes them lapsed (at risk) at most.
        lost_p=(alive < t.lost_p_alive) & (since > t.active_days),
        lapsed_days=since > t.lapsed_after_days,
        lapsed_p=alive < t.lapsed_p_alive,
        repeat=days >= 2,
        advocacy=(referred > 0) | promoter,
        loyal_days=days >= t.loyal_min_purchases,
        loyal_p=np.isnan(alive) | (alive >= t.loyal_min_p_alive),
        loyal_recent=since <= t.active_days,
    )


def ladder_rungs(
    purchase_days: npt.ArrayLike,
    days_since_last: npt.ArrayLike,
    p_alive: npt.ArrayLike,
    referrals: npt.ArrayLike,
    is_promoter: npt.ArrayLike,
    thresholds: LadderThresholds | None = None,
) -> npt.NDArray[np.str_]:
    """The rung key of each customer, by the first rule that applies, in this order.

    Inputs per customer: ``purchase_days`` (distinct days with a purchase, >= 0),
    ``days_since_last`` (days since the last purchase; NaN only for prospects), ``p_alive``
    (0..1, NaN where no model was fitted: then only the day rules apply), ``referrals``
    (customers referred who have bought), ``is_promoter`` (answered 9-10 to the NPS question).

    1. ``prospect``: no purchase day.
    2. ``lost``: last purchase more than ``lost_after_days`` ago, or P(alive) < ``lost_p_alive``
       with no purchase for more than ``active_days``.
    3. ``lapsed``: last purchase more than ``lapsed_after_days`` ago, or P(alive) <
       ``lapsed_p_alive``.
    4. ``advocate``: 2+ purchase days (repeat or loyal) and at least one referral who bought or
       an NPS promoter.
    5. ``loyal``: at least ``loyal_min_purchases`` purchase days, P(alive) >=
       ``loyal_min_p_alive`` (or NaN) and last purchase at most ``active_days`` ago.
    6. ``repeat``: 2+ purchase days.
    7. ``first_time``: one purchase day.

    The exits come first: a customer who stopped buying is lapsed or lost whatever they did
    before.
    """
    t = thresholds or LadderThresholds()
    return _evidence(purchase_days, days_since_last, p_alive, referrals, is_promoter, t).rungs()


def explain_rung(
    purchase_days: int,
    days_since_last: float | None,
    p_alive: float | None,
    referrals: int,
    is_promoter: bool,
    thresholds: LadderThresholds | None = None,
) -> list[Reason]:
    """Why ONE customer stands on their rung: the facts, then the rule(s) that decided it.

    The arguments are those of :func:`ladder_rungs` for one customer; None (as stored in JSON)
    means the same as NaN: no last purchase, no P(alive) estimate.
    """
    t = thresholds or LadderThresholds()
    days_since_last = math.nan if days_since_last is None else float(days_since_last)
    p_alive = math.nan if p_alive is None else float(p_alive)
    e = _evidence([purchase_days], [days_since_last], [p_alive], [referrals], [is_promoter], t)
    rung = str(e.rungs()[0])
    if rung == "prospect":
        return [Reason(gettext_noop("In the archive but has never bought: prospect."))]
    since = round(days_since_last)
    reasons = [
        Reason(gettext_noop("Bought on {days} different days; last purchase {since} days ago."),
               {"days": purchase_days, "since": since})
        if purchase_days > 1
        else Reason(gettext_noop("Bought on one day; last purchase {since} days ago."),
                    {"since": since}),
        Reason(gettext_noop("P(alive) {p_alive:.0%}: the estimated probability that the customer "
                            "still buys here."), {"p_alive": p_alive})
        if not math.isnan(p_alive)
        else Reason(gettext_noop("No P(alive) estimate for this customer: only the day rules "
                                 "apply.")),
    ]  # fmt: skip
    if rung in ("lost", "lapsed"):
        return reasons + _exit_reasons(rung, e, t)
    if rung == "advocate":
        return reasons + _advocate_reasons(referrals, is_promoter)
    return reasons + _climb_reasons(rung, e, t, known_p=not math.isnan(p_alive))


def _exit_reasons(rung: str, e: _Evidence, t: LadderThresholds) -> list[Reason]:
    if rung == "lost":
        by_days, by_p = bool(e.lost_days[0]), bool(e.lost_p[0])
        days = gettext_noop("No purchase for more than {limit} days: lost.")
        p = gettext_noop(
            "P(alive) is below {limit:.0%} and no purchase for more than {days} days: lost."
        )
        limits = (t.lost_after_days, t.lost_p_alive)
    else:
        by_days, by_p = bool(e.lapsed_days[0]), bool(e.lapsed_p[0])
        days = gettext_noop("No purchase for more than {limit} days: lapsed.")
        p = gettext_noop("P(alive) is below {limit:.0%}: lapsed.")
        limits = (t.lapsed_after_days, t.lapsed_p_alive)
    out = [Reason(days, {"limit": limits[0]})] if by_days else []
    p_values: dict[str, float | int] = {"limit": limits[1]}
    if rung == "lost":
        p_values["days"] = t.active_days
    return out + ([Reason(p, p_values)] if by_p else [])


def _advocate_reasons(referrals: int, is_promoter: bool) -> list[Reason]:
    out = []
    if referrals > 0:
        out.append(Reason(gettext_noop("Referred {referrals} customer(s) who bought: advocate."),
                          {"referrals": referrals}))  # fmt: skip
    if is_promoter:
        out.append(Reason(gettext_noop("Is a promoter in the NPS survey: advocate.")))
    return out


def _climb_reasons(rung: str, e: _Evidence, t: LadderThresholds, *, known_p: bool) -> list[Reason]:
    limits = {"min_days": t.loyal_min_purchases, "min_p_alive": t.loyal_min_p_alive,
              "active_days": t.active_days}  # fmt: skip
    if rung == "loyal":
        template = (
            gettext_noop("At least {min_days} purchase days, P(alive) at least {min_p_alive:.0%} "
                         "and a purchase in the last {active_days} days: loyal.")
            if known_p
            else gettext_noop("At least {min_days} purchase days and a purchase in the last "
                              "{active_days} days: loyal.")
        )  # fmt: skip
        return [Reason(template, limits)]
    if rung == "first_time":
        return [Reason(gettext_noop("Bought on one day only: first-time customer."))]
    out = [Reason(gettext_noop("Bought on two or more days: repeat customer."))]
    if not e.loyal_days[0]:
        out.append(Reason(gettext_noop("Not yet loyal: fewer than {min_days} purchase days."),
                          {"min_days": t.loyal_min_purchases}))  # fmt: skip
    if not e.loyal_p[0]:
        out.append(Reason(gettext_noop("Not yet loyal: P(alive) is below {min_p_alive:.0%}."),
                          {"min_p_alive": t.loyal_min_p_alive}))  # fmt: skip
    if not e.loyal_recent[0]:
        out.append(Reason(gettext_noop("Not yet loyal: no purchase in the last {active_days} "
                                       "days."), {"active_days": t.active_days}))  # fmt: skip
    return out


def ladder_movements(
    before: npt.ArrayLike, after: npt.ArrayLike
) -> tuple[tuple[str, ...], npt.NDArray[np.int64]]:
    """How many customers moved from each rung to each rung between two snapshots.

    ``before`` and ``after`` hold one rung key per customer, aligned (entry i is the same
    customer in both): the caller takes the customers of the later snapshot and looks up each
    one's rung in the earlier snapshot. A customer who was not in the archive at the earlier
    snapshot has ``before`` = :data:`NEW_TO_ARCHIVE` (``"new_to_archive"``), a row of its own so
    that new walk-in customers are not mixed up with prospects who bought at last. Customers
    erased between the snapshots are left out by the caller.

    Returns ``(keys, matrix)`` with ``keys`` = :data:`MOVEMENT_KEYS` (``"new_to_archive"``, then
    the rungs in ladder order) for both rows and columns: ``matrix[i, j]`` counts customers on
    rung ``keys[i]`` before and ``keys[j]`` after; the ``"new_to_archive"`` column is all zeros.
    The diagonal counts customers who stayed; the matrix sums to the number of customers.
    """
    rows = _key_indexes("before", before, MOVEMENT_KEYS)
    columns = _key_indexes("after", after, RUNG_KEYS) + 1
    check_same_length(before=rows, after=columns)
    size = len(MOVEMENT_KEYS)
    counts = np.bincount(rows * size + columns, minlength=size * size)
    return MOVEMENT_KEYS, counts.reshape(size, size).astype(np.int64)


def _key_indexes(name: str, values: npt.ArrayLike, keys: tuple[str, ...]) -> npt.NDArray[np.intp]:
    """The position of each value in ``keys``; InvalidInput naming the first unknown key."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(f"{name} must be a 1-D array of rung keys, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.intp)
    array = array.astype(np.str_)
    known = np.asarray(keys, dtype=np.str_)
    order = np.argsort(known)
    found = np.clip(np.searchsorted(known[order], array), 0, known.size - 1)
    index = order[found]
    unknown = known[index] != array
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise InvalidInput(
            f"{name} holds {int(unknown.sum())} unknown rung key(s), first {array[first]!r} at "
            f"index {first}; expected one of {', '.join(keys)}"
        )
    return index.astype(np.intp)
