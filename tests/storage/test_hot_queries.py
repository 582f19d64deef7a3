"""Every hot-path statement runs on both databases and fits a Citus distribution by customer.

A sharded PostgreSQL (Citus) keeps each customer's rows together on one shard when every
customer-owned table is distributed on the customer id and co-located; small shared tables are
reference tables, copied to every node. A statement is then cheap when Citus can route it to one
shard (router), acceptable when it runs on every shard but joins only co-located rows (fan-out),
and wrong on the hot path when it joins distributed rows of different customers (cross-shard
join: repartitioning, or an error). docs/scaling.md explains the classes and the changes below.

The test runs the hot paths (POS purchase, customer search and list, the customer page, points
redemption) on a real database, captures the statement objects SQLAlchemy compiles (the
``before_cursor_execute`` event: ``context.compiled``), and classifies each from its expression
tree rather than its text: distributed from-objects, customer-key equalities with a bound value
or ``IN`` a bound list (pinned: Citus prunes to those customers' shards), customer-key
equalities between two from-objects (co-located join); an insert into a distributed table
without its distribution column is unroutable. It asserts:

- every table of the schema is classed as distributed, reference or local (a new table must be
  placed), and the schema changes Citus needs (tables lacking the customer id, primary keys and
  unique constraints without it) are exactly the documented ones;
- no hot-path statement is a cross-shard join, and the fan-out statements are exactly the
  documented ones, each with why it is acceptable or what would change;
- on PostgreSQL, every single-customer SELECT has an index path (EXPLAIN with sequential scans
  priced out shows no scan of a customer-owned table), so its cost follows the customer, not
  the chain.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, UniqueConstraint, event
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause, TextClause

from guanxi.config import Settings
from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import Base, Staff, Store
from tests.factories import make_customer

# Customer-owned: distributed on the customer id (customer: on id), co-located.
DISTRIBUTED = frozenset({
    "customer", "anniversary", "campaign_holdout", "care_task", "club_member", "commitment",
    "complaint", "complaint_event", "consent", "consent_event", "coupon", "coupon_redemption",
    "customer_interest", "customer_note", "customer_score", "customer_tag", "customer_tier",
    "event_rsvp", "message", "points_allocation", "points_balance", "points_entry",
    "public_link", "purchase", "purchase_line", "purchase_return", "referral_code",
    "referral_reward", "return_line", "reward_redemption", "service_plan", "service_step",
    "stored_value_balance", "stored_value_entry", "survey_answer", "survey_response",
    "tier_change",
})  # fmt: skip
# Small, read-mostly, shared by every customer: reference tables (a copy on every node).
REFERENCE = frozenset({
    "app_setting", "campaign", "club", "club_event", "coupon_campaign", "followup_plan",
    "loyalty_program", "message_template", "occasion_setting", "product", "reward", "segment",
    "staff", "store", "stored_value_rule", "survey",
})  # fmt: skip
# Operational, not customer-keyed, never joined to customer rows on the hot path: plain tables
# on the coordinator (Citus "local tables").
LOCAL = frozenset({"api_idempotency_key", "api_token", "audit_entry", "import_batch",
                   "login_attempt", "model_fit", "web_session"})  # fmt: skip
# The distribution column where it is not customer_id.
DISTRIBUTION_COLUMN = {"customer": "id", "referral_reward": "referred_id"}

# Distributed tables that reach their customer only through a parent: Citus needs the customer
# id added (filled from the parent) to co-locate them.
NEEDS_CUSTOMER_ID = frozenset({"complaint_event", "purchase_line", "purchase_return",
                               "return_line", "service_step", "survey_answer"})  # fmt: skip
# Unique constraints on distributed tables without the distribution column: Citus cannot enforce
# them per shard; they move to lookup tables (docs/scaling.md, "What would need changing").
GLOBAL_UNIQUES = frozenset({
    # Identifiers a person types, unique across the shop: lookup tables keyed by the value.
    ("customer", ("code",)), ("customer", ("email",)), ("customer", ("phone",)),
    ("coupon", ("code",)), ("referral_code", ("code",)), ("public_link", ("token_hash",)),
    ("purchase", ("external_order_id", "store_id")),
    ("coupon_redemption", ("coupon_id", "order_ref")),
    # Idempotency and de-duplication keys: made per customer, (customer_id, key).
    ("care_task", ("source_key",)), ("message", ("dedupe_key",)),
    ("points_entry", ("idempotency_key",)), ("coupon_redemption", ("idempotency_key",)),
    ("reward_redemption", ("idempotency_key",)), ("stored_value_entry", ("idempotency_key",)),
})  # fmt: skip

# Hot-path statements that Citus cannot route to one shard, by (hot path, kind, distributed
# tables), with why that is acceptable or what would change (docs/scaling.md says the same).
NOT_ROUTED = {
    # Finding a customer by phone, code or name cannot know the shard before the answer: an
    # indexed probe on every shard, or a phone/code -> customer lookup table.
    ("pos purchase", "fan-out", ("customer",)): "buyer looked up by phone",
    ("search", "fan-out", ("customer", "customer_tag")): "search by name, pinyin, phone, code "
    "or tag: one index probe per shard",
    ("customer list", "fan-out", ("customer",)): "count and newest-first page: a merged top-N",
    ("customer page", "fan-out", ("customer",)): "customers this one referred (referred_by_id)",
    # Global keys (GLOBAL_UNIQUES) looked up without the customer: add customer_id = ? to the
    # lookup once the key is made per customer, or keep a lookup table.
    ("pos purchase", "fan-out", ("purchase",)): "replay check by (store, order id)",
    ("pos purchase", "fan-out", ("points_entry",)): "ledger replay by idempotency key",
    ("points redemption", "fan-out", ("points_entry",)): "ledger replay by idempotency key",
    ("points redemption", "fan-out", ("points_allocation",)): "allocations by entry id: add "
    "customer_id = ?",
    # A reward's stock: redemptions counted over every customer (small, could be a counter).
    ("customer page", "fan-out", ("reward_redemption",)): "stock of each reward",
    # Child tables without the customer id (NEEDS_CUSTOMER_ID): joined or found via the parent.
    ("pos purchase", "unroutable", ("purchase_line",)): "lines inserted without customer_id",
    ("pos purchase", "fan-out", ("purchase_line",)): "lines read by purchase_id",
    ("customer page", "cross-shard", ("purchase", "purchase_line")): "spend by category",
    ("customer page", "cross-shard", ("purchase", "purchase_return")): "refunds of the customer",
}


@dataclass(frozen=True)
class Statement:
    path: str
    kind: str  # local, router, fan-out, cross-shard, unroutable, textual
    tables: tuple[str, ...]
    sql: str
    raw: str = ""  # as sent to the driver, with ``params``, for EXPLAIN
    params: Any = None


def _key_name(table: str) -> str:
    return DISTRIBUTION_COLUMN.get(table, "customer_id")


def _base_table(from_obj: Any) -> str | None:
    """The distributed table behind a Table or an alias of one (None: anything else)."""
    while not isinstance(from_obj, Table) and hasattr(from_obj, "element"):
        from_obj = from_obj.element
    name = getattr(from_obj, "name", None) if isinstance(from_obj, Table) else None
    return name if name in DISTRIBUTED else None


def _identity(from_obj: Any) -> str | None:
    table = _base_table(from_obj)
    if table is None:
        return None
    return table if isinstance(from_obj, Table) else f"{table} AS {from_obj.name}"


def _key_owners(side: Any) -> set[str]:
    """The distributed from-objects whose customer key ``side`` is (through labels, casts and
    subquery columns)."""
    while not isinstance(side, ColumnClause) and hasattr(side, "element"):
        side = side.element
    side = getattr(side, "clause", side)  # a CAST
    if not isinstance(side, ColumnClause):
        return set()
    owner = _identity(side.table)
    if owner is not None:
        return {owner} if side.name == _key_name(_base_table(side.table) or "") else set()
    return {o for c in side.proxy_set if isinstance(c, ColumnClause) and c is not side
            for o in _key_owners(c)}  # fmt: skip


def classify(statement: Any) -> tuple[str, tuple[str, ...]]:
    """(kind, distributed tables) of a compiled Core statement; see the module docstring."""
    froms: set[str] = set()
    pinned: set[str] = set()
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for el in visitors.iterate(statement):
        table = getattr(el, "table", None)
        for candidate in (el, table):
            if (ident := _identity(candidate)) is not None:
                froms.add(ident)
        if isinstance(el, BinaryExpression) and el.operator is operators.eq:
            left, right = _key_owners(el.left), _key_owners(el.right)
            if left and right:
                for a in left | right:
                    parent[find(a)] = find(next(iter(left)))
            elif left and isinstance(el.right, BindParameter) and not el.right.expanding:
                pinned.update(left)
            elif right and isinstance(el.left, BindParameter) and not el.left.expanding:
                pinned.update(right)
        elif (isinstance(el, BinaryExpression) and el.operator is operators.in_op
              and isinstance(el.right, BindParameter) and el.right.expanding):  # fmt: skip
            pinned.update(_key_owners(el.left))  # key IN (a list): only the listed shards
    tables = tuple(sorted({f.split(" AS ")[0] for f in froms}))
    if not froms:
        return "local", tables
    groups = {find(f) for f in froms}
    pinned_groups = {find(p) for p in pinned}
    if groups <= pinned_groups:
        return "router", tables
    return ("fan-out" if len(groups) == 1 else "cross-shard"), tables


def _insert_kind(sql: str) -> tuple[str, tuple[str, ...]] | None:
    """Inserts route by the customer id among their values (the customer's own id comes from
    its sequence on the coordinator)."""
    found = re.match(r"INSERT INTO (\w+) \(([^)]*)\)", sql)
    if found is None or found[1] not in DISTRIBUTED:
        return None
    columns = {c.strip() for c in found[2].split(",")}
    routed = found[1] == "customer" or _key_name(found[1]) in columns
    return ("router" if routed else "unroutable"), (found[1],)


@contextmanager
def captured(db: Database, out: list[Statement], path: str) -> Iterator[None]:
    """Record the statements sent while the block runs, classified, under ``path``."""

    def before(_conn: Any, _cursor: Any, sql: str, params: Any, context: Any, _many: Any) -> None:
        compiled = getattr(context, "compiled", None)
        text = " ".join(sql.split())
        state = getattr(compiled, "compile_state", None)
        statement = getattr(state, "statement", None)
        if statement is None:
            statement = getattr(compiled, "statement", None)
        if statement is None or isinstance(statement, TextClause):
            named = {w for w in re.findall(r"\w+", text.lower()) if w in DISTRIBUTED}
            kind = "textual" if named else "local"
            out.append(Statement(path, kind, tuple(sorted(named)), text))
            return
        kind_tables = _insert_kind(text) or classify(statement)
        out.append(Statement(path, *kind_tables, text, sql, params))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _chain_pages() -> Any:
    """bench/chain_pages.py: the hot paths as the routes call them (shared with the bench)."""
    path = Path(__file__).resolve().parents[2] / "bench" / "chain_pages.py"
    spec = importlib.util.spec_from_file_location("chain_pages", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shop(db: Database) -> tuple[int, int, int]:
    with db.write() as session:
        store = Store(code="S1", name="一店")
        session.add(store)
        session.flush()
        clerk = Staff(name="小王", role="clerk", store_id=store.id)
        session.add(clerk)
        session.flush()
        ids = store.id, clerk.id
    buyer = make_customer(db, name="张伟", phone="+8613800001234", home_store_id=ids[0],
                          owner_staff_id=ids[1], tags=["VIP"])  # fmt: skip
    make_customer(db, name="张丽", phone="+8613800005678", home_store_id=ids[0],
                  referred_by_id=buyer)  # fmt: skip
    ledger.earn(db, buyer, 500, source_type="import", source_id=None, expires_on=None,
                reason="opening balance", explanation=None, idempotency_key=None)  # fmt: skip
    return ids[0], ids[1], buyer


def run_hot_paths(db: Database) -> list[Statement]:
    pages = _chain_pages()
    store, clerk, buyer = _shop(db)
    at = datetime(2026, 11, 30, 3, tzinfo=UTC)
    out: list[Statement] = []
    paths: list[tuple[str, Callable[[], Any]]] = [
        ("pos purchase", lambda: pages.pos_purchase(db, order="A1", phone="+8613800001234",
                                                    store_id=store, at=at)),
        ("pos purchase", lambda: pages.pos_purchase(db, order="A1", phone="+8613800001234",
                                                    store_id=store, at=at)),  # a replay
        ("pos purchase", lambda: pages.pos_purchase(db, order="A2", phone="+8613900009999",
                                                    store_id=store, at=at)),  # a new buyer
        *((("search", lambda q=q, s=scope: pages.customer_search(db, q, store_id=s)))
          for q in ("zhangwei", "zw", "张伟", "1234", "13800001234", "M001", "VIP")
          for scope in (None, store)),
        ("customer list", lambda: pages.list_customers(db)),
        ("customer list", lambda: pages.list_customers(db, store_id=store, page=2)),
        ("customer page", lambda: pages.customer_page(db, buyer, staff_id=clerk,
                                                      settings=Settings())),
        ("points redemption", lambda: pages.redeem_points(db, buyer, 100, key="r-1")),
    ]  # fmt: skip
    for path, work in paths:
        with captured(db, out, path):
            work()
    return out


def test_every_table_is_classed_and_the_citus_changes_are_the_documented_ones() -> None:
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    classes = (DISTRIBUTED, REFERENCE, LOCAL)
    assert set(tables) == DISTRIBUTED | REFERENCE | LOCAL, "place new tables in a class"
    assert sum(len(c) for c in classes) == len(tables), "a table is in two classes"
    lacking = {n for n in DISTRIBUTED if _key_name(n) not in tables[n].columns}
    assert lacking == NEEDS_CUSTOMER_ID
    uniques = set()
    for name in DISTRIBUTED:
        table = tables[name]
        key = _key_name(name)
        groups = [tuple(c.name for c in u.columns) for u in table.constraints
                  if isinstance(u, UniqueConstraint)]  # fmt: skip
        groups += [(c.name,) for c in table.columns if c.unique]
        groups += [tuple(c.name for c in i.columns) for i in table.indexes if i.unique]
        uniques |= {(name, tuple(sorted(g))) for g in groups if key not in g}
    assert uniques == GLOBAL_UNIQUES
    # Every distributed primary key is a surrogate id or led by the customer: Citus needs the
    # distribution column in it, so the surrogate-id tables get (customer_id, id).
    for name in DISTRIBUTED - NEEDS_CUSTOMER_ID:
        columns = [c.name for c in tables[name].primary_key.columns]
        assert columns in (["id"], [_key_name(name)]) or _key_name(name) in columns, name


@pytest.mark.slow
def test_hot_path_statements_route_to_one_customer_or_fan_out_as_documented(
    db: Database,
) -> None:
    statements = run_hot_paths(db)
    kinds = {s.kind for s in statements}
    assert "router" in kinds and len(statements) > 50  # the capture saw the real work
    textual = [s.sql for s in statements if s.kind == "textual"]
    assert textual == [], "raw SQL on customer tables cannot be checked: use Core"
    seen = {(s.path, s.kind, s.tables): s.sql for s in statements
            if s.kind in ("fan-out", "cross-shard", "unroutable")}  # fmt: skip
    assert set(seen) == set(NOT_ROUTED), {k: seen.get(k) for k in set(seen) ^ set(NOT_ROUTED)}
    for _path, kind, tables in seen:  # no cross-shard join but through a missing customer id
        assert kind == "fan-out" or NEEDS_CUSTOMER_ID & set(tables), (kind, tables)


@pytest.mark.slow
@pytest.mark.postgres
def test_single_customer_statements_have_an_index_path_on_postgresql(
    postgres_db: Database,
) -> None:
    """With sequential scans priced out, a statement that still scans a customer-owned table
    has no index to serve it: on a chain it would read the whole table for one customer."""
    routed = [s for s in run_hot_paths(postgres_db)
              if s.kind == "router" and s.sql.startswith("SELECT")]  # fmt: skip
    assert len(routed) > 30
    scans = set()
    raw = postgres_db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET enable_seqscan = off")
        for s in routed:
            cursor.execute("EXPLAIN " + s.raw, s.params)
            plan = "\n".join(str(row[0]) for row in cursor.fetchall())
            scans |= {(t, s.sql[:120]) for t in re.findall(r"Seq Scan on (\w+)", plan)
                      if t in DISTRIBUTED}  # fmt: skip
        cursor.execute("EXPLAIN SELECT id FROM customer WHERE notes = 'x'")  # no index: seen
        assert "Seq Scan on customer" in "\n".join(str(row[0]) for row in cursor.fetchall())
    finally:
        raw.close()
    assert scans == set()


def test_the_classifier_tells_router_fan_out_and_cross_shard_apart() -> None:
    from sqlalchemy import select

    from guanxi.storage.models import Customer, CustomerTag, Purchase, PurchaseLine

    one = select(Purchase.id).where(Purchase.customer_id == 7)
    colocated = (select(Customer.id).join(CustomerTag, CustomerTag.customer_id == Customer.id)
                 .where(CustomerTag.name == "VIP"))  # fmt: skip
    crossing = select(Purchase.id).join(Customer, Customer.referred_by_id == Purchase.customer_id)
    by_parent = select(PurchaseLine.amount).join(Purchase).where(Purchase.customer_id == 7)
    assert classify(one) == ("router", ("purchase",))
    assert classify(colocated) == ("fan-out", ("customer", "customer_tag"))
    assert classify(crossing)[0] == "cross-shard"
    assert classify(by_parent)[0] == "cross-shard"  # purchase_line lacks the customer id
    assert classify(select(Store.id).where(Store.code == "S1")) == ("local", ())
    listed = select(Purchase.id).where(Purchase.customer_id.in_([1, 2]))
    assert classify(listed) == ("router", ("purchase",))
    assert _insert_kind("INSERT INTO purchase_line (purchase_id, amount) VALUES (?, ?)") == (
        "unroutable", ("purchase_line",))  # fmt: skip
