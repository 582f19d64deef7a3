"""Message templates: a sandboxed template language, salutations, and per-customer variables.

Templates are plain text in Jinja syntax (``{{ salutation }}，{{ shop }}祝您中秋快乐``), rendered
in ``jinja2.sandbox.ImmutableSandboxedEnvironment``: staff write templates, so a template may
read the variables it is given and nothing else (no attributes starting with ``_``, no
methods that change data). Bodies are plain text (SMS, WeChat, plain-text email): nothing is
HTML-escaped.

``contexts`` builds the variables of many customers in a few set-based queries (100,000
customers: one query per chunk of ids, no query per customer).

Salutation (称呼): an explicit one in the customer's custom fields (``称呼`` or
``salutation``) wins; otherwise surname + title by gender (张女士 / 王先生, "Ms Zhang" /
"Mr Wang"); the given name when the customer prefers it (custom field ``prefers_first_name``
or ``称呼偏好`` = 名字), and in English also for the warm communication styles (amiable,
expressive) of a customer with a Latin-script name; the full name when the gender is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from guanxi.domain.names import name_keys
from guanxi.errors import InvalidInput
from guanxi.loyalty.coupons import group
from guanxi.loyalty.tiers import defined_tiers
from guanxi.storage.models import (
    AppSetting,
    Coupon,
    CouponCampaign,
    Customer,
    CustomerTier,
    PointsBalance,
    Staff,
    Store,
)

# Rendered into bodies in place of the link; the outbox puts the real, signed link of the
# message there at send time (the message id, which the link names, exists only then).
UNSUBSCRIBE_PLACEHOLDER = "⟦unsubscribe_url⟧"

VARIABLES: dict[str, str] = {
    "salutation": "How to address the customer: 张女士 / 王先生 / Ms Zhang, or the first name",
    "name": "The customer's full name",
    "surname": "The customer's surname (张)",
    "first_name": "The customer's given name",
    "tier": "Member tier name (金卡…), empty without tiers",
    "points": "Points balance (a whole number)",
    "coupon_code": "An unused, valid coupon code of the customer, empty if none",
    "store": "Name of the customer's home store",
    "owner": "Name of the customer's account owner (专属顾问)",
    "shop": "The shop's name",
    "birthday": "The customer's birthday (3月5日, 农历八月十五), empty if unknown",
    "unsubscribe_url": "Link to unsubscribe (email; added at the end when not used)",
}

_COMPOUND_TEXT = (
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 独孤 "
    "南宫 西门 万俟 闻人 东郭 呼延 端木 申屠 太史 澹台 公冶 宗政 濮阳 淳于 单于 赫连 拓跋 "
    "百里 司空 第五 左丘 谷梁 梁丘 羊舌 微生"
)
COMPOUND_SURNAMES = frozenset(_COMPOUND_TEXT.split(" "))
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WARM_STYLES = frozenset({"amiable", "expressive"})
_TRUE = frozenset({"1", "true", "yes", "y", "是", "名字", "first_name", "given_name"})
_FULL_NAME = frozenset({"full_name", "全名", "姓名"})
_LUNAR_MONTHS = "正二三四五六七八九十冬腊"
_LUNAR_DAYS_TEXT = (
    "初一初二初三初四初五初六初七初八初九初十十一十二十三十四十五"
    "十六十七十八十九二十廿一廿二廿三廿四廿五廿六廿七廿八廿九三十"
)
_LUNAR_DAYS = tuple(_LUNAR_DAYS_TEXT[i : i + 2] for i in range(0, 60, 2))
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip
CHUNK = 5000


def _is_chinese(locale: str) -> bool:
    return not locale or locale.lower().startswith("zh")


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name): '张晓明' -> ('张', '晓明'), '欧阳娜娜' -> ('欧阳', '娜娜'),
    'Anna Smith' -> ('Smith', 'Anna'); a single word is a surname with no given name."""
    name = " ".join(name.split())
    if not name:
        return "", ""
    if _CJK.match(name):
        cut = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
        return name[:cut], name[cut:].strip()
    words = name.split(" ")
    if len(words) == 1:
        return words[0], ""
    return words[-1], " ".join(words[:-1])


def _latin(text: str) -> str:
    """Pinyin of Chinese text, capitalised ('晓明' -> 'Xiaoming'); Latin text as it is."""
    if not _CJK.search(text):
        return text
    return name_keys(text)[0].capitalize()


