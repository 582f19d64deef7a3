"""Analytics keys, reasons, money and percentages in the request's language, for templates.

The analytics modules name things by stable keys (``"loyal"``, ``"champions"``) and explain them
with :class:`~guanxi.analytics.reasons.Reason` templates marked with ``gettext_noop``; the helpers
here translate them at display time. They read the request's language from
:data:`guanxi.web.i18n.current`, so a template calls ``L.rung(key)`` or ``L.percent(share)``.
Missing values (None, NaN) show as a dash.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_currency, format_decimal, format_percent

from guanxi.analytics import cohorts, ladder, loyalty_type, rfm
from guanxi.analytics.reasons import Reason
from guanxi.domain.text import gettext_noop
from guanxi.web import i18n
from guanxi.web.i18n import gettext

DASH = "—"

_RUNGS = {r.key: r for r in ladder.RUNGS}
_SEGMENTS = {s.key: s for s in rfm.SEGMENTS}
_CLASSES = {c.key: c for c in rfm.CHINA_CLASSES}
_TYPES = {t.key: t for t in loyalty_type.LOYALTY_TYPES}
NEW_TO_ARCHIVE = gettext_noop("New to the archive")

# services/analytics_views.py marks this message, but only web/, analytics/ and domain/ are
# extracted for the catalog (babel.cfg): marked here again so it gets translated.
NO_ECONOMICS = gettext_noop(
    "Retention economics need scores with fitted models: run the scoring job once the shop has "
    "repeat buyers."
)

FIELD_LABELS: dict[str, str] = {
    "rfm_segment": gettext_noop("RFM segment"),
    "china_class": gettext_noop("China RFM class"),
    "rung": gettext_noop("Loyalty ladder rung"),
    "loyalty_type": gettext_noop("Loyalty type"),
    "r_score": gettext_noop("R score (recency, 1–5)"),
    "f_score": gettext_noop("F score (frequency, 1–5)"),
    "m_score": gettext_noop("M score (spend, 1–5)"),
    "p_alive": gettext_noop("P(alive) (0–1)"),
    "churn_risk": gettext_noop("Churn risk (0–1)"),
    "clv_12m": gettext_noop("12-month CLV (¥)"),
    "total_spend": gettext_noop("Total spend (¥)"),
    "days_since_last": gettext_noop("Days since the last purchase"),
    "purchase_days": gettext_noop("Purchase days"),
    "tag": gettext_noop("Tag"),
    "store": gettext_noop("Store"),
    "owner": gettext_noop("Account owner"),
}


def _language() -> i18n.Language:
    return i18n.current.get()


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- keys ------------------------------------------------------------------------------------


def rung(key: str | None) -> str:
    if key == ladder.NEW_TO_ARCHIVE:
        return gettext(NEW_TO_ARCHIVE)
    found = _RUNGS.get(key or "")
    return gettext(found.label) if found else (key or DASH)


def rung_description(key: str | None) -> str:
    found = _RUNGS.get(key or "")
    return gettext(found.description) if found else ""


def segment(key: str | None) -> str:
    found = _SEGMENTS.get(key or "")
    return gettext(found.label) if found else (key or DASH)


def segment_description(key: str | None) -> str:
    found = _SEGMENTS.get(key or "")
    return gettext(found.description) if found else ""


def china_class(key: str | None) -> str:
    """The class's label; in English followed by its Chinese name (重要价值客户)."""
    found = _CLASSES.get(key or "")
    if found is None:
        return key or DASH
    label = gettext(found.label)
    return label if _language().code.startswith("zh") else f"{label} ({found.name_zh})"


def china_class_short(key: str | None) -> str:
    """The class's label alone (for charts)."""
    found = _CLASSES.get(key or "")
    return gettext(found.label) if found else (key or DASH)


def china_class_description(key: str | None) -> str:
    found = _CLASSES.get(key or "")
    return gettext(found.description) if found else ""


def loyalty(key: str | None) -> str:
    found = _TYPES.get(key or "")
    return gettext(found.label) if found else (key or DASH)


def loyalty_description(key: str | None) -> str:
    found = _TYPES.get(key or "")
    return gettext(found.description) if found else ""


CHOICE_LABELS: dict[str, Callable[[str | None], str]] = {
    "rfm_segment": segment,
    "china_class": china_class,
    "rung": rung,
    "loyalty_type": loyalty,
}


def choice(field_name: str, key: str) -> str:
    """The label of one value of a segment builder's choice field."""
    label = CHOICE_LABELS.get(field_name)
    return label(key) if label else key


def field(name: str) -> str:
    """The label of a segment rule's field."""
    return gettext(FIELD_LABELS[name]) if name in FIELD_LABELS else name


def reason(item: Reason) -> str:
    """A reason in the request's language, its placeholders filled."""
    try:
        return gettext(item.template).format(**item.values)
    except (KeyError, IndexError, ValueError):  # a translation that broke a placeholder
        return item.render()


def message(text: str) -> str:
    """A message marked with gettext_noop elsewhere, translated now."""
    return gettext(text)


# --- numbers ---------------------------------------------------------------------------------


