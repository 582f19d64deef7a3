"""Loyalty types (忠诚类型): why a customer keeps coming back, told from the evidence.

Loyalty has an attitudinal and a behavioural side (Dick & Basu 1994, "Customer loyalty: toward an
integrated conceptual framework", JAMS 22(2)); Oliver (1999, "Whence consumer loyalty?", Journal
of Marketing 63) describes cognitive, affective and action loyalty. Guanxi labels each customer
with one of four types a shop can act on, or "undetermined":

- impulse: buys mostly on promotion (Dick & Basu's "spurious" loyalty; reach them with offers);
- emotional: engages with the shop: attends events, refers others, is highly satisfied;
- cognitive: buys deliberately: mostly at full price and across many categories;
- behavioural: buys out of habit: at regular intervals over a long tenure.

The rule is Guanxi's own, deterministic and explainable: each type has a few *signs*, each a
comparison of one input with a threshold in :class:`LoyaltyTypeThresholds`; a type's score is the
share of its signs the customer meets (an unknown input, NaN, meets no sign). The type with the
highest score wins when that score is at least ``min_type_score``; ties go to the first type in
:data:`TIE_ORDER` (emotional, cognitive, behavioural, impulse: the attitudinal, rarer evidence
first, promotion-driven buying last). Customers with fewer than ``min_purchase_days`` purchase
days, or whose best score is below ``min_type_score``, are "undetermined".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from guanxi.analytics.reasons import (
    Reason,
    Value,
    check_counts,
    check_floats,
    check_same_length,
)
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput


@dataclass(frozen=True)
class LoyaltyType:
    """One loyalty type: stable key, English label and description (translatable)."""

    key: str
    label: str
    description: str


LOYALTY_TYPES: tuple[LoyaltyType, ...] = (
    LoyaltyType("impulse", gettext_noop("Impulse"),
                gettext_noop("Buys mostly on promotion; responds to offers.")),
    LoyaltyType("emotional", gettext_noop("Emotional"),
                gettext_noop("Engages with the shop: attends events, refers others, is highly "
                             "satisfied.")),
    LoyaltyType("cognitive", gettext_noop("Cognitive"),
                gettext_noop("Buys deliberately: mostly at full price, across many categories.")),
    LoyaltyType("behavioural", gettext_noop("Behavioural"),
                gettext_noop("Buys out of habit: at regular intervals over a long time.")),
    LoyaltyType("undetermined", gettext_noop("Undetermined"),
                gettext_noop("Too little evidence to tell why the customer comes back.")),
)  # fmt: skip

LOYALTY_TYPE_KEYS: tuple[str, ...] = tuple(t.key for t in LOYALTY_TYPES)
TIE_ORDER: tuple[str, ...] = ("emotional", "cognitive", "behavioural", "impulse")


@dataclass(frozen=True)
class LoyaltyTypeThresholds:
    """The signs of each type and when evidence is enough; defaults in brackets.

    - ``min_purchase_days`` [3]: fewer purchase days give "undetermined".
    - ``min_type_score`` [0.5]: the winning type must meet at least this share of its signs.
    - impulse: ``promo_share >= impulse_min_promo_share`` [0.5];
      ``full_price_share <= impulse_max_full_price_share`` [0.3].
    - emotional: ``events_attended >= emotional_min_events`` [1];
      ``referrals >= emotional_min_referrals`` [1];
      ``satisfaction >= emotional_min_satisfaction`` [0.8].
    - cognitive: ``full_price_share >= cognitive_min_full_price_share`` [0.7];
      ``categories_bought / categories_total >= cognitive_min_category_share`` [0.4].
    - behavioural: ``interval_cv <= behavioural_max_interval_cv`` [0.5];
      ``tenure_days >= behavioural_min_tenure_days`` [365].
    """

    min_purchase_days: int = 3
    min_type_score: float = 0.5
    impulse_min_promo_share: float = 0.5
    impulse_max_full_price_share: float = 0.3
    emotional_min_events: int = 1
    emotional_min_referrals: int = 1
    emotional_min_satisfaction: float = 0.8
    cognitive_min_full_price_share: float = 0.7
    cognitive_min_category_share: float = 0.4
    behavioural_max_interval_cv: float = 0.5
    behavioural_min_tenure_days: float = 365

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or math.isnan(value) or value < 0:
                raise InvalidInput(f"{f.name} must be a number >= 0, got {value!r}")
        shares = ("min_type_score", "impulse_min_promo_share", "impulse_max_full_price_share",
                  "emotional_min_satisfaction", "cognitive_min_full_price_share",
                  "cognitive_min_category_share")  # fmt: skip
        for name in shares:
            if getattr(self, name) > 1:
                raise InvalidInput(f"{name} is a share and must be <= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class LoyaltyFeatures:
    """One customer's evidence; see :func:`loyalty_types` for the meaning of each field.

    None (as stored in JSON) means the same as NaN: unknown.
    """

    purchase_days: int
    promo_share: float | None
    full_price_share: float | None
    categories_bought: int
    categories_total: int
    interval_cv: float | None
    tenure_days: float
    referrals: int
    events_attended: int
    satisfaction: float | None


@dataclass(frozen=True, eq=False)
class LoyaltyTypeScores:
    """Per customer: the share of each type's signs met (0..1) and the chosen type key."""

    impulse: npt.NDArray[np.float64]
    emotional: npt.NDArray[np.float64]
    cognitive: npt.NDArray[np.float64]
    behavioural: npt.NDArray[np.float64]
    keys: npt.NDArray[np.str_]


