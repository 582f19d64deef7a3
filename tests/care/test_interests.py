"""Customers interested in what arrived: the match rule on stated interests (demo-like strings),
purchase history with counts, spend and reasons, ranking, store scope, erased customers left out
(both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from guanxi.care import campaigns
from guanxi.care.interests import (
    Arrival,
    categories,
    compute_keys,
    find_arrival,
    interested_customers,
    interested_select,
    product_arrival,
    products,
)
from guanxi.errors import NotFound
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerInterest, Product, Purchase, PurchaseLine, Store
from tests.factories import make_customer

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _buy(db: Database, customer: int, store: int, category: str | None, days_ago: int,
         n: int = 1, *, name: str | None = None) -> None:  # fmt: skip
    with db.write() as s:
        sku = f"sku-{name or category}"
        product = s.execute(select(Product).where(Product.sku == sku)).scalar_one_or_none()
        if product is None:
            product = Product(sku=sku, name=name or f"{category}", category=category)
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
        assert [r.customer_id for r in rows] == [both, stated, buyer, other_store]
        first = rows[0]
        assert (first.name, first.stated, first.purchases) == ("王芳", True, 1)
        assert first.phone.count("*") == 4 and "+86" not in first.phone
        assert first.last_bought is not None and first.spent == Decimal(50)
        assert (
            first.why
            == f"stated interest 茶叶; bought 茶叶 1 time, last {first.last_bought:%Y-%m-%d}"
        )
        by_id = {r.customer_id: r for r in rows}
        assert (by_id[buyer].stated, by_id[buyer].purchases) == (False, 3)
        assert by_id[buyer].spent == Decimal(150)
        assert by_id[buyer].why.startswith("bought 茶叶 3 times, last ")
        assert (by_id[stated].stated, by_id[stated].purchases, by_id[stated].why) == (
            True, 0, "stated interest 茶叶")  # fmt: skip
        assert by_id[buyer].as_json()["spent"] == "150.00"
        scoped = interested_customers(s, "茶叶", scope=sa)
        assert [r.customer_id for r in scoped] == [both, stated, buyer]
        assert [r.customer_id for r in interested_customers(s, "wine", scope=None)] == [unrelated]
        assert interested_customers(s, "茶叶", scope=None, limit=1)[0].customer_id == both
        assert [r.customer_id for r in interested_customers(
            s, "茶叶", scope=None, customer_ids=[stated, unrelated])] == [stated]  # fmt: skip
        assert interested_customers(s, "  ", scope=None) == []
        assert categories(s) == ["Wine", "茶具", "茶叶"]


def test_match_keys() -> None:
    assert compute_keys("普洱白茶") == {"普洱", "洱白", "白茶"}
    assert compute_keys("宜兴紫砂壶 朱泥西施 200ml") >= {"紫砂", "朱泥"}
    assert "ml" not in compute_keys("宜兴紫砂壶 朱泥西施 200ml")
    assert compute_keys("The New Oolong Tea 100g") == {"oolong", "tea"}
    assert compute_keys("茶 g") == frozenset()


@pytest.mark.parametrize(
    ("interest", "arrival", "hit"),
    [
        ("普洱收藏", Arrival("普洱白茶"), True),  # shares 普洱
        ("紫砂收藏", Arrival("茶具", 1, "宜兴紫砂壶 朱泥西施 200ml"), True),  # 紫砂 in the name
        ("紫砂收藏", Arrival("茶具"), False),
        ("送礼", Arrival("礼盒"), False),  # one character in common is not enough
        ("Oolong lover", Arrival("Tea", 1, "Oolong Tea 100g"), True),
        ("WINE", Arrival("wine"), True),  # any case
        ("red wine", Arrival("Wine"), True),  # the interest contains the category
        ("茶", Arrival("普洱白茶"), False),  # one character: not inside the category
        ("白茶", Arrival("普洱白茶"), True),  # the category contains the interest
        ("100%", Arrival("100g 茶饼"), False),  # wildcards are plain characters
        ("品茶", Arrival("绿茶"), False),
    ],
)
def test_match_rule(db: Database, interest: str, arrival: Arrival, hit: bool) -> None:
    someone = make_customer(db)
    with db.write() as s:
        s.add(CustomerInterest(customer_id=someone, name=interest))
    with db.read() as s:
        rows = interested_customers(s, arrival, scope=None)
        assert [r.interests for r in rows] == ([(interest,)] if hit else [])
        assert list(s.execute(interested_select(arrival)).scalars()) == ([someone] if hit else [])


def test_a_product_arrives(db: Database) -> None:
    """The product's category finds the buyers, its name the stated interests; the audience of
    an interest campaign is the same people."""
    with db.write() as s:
        store = Store(code="A", name="旗舰店")
        s.add(store)
        s.flush()
        sa = store.id
    collector = make_customer(db, name="紫砂迷", home_store_id=sa)
    buyer = make_customer(db, name="买过", home_store_id=sa)
    gift = make_customer(db, name="送礼", home_store_id=sa)
    with db.write() as s:
        s.add(CustomerInterest(customer_id=collector, name="紫砂收藏"))
        s.add(CustomerInterest(customer_id=gift, name="送礼"))
    _buy(db, buyer, sa, "茶具", 3, n=2, name="白瓷盖碗 130ml")
    _buy(db, collector, sa, "茶具", 30, name="玻璃公道杯 260ml")
    _buy(db, gift, sa, "礼盒", 30, name="龙井礼盒 250g")
    with db.write() as s:
        pot = Product(sku="WARE-01", name="宜兴紫砂壶 朱泥西施 200ml", category="茶具")
        s.add(pot)
        s.flush()
        pot_id = pot.id
    with db.read() as s:
        arrival = product_arrival(s, pot_id)
        assert arrival == Arrival("茶具", pot_id, "宜兴紫砂壶 朱泥西施 200ml")
        rows = interested_customers(s, arrival, scope=sa)
        assert [r.customer_id for r in rows] == [collector, buyer]
        assert rows[0].why.startswith("stated interest 紫砂收藏; bought 茶具 1 time, last ")
        assert rows[1].why.startswith("bought 茶具 2 times, last ")
        assert find_arrival(s, "ware-01") == arrival  # by SKU, any case
        assert find_arrival(s, "宜兴紫砂壶 朱泥西施 200ml") == arrival
        assert find_arrival(s, "茶具") == Arrival("茶具")
        assert find_arrival(s, "紫砂") == Arrival("紫砂")  # no such product: free text
        assert [r.customer_id for r in interested_customers(s, "紫砂", scope=None)] == [collector]
        assert (pot_id, "宜兴紫砂壶 朱泥西施 200ml", "茶具") in products(s)
        with pytest.raises(NotFound):
            product_arrival(s, pot_id + 1000)
        audience = campaigns.Audience(interest="茶具")
        assert set(campaigns.audience_ids(s, audience, scope=sa)) == {collector, buyer}


def test_a_product_without_a_category(db: Database) -> None:
    someone = make_customer(db)
    _buy(db, someone, _store(db), None, 2, name="神秘茶")
    with db.read() as s:
        product = s.execute(select(Product).where(Product.name == "神秘茶")).scalar_one()
        rows = interested_customers(s, product_arrival(s, product.id), scope=None)
        assert [(r.customer_id, r.category, r.purchases) for r in rows] == [(someone, "神秘茶", 1)]


def _store(db: Database) -> int:
    with db.write() as s:
        store = Store(code="Z", name="店")
        s.add(store)
        s.flush()
        return store.id
