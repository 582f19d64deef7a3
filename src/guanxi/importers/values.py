"""Parsers for messy spreadsheet cell values: dates, amounts, phones, genders and more.

Every parser takes the raw cell text and returns a value or raises ValueError whose message is
a short English reason, written for the shop owner who reads the bad-row report. The messages
do not repeat the cell value; the report shows it next to the reason.

The parsers the purchase importer calls on every line (``parse_datetime``, ``parse_amount``,
``parse_quantity``, ``normalise_phone``) try a fast path for the common, already clean form
first and fall back to the general parser otherwise.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers

from guanxi.domain.customers import Birthday, CalendarKind, Gender
from guanxi.domain.purchases import PaymentMethod
from guanxi.errors import InvalidInput

MIN_YEAR = 1900
MAX_YEAR = 2100

# Excel's 1900 date system counts days from 1899-12-30 once past its fictitious 1900-02-29.
_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_FIRST_SERIAL = 61
_EXCEL_LAST_SERIAL = (date(MAX_YEAR, 12, 31) - _EXCEL_EPOCH).days

_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20

_DATE_REASON = (
    "not a date: expected 2024-01-05, 2024/1/5, 2024年1月5日, 20240105 or an Excel serial number"
)
_DATETIME_REASON = (
    "not a date and time: expected 2024-01-05 14:30, 2024/1/5 14:30:00, "
    "2024年1月5日 14时30分, 20240105143000 or an Excel serial number"
)


def to_halfwidth(text: str) -> str:
    """Fold full-width ASCII (U+FF01-U+FF5E) and the ideographic space to ASCII, then strip."""
    if text.isascii():
        return text.strip()
    return text.translate(_HALFWIDTH).strip()


# --- dates and times ---------------------------------------------------------------------

_SEP_DATE = re.compile(r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})")
_CJK_DATE = re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?")
_COMPACT_DATE = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?!\d)")
_COMPACT_DATETIME = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")
_NUMBER = re.compile(r"(?P<whole>\d{1,6})(?:\.(?P<frac>\d+))?")
_CLOCK = re.compile(
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_CJK_CLOCK = re.compile(
    r"(?P<h>\d{1,2})\s*[时点點]\s*(?:(?P<mi>\d{1,2})\s*分\s*(?:(?P<s>\d{1,2})\s*秒)?)?"
)

_Moment = tuple[date, time | None, tzinfo | None]


def parse_date(text: str) -> date:
    """Parse a calendar date in any common spreadsheet form; a trailing time is ignored."""
    if len(text) >= 10 and text[4] == "-" and text[7] == "-" and text.isascii():
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if MIN_YEAR <= value.year <= MAX_YEAR:
                return value.date() if isinstance(value, datetime) else value
    return _parse_moment(to_halfwidth(text), _DATE_REASON)[0]


def parse_datetime(text: str, tz: ZoneInfo) -> datetime:
    """Parse a date with optional time; naive values are taken as wall time in ``tz``.

    A value with an offset (``Z``, ``+08:00``) keeps its instant and is converted to ``tz``.
    A date alone means midnight local time.
    """
    if len(text) >= 16 and text[4] == "-" and text[10] in " T" and text.isascii():
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if MIN_YEAR <= value.year <= MAX_YEAR:
                # combine() attaches the zone several times faster than replace(tzinfo=...).
                if value.tzinfo is None:
                    return datetime.combine(value, value.time(), tz)
                return value.astimezone(tz)
    day, clock, zone = _parse_moment(to_halfwidth(text), _DATETIME_REASON)
    if zone is None:
        return datetime.combine(day, clock or time(), tz)
    return datetime.combine(day, clock or time(), zone).astimezone(tz)


def _parse_moment(s: str, reason: str) -> _Moment:
    """Parse a half-width, stripped date with an optional time and offset."""
    if not s:
        raise ValueError("empty: expected a date such as 2024-01-05")
    compact = _COMPACT_DATETIME.fullmatch(s)
    if compact:
        y, mo, d, h, mi, sec = (int(part) for part in compact.groups())
        return _make_date(y, mo, d), _make_time(h, mi, sec, 0), None
    number = _NUMBER.fullmatch(s)
    if number:
        return _from_excel_serial(number["whole"], number["frac"] or "")
    match = _SEP_DATE.match(s) or _COMPACT_DATE.match(s)
    joined_time_ok = False
    if match is None:
        match = _CJK_DATE.match(s)
        joined_time_ok = True  # 2024年1月5日14时30分
        if match is None:
            raise ValueError(reason)
    day = _make_date(int(match["y"]), int(match["m"]), int(match["d"]))
    rest = s[match.end() :]
    if not rest:
        return day, None, None
    if rest[0] in "Tt" or rest[0].isspace():
        rest = rest[1:].lstrip()
    elif not joined_time_ok:
        raise ValueError(reason)
    clock, zone = _parse_clock(rest, reason)
    return day, clock, zone


def _parse_clock(s: str, reason: str) -> tuple[time, tzinfo | None]:
    """Parse ``14:30``, ``14:30:05.123``, ``14:30+08:00`` or ``14时30分``."""
    match = _CLOCK.fullmatch(s)
    if match:
        fraction = match["f"] or ""
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        clock = _make_time(int(match["h"]), int(match["mi"]), int(match["s"] or 0), micro)
        return clock, _fixed_offset(match["tz"]) if match["tz"] else None
    match = _CJK_CLOCK.fullmatch(s)
    if match:
        return _make_time(int(match["h"]), int(match["mi"] or 0), int(match["s"] or 0), 0), None
    raise ValueError(reason)


@lru_cache(maxsize=64)
def _fixed_offset(text: str) -> tzinfo:
    """Return the fixed-offset zone for ``Z``, ``+08``, ``+0800`` or ``+08:00``."""
    if text in ("Z", "z"):
        return UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or "0")
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text} is not a valid UTC offset: expected e.g. +08:00")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _make_date(year: int, month: int, day: int) -> date:
    """Build a date in 1900-2100 or raise a reason naming what is wrong."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is out of range: expected {MIN_YEAR}-{MAX_YEAR}")
    shown = f"{year:04d}-{month:02d}-{day:02d}"
    if not 1 <= month <= 12:
        raise ValueError(f"{shown} is not a real date: the month must be 1-12")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        name = calendar.month_name[month]
        raise ValueError(f"{shown} is not a real date: {name} {year} has {last} days")
    return date(year, month, day)