Signs = dict[str, dict[str, npt.NDArray[np.bool_]]]


def _signs(x: LoyaltyFeatureArrays, t: LoyaltyTypeThresholds) -> Signs:
    """Which signs each customer meets, by type then sign name (NaN compares False: not met)."""
    total = x.categories_total
    breadth = x.categories_bought / total if total else np.full(x.categories_bought.size, np.nan)
    return {
        "impulse": {
            "promo": x.promo_share >= t.impulse_min_promo_share,
            "rarely_full_price": x.full_price_share <= t.impulse_max_full_price_share,
        },
        "emotional": {
            "events": x.events_attended >= t.emotional_min_events,
            "referrals": x.referrals >= t.emotional_min_referrals,
            "satisfaction": x.satisfaction >= t.emotional_min_satisfaction,
        },
        "cognitive": {
            "full_price": x.full_price_share >= t.cognitive_min_full_price_share,
            "breadth": breadth >= t.cognitive_min_category_share,
        },
        "behavioural": {
            "regular": x.interval_cv <= t.behavioural_max_interval_cv,
            "tenure": x.tenure_days >= t.behavioural_min_tenure_days,
        },
    }


@dataclass(frozen=True, eq=False)
class LoyaltyFeatureArrays:
    """The checked inputs of :func:`loyalty_types`, one entry per customer."""

    purchase_days: npt.NDArray[np.int64]
    promo_share: npt.NDArray[np.float64]
    full_price_share: npt.NDArray[np.float64]
    categories_bought: npt.NDArray[np.int64]
    categories_total: int
    interval_cv: npt.NDArray[np.float64]
    tenure_days: npt.NDArray[np.float64]
    referrals: npt.NDArray[np.int64]
    events_attended: npt.NDArray[np.int64]
    satisfaction: npt.NDArray[np.float64]


def _check_inputs(
    purchase_days: npt.ArrayLike,
    promo_share: npt.ArrayLike,
    full_price_share: npt.ArrayLike,
    categories_bought: npt.ArrayLike,
    categories_total: int,
    interval_cv: npt.ArrayLike,
    tenure_days: npt.ArrayLike,
    referrals: npt.ArrayLike,
    events_attended: npt.ArrayLike,
    satisfaction: npt.ArrayLike,
) -> LoyaltyFeatureArrays:
    if isinstance(categories_total, bool) or not isinstance(categories_total, int | np.integer):
        raise InvalidInput(f"categories_total must be a whole number, got {categories_total!r}")
    if categories_total < 0:
        raise InvalidInput(f"categories_total must be >= 0, got {categories_total}")
    x = LoyaltyFeatureArrays(
        purchase_days=check_counts("purchase_days", purchase_days),
        promo_share=check_floats("promo_share", promo_share, allow_nan=True, lower=0, upper=1),
        full_price_share=check_floats("full_price_share", full_price_share, allow_nan=True,
                                      lower=0, upper=1),
        categories_bought=check_counts("categories_bought", categories_bought),
        categories_total=int(categories_total),
        interval_cv=check_floats("interval_cv", interval_cv, allow_nan=True, lower=0),
        tenure_days=check_floats("tenure_days", tenure_days, lower=0),
        referrals=check_counts("referrals", referrals),
        events_attended=check_counts("events_attended", events_attended),
        satisfaction=check_floats("satisfaction", satisfaction, allow_nan=True, lower=0, upper=1),
    )  # fmt: skip
    check_same_length(**{f.name: getattr(x, f.name) for f in fields(x)
                         if f.name != "categories_total"})  # fmt: skip
    _refuse(
        x.categories_bought > categories_total,
        f"categories_bought exceeds categories_total ({categories_total})",
    )
    return x


