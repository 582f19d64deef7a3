"""Customers interested in a category: stated interests and purchase history, with why, within
the viewer's store, erased customers left out (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from guanxi.care.interests import categories, interested_customers
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerInterest, Product, Purchase, PurchaseLine, Store
from tests.factories import make_customer

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _buy(db: Database, customer: int, store: int, category: str | None, days_ago: int,
         n: int = 1) -> None:  # fmt: skip
    with db.write() as s:
        sku = f"sku-{category}"
        product = s.execute(select(Product).where(Product.sku == sku)).scalar_one_or_none()
        if product is None:
            product = Product(sku=sku, name=f"{category}", category=category)
            s.add(product)
            s.flush()
        for k in range(n):
            p = Purchase(store_id=store, external_order_id=f"{customer}-{days_ago}-{k}-{sku}",
                         customer_id=customer, purchased_at=NOW - timedelta(days=days_ago + k),
                         total_amount=Decimal(50))  # fmt: skip
            s.add(p)
            s.flush()
            for line in (1, 2):  # two lines of the category on one receipt count once
                s.add(PurchaseLine(purchase_id=p.id, line_no=line, product_id=product.id,
                                   quantity=Decimal(1), unit_price=Decimal(25),
                                   amount=Decimal(25)))  # fmt: skip


def test_interested_customers_with_reasons(db: Database) -> None:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        sa, sb = a.id, b.id
    both = make_customer(db, name="王芳", home_store_id=sa)
    stated = make_customer(db, name="李雷", home_store_id=sa)
    buyer = make_customer(db, name="赵敏", home_store_id=sa)
    other_store = make_customer(db, name="周杰", home_store_id=sb)
    erased = make_customer(db, name="已删除", home_store_id=sa, erased_at=NOW)
    unrelated = make_customer(db, name="孙悟", home_store_id=sa)
    with db.write() as s:
        s.add(CustomerInterest(customer_id=both, name="茶叶"))
        s.add(CustomerInterest(customer_id=stated, name="茶叶"))
        s.add(CustomerInterest(customer_id=erased, name="茶叶"))
        s.add(CustomerInterest(customer_id=unrelated, name="Wine"))
    _buy(db, both, sa, "茶叶", 40)
    _buy(db, buyer, sa, "茶叶", 10, n=3)
    _buy(db, other_store, sb, "茶叶", 5)
    _buy(db, unrelated, sa, "茶具", 5)
    _buy(db, unrelated, sa, None, 5)
    with db.read() as s:
        rows = interested_customers(s, "茶叶", scope=None)
        assert [r.customer_id for r in rows] == [both, buyer, other_store, stated]
        first = rows[0]
        assert (first.name, first.stated, first.purchases) == ("王芳", True, 1)
        assert first.last_bought is not None
        assert (
            first.why == f"stated interest; bought in the category 1 time, last on "
            f"{first.last_bought:%Y-%m-%d}"
        )
        by_id = {r.customer_id: r for r in rows}
        assert (by_id[buyer].stated, by_id[buyer].purchases) == (False, 3)
        assert by_id[buyer].why.startswith("bought in the category 3 times")
        assert (by_id[stated].stated, by_id[stated].purchases, by_id[stated].why) == (
            True, 0, "stated interest")  # fmt: skip
        scoped = interested_customers(s, "茶叶", scope=sa)
        assert [r.customer_id for r in scoped] == [both, buyer, stated]
        assert [r.customer_id for r in interested_customers(s, "wine", scope=None)] == [unrelated]
        assert interested_customers(s, "茶叶", scope=None, limit=1)[0].customer_id == both
        assert [r.customer_id for r in interested_customers(
            s, "茶叶", scope=None, customer_ids=[stated, unrelated])] == [stated]  # fmt: skip
        assert interested_customers(s, "  ", scope=None) == []
        assert categories(s) == ["Wine", "茶具", "茶叶"]
