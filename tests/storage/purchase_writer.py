"""A POS stand-in for the backup-under-load test: records purchases (which earn points) into
a database until a stop file appears, printing how many it has recorded after each one.

Run as: python -m tests.storage.purchase_writer DATABASE_URL STOP_FILE
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from guanxi.services.purchases import CustomerRef, LineInput, PurchaseInput, record_purchase
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Product

ORDER_PREFIX = "LOAD-"


def main(url: str, stop: Path) -> None:
    database = Database(url)
    with database.read() as session:
        customers = list(session.execute(select(Customer.id)).scalars())
        sku = session.execute(select(Product.sku).order_by(Product.id)).scalars().first()
    assert sku is not None and customers
    rng = random.Random(11)
    n = 0
    while not stop.exists():
        n += 1
        record_purchase(
            database,
            PurchaseInput(
                external_order_id=f"{ORDER_PREFIX}{n}",
                customer=CustomerRef(id=rng.choice(customers)),
                purchased_at=datetime.now(UTC),
                lines=(
                    LineInput(
                        sku=sku, quantity=Decimal(rng.randint(1, 3)), unit_price=Decimal("88.00")
                    ),
                ),  # fmt: skip
                store_id=1,
            ),
            store_scope=None,
        )
        print(n, flush=True)
    database.dispose()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
