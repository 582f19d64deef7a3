"""Column types: UTC timestamps and exact decimals stored as scaled integers.

Money is kept as integer fen (and quantities as integer thousandths) in both SQLite and
PostgreSQL: sums are exact in SQL on either database and SQLite never sees a float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as naive UTC; always read back with tzinfo=UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: attach a time zone before storing")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a CAST
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class ScaledDecimal(TypeDecorator[Decimal]):
    """A Decimal with a fixed number of places, stored as an integer count of the smallest unit."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int = 2) -> None:
        super().__init__()
        self.places = places
        self._quantum = Decimal(1).scaleb(-places)
        self._factor = 10**places

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(value)
        return int(value.quantize(self._quantum, rounding=ROUND_HALF_UP).scaleb(self.places))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.places)


def Money() -> ScaledDecimal:  # noqa: N802 - reads like a type in column declarations
    """CNY amount with 2 places, stored as integer fen."""
    return ScaledDecimal(2)


def Quantity() -> ScaledDecimal:  # noqa: N802
    """Item quantity with 3 places (weighed goods), stored as integer thousandths."""
    return ScaledDecimal(3)
