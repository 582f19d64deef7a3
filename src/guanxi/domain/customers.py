"""Customer value types: gender, birthdays (solar or lunar), consent channels, styles."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from enum import StrEnum

from guanxi.errors import InvalidInput


class Gender(StrEnum):
    """Gender as the customer gave it; unknown when not given."""

    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class CalendarKind(StrEnum):
    """Which calendar a birthday or anniversary is kept in."""

    SOLAR = "solar"
    LUNAR = "lunar"


class Channel(StrEnum):
    """A channel over which a customer may consent to marketing."""

    SMS = "sms"
    EMAIL = "email"
    WECHAT = "wechat"
    PHONE = "phone"


class CommunicationStyle(StrEnum):
    """Social style (Merrill & Reid, 1981): how a customer prefers to be dealt with."""

    DRIVER = "driver"  # wants results, brevity
    ANALYTICAL = "analytical"  # wants facts, detail
    AMIABLE = "amiable"  # wants warmth, reassurance
    EXPRESSIVE = "expressive"  # wants recognition, novelty


class CustomerSource(StrEnum):
    """How a customer came into the archive."""

    WALK_IN = "walk_in"
    REFERRAL = "referral"
    ONLINE = "online"
    EVENT = "event"
    IMPORT = "import"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Birthday:
    """A birthday as the customer keeps it: solar or lunar month/day, year when known.

    A lunar birthday may fall in a leap month (``is_leap_month``); a solar one never does.
    """

    month: int
    day: int
    kind: CalendarKind = CalendarKind.SOLAR
    year: int | None = None
    is_leap_month: bool = False

    def __post_init__(self) -> None:
        check_birthday(self)


def check_birthday(b: Birthday) -> None:
    """Raise InvalidInput unless the birthday is a possible date in its calendar."""
    if not 1 <= b.month <= 12:
        raise InvalidInput(f"birthday month must be 1-12 (found {b.month})")
    if b.year is not None and not 1900 <= b.year <= 2100:
        raise InvalidInput(f"birthday year must be 1900-2100 (found {b.year})")
    if b.kind is CalendarKind.LUNAR:
        if not 1 <= b.day <= 30:
            raise InvalidInput(f"lunar birthday day must be 1-30 (found {b.day})")
        return
    if b.is_leap_month:
        raise InvalidInput("a solar birthday cannot be in a leap month")
    # 29 February is valid without a year; with a year it must be a leap year.
    year = b.year if b.year is not None else 2000
    last = calendar.monthrange(year, b.month)[1]
    if not 1 <= b.day <= last:
        raise InvalidInput(f"{year if b.year else ''}-{b.month:02d}-{b.day:02d} is not a date")
