"""Tests for the cell value parsers: every accepted form, every rejection, and round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from guanxi.domain.customers import Birthday, CalendarKind, Gender
from guanxi.domain.purchases import PaymentMethod
from guanxi.importers.values import (
    normalise_email,
    normalise_phone,
    parse_amount,
    parse_birthday,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_gender,
    parse_int,
    parse_payment_method,
    parse_quantity,
    to_halfwidth,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def fullwidth(text: str) -> str:
    return text.translate(FULLWIDTH)


def excel_serial(day: date) -> int:
    return (day - date(1899, 12, 30)).days


# --- to_halfwidth ----------------------------------------------------------------------------


def test_to_halfwidth_folds_fullwidth_ascii_and_ideographic_space() -> None:
    assert to_halfwidth("\u3000ＡＢＣ１２３！～\u3000") == "ABC123!~"
    assert to_halfwidth("  plain  ") == "plain"
    assert to_halfwidth("张三　") == "张三"


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-05",
        " 2024-01-05 ",
        "2024/1/5",
        "2024/01/05",
        "2024.1.5",
        "2024-1-5",
        "2024年1月5日",
        "2024年01月05日",
        "2024年1月5号",
        "20240105",
        "45296",
        "45296.0",
        "45296.5",
        "２０２４－０１－０５",
        "2024-01-05 14:30:00",
        "2024-01-05T14:30:00",
        "2024/1/5 14:30",
        "2024年1月5日 14:30",
        "2024年1月5日14时30分",
        "20240105143000",
        "20240105 14:30",
        "2024-01-05T14:30:00+08:00",
    ],
)
def test_parse_date_accepts(text: str) -> None:
    assert parse_date(text) == date(2024, 1, 5)


def test_parse_date_excel_serial_boundaries() -> None:
    assert parse_date("61") == date(1900, 3, 1)
    assert parse_date("73415") == date(2100, 12, 31)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("hello", "not a date: expected 2024-01-05, 2024/1/5, 2024年1月5日, 20240105"),
        ("2023-02-29", "2023-02-29 is not a real date: February 2023 has 28 days"),
        ("2024-13-01", "month must be 1-12"),
        ("2024/4/31", "April 2024 has 30 days"),
        ("1899-12-31", "year 1899 is out of range: expected 1900-2100"),
        ("2101-01-01", "year 2101 is out of range"),
        ("60", "Excel serial number 60 is too small"),
        ("1", "Excel serial number 1 is too small"),
        ("73416", "too large for an Excel date"),
        ("999999", "too large for an Excel date"),
        ("1990", "is a year only"),
        ("2024-01-05 25:00", "not a valid time of day"),
        ("2024-01-05 abc", "not a date"),
        ("2024-01-05x", "not a date"),
        ("2024-01/05", "not a date"),
        ("1234567", "not a date"),
        ("-45296", "not a date"),
    ],
)
def test_parse_date_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_date(text)


DATE_STYLES = [
    lambda d: d.isoformat(),
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d.year}-{d.month}-{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d:%Y%m%d}",
    lambda d: f"{d.isoformat()} 08:15:00",
    lambda d: f"{d.year}/{d.month}/{d.day} 8:15",
    lambda d: fullwidth(d.isoformat()),
]


@given(
    day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    style=st.sampled_from(DATE_STYLES),
)
def test_parse_date_round_trips_every_style(day: date, style: object) -> None:
    assert callable(style)
    assert parse_date(style(day)) == day


@given(day=st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 12, 31)))
def test_parse_date_round_trips_excel_serials(day: date) -> None:
    serial = excel_serial(day)
    assume(not 1900 <= serial <= 2100)  # a bare year-like number is refused as "a year only"
    assert parse_date(str(serial)) == day
    assert parse_date(f"{serial}.25") == day


# --- date-times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05 14:30:00", datetime(2024, 1, 5, 14, 30)),
        ("2024-01-05T14:30:00", datetime(2024, 1, 5, 14, 30)),
        ("2024-01-05 14:30", datetime(2024, 1, 5, 14, 30)),
        ("2024-01-05 14:30:05.250", datetime(2024, 1, 5, 14, 30, 5, 250000)),
        ("2024/1/5 9:05", datetime(2024, 1, 5, 9, 5)),
        ("2024/1/5 09:05:07", datetime(2024, 1, 5, 9, 5, 7)),
        ("2024/1/5T09:05:07", datetime(2024, 1, 5, 9, 5, 7)),
        ("2024.1.5 09:05:07.123456789", datetime(2024, 1, 5, 9, 5, 7, 123456)),
        ("2024年1月5日 14:30", datetime(2024, 1, 5, 14, 30)),
        ("2024年1月5日14时30分", datetime(2024, 1, 5, 14, 30)),
        ("2024年1月5日 14时30分15秒", datetime(2024, 1, 5, 14, 30, 15)),
        ("2024年1月5日14点", datetime(2024, 1, 5, 14, 0)),
        ("20240105143000", datetime(2024, 1, 5, 14, 30)),
        ("20240105", datetime(2024, 1, 5)),
        ("2024-01-05", datetime(2024, 1, 5)),
        ("45296", datetime(2024, 1, 5)),
        ("45296.5", datetime(2024, 1, 5, 12, 0)),
        ("45296.604166666664", datetime(2024, 1, 5, 14, 30)),
        ("45296.99999999", datetime(2024, 1, 6, 0, 0)),
        ("２０２４－０１－０５　１４：３０", datetime(2024, 1, 5, 14, 30)),
    ],
)
def test_parse_datetime_local_forms(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text, SHANGHAI)
    assert parsed.tzinfo is SHANGHAI
    assert parsed.replace(tzinfo=None) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-05T06:30:00Z",
        "2024-01-05 06:30:00Z",
        "2024-01-05T14:30:00+08:00",
        "2024-01-05T01:30:00-05:00",
        "2024/1/5 06:30z",
        "2024/1/5 14:30:00+0800",
        "2024/1/5 14:30+08",
    ],
)
def test_parse_datetime_honours_offsets(text: str) -> None:
    parsed = parse_datetime(text, SHANGHAI)
    assert parsed == datetime(2024, 1, 5, 6, 30, tzinfo=UTC)
    assert parsed.tzinfo is SHANGHAI
    assert parsed.hour == 14


def test_parse_datetime_uses_the_given_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    parsed = parse_datetime("2024-07-01 09:00", new_york)
    assert parsed.utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("yesterday", "not a date and time: expected 2024-01-05 14:30"),
        ("2024-01-05 14", "not a date and time"),
        ("2024-01-05 14:60", "not a valid time of day"),
        ("2024-01-05 24:00:00", "not a valid time of day"),
        ("2024-01-05 14:30:00+25:00", "not a valid UTC offset"),
        ("2023-02-29 10:00", "not a real date"),
        ("20240105256000", "not a valid time of day"),
        ("1800-01-05 10:00:00", "year 1800 is out of range"),
    ],
)
def test_parse_datetime_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_datetime(text, SHANGHAI)


DATETIME_STYLES = [
    lambda t: t.isoformat(sep=" "),
    lambda t: t.isoformat(),
    lambda t: (
        f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}:{t.second:02d}"
        + (f".{t.microsecond:06d}" if t.microsecond else "")
    ),
    lambda t: f"{t.year}年{t.month}月{t.day}日 {t:%H:%M:%S.%f}",
]


@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)),
    style=st.sampled_from(DATETIME_STYLES),
)
def test_parse_datetime_round_trips_local_wall_time(moment: datetime, style: object) -> None:
    assert callable(style)
    parsed = parse_datetime(style(moment), SHANGHAI)
    assert parsed.tzinfo is SHANGHAI
    assert parsed.replace(tzinfo=None) == moment


# --- amounts, quantities, integers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", "12"),
        ("12.5", "12.5"),
        ("12.50", "12.50"),
        ("-12.50", "-12.50"),
        ("0", "0"),
        (".5", "0.5"),
        ("¥12.50", "12.50"),
        ("￥ 12.50", "12.50"),
        ("12.50元", "12.50"),
        ("RMB 1,234.50", "1234.50"),
        ("CNY1234", "1234"),
        ("rmb12", "12"),
        ("1,234,567.89", "1234567.89"),
        ("1，234.00", "1234.00"),
        ("１２３４．５０", "1234.50"),
        ("(12.00)", "-12.00"),
        ("（12.00）", "-12.00"),
        ("¥(1,200.00)", "-1200.00"),
        ("-¥12", "-12"),
        ("¥-12", "-12"),
        ("－12", "-12"),
        ("\u221212", "-12"),
        ("+12", "12"),
        ("12.500", "12.500"),
        (" 1 234.5 ", "1234.5"),
    ],
)
def test_parse_amount_accepts(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty: expected an amount"),
        ("¥", "empty: expected an amount"),
        ("abc", "not a number: expected an amount such as 1234.50"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("-Infinity", "not a number"),
        ("1.2E+5", "exponent notation"),
        ("1e3", "exponent notation"),
        ("12.345", "more than 2 decimal places"),
        ("1,23", "misplaced thousands separator"),
        ("1,2345.00", "misplaced thousands separator"),
        ("12,34,567", "misplaced thousands separator"),
        ("-(12)", "not a number"),
        ("(-12)", "both parentheses and a sign"),
        ("12.3.4", "not a number"),
        ("1_000", "not a number"),
        ("12.50/件", "not a number"),
    ],
)
def test_parse_amount_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_amount(text)


def _format_amount(value: Decimal, grouped: bool, symbol: str, negative_style: str) -> str:
    body = f"{abs(value):,.2f}" if grouped else f"{abs(value):.2f}"
    body = symbol + body
    if value < 0:
        body = f"({body})" if negative_style == "parens" else "-" + body
    return body


@given(
    value=st.decimals(
        min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False
    ),
    grouped=st.booleans(),
    symbol=st.sampled_from(["", "¥", "￥", "RMB ", "CNY"]),
    negative_style=st.sampled_from(["minus", "parens"]),
    wide=st.booleans(),
)
def test_parse_amount_round_trips(
    value: Decimal, grouped: bool, symbol: str, negative_style: str, wide: bool
) -> None:
    text = _format_amount(value, grouped, symbol, negative_style)
    if wide:
        text = fullwidth(text)
    assert parse_amount(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", "2"),
        ("1.5", "1.5"),
        ("0.125", "0.125"),
        ("1,000", "1000"),
        ("２", "2"),
        (" 3 ", "3"),
        ("1.500", "1.500"),
    ],
)
def test_parse_quantity_accepts(text: str, expected: str) -> None:
    assert parse_quantity(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1", "negative quantity: record returns separately"),
        ("(2)", "negative quantity: record returns separately"),
        ("0", "quantity is zero"),
        ("0.000", "quantity is zero"),
        ("1.2345", "more than 3 decimal places"),
        ("", "empty: expected a quantity"),
        ("two", "not a number: expected a quantity"),
        ("1e2", "exponent notation"),
        ("nan", "not a number"),
        ("1,00", "misplaced thousands separator"),
    ],
)
def test_parse_quantity_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), (" 12 ", 12), ("-3", -3), ("1,234", 1234), ("１２", 12), ("12.0", 12)],
)
def test_parse_int_accepts(text: str, expected: int) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("12.5", "not a whole number"), ("abc", "not a number"), ("1e3", "exponent")],
)
def test_parse_int_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_int(text)


# --- phones and emails -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        " 13812345678 ",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086-13812345678",
        "0086 138 1234 5678",
        "8613812345678",
        "86 138 1234 5678",
        "138-1234-5678",
        "138 1234 5678",
        "(138) 1234-5678",
        "138.1234.5678",
        "１３８１２３４５６７８",
        "＋８６　１３８１２３４５６７８",
        "13812345678.0",
        "1.3812345678E10",
        "1.3812345678E+10",
        "1.3812345678e+10",
    ],
)
def test_normalise_phone_mobile_forms(text: str) -> None:
    assert normalise_phone(text) == "+8613812345678"


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("0755-12345678", "CN", "+8675512345678"),
        ("(0755) 1234 5678", "CN", "+8675512345678"),
        ("010-12345678", "CN", "+861012345678"),
        ("+852 9123 4567", "CN", "+85291234567"),
        ("9123 4567", "HK", "+85291234567"),
        ("+86 138 1234 5678", "HK", "+8613812345678"),
    ],
)
def test_normalise_phone_other_numbers(text: str, region: str, expected: str) -> None:
    assert normalise_phone(text, region) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty: expected a phone number"),
        ("12345", "not a valid phone number for region CN"),
        ("1381234567", "not a valid phone number for region CN"),
        ("138123456789", "not a valid phone number for region CN"),
        ("call me", "not a valid phone number for region CN"),
        ("1.38123E+10", "shortened by Excel"),
        ("+999 123", "not a valid phone number for region CN"),
    ],
)
def test_normalise_phone_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_phone(text)


def test_normalise_phone_names_the_region() -> None:
    with pytest.raises(ValueError, match="not a valid phone number for region HK"):
        normalise_phone("12345", "HK")


@given(
    mobile=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "+86-"]),
    separator=st.sampled_from(["", " ", "-", "."]),
    wide=st.booleans(),
)
def test_normalise_phone_any_decoration(
    mobile: str, prefix: str, separator: str, wide: bool
) -> None:
    text = prefix + separator.join((mobile[:3], mobile[3:7], mobile[7:]))
    if wide:
        text = fullwidth(text)
    assert normalise_phone(text) == "+86" + mobile


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wang@Example.COM", "wang@example.com"),
        ("  li.na+shop@qq.com ", "li.na+shop@qq.com"),
        ("ｗａｎｇ＠ｑｑ．ｃｏｍ", "wang@qq.com"),
        ("wang@qq。com", "wang@qq.com"),
    ],
)
def test_normalise_email_accepts(text: str, expected: str) -> None:
    assert normalise_email(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("wang", "not an email address"),
        ("wang@qq", "not an email address"),
        ("wang@@qq.com", "not an email address"),
        ("a@b.com;c@d.com", "not an email address"),
        ("wang li@qq.com", "not an email address"),
        ("@qq.com", "not an email address"),
        ("wang@.com", "not an email address"),
        ("wang@qq.com.", "not an email address"),
        ("wang@qq..com", "not an email address"),
    ],
)
def test_normalise_email_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_email(text)


# --- genders, booleans, payment methods --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("男", Gender.MALE),
        ("男性", Gender.MALE),
        ("先生", Gender.MALE),
        ("M", Gender.MALE),
        ("m", Gender.MALE),
        ("Male", Gender.MALE),
        ("Ｍ", Gender.MALE),
        ("女", Gender.FEMALE),
        ("女性", Gender.FEMALE),
        ("女士", Gender.FEMALE),
        ("小姐", Gender.FEMALE),
        ("F", Gender.FEMALE),
        ("female", Gender.FEMALE),
        (" FEMALE ", Gender.FEMALE),
        ("", Gender.UNKNOWN),
        ("  ", Gender.UNKNOWN),
        ("未知", Gender.UNKNOWN),
        ("保密", Gender.UNKNOWN),
        ("Unknown", Gender.UNKNOWN),
    ],
)
def test_parse_gender(text: str, expected: Gender) -> None:
    assert parse_gender(text) is expected


def test_parse_gender_rejects() -> None:
    with pytest.raises(ValueError, match="not a gender: expected 男, 女, M, F"):
        parse_gender("x")


@pytest.mark.parametrize(
    "text", ["是", "Y", "y", "YES", "yes", "True", "1", "√", "✓", "同意", "１"]
)
def test_parse_bool_true(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["否", "N", "no", "FALSE", "0", "×", "✗", "不同意"])
def test_parse_bool_false(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize(("text", "reason"), [("", "empty"), ("maybe", "not yes or no")])
def test_parse_bool_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_bool(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("现金", PaymentMethod.CASH),
        ("Cash", PaymentMethod.CASH),
        ("微信", PaymentMethod.WECHAT_PAY),
        ("微信支付", PaymentMethod.WECHAT_PAY),
        ("WeChat", PaymentMethod.WECHAT_PAY),
        ("WeChat Pay", PaymentMethod.WECHAT_PAY),
        ("微信转账", PaymentMethod.WECHAT_PAY),
        ("支付宝", PaymentMethod.ALIPAY),
        ("Alipay", PaymentMethod.ALIPAY),
        ("刷卡", PaymentMethod.CARD),
        ("银行卡", PaymentMethod.CARD),
        ("信用卡", PaymentMethod.CARD),
        ("银联", PaymentMethod.CARD),
        ("card", PaymentMethod.CARD),
        ("储值", PaymentMethod.STORED_VALUE),
        ("储值卡", PaymentMethod.STORED_VALUE),
        ("会员卡余额", PaymentMethod.STORED_VALUE),
        ("Stored Value", PaymentMethod.STORED_VALUE),
        ("积分", PaymentMethod.POINTS),
        ("points", PaymentMethod.POINTS),
        ("赊账", PaymentMethod.OTHER),
        ("微信+现金", PaymentMethod.OTHER),
    ],
)
def test_parse_payment_method(text: str, expected: PaymentMethod) -> None:
    assert parse_payment_method(text) is expected


def test_parse_payment_method_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty: expected a payment method"):
        parse_payment_method("  ")


# --- birthdays -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-01-05", Birthday(1, 5, year=1990)),
        ("1990/1/5", Birthday(1, 5, year=1990)),
        ("1990年1月5日", Birthday(1, 5, year=1990)),
        ("19900105", Birthday(1, 5, year=1990)),
        ("32878", Birthday(1, 5, year=1990)),
        ("1990-01-05 00:00:00", Birthday(1, 5, year=1990)),
        ("公历1990-01-05", Birthday(1, 5, year=1990)),
        ("1月5日", Birthday(1, 5)),
        ("1月5号", Birthday(1, 5)),
        ("01-05", Birthday(1, 5)),
        ("1/5", Birthday(1, 5)),
        ("12.25", Birthday(12, 25)),
        ("2月29日", Birthday(2, 29)),
        ("１月５日", Birthday(1, 5)),
    ],
)
def test_parse_birthday_solar(text: str, expected: Birthday) -> None:
    assert parse_birthday(text) == expected


L = CalendarKind.LUNAR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("农历八月十五", Birthday(8, 15, L)),
        ("农历1990年八月十五", Birthday(8, 15, L, 1990)),
        ("阴历 8-15", Birthday(8, 15, L)),
        ("阴历8月15日", Birthday(8, 15, L)),
        ("农历1990-08-15", Birthday(8, 15, L, 1990)),
        ("农历：1990-08-15", Birthday(8, 15, L, 1990)),
        ("lunar: 8/15", Birthday(8, 15, L)),
        ("Lunar 8-15", Birthday(8, 15, L)),
        ("农历闰四月初八", Birthday(4, 8, L, is_leap_month=True)),
        ("农历2020年闰四月初八", Birthday(4, 8, L, 2020, is_leap_month=True)),
        ("农历正月初一", Birthday(1, 1, L)),
        ("农历一月初十", Birthday(1, 10, L)),
        ("农历十月十一", Birthday(10, 11, L)),
        ("农历冬月十九", Birthday(11, 19, L)),
        ("农历十一月二十", Birthday(11, 20, L)),
        ("农历腊月廿三", Birthday(12, 23, L)),
        ("农历十二月廿九", Birthday(12, 29, L)),
        ("农历三月三十", Birthday(3, 30, L)),
        ("农历三月卅", Birthday(3, 30, L)),
        ("农历五月二十一", Birthday(5, 21, L)),
        ("农历七月初七", Birthday(7, 7, L)),
        ("农历九月十", Birthday(9, 10, L)),
    ],
)
def test_parse_birthday_lunar(text: str, expected: Birthday) -> None:
    assert parse_birthday(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("0105", "ambiguous: 4 digits"),
        ("105", "not a birthday"),
        ("someday", "not a birthday: expected 1990-01-05, 1月5日, 01-05 or 农历八月十五"),
        ("2月30日", "02-30 is not a real month and day"),
        ("13/1", "13-01 is not a real month and day"),
        ("1990-02-30", "not a real date"),
        ("1850-01-05", "year 1850 is out of range"),
        ("农历八月三十一", "not a lunar birthday"),
        ("农历8-31", "lunar birthday day must be 1-30"),
        ("农历13-01", "birthday month must be 1-12"),
        ("农历某天", "not a lunar birthday"),
    ],
)
def test_parse_birthday_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_birthday(text)
