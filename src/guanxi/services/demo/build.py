"""Building the demo: draw every row from one seed in a fixed order, then write them at once."""

from __future__ import annotations

import bisect
from datetime import date

from guanxi.errors import InvalidInput
from guanxi.services.demo.catalog import add_shop, serving_pickers
from guanxi.services.demo.context import Context, ProgressFn
from guanxi.services.demo.people import People
from guanxi.services.demo.purchases import Purchases
from guanxi.services.demo.returns import add_returns
from guanxi.services.demo.summary import DemoSummary, summarise
from guanxi.services.demo.writer import check_empty, insert_all, reset_sequences
from guanxi.storage.db import Database

DEMO_END = date(2026, 10, 31)
"""Last day of the demo's sales history: fixed so that ``make demo`` is reproducible."""


class _Generator:
    """Draws the whole demo shop from one seeded random generator."""

    def __init__(self, seed: int, customers: int, end: date, progress: ProgressFn) -> None:
        self.seed = seed
        self.size = customers
        self.progress = progress
        self.ctx = Context(seed, end)
        serving = serving_pickers()
        self.people = People(self.ctx, serving)
        self.purchases = Purchases(self.ctx, serving)

    def generate(self) -> None:
        """Every row, in the order the random draws must happen."""
        add_shop(self.ctx)
        self._customers()
        self.purchases.finish_orders()
        add_returns(self.ctx, self.purchases.orders, self.purchases.line_refs)
        self.people.add_derived_tags()

    def _customers(self) -> None:
        """Every customer, in acquisition order, with contact data, consents and purchases."""
        acquired = self.people.acquisition_days(self.size)
        for i, day in enumerate(acquired):
            person = self.people.add(day, earlier=bisect.bisect_left(acquired, day))
            self.purchases.add(person)
            if i % 250 == 0 or i + 1 == self.size:
                self.progress("Generating customers and purchases", i + 1, self.size)

    def summary(self) -> DemoSummary:
        """Counts and figures of what was generated."""
        return summarise(self.ctx.t, self.people, seed=self.seed, size=self.size)


def _no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: ignore."""


def build_demo(
    db: Database,
    *,
    seed: int = 42,
    customers: int = 5000,
    end: date = DEMO_END,
    progress: ProgressFn | None = None,
) -> DemoSummary:
    """Build the deterministic demo shop into an empty, migrated database and summarise it."""
    if customers < 1:
        raise InvalidInput(f"the demo needs at least 1 customer (asked for {customers})")
    report = progress or _no_progress
    with db.read() as session:
        check_empty(session)  # fail before the work; checked again under the write lock
    gen = _Generator(seed, customers, end, report)
    gen.generate()
    with db.write() as session:
        check_empty(session)
        insert_all(session, gen.ctx.t.rows, report)
        if not db.is_sqlite:
            reset_sequences(session)
    return gen.summary()
