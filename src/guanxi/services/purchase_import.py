"""Import a purchase file (one row per purchase line) in one transaction.

Lines are grouped into purchases by store + order id. A purchase already in the database is
left alone (its lines count as unchanged): purchases are facts, corrected by returns. Customers
named by a line but not yet in the archive are created with ``source=import``; so are unknown
products. With ``skip_bad_rows``, an order with any bad line is left out whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from guanxi.domain.names import name_keys
from guanxi.domain.purchases import ImportKind
from guanxi.importers.headers import PURCHASE_FIELDS, map_columns
from guanxi.importers.purchase_stream import Source, parse_chunks
from guanxi.importers.rows import CellError, PurchaseLineRow
from guanxi.services.imports import (
    Directory,
    ImportOptions,
    ImportReport,
    count_lines,
    finish_batch,
    read_table,
    start_batch,
    timed,
    write_rejects,
)
from guanxi.storage.bulk import IdAllocator, RawInsert, stored_utc, timestamp_for
from guanxi.storage.db import Database
from guanxi.storage.models import Base, Customer, Product, Purchase, PurchaseLine, utcnow

CUSTOMER = Base.metadata.tables["customer"]
PRODUCT = Base.metadata.tables["product"]
PURCHASE = Base.metadata.tables["purchase"]
INSERT_CUSTOMERS = RawInsert(
    CUSTOMER, "id", "name", "name_pinyin", "name_initials", "code", "phone", "phone_last4",
    "email", "source", "custom_fields", "created_at", "updated_at", "gender", "birthday_kind",
    "birthday_is_leap_month", "home_store_id",
)  # fmt: skip
INSERT_PURCHASES = RawInsert(
    PURCHASE, "id", "store_id", "external_order_id", "customer_id", "staff_id", "purchased_at",
    "total_amount", "is_promotion", "payment_method", "import_batch_id", "created_at",
)  # fmt: skip
INSERT_LINES = RawInsert(
    Base.metadata.tables["purchase_line"], "purchase_id", "line_no", "product_id", "quantity",
    "unit_price", "discount", "amount", "source_line",
)  # fmt: skip

_EXISTING_ORDERS = text(
    "SELECT o.id FROM unnest(CAST(:ids AS text[])) AS o(id) CROSS JOIN LATERAL "
    "(SELECT FROM purchase p WHERE p.store_id = :store AND p.external_order_id = o.id LIMIT 1) "
    "AS hit"
)
REQUIRED = (
    ("order_id",),
    ("date",),
    ("sku", "product_name"),
    ("amount", "unit_price"),
    ("customer_code", "phone", "email"),
)
EXISTING = -1  # marks an order that was in the database before this import
OrderKey = tuple[int, str]


def import_purchases(
    db: Database, path: Path, options: ImportOptions, *, background: bool | None = None
) -> ImportReport:
    """Import one purchase file; see the module docstring for the rules.

    ``background`` parses in a second process (default: for files of 4 MiB and more).
    """
    started = time.perf_counter()
    report = ImportReport(kind=ImportKind.PURCHASES, path=path)
    expected = count_lines(path)
    with read_table(path, options) as table:
        cmap = map_columns(
            table.header, PURCHASE_FIELDS, overrides=options.mapping, required=REQUIRED
        )
        report.encoding, report.columns = table.encoding, cmap.describe()
    source = Source(
        path, options.encoding or report.encoding, options.sheet, cmap, options.timezone
    )
    with db.write() as session:
        batch_id = start_batch(session, report)
        writer = _PurchaseWriter(session, report, options, batch_id)
        for chunk in parse_chunks(source, background=background):
            for bad in chunk.bad:
                writer.reject(bad.line, bad.errors, order=bad.order)
            if not report.rejected or options.skip_bad_rows:
                writer.write(chunk.good)
            report.rows += chunk.rows
            if options.progress:
                options.progress(report.rows, expected)
        if report.rejected and not options.skip_bad_rows:
            session.rollback()
            return timed(report, started)
        writer.drop_bad_orders()
        writer.set_totals()
        finish_batch(session, batch_id, report)
        if options.dry_run:
            session.rollback()
            return timed(report, started)
    report.committed = True
    if writer.reasons:
        report.reject_file = write_rejects(path, writer.reasons, options)
    return timed(report, started)


class _PurchaseWriter:
    """Writes lines chunk by chunk, resolving customers, products and orders with caches."""

    def __init__(
        self, session: Session, report: ImportReport, options: ImportOptions, batch_id: int
    ) -> None:
        self.session = session
        self.report = report
        self.batch_id = batch_id
        self.directory = Directory(session, report, options.timezone)
        self.customers: dict[tuple[str, str], int] = {}
        self.products: dict[str, int] = {}
        self.orders: dict[OrderKey, int] = {}
        self.line_numbers: dict[int, int] = {}  # purchase id -> lines written so far
        self.bad_orders: set[tuple[str | None, str]] = set()
        self.reasons: dict[int, str] = {}
        self.ids = IdAllocator(session)
        self.created_at = timestamp_for(self.ids.is_sqlite, utcnow())
        self.stored_time: Callable[[datetime], object] = partial(stored_utc, self.ids.is_sqlite)

    def reject(
        self, line: int, errors: list[CellError], order: tuple[str | None, str] | None
    ) -> None:
        self.report.add_errors(line, errors)
        self.reasons[line] = "; ".join(
            f"{e.column}: {e.reason}" if e.column else e.reason for e in errors
        )
        if order is not None:
            self.bad_orders.add(order)

    def write(self, rows: list[PurchaseLineRow]) -> None:
        """Resolve and insert one chunk of good lines."""
        rows = [r for r in rows if not self._held_back(r)]
        if not rows:
            return
        stores, store = self.directory.stores, self.directory.store
        keys = [(stores.get(r.store or "") or store(r.store), r.order_id) for r in rows]
        self._resolve_customers(rows, keys)
        self._resolve_products(rows)
        self._resolve_orders(rows, keys)
        values: list[tuple[object, ...]] = []
        for row, key in zip(rows, keys, strict=True):
            purchase_id = self.orders[key]
            if purchase_id == EXISTING:
                self.report.unchanged += 1
                continue
            line_no = self.line_numbers.get(purchase_id, 0) + 1
            self.line_numbers[purchase_id] = line_no
            values.append((
                purchase_id, line_no, self.products[row.sku], row.quantity_milli,
                row.unit_price_fen, row.discount_fen, row.amount_fen, row.line,
            ))  # fmt: skip
        INSERT_LINES(self.session, values)
        self.report.inserted += len(values)

    def _held_back(self, row: PurchaseLineRow) -> bool:
        """A good line of an order that already has a bad line is rejected with it."""
        if (row.store, row.order_id) in self.bad_orders:
            self.reasons[row.line] = f"another line of order {row.order_id} was rejected"
            self.report.rejected += 1
            return True
        return False

    def _resolve_customers(self, rows: list[PurchaseLineRow], keys: list[OrderKey]) -> None:
        """Find each line's customer by member code, then phone, then email; create the
        customers nobody knows, one per person even if lines name them differently."""
        cache = self.customers
        pending: dict[tuple[str, str], PurchaseLineRow] = {}
        home: dict[int, int] = {}  # line -> store of the customer's first line here
        for r, (store_id, _) in zip(rows, keys, strict=True):
            key = _customer_key(r)
            if key not in cache and key not in pending:
                pending[key] = r
                home[r.line] = store_id
        if not pending:
            return
        self._prefetch_customers(pending.values())
        new: list[PurchaseLineRow] = []
        claimed: dict[tuple[str, str], int] = {}  # identifier -> index in new
        aliases: list[tuple[tuple[str, str], int]] = []
        for key, r in pending.items():
            idents = _identifiers(r)
            found = next((cache[i] for i in idents if i in cache), None)
            if found is not None:
                cache[key] = found  # e.g. an unknown member code whose phone is known
                continue
            twin = next((claimed[i] for i in idents if i in claimed), None)
            if twin is None:
                claimed.update((i, len(new)) for i in idents)
                new.append(r)
            else:
                aliases.append((key, twin))
        ids = self._create_customers(new, home) if new else []
        for key, twin in aliases:
            cache[key] = ids[twin]

    def _prefetch_customers(self, rows: Iterable[PurchaseLineRow]) -> None:
        wanted = {i for r in rows for i in _identifiers(r) if i not in self.customers}
        for field in ("code", "phone", "email"):
            values = [v for f, v in wanted if f == field]
            column = getattr(Customer, field)
            for i in range(0, len(values), 500):
                for cid, value in self.session.execute(
                    select(Customer.id, column).where(column.in_(values[i : i + 500]))
                ):
                    self.customers[(field, value)] = cid

    def _create_customers(self, rows: list[PurchaseLineRow], home: dict[int, int]) -> list[int]:
        """New customers get the store of the first purchase as their home store."""
        ids = self.ids.take(CUSTOMER, len(rows))
        values: list[tuple[object, ...]] = []
        for r, cid in zip(rows, ids, strict=True):
            name = r.customer_name or f"客户{(r.phone or r.customer_code or r.email or '')[-4:]}"
            pinyin, initials = name_keys(name)
            values.append((
                cid, name, pinyin, initials, r.customer_code, r.phone,
                r.phone[-4:] if r.phone else None, r.email, "import", "{}", self.created_at,
                self.created_at, "unknown", "solar", False, home[r.line],
            ))  # fmt: skip
            self.customers.update((i, cid) for i in _identifiers(r))
        INSERT_CUSTOMERS(self.session, values)
        self._created("customers", len(rows))
        return ids

    def _resolve_products(self, rows: list[PurchaseLineRow]) -> None:
        wanted = {r.sku: r for r in rows if r.sku not in self.products}
        if not wanted:
            return
        skus = list(wanted)
        for i in range(0, len(skus), 500):
            for pid, sku in self.session.execute(
                select(Product.id, Product.sku).where(Product.sku.in_(skus[i : i + 500]))
            ):
                self.products[sku] = pid
        new = [r for sku, r in wanted.items() if sku not in self.products]
        if not new:
            return
        ids = self.ids.take(PRODUCT, len(new))
        self.session.execute(insert(PRODUCT), [
            {"id": pid, "sku": r.sku, "name": r.product_name or r.sku, "category": r.category,
             "list_price": Decimal(r.unit_price_fen).scaleb(-2)}
            for r, pid in zip(new, ids, strict=True)
        ])  # fmt: skip
        self.products.update((r.sku, pid) for r, pid in zip(new, ids, strict=True))
        self._created("products", len(new))

    def _resolve_orders(self, rows: list[PurchaseLineRow], keys: list[OrderKey]) -> None:
        unseen: dict[int, list[str]] = {}
        for store_id, order_id in dict.fromkeys(k for k in keys if k not in self.orders):
            unseen.setdefault(store_id, []).append(order_id)
        for store_id, order_ids in unseen.items():
            for order_id in self._existing_orders(store_id, order_ids):
                self.orders[(store_id, order_id)] = EXISTING
        first: dict[OrderKey, PurchaseLineRow] = {}
        for row, key in zip(rows, keys, strict=True):
            if key not in self.orders:
                first.setdefault(key, row)
        if not first:
            return
        ids = self.ids.take(PURCHASE, len(first))
        INSERT_PURCHASES(self.session, [
            self._purchase_values(pid, key, row)
            for pid, (key, row) in zip(ids, first.items(), strict=True)
        ])  # fmt: skip
        self.orders.update(zip(first, ids, strict=True))
        self._created("purchases", len(first))

    def _existing_orders(self, store_id: int, order_ids: list[str]) -> Iterable[str]:
        """Which of the store's order ids are already in the database.

        PostgreSQL: one probe of the (store, order id) index per id. The table grows inside
        this transaction without statistics, and a plain ``IN`` list was planned as a scan of
        the store's whole history per chunk: 25 of 34 s of a 200,000-line import."""
        if not self.ids.is_sqlite:
            return self.session.scalars(_EXISTING_ORDERS, {"store": store_id, "ids": order_ids})
        found: list[str] = []
        for i in range(0, len(order_ids), 500):
            found += self.session.scalars(
                select(Purchase.external_order_id).where(
                    Purchase.store_id == store_id,
                    Purchase.external_order_id.in_(order_ids[i : i + 500]),
                )
            )
        return found

    def _purchase_values(self, pid: int, key: OrderKey, row: PurchaseLineRow) -> tuple[object, ...]:
        staff_id = self.directory.staff_member(row.staff, key[0]) if row.staff else None
        return (
            pid, key[0], key[1], self.customers[_customer_key(row)], staff_id,
            self.stored_time(row.purchased_at_utc), 0, row.is_promotion,
            row.payment_method, self.batch_id, self.created_at,
        )  # fmt: skip

    def _created(self, what: str, n: int) -> None:
        self.report.created[what] = self.report.created.get(what, 0) + n

    def drop_bad_orders(self) -> None:
        """Take out orders (created by this import) that have a rejected line."""
        bad = {(self._known_store(store), order) for store, order in self.bad_orders}
        doomed = [pid for key, pid in self.orders.items() if pid != EXISTING and key in bad]
        for i in range(0, len(doomed), 500):
            part = doomed[i : i + 500]
            for (line,) in self.session.execute(
                select(PurchaseLine.source_line).where(PurchaseLine.purchase_id.in_(part))
            ):
                if line is not None and line not in self.reasons:
                    self.reasons[line] = "another line of this order was rejected"
                    self.report.rejected += 1
                    self.report.inserted -= 1
            self.session.execute(delete(PurchaseLine).where(PurchaseLine.purchase_id.in_(part)))
            self.session.execute(delete(Purchase).where(Purchase.id.in_(part)))
        if doomed:
            self.report.created["purchases"] -= len(doomed)

    def _known_store(self, name: str | None) -> int | None:
        """The id of a store met in this file, without creating one for a rejected row."""
        return self.directory.default_store() if not name else self.directory.stores.get(name)

    def set_totals(self) -> None:
        """Each new purchase's total is the sum of its lines, computed in SQL."""
        line_sum = (
            select(func.coalesce(func.sum(PurchaseLine.amount), 0))
            .where(PurchaseLine.purchase_id == Purchase.id)
            .scalar_subquery()
        )
        self.session.execute(
            update(Purchase)
            .where(Purchase.import_batch_id == self.batch_id)
            .values(total_amount=line_sum)
        )


def _identifiers(r: PurchaseLineRow) -> list[tuple[str, str]]:
    """Every way the line names its customer, strongest first."""
    out = []
    if r.customer_code:
        out.append(("code", r.customer_code))
    if r.phone:
        out.append(("phone", r.phone))
    if r.email:
        out.append(("email", r.email))
    return out


def _customer_key(r: PurchaseLineRow) -> tuple[str, str]:
    """The line's strongest customer identifier (the cache key for its customer)."""
    if r.customer_code:
        return ("code", r.customer_code)
    if r.phone:
        return ("phone", r.phone)
    assert r.email, "the row parser requires code, phone or email"
    return ("email", r.email)