def _refuse(bad: npt.NDArray[np.bool_], message: str) -> None:
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise InvalidInput(f"{message}: {int(bad.sum())} customer(s), first at index {index}")


def _scores(x: LoyaltyFeatureArrays, t: LoyaltyTypeThresholds) -> LoyaltyTypeScores:
    signs = _signs(x, t)
    share = {key: np.mean(np.vstack(list(s.values())), axis=0) for key, s in signs.items()}
    table = np.vstack([share[key] for key in TIE_ORDER])  # argmax takes the first of equals
    best = np.argmax(table, axis=0)
    best_score = table[best, np.arange(best.size)]
    chosen = np.asarray(TIE_ORDER, dtype=np.str_)[best]
    enough = (x.purchase_days >= t.min_purchase_days) & (best_score >= t.min_type_score)
    keys: npt.NDArray[np.str_] = np.where(enough, chosen, "undetermined").astype(np.str_)
    return LoyaltyTypeScores(
        impulse=share["impulse"], emotional=share["emotional"], cognitive=share["cognitive"],
        behavioural=share["behavioural"], keys=keys,
    )  # fmt: skip


def loyalty_type_scores(
    purchase_days: npt.ArrayLike,
    *,
    promo_share: npt.ArrayLike,
    full_price_share: npt.ArrayLike,
    categories_bought: npt.ArrayLike,
    categories_total: int,
    interval_cv: npt.ArrayLike,
    tenure_days: npt.ArrayLike,
    referrals: npt.ArrayLike,
    events_attended: npt.ArrayLike,
    satisfaction: npt.ArrayLike,
    thresholds: LoyaltyTypeThresholds | None = None,
) -> LoyaltyTypeScores:
    """Each type's score (the share of its signs met) and the chosen type, per customer.

    Inputs, one entry per customer: ``purchase_days`` (distinct days with a purchase);
    ``promo_share`` (share of net spend on promotion purchases, 0..1) and ``full_price_share``
    (share of net spend at full price, 0..1), NaN when unknown (e.g. purchases without lines);
    ``categories_bought`` (distinct categories bought, at most ``categories_total``, the number
    of categories the shop sells, a scalar; 0 when products carry no category: then breadth is
    unknown); ``interval_cv`` (standard deviation / mean of the gaps between purchase days; NaN
    with fewer than 3 purchase days); ``tenure_days`` (days since the first purchase, >= 0);
    ``referrals`` (referred customers who bought); ``events_attended`` (club events checked in);
    ``satisfaction`` (0..1, NaN when unknown).

    NaN is allowed only in ``promo_share``, ``full_price_share``, ``interval_cv`` and
    ``satisfaction``: an unknown input meets no sign. NaN elsewhere, negative counts, shares
    outside 0..1, ``categories_bought > categories_total`` and arrays of different lengths raise
    InvalidInput.
    """
    x = _check_inputs(purchase_days, promo_share, full_price_share, categories_bought,
                      categories_total, interval_cv, tenure_days, referrals, events_attended,
                      satisfaction)  # fmt: skip
    return _scores(x, thresholds or LoyaltyTypeThresholds())


def loyalty_types(
    purchase_days: npt.ArrayLike,
    *,
    promo_share: npt.ArrayLike,
    full_price_share: npt.ArrayLike,
    categories_bought: npt.ArrayLike,
    categories_total: int,
    interval_cv: npt.ArrayLike,
    tenure_days: npt.ArrayLike,
    referrals: npt.ArrayLike,
    events_attended: npt.ArrayLike,
    satisfaction: npt.ArrayLike,
    thresholds: LoyaltyTypeThresholds | None = None,
) -> npt.NDArray[np.str_]:
    """The loyalty type key of each customer (see the module docstring for the rule)."""
    return loyalty_type_scores(
        purchase_days, promo_share=promo_share, full_price_share=full_price_share,
        categories_bought=categories_bought, categories_total=categories_total,
        interval_cv=interval_cv, tenure_days=tenure_days, referrals=referrals,
        events_attended=events_attended, satisfaction=satisfaction, thresholds=thresholds,
    ).keys  # fmt: skip


def _num(value: float | None) -> float:
    """None (unknown, as stored in JSON) as NaN."""
    return math.nan if value is None else float(value)


_SignText = Callable[[LoyaltyFeatures, LoyaltyTypeThresholds], dict[str, Value]]

