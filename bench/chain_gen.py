"""A deterministic retail chain generated inside PostgreSQL, for bench/chain_scale.py.

Everything is made by ``INSERT ... SELECT FROM generate_series`` on the server: no row crosses
the wire, so 20,000,000 purchase lines load at the speed of PostgreSQL's executor rather than of
Python. Values come from ``hashint8extended(n, salt)`` (stable across platforms and runs), so
two runs with the same parameters build the same shop.

The load follows PostgreSQL's advice for bulk loading: secondary indexes and unique constraints
of the filled tables are dropped first and rebuilt after the load (with a large
``maintenance_work_mem``), foreign-key triggers are off for the loading session
(``session_replication_role = replica``: the generated keys are consistent by construction), the
id sequences are moved past the loaded ids, then ``VACUUM (ANALYZE)`` gives the planner its
statistics and the visibility map its bits, as a running shop's autovacuum would.

The shop: ``stores`` stores with 10 clerks each and one owner; 2,000 products in 40 categories;
``customers`` customers (CJK names with their pinyin and initials, a phone, a member code, a
home store, an account owner for 70 %, a birthday for 80 %, a tenth of them lunar); about
``lines / 3`` purchases (1 to 5 lines each, 85 % in the buyer's home store) spread over
2024-01-01 .. AS_OF with a skewed customer distribution (low ids buy most, some never buy);
an earned points lot and a cached balance for every other customer, member tiers for 15 %,
open follow-up tasks for 10 %, open promises for 2 %.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

AS_OF = date(2026, 11, 30)
STAFF_PER_STORE = 10
PRODUCTS = 2000
BULK_TABLES = ("customer", "purchase", "purchase_line", "points_entry", "points_balance",
               "customer_tier", "care_task", "commitment")  # fmt: skip
SURNAMES = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
            ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
            ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"),
            ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"), ("郑", "zheng"),
            ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"), ("许", "xu"),
            ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao")]  # fmt: skip
GIVEN = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀", "xiu"), ("英", "ying"),
         ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"), ("磊", "lei"),
         ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"),
         ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("兰", "lan"),
         ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("华", "hua"), ("建", "jian"),
         ("国", "guo"), ("志", "zhi"), ("红", "hong"), ("文", "wen"), ("辉", "hui"),
         ("玉", "yu"), ("梅", "mei"), ("鹏", "peng"), ("飞", "fei"), ("宇", "yu"),
         ("浩", "hao"), ("然", "ran"), ("欣", "xin"), ("婷", "ting"), ("雪", "xue")]  # fmt: skip
TIERS = ('[{"key": "normal", "name": "普通会员", "min_spend": "0"}, '
         '{"key": "silver", "name": "银卡", "min_spend": "2000"}, '
         '{"key": "gold", "name": "金卡", "min_spend": "6000"}]')  # fmt: skip


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _h(expr: str, salt: int) -> str:
    """SQL for a deterministic non-negative pseudo-random integer from ``expr``."""
    return f"((hashint8extended(({expr})::bigint, {salt}) & 2147483647)::int)"


def _reference(conn: Connection, stores: int) -> None:
    conn.execute(text(
        "INSERT INTO store (id, code, name, timezone, created_at) SELECT s, 'S' || lpad(s::text, "
        "3, '0'), '门店' || s, 'Asia/Shanghai', '2023-01-01' FROM generate_series(1, :n) s"
    ), {"n": stores})  # fmt: skip
    conn.execute(text(
        "INSERT INTO staff (id, name, role, store_id, is_active, created_at) "
        "SELECT k, '顾问' || k, 'clerk', 1 + (k - 1) / :per, true, '2023-01-01' "
        "FROM generate_series(1, :n) k"
    ), {"per": STAFF_PER_STORE, "n": stores * STAFF_PER_STORE})  # fmt: skip
    conn.execute(text(
        "INSERT INTO staff (id, name, role, store_id, is_active, created_at) "
        "VALUES (:id, '老板', 'owner', NULL, true, '2023-01-01')"
    ), {"id": stores * STAFF_PER_STORE + 1})  # fmt: skip
    conn.execute(text(
        "INSERT INTO product (id, sku, name, category, list_price) SELECT p, 'SKU-' || p, "
        "'商品' || p, '品类' || (p % 40), 500 + p * 10 FROM generate_series(1, :n) p"
    ), {"n": PRODUCTS})  # fmt: skip
    conn.execute(text(
        "INSERT INTO loyalty_program (rules, points_valid_months, updated_at, tiers) "
        f"VALUES ('{{}}', 12, '2026-01-01', '{TIERS}')"
    ))  # fmt: skip


def _customers(conn: Connection, customers: int, stores: int) -> None:
    sn, sp = _array([c for c, _ in SURNAMES]), _array([p for _, p in SURNAMES])
    gn, gp = _array([c for c, _ in GIVEN]), _array([p for _, p in GIVEN])
    ns, ng = len(SURNAMES), len(GIVEN)
    conn.execute(text(f"""
        INSERT INTO customer (id, code, name, name_pinyin, name_initials, gender, phone,
            phone_last4, birthday_kind, birthday_month, birthday_day, birthday_is_leap_month,
            source, owner_staff_id, home_store_id, custom_fields, created_at, updated_at)
        SELECT i, 'M' || lpad(i::text, 8, '0'),
            ({sn})[1 + a % {ns}] || ({gn})[1 + b % {ng}] || CASE WHEN c % 3 > 0
                THEN ({gn})[1 + c % {ng}] ELSE '' END,
            ({sp})[1 + a % {ns}] || ({gp})[1 + b % {ng}] || CASE WHEN c % 3 > 0
                THEN ({gp})[1 + c % {ng}] ELSE '' END,
            left(({sp})[1 + a % {ns}], 1) || left(({gp})[1 + b % {ng}], 1) || CASE
                WHEN c % 3 > 0 THEN left(({gp})[1 + c % {ng}], 1) ELSE '' END,
            CASE WHEN a % 2 = 0 THEN 'female' ELSE 'male' END,
            '+86138' || lpad(i::text, 8, '0'), right(lpad(i::text, 8, '0'), 4),
            CASE WHEN b % 10 = 0 THEN 'lunar' ELSE 'solar' END,
            CASE WHEN c % 5 < 4 THEN 1 + a % 12 END, CASE WHEN c % 5 < 4 THEN 1 + b % 28 END,
            false, 'import',
            CASE WHEN d % 10 < 7 THEN (i % :stores) * {STAFF_PER_STORE} + 1 + d % 10 END,
            1 + i % :stores, '{{}}', t, t
        FROM (SELECT i, {_h("i", 1)} AS a, {_h("i", 2)} AS b, {_h("i", 3)} AS c,
                     {_h("i", 4)} AS d,
                     timestamp '2023-01-01' + ({_h("i", 5)} % 31536000) * interval '1 second' AS t
              FROM generate_series(1, :n) i) g
    """), {"n": customers, "stores": stores})  # fmt: skip


def _purchases(conn: Connection, customers: int, stores: int, purchases: int) -> None:
    # u ** 1.6 skews buyers towards low ids (in float8: numeric power() is 15x slower); the store
    # is the buyer's home store 85 % of the time.
    # Line k of purchase j costs a + b * k fen (one unit), so the receipt total has a closed
    # form: n * a + b * n (n + 1) / 2 for its n = 1 + j % 5 lines.
    days = (AS_OF - date(2024, 1, 1)).days
    a, b, n = f"(500 + {_h('j', 11)} % 20000)", f"({_h('j', 12)} % 3000)", "(1 + j % 5)"
    conn.execute(text(f"""
        INSERT INTO purchase (id, store_id, external_order_id, customer_id, staff_id,
            purchased_at, total_amount, is_promotion, payment_method, created_at)
        SELECT j, st, 'O' || j, c, (st - 1) * {STAFF_PER_STORE} + 1 + r % {STAFF_PER_STORE},
            at, {n} * {a} + {b} * {n} * ({n} + 1) / 2, r % 10 = 0,
            CASE WHEN r % 3 = 0 THEN 'cash' ELSE 'wechat' END, at
        FROM (SELECT j, c, r, CASE WHEN r % 100 < 85 THEN 1 + c % :stores
                                   ELSE 1 + (r / 100) % :stores END AS st,
                     timestamp '2024-01-01' + ({_h("j", 22)} % ({days} * 86400)) * interval '1 s'
                     AS at
              FROM (SELECT j, {_h("j", 21)} AS r,
                           1 + floor(:customers * power({_h("j", 20)} / 2147483648.0::float8,
                                                       1.6::float8))::int
                           AS c
                    FROM generate_series(1, :n) j) q) g
    """), {"n": purchases, "customers": customers, "stores": stores})  # fmt: skip
    conn.execute(text(f"""
        INSERT INTO purchase_line (id, purchase_id, line_no, product_id, quantity, unit_price,
            discount, amount)
        SELECT j * 5 + k - 5, j, k, 1 + {_h("j * 8 + k", 13)} % {PRODUCTS}, 1000,
            {a} + {b} * k, 0, {a} + {b} * k
        FROM generate_series(1, :n) j, generate_series(1, {n}) k
    """), {"n": purchases})  # fmt: skip


def _loyalty_and_care(conn: Connection, customers: int) -> None:
    day = f"date '{AS_OF.isoformat()}'"
    for sql in (
        f"""
        INSERT INTO points_entry (customer_id, kind, points, balance_after, at, expires_on,
            source_type, explanation, flagged)
        SELECT i, 'earn', p, p, timestamp '2026-01-01', {day} + ({_h("i", 31)} % 395 - 30),
            'import', '{{}}', false
        FROM (SELECT i, 10 + {_h("i", 30)} % 2000 AS p FROM generate_series(2, :n, 2) i) g
    """,
        """
        INSERT INTO points_balance (customer_id, points, updated_at)
        SELECT customer_id, points, at FROM points_entry
    """,
        f"""
        INSERT INTO customer_tier (customer_id, tier_key, since, evaluated_on)
        SELECT i, CASE WHEN {_h("i", 41)} % 3 = 0 THEN 'gold' ELSE 'silver' END,
            {day} - {_h("i", 42)} % 400, {day}
        FROM generate_series(1, :n) i WHERE {_h("i", 40)} % 100 < 15
    """,
        f"""
        INSERT INTO care_task (kind, customer_id, assignee_staff_id, store_id, due_on, title,
            source_key, status, created_at)
        SELECT 'followup', c.id, c.owner_staff_id, c.home_store_id,
            {day} + ({_h("c.id", 51)} % 21 - 10), '回访: 使用情况', 'bench:' || c.id, 'open',
            timestamp '2026-11-01'
        FROM customer c WHERE {_h("c.id", 50)} % 100 < 10
    """,
        f"""
        INSERT INTO commitment (customer_id, owner_staff_id, store_id, promise, due_on,
            remind_days, status, created_at)
        SELECT c.id, c.owner_staff_id, c.home_store_id, '到货通知',
            {day} + ({_h("c.id", 61)} % 16 - 5), 1, 'open', timestamp '2026-11-01'
        FROM customer c WHERE {_h("c.id", 60)} % 100 < 2
    """,
    ):
        conn.execute(text(sql), {"n": customers} if ":n" in sql else {})


def _drop_secondary(conn: Connection) -> list[str]:
    """Drop the bulk tables' unique constraints and secondary indexes; return the DDL that
    rebuilds them (primary keys and foreign keys stay)."""
    tables = list(BULK_TABLES)
    constraints = conn.execute(text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'u' AND conrelid::regclass::text = ANY(:t)"
    ), {"t": tables}).all()  # fmt: skip
    indexes = conn.execute(text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND "
        "i.tablename = ANY(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE "
        "k.conindid = (quote_ident(i.indexname))::regclass)"
    ), {"t": tables}).all()  # fmt: skip
    rebuild = []
    for table, name, definition in constraints:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
        rebuild.append(definition)
    return rebuild


def _finish(conn: Connection, rebuild: list[str]) -> None:
    for ddl in rebuild:
        conn.execute(text(ddl))
    sequences = conn.execute(text(
        "SELECT table_name, pg_get_serial_sequence(table_name, 'id') FROM "
        "information_schema.columns WHERE table_schema = 'public' AND column_name = 'id' "
        "AND pg_get_serial_sequence(table_name, 'id') IS NOT NULL"
    )).all()  # fmt: skip
    for table, sequence in sequences:
        conn.execute(text(
            f"SELECT setval('{sequence}', COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        ))  # fmt: skip


def generate(conn: Connection, *, customers: int, lines: int, stores: int) -> dict[str, Any]:
    """Fill the migrated, empty database behind ``conn`` (an AUTOCOMMIT connection); return the
    seconds of each phase and the row counts."""
    purchases = max(1, lines // 3)  # 1 + j % 5 lines: 3 on average
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now

    conn.execute(text("SET maintenance_work_mem = '512MB'"))
    conn.execute(text("SET synchronous_commit = off"))
    conn.execute(text("SET session_replication_role = replica"))  # no FK triggers while loading
    rebuild = _drop_secondary(conn)
    _reference(conn, stores)
    _customers(conn, customers, stores)
    phase("customers")
    _purchases(conn, customers, stores, purchases)
    phase("purchases and lines")
    _loyalty_and_care(conn, customers)
    phase("points, tiers, tasks")
    conn.execute(text("SET session_replication_role = origin"))
    _finish(conn, rebuild)
    phase("indexes and constraints")
    conn.execute(text("VACUUM (ANALYZE)"))
    phase("vacuum analyze")
    tables = ("customer", "purchase", "purchase_line", "points_entry", "care_task")
    counts = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}
    return {"seconds": seconds, "rows": counts,
            "size_mb": round(int(conn.execute(text(
                "SELECT pg_database_size(current_database())")).scalar_one()) / 2**20)}  # fmt: skip
