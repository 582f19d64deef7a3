"""Realistic rows written with plain SQL, so they fit a database at any revision since 0001.

``fill_first_revision`` populates the tables of the first migration (stores, staff, products,
customers with tags and consents, purchases with lines, returns): what a shop that started on
Guanxi's first release holds when it upgrades. ``row_counts`` counts rows of named tables;
``all_rows`` reads every row of a database at head, to compare two databases value for value.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, text

from guanxi.storage.db import Database
from guanxi.storage.models import Base

FIRST_REVISION_TABLES = (
    "store", "staff", "product", "customer", "customer_tag", "consent", "consent_event",
    "anniversary",
    "purchase", "purchase_line", "purchase_return", "return_line",
)  # fmt: skip


def fill_first_revision(conn: Connection, *, customers: int = 300, seed: int = 7) -> None:
    """Insert a small shop into a database migrated to revision 0001 (SQLite or PostgreSQL)."""
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1, 2, 0, 0)
    conn.execute(
        text(
            "INSERT INTO store (id, code, name, timezone, created_at) VALUES (:i, :c, :n, :z, :t)"
        ),
        [{"i": i, "c": f"S{i}", "n": f"门店{i}", "z": "Asia/Shanghai", "t": t0} for i in (1, 2)],
    )
    conn.execute(
        text("INSERT INTO staff (id, name, role, store_id, is_active, created_at) "
             "VALUES (:i, :n, :r, :s, :a, :t)"),
        [{"i": i, "n": f"店员{i}", "r": "clerk" if i > 1 else "owner",
          "s": None if i == 1 else 1 + i % 2, "a": True, "t": t0} for i in range(1, 5)],
    )  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO product (id, sku, name, category, list_price) VALUES (:i, :s, :n, :c, :p)"
        ),
        [
            {"i": i, "s": f"TEA-{i:03d}", "n": f"茶{i}", "c": "tea", "p": 1000 * i}
            for i in range(1, 21)
        ],
    )
    conn.execute(
        text(
            "INSERT INTO customer (id, code, name, name_pinyin, name_initials, gender, phone, "
            "phone_last4, birthday_kind, birthday_is_leap_month, source, owner_staff_id, "
            "home_store_id, referred_by_id, custom_fields, created_at, updated_at) VALUES (:i, :c, "
            ":n, :p, :ini, :g, :ph, :l4, 'solar', :leap, 'import', :o, :h, :r, :cf, :t, :t)"
        ),
        [{"i": i, "c": f"C{i:05d}", "n": f"客户{i}", "p": f"kehu{i}", "ini": "kh",
          "g": rng.choice(["female", "male", "unknown"]), "ph": f"138{i:08d}",
          "l4": f"{i:04d}"[-4:], "leap": False, "o": 1 + i % 4, "h": 1 + i % 2,
          "r": i - 1 if i % 10 == 0 else None, "cf": '{"vip": true}', "t": t0}
         for i in range(1, customers + 1)],
    )  # fmt: skip
    conn.execute(  # rebuilt by the batch-mode migration 0015: its rows must come through
        text("INSERT INTO anniversary (customer_id, label, occurs_on, calendar_kind) "
             "VALUES (:c, '结婚纪念日', :d, :k)"),
        [{"c": i, "d": date(2010, 1 + i % 12, 1 + i % 28), "k": ("solar", "lunar")[i % 2]}
         for i in range(5, customers + 1, 5)],
    )  # fmt: skip
    conn.execute(
        text("INSERT INTO customer_tag (customer_id, name) VALUES (:c, :n)"),
        [{"c": i, "n": tag} for i in range(1, customers + 1) for tag in ("常客", "绿茶")[: i % 3]],
    )
    conn.execute(
        text("INSERT INTO consent (customer_id, channel, is_granted, changed_at, source) "
             "VALUES (:c, 'sms', :g, :t, 'import')"),
        [{"c": i, "g": i % 4 != 0, "t": t0} for i in range(1, customers + 1)],
    )  # fmt: skip
    conn.execute(
        text("INSERT INTO consent_event (customer_id, channel, is_granted, at, source) "
             "VALUES (:c, 'sms', :g, :t, 'import')"),
        [{"c": i, "g": i % 4 != 0, "t": t0} for i in range(1, customers + 1)],
    )  # fmt: skip
    purchases, lines = [], []
    for p in range(1, customers * 5 + 1):
        at = t0 + timedelta(hours=p)
        items = [(rng.randint(1, 20), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        total = sum(1000 * prod * qty for prod, qty in items)
        purchases.append({"i": p, "s": 1 + p % 2, "o": f"O{p}", "c": 1 + p % customers,
                          "st": 2 + p % 3, "at": at, "tot": total, "promo": p % 7 == 0,
                          "t": at})  # fmt: skip
        for n, (prod, qty) in enumerate(items, 1):
            lines.append({"p": p, "n": n, "pr": prod, "q": qty * 1000, "u": 1000 * prod,
                          "a": 1000 * prod * qty})  # fmt: skip
    conn.execute(
        text("INSERT INTO purchase (id, store_id, external_order_id, customer_id, staff_id, "
             "purchased_at, total_amount, is_promotion, payment_method, created_at) "
             "VALUES (:i, :s, :o, :c, :st, :at, :tot, :promo, 'wechat', :t)"),
        purchases,
    )  # fmt: skip
    conn.execute(
        text("INSERT INTO purchase_line (purchase_id, line_no, product_id, quantity, unit_price, "
             "discount, amount) VALUES (:p, :n, :pr, :q, :u, 0, :a)"),
        lines,
    )  # fmt: skip
    conn.execute(
        text("INSERT INTO purchase_return (id, purchase_id, returned_at, reason, refund_amount, "
             "created_at) VALUES (:i, :p, :t, '退货', 0, :t)"),
        [{"i": i, "p": i * (len(purchases) // 10), "t": t0 + timedelta(days=400)}
         for i in range(1, 11)],
    )  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO return_line (return_id, purchase_line_id, quantity, amount) "
            "SELECT r.id, l.id, l.quantity, l.amount FROM purchase_return r "
            "JOIN purchase_line l ON l.purchase_id = r.purchase_id AND l.line_no = 1"
        )
    )
    conn.execute(
        text(
            "UPDATE purchase_return SET refund_amount = (SELECT SUM(amount) FROM return_line "
            "WHERE return_line.return_id = purchase_return.id)"
        )
    )


def row_counts(conn: Connection, tables: tuple[str, ...] = FIRST_REVISION_TABLES) -> dict[str, int]:
    """Rows per table, plus the sum of purchase totals (a value, not only a count)."""
    counts = {t: int(conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one())
              for t in tables}  # fmt: skip
    counts["sum(purchase.total_amount)"] = int(
        conn.execute(text("SELECT COALESCE(SUM(total_amount), 0) FROM purchase")).scalar_one()
    )
    return counts


def all_rows(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table as typed Python values, in primary-key order."""
    with database.read() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }
