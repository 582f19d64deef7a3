"""The deterministic demo shop: a tea house (茶叶/茶具) with two stores and three years of sales.

Everything is drawn from one ``random.Random(seed)`` and no clock is read, so the same seed,
end date and size give the same rows, ids included, on SQLite and on PostgreSQL.

Customers follow a buy-till-you-die process (BG/NBD style): each has a purchase rate drawn
from a Gamma distribution and a dropout probability drawn from a Beta distribution, applied
after every purchase. Spend varies per person (a Gamma-distributed price level) and demand
peaks before festivals and during the shopping promotions of the Chinese retail calendar.

Modules, in the order a build uses them: ``calendar`` (demand by day), ``context`` (the seeded
generator and the rows), ``catalog`` (stores, staff, products), ``people``, ``contacts`` and
``consents`` (customers), ``purchases`` and ``returns``, ``writer`` (the inserts),
``summary``, and ``build`` (``build_demo``, which runs them).
"""

from __future__ import annotations

from guanxi.services.demo.build import DEMO_END, build_demo
from guanxi.services.demo.calendar import LUNAR_FESTIVALS, Window, calendar_windows
from guanxi.services.demo.catalog import SHOP_NAME
from guanxi.services.demo.context import ProgressFn
from guanxi.services.demo.points import start_points_programme
from guanxi.services.demo.summary import DemoSummary

__all__ = [
    "DEMO_END",
    "LUNAR_FESTIVALS",
    "SHOP_NAME",
    "DemoSummary",
    "ProgressFn",
    "Window",
    "build_demo",
    "calendar_windows",
    "start_points_programme",
]
