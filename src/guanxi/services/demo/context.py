"""What every step of the demo build shares: the seeded generator, the days and the rows."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from guanxi.services.demo.calendar import Day, demo_days, years_before
from guanxi.storage.models import Base

YEARS = 3
ProgressFn = Callable[[str, int, int], None]
Row = dict[str, Any]
T = TypeVar("T")

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Opening hours 10:00-21:00 local time: the hour a sale starts, weighted.
HOURS = (
    (10, 3),
    (11, 5),
    (12, 6),
    (13, 5),
    (14, 5),
    (15, 6),
    (16, 7),
    (17, 8),
    (18, 9),
    (19, 7),
    (20, 4),
)


class Weighted(Generic[T]):
    """Draws items by weight with one random number and a binary search."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum: list[float] = []
        total = 0.0
        for _, weight in pairs:
            total += weight
            self.cum.append(total)
        self.total = total

    def draw(self, rng: random.Random) -> T:
        """One item, chosen with probability proportional to its weight."""
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


@dataclass
class Tables:
    """The rows to insert, by table name, in an order that respects foreign keys."""

    rows: dict[str, list[Row]] = field(
        default_factory=lambda: {t.name: [] for t in Base.metadata.sorted_tables}
    )

    def add(self, table: str, **values: Any) -> None:
        """Append one row."""
        self.rows[table].append(values)

    def count(self, table: str) -> int:
        """How many rows a table will get."""
        return len(self.rows[table])


class Context:
    """One seeded random generator, the demo's days and the rows drawn so far.

    Every step draws from ``rng`` in a fixed order: that order is what makes the demo
    deterministic, so a step must not draw more, less or earlier than it does today.
    """

    def __init__(self, seed: int, end: date) -> None:
        self.rng = random.Random(seed)
        self.start = years_before(end, YEARS) + timedelta(days=1)
        self.days: list[Day] = demo_days(self.start, end)
        self.max_rate = max(d.rate for d in self.days)
        self.t = Tables()
        self.hours = Weighted(HOURS)

    def shop_time(self, day: int) -> datetime:
        """A moment during opening hours on a day, local time turned to UTC."""
        on = self.days[day].on
        hour = self.hours.draw(self.rng)
        local = datetime(
            on.year,
            on.month,
            on.day,
            hour,
            self.rng.randrange(60),
            self.rng.randrange(60),
            tzinfo=SHANGHAI,
        )
        return local.astimezone(UTC)


def local_date(at: datetime) -> date:
    """The Shanghai calendar day of a moment."""
    return at.astimezone(SHANGHAI).date()