def _make_time(hour: int, minute: int, second: int, micro: int) -> time:
    """Build a time of day or raise a reason."""
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{hour:02d}:{minute:02d}:{second:02d} is not a valid time of day")
    return time(hour, minute, second, micro)


def _from_excel_serial(whole: str, fraction: str) -> _Moment:
    """Convert an Excel serial day number; its fraction is the time, to the nearest second."""
    days = int(whole)
    if not fraction and len(whole) == 4 and MIN_YEAR <= days <= MAX_YEAR:
        raise ValueError(f"{days} is a year only: expected a full date such as {days}-01-05")
    if days < _EXCEL_FIRST_SERIAL:
        raise ValueError(
            f"Excel serial number {days} is too small: dates before 1900-03-01 are not supported"
        )
    if days > _EXCEL_LAST_SERIAL:
        raise ValueError(
            f"number {days} is too large for an Excel date: expected a serial up to "
            f"{_EXCEL_LAST_SERIAL} (2100-12-31)"
        )
    seconds = round(Decimal("0." + fraction) * 86400) if fraction else 0
    if seconds >= 86400:
        days, seconds = days + 1, 0
        if days > _EXCEL_LAST_SERIAL:
            raise ValueError("Excel serial number is after 2100-12-31")
    day = _EXCEL_EPOCH + timedelta(days=days)
    if not fraction:
        return day, None, None
    return day, time(seconds // 3600, seconds // 60 % 60, seconds % 60), None


# --- numbers -----------------------------------------------------------------------------

_PLAIN_AMOUNT = re.compile(r"-?\d{1,15}(?:\.\d{1,2})?")
_PLAIN_QUANTITY = re.compile(r"\d{1,12}(?:\.\d{1,3})?")
_AMOUNT_NOISE = re.compile(r"rmb|cny|[¥￥元\s]", re.IGNORECASE)
_GROUPED = re.compile(r"(?P<whole>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d+))?")
_LOOSE_GROUPED = re.compile(r"[\d,]+(?:\.\d+)?")
_EXPONENT = re.compile(r"\d*\.?\d+[eE][+-]?\d+")
_NOT_FINITE = frozenset({"nan", "inf", "infinity"})
_MINUS_SIGNS = "-\u2212"

_AMOUNT_EXAMPLE = "an amount such as 1234.50, ¥1,234.50 or (12.00) for a negative"
_QUANTITY_EXAMPLE = "a quantity such as 2 or 1.5"


def parse_amount(text: str) -> Decimal:
    """Parse a money amount in yuan with at most 2 decimals; negatives are allowed."""
    if _PLAIN_AMOUNT.fullmatch(text):
        return Decimal(text)
    cleaned = _AMOUNT_NOISE.sub("", to_halfwidth(text))
    return _parse_decimal(cleaned, places=2, example=_AMOUNT_EXAMPLE)


def parse_quantity(text: str) -> Decimal:
    """Parse a positive quantity with at most 3 decimals."""
    if _PLAIN_QUANTITY.fullmatch(text):
        value = Decimal(text)
    else:
        cleaned = "".join(to_halfwidth(text).split())
        value = _parse_decimal(cleaned, places=3, example=_QUANTITY_EXAMPLE)
    if value < 0:
        raise ValueError("negative quantity: record returns separately")
    if not value:
        raise ValueError("quantity is zero: expected at least 0.001")
    return value


def parse_int(text: str) -> int:
    """Parse a whole number; thousands separators and a ``.0`` tail are accepted."""
    if text.isdigit() and text.isascii():
        return int(text)
    cleaned = "".join(to_halfwidth(text).split())
    value = _parse_decimal(cleaned, places=None, example="a whole number such as 12")
    if value != value.to_integral_value():
        raise ValueError("not a whole number: expected digits such as 12")
    return int(value)


def _parse_decimal(s: str, *, places: int | None, example: str) -> Decimal:
    """Parse a half-width number with optional sign, parentheses and thousands separators."""
    if not s:
        raise ValueError(f"empty: expected {example}")
    negative = False
    if s[0] == "(" and s[-1] == ")":
        negative, s = True, s[1:-1]
    if s[:1] == "+" or (s[:1] and s[0] in _MINUS_SIGNS):
        if negative:
            raise ValueError(f"both parentheses and a sign: expected {example}")
        negative, s = s[0] != "+", s[1:]
    if s.lower() in _NOT_FINITE:
        raise ValueError(f"not a number: expected {example}")
    if _EXPONENT.fullmatch(s):
        raise ValueError(
            "exponent notation such as 1.2E+5 is not accepted: "
            f"format the cell as a plain number; expected {example}"
        )
    match = _GROUPED.fullmatch(s)
    if match is None or not (match["whole"] or match["frac"]):
        if "," in s and _LOOSE_GROUPED.fullmatch(s):
            raise ValueError(
                "misplaced thousands separator: expected groups of 3 digits such as 1,234,567.89"
            )
        raise ValueError(f"not a number: expected {example}")
    if places is not None and len((match["frac"] or "").rstrip("0")) > places:
        raise ValueError(f"more than {places} decimal places: expected {example}")
    value = Decimal(s.replace(",", ""))
    return -value if negative else value


# --- phones and emails ---------------------------------------------------------------------

_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # ASCII digits only: the result must be ASCII
_PHONE_NOISE = re.compile(r"[\s\-().\u00a0/]")
_EXCEL_INT_FLOAT = re.compile(r"([0-9]+)\.0+")
_EXCEL_SCIENTIFIC = re.compile(r"([0-9])\.([0-9]+)[eE]\+?([0-9]{1,2})")
_EMAIL = re.compile(r"[^@\s,;:<>()\[\]\\\"]+@(?:[^@\s,;:<>()\[\]\\\".]+\.)+[^@\s,;:<>()\[\]\\\".]+")


def normalise_phone(text: str, region: str = "CN") -> str:
    """Return the phone number in E.164 form (``+8613812345678``).

    Mainland mobiles (``1[3-9]`` and 9 more digits) are accepted by shape alone; other
    numbers must be valid for ``region`` (or their own ``+`` country code) per phonenumbers.
    """
    if (
        len(text) == 11
        and text[0] == "1"
        and text[1] in "3456789"
        and region == "CN"
        and text.isdigit()
        and text.isascii()
    ):
        return "+86" + text
    return _normalise_phone_slow(to_halfwidth(text), region)


def _normalise_phone_slow(s: str, region: str) -> str:
    """Undo Excel damage and decoration, then validate the digits."""
    if not s:
        raise ValueError("empty: expected a phone number such as 13812345678")
    float_form = _EXCEL_INT_FLOAT.fullmatch(s)
    if float_form:
        s = float_form.group(1)
    else:
        scientific = _EXCEL_SCIENTIFIC.fullmatch(s)
        if scientific:
            s = _undo_scientific(*scientific.groups())
    digits = _PHONE_NOISE.sub("", s)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    mobile = _cn_mobile(digits, region)
    if mobile:
        return mobile
    reason = f"not a valid phone number for region {region}"
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        raise ValueError(reason) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(reason)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _undo_scientific(lead: str, tail: str, exponent: str) -> str:
    """Turn Excel's ``1.3812345678E+10`` back into digits, refusing ones Excel shortened."""
    if len(tail) != int(exponent):
        raise ValueError(
            "phone number was shortened by Excel (shown as 1.38123E+10): "
            "format the column as text and export again"
        )
    return lead + tail


def _cn_mobile(digits: str, region: str) -> str | None:
    """Return ``+86…`` when the digits are a mainland mobile, with or without country code."""
    if digits.startswith("+86") and _CN_MOBILE.fullmatch(digits, 3):
        return digits
    if region != "CN":
        return None
    if _CN_MOBILE.fullmatch(digits):
        return "+86" + digits
    if len(digits) == 13 and digits.startswith("86") and _CN_MOBILE.fullmatch(digits, 2):
        return "+" + digits
    return None


def normalise_email(text: str) -> str:
    """Return the email address stripped and lower-cased, after a simple shape check."""
    s = to_halfwidth(text).replace("。", ".").lower()
    if not s:
        raise ValueError("empty: expected an email address such as name@example.com")
    if not _EMAIL.fullmatch(s):
        raise ValueError("not an email address: expected one address such as name@example.com")
    return s


# --- choices -------------------------------------------------------------------------------

_GENDERS = {
    **dict.fromkeys(("男", "男性", "男士", "先生", "m", "male", "man"), Gender.MALE),
    **dict.fromkeys(("女", "女性", "女士", "小姐", "f", "female", "woman"), Gender.FEMALE),
    **dict.fromkeys(("", "未知", "保密", "不详", "unknown", "u"), Gender.UNKNOWN),
}

_BOOLS = {
    **dict.fromkeys(("是", "y", "yes", "true", "t", "1", "√", "✓", "✔", "同意"), True),
    **dict.fromkeys(("否", "n", "no", "false", "f", "0", "×", "✗", "✘", "不同意"), False),
}

_PAYMENTS = {
    **dict.fromkeys(("现金", "现钞", "cash"), PaymentMethod.CASH),
    **dict.fromkeys(
        ("微信", "微信支付", "wechat", "wechatpay", "weixin", "wx"), PaymentMethod.WECHAT_PAY
    ),
    **dict.fromkeys(("支付宝", "alipay"), PaymentMethod.ALIPAY),
    **dict.fromkeys(
        ("刷卡", "银行卡", "信用卡", "借记卡", "银联", "card", "unionpay", "pos"),
        PaymentMethod.CARD,
    ),
    **dict.fromkeys(
        ("储值", "储值卡", "会员卡", "会员卡余额", "余额", "storedvalue"),
        PaymentMethod.STORED_VALUE,
    ),
    **dict.fromkeys(("积分", "积分抵扣", "points"), PaymentMethod.POINTS),
}

# Used when the text is not an exact match: exactly one kind must be mentioned ("微信转账").
_PAYMENT_KEYWORDS = (
    (("储值", "会员卡", "余额"), PaymentMethod.STORED_VALUE),
    (("积分",), PaymentMethod.POINTS),
    (("微信", "wechat"), PaymentMethod.WECHAT_PAY),
    (("支付宝", "alipay"), PaymentMethod.ALIPAY),
    (("现金",), PaymentMethod.CASH),
    (("刷卡", "银行卡", "信用卡", "借记卡", "银联", "card"), PaymentMethod.CARD),
)


def parse_gender(text: str) -> Gender:
    """Parse 男/女/先生/女士/M/F/male/female; empty or 未知/保密 is UNKNOWN."""
    gender = _GENDERS.get(to_halfwidth(text).lower())
    if gender is None:
        raise ValueError("not a gender: expected 男, 女, M, F or leave empty")
    return gender


def parse_bool(text: str) -> bool:
    """Parse 是/否, Y/N, yes/no, true/false, 1/0, √/× and 同意/不同意."""
    s = to_halfwidth(text).lower()
    if not s:
        raise ValueError("empty: expected 是 or 否")
    value = _BOOLS.get(s)
    if value is None:
        raise ValueError("not yes or no: expected 是/否, Y/N, 1/0 or √/×")
    return value


def parse_payment_method(text: str) -> PaymentMethod:
    """Parse a payment method; unrecognised text is OTHER and empty text is rejected."""
    s = "".join(to_halfwidth(text).lower().split())
    if not s:
        raise ValueError("empty: expected a payment method such as 现金, 微信, 支付宝 or 刷卡")
    exact = _PAYMENTS.get(s)
    if exact is not None:
        return exact
    found = {method for words, method in _PAYMENT_KEYWORDS if any(w in s for w in words)}
    return found.pop() if len(found) == 1 else PaymentMethod.OTHER


# --- birthdays -----------------------------------------------------------------------------

_LUNAR_PREFIX = re.compile(r"(?:农历|阴历|旧历|lunar)\s*:?\s*", re.IGNORECASE)
_SOLAR_PREFIX = re.compile(r"(?:公历|阳历|新历|solar)\s*:?\s*", re.IGNORECASE)
_MONTH_DAY_CJK = re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?")
_MONTH_DAY_SEP = re.compile(r"(?P<m>\d{1,2})(?P<sep>[-/.])(?P<d>\d{1,2})")
_LUNAR_NUMERIC = re.compile(
    r"(?:(?P<y>\d{4})\s*[-/.年]\s*)?(?P<leap>闰)?\s*(?P<m>\d{1,2})\s*[-/.月]\s*"
    r"(?P<d>\d{1,2})\s*[日号]?"
)
_LUNAR_CJK = re.compile(
    r"(?:(?P<y>\d{4})\s*年\s*)?(?P<leap>闰)?\s*"
    r"(?P<m>正|元|冬|腊|十[一二]?|[一二三四五六七八九])\s*月\s*"
    r"(?P<d>初[一二三四五六七八九十]|十[一二三四五六七八九]?|二十[一二三四五六七八九]?"
    r"|廿[一二三四五六七八九]|三十|卅|\d{1,2})\s*[日号]?"
)
_CJK_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_LUNAR_MONTHS = {
    "正": 1,
    "元": 1,
    "冬": 11,
    "腊": 12,
    "十": 10,
    "十一": 11,
    "十二": 12,
    **_CJK_DIGITS,
}
_BIRTHDAY_REASON = "not a birthday: expected 1990-01-05, 1月5日, 01-05 or 农历八月十五"


def parse_birthday(text: str) -> Birthday:
    """Parse a solar birthday (year optional) or a lunar one prefixed 农历/阴历/lunar."""
    s = to_halfwidth(text)
    if not s:
        raise ValueError("empty: expected a birthday such as 1990-01-05 or 农历八月十五")
    lunar = _LUNAR_PREFIX.match(s)
    try:
        if lunar:
            return _lunar_birthday(s[lunar.end() :])
        solar = _SOLAR_PREFIX.match(s)
        return _solar_birthday(s[solar.end() :] if solar else s)
    except InvalidInput as error:
        raise ValueError(str(error)) from None


def _solar_birthday(s: str) -> Birthday:
    """Parse a solar birthday with or without a year."""
    yearless = _MONTH_DAY_CJK.fullmatch(s) or _MONTH_DAY_SEP.fullmatch(s)
    if yearless:
        month, day = int(yearless["m"]), int(yearless["d"])
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2000, month)[1]:
            raise ValueError(f"{month:02d}-{day:02d} is not a real month and day")
        return Birthday(month, day)
    if s.isdigit() and len(s) <= 4:
        if len(s) == 4:
            raise ValueError(
                "ambiguous: 4 digits could be a year or month and day; write 01-05 or 1月5日"
            )
        raise ValueError(_BIRTHDAY_REASON)
    born = _parse_moment(s, _BIRTHDAY_REASON)[0]
    return Birthday(born.month, born.day, CalendarKind.SOLAR, born.year)


