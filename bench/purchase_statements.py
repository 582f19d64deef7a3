"""SQL statements and time per POS purchase, at the service layer (no HTTP).

    python bench/purchase_statements.py [--db URL] [--purchases 300] [--json out.json]

Records purchases with ``record_purchase`` (2 lines, an existing customer found by phone,
points accrual under the default programme) in a fresh database (a SQLite file by default;
with --db, a private database created on that PostgreSQL server and dropped afterwards) and
prints the statements one purchase sends, then the mean time per purchase. The statement count
is the number to watch: at the service layer each statement costs about half a millisecond of
SQLAlchemy and driver work, and on PostgreSQL one more round trip.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

from benchrec import Figure, backend_of, record, write
from guanxi.services.purchases import CustomerRef, LineInput, PurchaseInput, record_purchase
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Store

CUSTOMERS = 100


def _purchase(db: Database, n: int) -> None:
    lines = (LineInput("TEA-1", Decimal(1), Decimal("168.00"), category="茶叶"),
             LineInput("CUP-1", Decimal(2), Decimal("38.00")))  # fmt: skip
    record_purchase(
        db,
        PurchaseInput(external_order_id=f"B-{n}", lines=lines, store_code="S1",
                      customer=CustomerRef(phone=f"+86139{n % CUSTOMERS:08d}"),
                      purchased_at=datetime(2026, 11, 20, 7, tzinfo=UTC)),
        store_scope=None,
    )  # fmt: skip


def run(url: str, purchases: int, json_path: Path | None = None) -> None:
    db = Database(url)
    db.migrate()
    with db.write() as s:
        s.execute(insert(Store).values(id=1, code="S1", name="S1"))
        s.execute(insert(Customer), [
            {"code": f"C{i}", "name": f"c{i}", "phone": f"+86139{i:08d}", "source": "import",
             "home_store_id": 1} for i in range(CUSTOMERS)
        ])  # fmt: skip
    for n in range(50):  # warm the caches
        _purchase(db, n)
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split())[:100])

    event.listen(db.engine, "before_cursor_execute", count)
    _purchase(db, 10_000)
    event.remove(db.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    for n in range(purchases):
        _purchase(db, 20_000 + n)
    per = (time.perf_counter() - started) / purchases * 1000
    backend = backend_of(db.engine)
    db.dispose()
    print(f"{db.url.get_backend_name()}: {len(seen)} statements per purchase "
          f"(BEGIN, SAVEPOINT and RELEASE included):")  # fmt: skip
    for line in seen:
        print(f"  {line}")
    print(f"{per:.1f} ms per purchase at the service layer, one thread ({purchases} purchases)")
    figures = [
        Figure("SQL statements per purchase", len(seen), "statements",
               note="BEGIN, SAVEPOINT and RELEASE included"),
        Figure("record_purchase, one thread", per, "ms"),
    ]  # fmt: skip
    write(json_path, record("purchase_statements", "Purchase at the service layer", backend,
                            {"purchases": purchases, "customers": CUSTOMERS}, figures))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--purchases", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if not args.db:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.purchases, args.json)
        return
    base = make_url(args.db)
    name = f"guanxi_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(
            base.set(database=name).render_as_string(hide_password=False), args.purchases, args.json
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