def percent(value: float | None, digits: int = 0) -> str:
    """0.624 -> '62%' (digits=1: '62.4%'), in the locale's format."""
    if _missing(value):
        return DASH
    pattern = "#,##0%" if digits <= 0 else "#,##0." + "0" * digits + "%"
    return str(format_percent(float(value), pattern, locale=_language().code))  # type: ignore[arg-type]


def number(value: float | int | Decimal | None, digits: int | None = None) -> str:
    """A number in the locale's format; ``digits`` fixes the decimals shown."""
    if _missing(value):
        return DASH
    if digits is None:
        return str(format_decimal(value, locale=_language().code))  # type: ignore[arg-type]
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return str(format_decimal(value, pattern, locale=_language().code))  # type: ignore[arg-type]


def money(value: float | Decimal | None, *, whole: bool = False) -> str:
    """Yuan in the locale's format (the app's money helper); ``whole`` drops the fen."""
    if _missing(value):
        return DASH
    assert value is not None
    amount = value if isinstance(value, Decimal) else Decimal(str(round(float(value), 2)))
    if not whole:
        return _language().money(amount)
    return str(format_currency(amount, "CNY", format="¤#,##0", currency_digits=False,
                               locale=_language().code))  # fmt: skip


def day(value: date | None) -> str:
    return DASH if value is None else _language().date(value)


def month(value: date | None) -> str:
    """'October 2026' / '2026年10月'."""
    return DASH if value is None else str(format_skeleton("yMMMM", value, locale=_language().code))


def month_short(value: date | None) -> str:
    """'Oct 2026' / '2026年10月'."""
    return DASH if value is None else str(format_skeleton("yMMM", value, locale=_language().code))


def month_of_index(index: int) -> str:
    """The short month label of a month index (``year * 12 + month - 1``)."""
    year, month = cohorts.month_of(int(index))
    return month_short(date(year, month, 1))


# --- segment rules ---------------------------------------------------------------------------


def rule_text(rule: Any, names: Mapping[str, Mapping[int, str]]) -> str:
    """One saved rule in words: 'RFM segment: Champions, At risk', 'R score: 3 – 5'.

    ``names`` maps "store" and "owner" to id -> name for the rules that name one.
    """
    name, op, value = rule.field, rule.op, rule.value
    if op == "in":
        shown = ", ".join(choice(name, key) for key in value)
    elif op == "between":
        low, high = value
        fmt: Callable[[Any], str] = (
            (lambda v: money(v, whole=True)) if name in ("clv_12m", "total_spend") else number
        )
        if low is not None and high is not None:
            shown = f"{fmt(low)} – {fmt(high)}"
        elif low is not None:
            shown = f"≥ {fmt(low)}"
        else:
            shown = f"≤ {fmt(high)}"
    elif name in ("store", "owner"):
        shown = names.get(name, {}).get(int(value), f"#{value}")
    else:
        shown = str(value)
    return gettext("%(field)s: %(value)s") % {"field": field(name), "value": shown}


# --- points ----------------------------------------------------------------------------------

POINTS_KINDS: dict[str, str] = {
    "earn": gettext_noop("Earned"),
    "redeem": gettext_noop("Redeemed"),
    "expire": gettext_noop("Expired"),
    "adjust": gettext_noop("Adjustment"),
    "reverse": gettext_noop("Taken back (return)"),
    "waive": gettext_noop("Waived"),
}
POINTS_SOURCES: dict[str, str] = {
    "purchase": gettext_noop("Purchase"),
    "return_line": gettext_noop("Return"),
    "expiry_run": gettext_noop("Expiry run"),
    "redemption": gettext_noop("Redemption"),
    "adjustment": gettext_noop("Manual adjustment"),
    "referral": gettext_noop("Referral"),
}
ROUNDINGS: dict[str, str] = {
    "down": gettext_noop("Down (drop fractions)"),
    "half_up": gettext_noop("To the nearest (half up)"),
    "up": gettext_noop("Up"),
}


def points_kind(kind: str) -> str:
    """A ledger entry's kind in words ('earn' -> 'Earned')."""
    return gettext(POINTS_KINDS[kind]) if kind in POINTS_KINDS else kind


def points_source(source_type: str | None) -> str:
    """What made a ledger entry ('purchase' -> 'Purchase'); empty when nothing is recorded."""
    if not source_type:
        return ""
    return gettext(POINTS_SOURCES[source_type]) if source_type in POINTS_SOURCES else source_type


def signed(points: int) -> str:
    """Points with their sign: '+120', '−35', in the locale's grouping."""
    shown = number(abs(points))
    return f"+{shown}" if points > 0 else (f"−{shown}" if points < 0 else shown)


def rounding(key: str) -> str:
    return gettext(ROUNDINGS[key]) if key in ROUNDINGS else key


def points_steps(explanation: Mapping[str, Any]) -> list[str]:
    """How an earn entry's points came about (its stored reasons), in the request's language."""
    steps = explanation.get("steps") if isinstance(explanation, Mapping) else None
    if not isinstance(steps, list):
        return []
    return [
        reason(Reason(str(s["template"]), dict(s.get("values") or {})))
        for s in steps
        if isinstance(s, Mapping) and "template" in s
    ]