def _lunar_birthday(s: str) -> Birthday:
    """Parse the part of a lunar birthday after its 农历 prefix."""
    match = _LUNAR_NUMERIC.fullmatch(s)
    if match:
        month, day = int(match["m"]), int(match["d"])
    else:
        match = _LUNAR_CJK.fullmatch(s)
        if match is None:
            raise ValueError(
                "not a lunar birthday: expected 农历八月十五, 农历1990年八月十五, "
                "农历闰四月初八 or 农历1990-08-15"
            )
        month, day = _LUNAR_MONTHS[match["m"]], _lunar_day(match["d"])
    year = int(match["y"]) if match["y"] else None
    return Birthday(month, day, CalendarKind.LUNAR, year, is_leap_month=bool(match["leap"]))


def _lunar_day(word: str) -> int:
    """Convert 初八, 十五, 廿三, 二十九, 三十/卅 (or plain digits) to a day number."""
    if word.isdigit():
        return int(word)
    if word in ("三十", "卅"):
        return 30
    if word.startswith("初"):
        return 10 if word == "初十" else _CJK_DIGITS[word[1]]
    for prefix, tens in (("二十", 20), ("廿", 20), ("十", 10)):
        if word.startswith(prefix):
            rest = word[len(prefix) :]
            return tens + (_CJK_DIGITS[rest] if rest else 0)
    raise ValueError(_BIRTHDAY_REASON)