def salutation(
    name: str,
    gender: str,
    style: str | None,
    locale: str,
    prefers_first_name: bool = False,
    *,
    prefers_full_name: bool = False,
) -> str:
    """How a message addresses the customer.

    Chinese: 张女士 / 王先生, the given name (晓明) when preferred, else the full name when
    preferred or the gender is unknown. English: "Ms Zhang" / "Mr Wang" (surnames in pinyin),
    the first name when preferred or the style is warm (amiable, expressive) and the name is in
    Latin script, the full name ("Zhang Xiaoming") when preferred. An empty name gives 顾客 /
    "customer".
    """
    zh = _is_chinese(locale)
    surname, given = split_name(name)
    if not surname:
        return "顾客" if zh else "customer"
    chinese_name = bool(_CJK.match(surname))
    # A one-character given name alone (伟 of 张伟) is not a form of address: use the full name.
    usable_given = given if (not chinese_name or len(given) >= 2) else ""
    warm = style in _WARM_STYLES and not chinese_name and not zh and not prefers_full_name
    if (prefers_first_name or warm) and given:
        if not usable_given:
            return name.strip() if zh else f"{_latin(surname)} {_latin(given)}"
        return usable_given if zh else _latin(usable_given)
    if gender in ("female", "male") and not prefers_full_name:
        if zh:
            return f"{surname}{'女士' if gender == 'female' else '先生'}"
        return f"{'Ms' if gender == 'female' else 'Mr'} {_latin(surname)}"
    if zh:
        return " ".join(name.split())
    return f"{_latin(surname)} {_latin(given)}".strip() if chinese_name else " ".join(name.split())


def prefers_first_name(custom_fields: Mapping[str, Any] | None) -> bool:
    """Whether the customer's custom fields say they like to be called by their given name."""
    fields = custom_fields or {}
    for key in ("prefers_first_name", "称呼偏好", "first_name_basis"):
        value = fields.get(key)
        if value is True or (isinstance(value, str) and value.strip().lower() in _TRUE):
            return True
    return False


def prefers_full_name(custom_fields: Mapping[str, Any] | None) -> bool:
    """Whether the custom field 称呼偏好 says to address the customer by their full name."""
    value = (custom_fields or {}).get("称呼偏好")
    return isinstance(value, str) and value.strip().lower() in _FULL_NAME


def explicit_salutation(custom_fields: Mapping[str, Any] | None) -> str | None:
    """A salutation the shop recorded for the customer (custom field 称呼 or salutation)."""
    fields = custom_fields or {}
    for key in ("称呼", "salutation"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:40]
    return None


# --- the sandbox --------------------------------------------------------------------------------


class _Environment(ImmutableSandboxedEnvironment):
    """No attribute that starts with an underscore, no formatting tricks, bounded output."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or attr in ("format", "format_map", "mro"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Refuse loudly (the default renders an unsafe attribute as empty text)."""
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


def _environment(**options: Any) -> _Environment:
    env = _Environment(autoescape=False, auto_reload=False, **options)
    env.globals.clear()  # no range, lipsum, cycler, namespace…: the variables only
    return env


_ENV = _environment()
_STRICT_ENV = _environment(undefined=StrictUndefined)
MAX_TEMPLATE = 10_000  # characters
MAX_OUTPUT = 20_000


@lru_cache(maxsize=256)
def _compiled(body: str) -> Template:
    """A campaign renders one body for every recipient: compile it once (errors are not kept)."""
    return _ENV.from_string(body)


def render(body: str, context: Mapping[str, object]) -> str:
    """``body`` rendered with ``context``; InvalidInput (with the line) when it cannot be.

    Unknown variables render empty (``check_template`` reports them when a template is saved).
    """
    if len(body) > MAX_TEMPLATE:
        raise InvalidInput(
            f"the template is too long ({len(body):,} > {MAX_TEMPLATE:,} characters)"
        )
    try:
        template = _compiled(body)
        out = template.render(dict(context))
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"template error on line {exc.lineno}: {exc.message}") from exc
    except SecurityError as exc:
        raise InvalidInput(f"the template may not do that: {exc}") from exc
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise InvalidInput(f"the template cannot be rendered: {exc}") from exc
    if len(out) > MAX_OUTPUT:
        raise InvalidInput(f"the message is too long ({len(out):,} characters)")
    return out


def check_template(body: str) -> list[str]:
    """Problems of a template, in words: syntax errors (with the line), unknown variables,
    forbidden constructs (rendered against sample values); empty when it is fine."""
    if len(body) > MAX_TEMPLATE:
        return [f"the template is too long ({len(body):,} > {MAX_TEMPLATE:,} characters)"]
    try:
        parsed = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        return [f"line {exc.lineno}: {exc.message}"]
    problems = [
        f"unknown variable {{{{ {name} }}}}: use one of {', '.join(sorted(VARIABLES))}"
        for name in sorted(meta.find_undeclared_variables(parsed))
        if name not in VARIABLES
    ]
    if problems:
        return problems
    try:
        _STRICT_ENV.from_string(body).render(SAMPLE)
    except SecurityError as exc:
        problems.append(f"not allowed in a template: {exc}")
    except UndefinedError as exc:
        problems.append(f"unknown value: {exc.message}")
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        problems.append(f"the template cannot be rendered: {exc}")
    return problems


SAMPLE: dict[str, object] = {
    "salutation": "张女士", "name": "张晓明", "surname": "张", "first_name": "晓明",
    "tier": "金卡", "points": 1280, "coupon_code": "ABCD-EFGH-JK", "store": "旗舰店",
    "owner": "李娜", "shop": "茶舍", "birthday": "3月5日",
    "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
}  # fmt: skip


# --- variables of many customers -----------------------------------------------------------------


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        yield unique[start : start + CHUNK]


