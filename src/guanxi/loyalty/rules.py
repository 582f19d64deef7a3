"""Earning rules: how many points a purchase earns, in a fixed, documented order, with reasons.

Rules are data (``EarningProgram``, stored as JSON and edited by the owner): a base rate, line
multipliers (category, store), order multipliers (member tier, birthday month, festival days),
purchase bonuses (first purchase, every Nth purchase) and caps (per order, per day). Other
awards (referral, completed survey, event attendance, complaint recovery) are fixed bonuses given
outside a purchase (``award_points``).

The order of evaluation, always the same:

1. **Base**: each line's amount (yuan, after discounts and returns) × ``points_per_yuan``.
2. **Line multipliers**: a line in a listed category, or bought in a listed store, has its base
   multiplied; within one kind (category, store) the highest matching factor applies, and the
   two kinds multiply.
3. **Order multipliers**: the member's tier, the birthday month and a festival day each multiply
   the whole order (again the highest factor within a kind; kinds multiply).
4. **Rounding**: the product is rounded once, to whole points (``rounding``: down by default).
5. **Bonuses**: a first-purchase bonus and an every-Nth-purchase bonus are added.
6. **Caps**: the per-order cap, then what is left of the per-day cap.

Every step that changed something is reported as a ``Reason`` so the receipt and the ledger can
say how the points came about. Points are integers; amounts are ``Decimal``; no floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from guanxi.analytics.reasons import Reason
from guanxi.domain.text import gettext_noop
from guanxi.errors import InvalidInput

LINE_KINDS = ("category", "store")
ORDER_KINDS = ("tier", "birthday_month", "festival")
PURCHASE_BONUSES = ("first_purchase", "every_nth")
AWARDS = ("referral", "survey", "event", "complaint_recovery")
ROUNDING = {"down": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "up": ROUND_CEILING}


@dataclass(frozen=True)
class Multiplier:
    """``factor`` × points when ``kind`` matches: a category or store name, a tier, or (for
    birthday_month and festival, which need no value) any festival / the birthday month."""

    kind: str
    factor: Decimal
    match: str | None = None


@dataclass(frozen=True)
class Bonus:
    """Extra points: on the first purchase, every ``every``-th purchase, or as an award."""

    kind: str
    points: int
    every: int | None = None


@dataclass(frozen=True)
class EarningProgram:
    """The shop's earning rules (defaults: 1 point per yuan, rounded down, nothing else)."""

    points_per_yuan: Decimal = Decimal(1)
    rounding: str = "down"
    multipliers: tuple[Multiplier, ...] = ()
    bonuses: tuple[Bonus, ...] = ()
    cap_per_order: int | None = None
    cap_per_day: int | None = None

    def __post_init__(self) -> None:
        if self.points_per_yuan < 0:
            raise InvalidInput(f"points_per_yuan must be 0 or more, not {self.points_per_yuan}")
        if self.rounding not in ROUNDING:
            raise InvalidInput(f"rounding must be one of {', '.join(ROUNDING)}, not "
                               f"{self.rounding!r}")  # fmt: skip
        for m in self.multipliers:
            if m.kind not in LINE_KINDS + ORDER_KINDS:
                raise InvalidInput(f"unknown multiplier {m.kind!r}: use one of "
                                   f"{', '.join(LINE_KINDS + ORDER_KINDS)}")  # fmt: skip
            if m.factor < 0:
                raise InvalidInput(f"the {m.kind} multiplier must be 0 or more, not {m.factor}")
            if m.kind in ("category", "store", "tier") and not m.match:
                raise InvalidInput(f"a {m.kind} multiplier needs the {m.kind} it applies to")
        for b in self.bonuses:
            if b.kind not in PURCHASE_BONUSES + AWARDS:
                raise InvalidInput(f"unknown bonus {b.kind!r}: use one of "
                                   f"{', '.join(PURCHASE_BONUSES + AWARDS)}")  # fmt: skip
            if b.points < 0:
                raise InvalidInput(f"the {b.kind} bonus must be 0 points or more, not {b.points}")
            if b.kind == "every_nth" and (b.every is None or b.every < 2):
                raise InvalidInput("an every-Nth-purchase bonus needs every >= 2")
        for name in ("cap_per_order", "cap_per_day"):
            cap = getattr(self, name)
            if cap is not None and cap < 0:
                raise InvalidInput(f"{name} must be 0 or more, not {cap}")

    def as_json(self) -> dict[str, Any]:
        return {
            "points_per_yuan": str(self.points_per_yuan),
            "rounding": self.rounding,
            "multipliers": [{"kind": m.kind, "factor": str(m.factor), "match": m.match}
                            for m in self.multipliers],
            "bonuses": [{"kind": b.kind, "points": b.points, "every": b.every}
                        for b in self.bonuses],
            "cap_per_order": self.cap_per_order,
            "cap_per_day": self.cap_per_day,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EarningProgram:
        """The program stored as JSON; a wrong field is named in the error."""
        try:
            return cls(
                points_per_yuan=parse_decimal(data.get("points_per_yuan", "1"), "points_per_yuan"),
                rounding=str(data.get("rounding", "down")),
                multipliers=tuple(
                    Multiplier(str(m["kind"]), parse_decimal(m["factor"], f"{m['kind']} factor"),
                               m.get("match") or None)
                    for m in data.get("multipliers", [])
                ),
                bonuses=tuple(
                    Bonus(str(b["kind"]), _whole(b["points"], f"{b['kind']} points"),
                          None if b.get("every") is None else _whole(b["every"], "every"))
                    for b in data.get("bonuses", [])
                ),
                cap_per_order=_optional_whole(data.get("cap_per_order"), "cap_per_order"),
                cap_per_day=_optional_whole(data.get("cap_per_day"), "cap_per_day"),
            )  # fmt: skip
        except (KeyError, TypeError) as error:
            raise InvalidInput(f"earning rules: missing or malformed field {error}") from error


def parse_decimal(value: Any, name: str) -> Decimal:
    """A finite Decimal from stored or typed input; the error names the field."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise InvalidInput(f"{name}: {value!r} is not a number") from error
    if not number.is_finite():
        raise InvalidInput(f"{name}: {value!r} is not a number")
    return number


def _whole(value: Any, name: str) -> int:
    number = parse_decimal(value, name)
    if number != number.to_integral_value():
        raise InvalidInput(f"{name}: {value!r} is not a whole number")
    return int(number)


def _optional_whole(value: Any, name: str) -> int | None:
    return None if value is None or value == "" else _whole(value, name)


@dataclass(frozen=True)
class Line:
    """One purchase line as the rules see it: its net amount and its product's category."""

    amount: Decimal
    category: str | None = None


@dataclass(frozen=True)
class PurchaseFacts:
    """What the rules need to know about a purchase and its buyer."""

    lines: Sequence[Line]
    purchased_on: date
    store: str | None = None
    tier: str | None = None
    is_birthday_month: bool = False
    festival: str | None = None  # the festival of the purchase day, if any
    purchase_number: int = 1  # 1 for the customer's first purchase
    earned_today: int = 0  # points already earned on the purchase day (for the daily cap)


@dataclass(frozen=True)
class Earned:
    """The points a purchase earns and how they came about."""

    points: int
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    def explanation(self) -> list[dict[str, Any]]:
        """The reasons as JSON for the ledger entry."""
        return [{"template": r.template, "values": dict(r.values)} for r in self.reasons]


def _best(program: EarningProgram, kind: str, match: str | None) -> Multiplier | None:
    """The highest factor of ``kind`` that applies to ``match`` (None: nothing to match)."""
    found = [
        m
        for m in program.multipliers
        if m.kind == kind and match is not None and (m.match is None or m.match == match)
    ]
    return max(found, key=lambda m: m.factor) if found else None


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _factor_reason(kind: str, rule: Multiplier, match: str) -> Reason:
    templates = {
        "category": gettext_noop("Category {match}: × {factor}."),
        "store": gettext_noop("Store {match}: × {factor}."),
        "tier": gettext_noop("Tier {match}: × {factor}."),
        "birthday_month": gettext_noop("Birthday month: × {factor}."),
        "festival": gettext_noop("Festival {match}: × {factor}."),
    }
    return Reason(templates[kind], {"match": match, "factor": _text(rule.factor)})


def _base(program: EarningProgram, facts: PurchaseFacts, reasons: list[Reason]) -> Decimal:
    """Steps 1-3: base points per line, line multipliers, order multipliers (unrounded)."""
    eligible = sum((max(line.amount, Decimal(0)) for line in facts.lines), Decimal(0))
    rate = _text(program.points_per_yuan)
    reasons.append(Reason(gettext_noop("Base: ¥{amount} × {rate} point(s) per yuan."),
                          {"amount": _text(eligible), "rate": rate}))  # fmt: skip
    store = _best(program, "store", facts.store)
    total = Decimal(0)
    categories: dict[str, Multiplier] = {}
    for line in facts.lines:
        factor = Decimal(1)
        category = _best(program, "category", line.category)
        if category is not None and line.category is not None:
            factor *= category.factor
            categories[line.category] = category
        if store is not None:
            factor *= store.factor
        total += max(line.amount, Decimal(0)) * program.points_per_yuan * factor
    for name, rule in sorted(categories.items()):
        reasons.append(_factor_reason("category", rule, name))
    if store is not None and facts.store is not None:
        reasons.append(_factor_reason("store", store, facts.store))
    birthday = "yes" if facts.is_birthday_month else None
    for kind, match in (("tier", facts.tier), ("birthday_month", birthday),
                        ("festival", facts.festival)):  # fmt: skip
        applied = _best(program, kind, match)
        if applied is not None and match is not None:
            total *= applied.factor
            shown = "" if kind == "birthday_month" else match
            reasons.append(_factor_reason(kind, applied, shown))
    return total


def _bonuses(program: EarningProgram, facts: PurchaseFacts, reasons: list[Reason]) -> int:
    """Step 5: the first-purchase and every-Nth-purchase bonuses."""
    extra = 0
    for bonus in program.bonuses:
        if not bonus.points:
            continue
        if bonus.kind == "first_purchase" and facts.purchase_number == 1:
            extra += bonus.points
            reasons.append(Reason(gettext_noop("First purchase: +{points}."),
                                  {"points": bonus.points}))  # fmt: skip
        elif bonus.kind == "every_nth" and bonus.every and facts.purchase_number % bonus.every == 0:
            extra += bonus.points
            reasons.append(Reason(gettext_noop("Purchase number {n} (one in {every}): +{points}."),
                                  {"n": facts.purchase_number, "every": bonus.every,
                                   "points": bonus.points}))  # fmt: skip
    return extra


def points_for(program: EarningProgram, facts: PurchaseFacts) -> Earned:
    """The points ``facts`` earn under ``program`` (see the module docstring for the order)."""
    reasons: list[Reason] = []
    total = _base(program, facts, reasons)
    points = int(total.quantize(Decimal(1), rounding=ROUNDING[program.rounding]))
    points += _bonuses(program, facts, reasons)
    if program.cap_per_order is not None and points > program.cap_per_order:
        points = program.cap_per_order
        reasons.append(Reason(gettext_noop("Capped at {cap} points per order."),
                              {"cap": program.cap_per_order}))  # fmt: skip
    if program.cap_per_day is not None:
        left = max(program.cap_per_day - facts.earned_today, 0)
        if points > left:
            points = left
            reasons.append(Reason(gettext_noop("Capped at {cap} points a day ({left} left today)."),
                                  {"cap": program.cap_per_day, "left": left}))  # fmt: skip
    reasons.append(Reason(gettext_noop("Earned: {points} points."), {"points": points}))
    return Earned(points, tuple(reasons))


def award_points(program: EarningProgram, kind: str) -> int:
    """The fixed points of an award outside a purchase (referral, survey, event, recovery)."""
    if kind not in AWARDS:
        raise InvalidInput(f"unknown award {kind!r}: use one of {', '.join(AWARDS)}")
    return sum(b.points for b in program.bonuses if b.kind == kind)
