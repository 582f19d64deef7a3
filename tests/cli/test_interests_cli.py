"""``guanxi interests``: by category or product (SKU or name), per store, as a table or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.storage.db import Database
from guanxi.storage.models import CustomerInterest, Product, Purchase, PurchaseLine, Store
from tests.factories import make_customer

runner = CliRunner()


def _shop(url: str) -> dict[str, int]:
    db = Database(url)
    db.migrate()
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.add(Product(sku="PUE-02", name="易武生普 饼茶 357g", category="普洱白茶"))
        s.flush()
        ids = {"a": a.id, "b": b.id}
    ids["collector"] = make_customer(db, name="普洱迷", home_store_id=ids["a"],
                                     phone="+8613812345678")  # fmt: skip
    ids["buyer"] = make_customer(db, name="常客", home_store_id=ids["b"])
    with db.write() as s:
        s.add(CustomerInterest(customer_id=ids["collector"], name="普洱收藏"))
        cake = Product(sku="PUE-01", name="勐海熟普 饼茶 357g", category="普洱白茶")
        s.add(cake)
        s.flush()
        for n in range(2):
            receipt = Purchase(store_id=ids["b"], external_order_id=f"o{n}",
                               customer_id=ids["buyer"], total_amount=Decimal(188),
                               purchased_at=datetime(2026, 9, 30 - n, 4, tzinfo=UTC))  # fmt: skip
            s.add(receipt)
            s.flush()
            s.add(PurchaseLine(purchase_id=receipt.id, line_no=1, product_id=cake.id,
                               quantity=Decimal(1), unit_price=Decimal(188),
                               amount=Decimal(188)))  # fmt: skip
    db.dispose()
    return ids


def _run(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", url, "interests", *args])
    return result.exit_code, result.output


def test_json_by_product_sku(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    ids = _shop(url)
    code, out = _run(url, "pue-02", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["category"], data["product_name"], data["total"]) == (
        "普洱白茶", "易武生普 饼茶 357g", 2)  # fmt: skip
    first, second = data["customers"]
    assert (first["customer_id"], first["interests"], first["phone"]) == (
        ids["collector"], ["普洱收藏"], "138****5678")  # fmt: skip
    assert first["why"] == "stated interest 普洱收藏"
    assert second["customer_id"] == ids["buyer"]
    assert second["why"] == "bought 普洱白茶 2 times, last 2026-09-30"
    assert (second["purchases"], second["spent"]) == (2, "376.00")


def test_table_per_store_with_a_limit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    _shop(url)
    code, out = _run(url, "普洱白茶", "--store", "B")
    assert code == 0, out
    assert "常客" in out and "普洱迷" not in out
    code, out = _run(url, "普洱白茶", "--limit", "1")
    assert code == 0, out
    assert "普洱迷" in out and "1 more not shown" in out
    code, out = _run(url, "书法")
    assert code == 0 and "Nobody is interested in 书法." in out
    code, out = _run(url, "普洱白茶", "--store", "Z")
    assert code != 0