def shop_name(session: Session, configured: str | None = None) -> str:
    """The shop's name: the setting when given, else AppSetting 'shop_name', else the first
    store's name, else empty."""
    if configured and configured.strip():
        return configured.strip()
    stored = session.get(AppSetting, "shop_name")
    if stored is not None and stored.value.strip():
        return stored.value.strip()
    first = session.execute(select(Store.name).order_by(Store.id).limit(1)).scalar()
    return first or ""


def birthday_text(
    month: int | None, day: int | None, kind: str, locale: str, leap: bool = False
) -> str:
    """'3月5日' / '农历八月十五' / '5 March' / 'lunar 8/15'; empty when unknown."""
    if not month or not day:
        return ""
    if kind == "lunar":
        if _is_chinese(locale) and 1 <= month <= 12 and 1 <= day <= 30:
            return f"农历{'闰' if leap else ''}{_LUNAR_MONTHS[month - 1]}月{_LUNAR_DAYS[day - 1]}"
        return f"lunar {month}/{day}"
    if _is_chinese(locale):
        return f"{month}月{day}日"
    return f"{day} {_MONTHS_EN[month - 1]}" if 1 <= month <= 12 else ""


def contexts(
    session: Session,
    customer_ids: Sequence[int],
    *,
    locale: str,
    shop: str | None = None,
    now: datetime | None = None,
) -> dict[int, dict[str, object]]:
    """The template variables (``VARIABLES``) of each customer, set-based.

    ``shop`` is the configured shop name (``Settings.shop_name``; None: see ``shop_name``);
    ``now`` decides which coupons are still valid. Customers that do not exist are left out;
    erased customers get neutral values (no name).
    """
    now = now or datetime.now(UTC)
    shop_text = shop_name(session, shop)
    tier_names = {t.key: t.name for t in defined_tiers(session)}
    out: dict[int, dict[str, object]] = {}
    home, owner = Store.__table__.alias("home"), Staff.__table__.alias("owner")
    for chunk in _chunks(customer_ids):
        rows = session.execute(
            select(Customer.id, Customer.name, Customer.gender, Customer.communication_style,
                   Customer.custom_fields, Customer.birthday_kind, Customer.birthday_month,
                   Customer.birthday_day, Customer.birthday_is_leap_month, Customer.erased_at,
                   home.c.name, owner.c.name, PointsBalance.points, CustomerTier.tier_key)
            .outerjoin(home, home.c.id == Customer.home_store_id)
            .outerjoin(owner, owner.c.id == Customer.owner_staff_id)
            .outerjoin(PointsBalance, PointsBalance.customer_id == Customer.id)
            .outerjoin(CustomerTier, CustomerTier.customer_id == Customer.id)
            .where(Customer.id.in_(chunk))
        ).all()  # fmt: skip
        coupons = _coupons(session, chunk, now)
        for (cid, name, gender, style, custom, b_kind, b_month, b_day, b_leap, erased,
             store, owner_name, points, tier_key) in rows:  # fmt: skip
            if erased is not None:
                name, custom, b_month, b_day = "", {}, None, None
            surname, given = split_name(name or "")
            greeting = explicit_salutation(custom) or salutation(
                name or "", gender or "unknown", style, locale, prefers_first_name(custom),
                prefers_full_name=prefers_full_name(custom),
            )  # fmt: skip
            out[int(cid)] = {
                "salutation": greeting,
                "name": name or "",
                "surname": surname,
                "first_name": given,
                "tier": tier_names.get(tier_key, tier_key or "") if tier_key else "",
                "points": int(points or 0),
                "coupon_code": coupons.get(int(cid), ""),
                "store": store or "",
                "owner": owner_name or "",
                "shop": shop_text,
                "birthday": birthday_text(
                    b_month, b_day, b_kind or "solar", locale, bool(b_leap)
                ),  # fmt: skip
                "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
            }
    return out


def _coupons(session: Session, ids: list[int], now: datetime) -> dict[int, str]:
    """Each customer's unused, valid coupon (the one that expires first), grouped for reading."""
    rows = session.execute(
        select(Coupon.customer_id, Coupon.code, CouponCampaign.valid_until)
        .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
        .where(Coupon.customer_id.in_(ids), Coupon.status == "active", Coupon.uses == 0,
               CouponCampaign.is_active.is_(True),
               or_(CouponCampaign.valid_until.is_(None), CouponCampaign.valid_until > now),
               or_(CouponCampaign.valid_from.is_(None), CouponCampaign.valid_from <= now))
        .order_by(Coupon.customer_id, CouponCampaign.valid_until.is_(None),
                  CouponCampaign.valid_until, Coupon.id)
    ).all()  # fmt: skip
    found: dict[int, str] = {}
    for cid, code, _until in rows:
        if cid is not None:
            found.setdefault(int(cid), group(code))
    return found


__all__ = [
    "UNSUBSCRIBE_PLACEHOLDER",
    "VARIABLES",
    "check_template",
    "contexts",
    "render",
    "salutation",
    "shop_name",
    "split_name",
]