_SIGN_REASONS: dict[str, tuple[str, _SignText]] = {
    "promo": (
        gettext_noop("{share:.0%} of spend was on promotion (threshold {threshold:.0%})."),
        lambda f, t: {"share": _num(f.promo_share), "threshold": t.impulse_min_promo_share},
    ),
    "rarely_full_price": (
        gettext_noop("Only {share:.0%} of spend was at full price (threshold: at most "
                     "{threshold:.0%})."),
        lambda f, t: {"share": _num(f.full_price_share),
                      "threshold": t.impulse_max_full_price_share},
    ),
    "events": (
        gettext_noop("Attended {count} club events (threshold {threshold})."),
        lambda f, t: {"count": f.events_attended, "threshold": t.emotional_min_events},
    ),
    "referrals": (
        gettext_noop("Referred {count} customers who bought (threshold {threshold})."),
        lambda f, t: {"count": f.referrals, "threshold": t.emotional_min_referrals},
    ),
    "satisfaction": (
        gettext_noop("Satisfaction {score:.0%} (threshold {threshold:.0%})."),
        lambda f, t: {"score": _num(f.satisfaction), "threshold": t.emotional_min_satisfaction},
    ),
    "full_price": (
        gettext_noop("{share:.0%} of spend was at full price (threshold {threshold:.0%})."),
        lambda f, t: {"share": _num(f.full_price_share),
                      "threshold": t.cognitive_min_full_price_share},
    ),
    "breadth": (
        gettext_noop("Bought in {bought} of {total} categories (threshold {threshold:.0%} of "
                     "them)."),
        lambda f, t: {"bought": f.categories_bought, "total": f.categories_total,
                      "threshold": t.cognitive_min_category_share},
    ),
    "regular": (
        gettext_noop("Buys at regular intervals: the gaps between purchase days vary by {cv:.0%} "
                     "of their mean (threshold: at most {threshold:.0%})."),
        lambda f, t: {"cv": _num(f.interval_cv), "threshold": t.behavioural_max_interval_cv},
    ),
    "tenure": (
        gettext_noop("A customer for {days} days (threshold {threshold} days)."),
        lambda f, t: {"days": round(f.tenure_days), "threshold": t.behavioural_min_tenure_days},
    ),
}  # fmt: skip

_SUMMARIES: dict[str, str] = {
    "impulse": gettext_noop("Meets {met} of {total} signs of impulse loyalty."),
    "emotional": gettext_noop("Meets {met} of {total} signs of emotional loyalty."),
    "cognitive": gettext_noop("Meets {met} of {total} signs of cognitive loyalty."),
    "behavioural": gettext_noop("Meets {met} of {total} signs of behavioural loyalty."),
}


def explain_loyalty_type(
    features: LoyaltyFeatures, thresholds: LoyaltyTypeThresholds | None = None
) -> list[Reason]:
    """Why ONE customer has their loyalty type: the evidence, with each threshold it met."""
    t = thresholds or LoyaltyTypeThresholds()
    f = features
    x = _check_inputs([f.purchase_days], [_num(f.promo_share)], [_num(f.full_price_share)],
                      [f.categories_bought], f.categories_total, [_num(f.interval_cv)],
                      [f.tenure_days], [f.referrals], [f.events_attended],
                      [_num(f.satisfaction)])  # fmt: skip
    scores = _scores(x, t)
    key = str(scores.keys[0])
    if f.purchase_days < t.min_purchase_days:
        return [Reason(gettext_noop("Only {days} purchase days: at least {threshold} are needed "
                                    "to tell a loyalty type."),
                       {"days": f.purchase_days, "threshold": t.min_purchase_days})]  # fmt: skip
    if key == "undetermined":
        return [Reason(gettext_noop("No loyalty type shows at least {threshold:.0%} of its signs."),
                       {"threshold": t.min_type_score})]  # fmt: skip
    signs = _signs(x, t)[key]
    reasons = [Reason(_SUMMARIES[key], {"met": sum(bool(s[0]) for s in signs.values()),
                                        "total": len(signs)})]  # fmt: skip
    for name, met in signs.items():
        if met[0]:
            template, values = _SIGN_REASONS[name]
            reasons.append(Reason(template, values(f, t)))
    best = float(getattr(scores, key)[0])
    if sum(float(getattr(scores, other)[0]) == best for other in TIE_ORDER) > 1:
        reasons.append(
            Reason(
                gettext_noop(
                    "Other types scored as high; ties go to the first of "
                    "emotional, cognitive, behavioural, impulse."
                )
            )
        )
    return reasons
