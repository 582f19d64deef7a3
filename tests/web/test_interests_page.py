"""The new-arrivals page (/care/interests): picking a product finds stated interests matching its
name and the buyers of its category, within the clerk's store, phones masked; the nav link; the
"message them" draft with these customers as the audience, dry-run as usual."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from guanxi.care import campaigns
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, CustomerInterest, Product, Purchase, PurchaseLine
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _shop(db: Database, accounts: dict[str, Account]) -> dict[str, int]:
    a, b = accounts["clerk"].store_id, accounts["clerk_b"].store_id
    ids = {
        "collector": make_customer(db, name="紫砂迷", home_store_id=a, phone="+8613812345678"),
        "buyer": make_customer(db, name="买过", home_store_id=a),
        "gift": make_customer(db, name="送礼人", home_store_id=a),
        "elsewhere": make_customer(db, name="别店", home_store_id=b),
    }
    with db.write() as s:
        s.add(CustomerInterest(customer_id=ids["collector"], name="紫砂收藏"))
        s.add(CustomerInterest(customer_id=ids["elsewhere"], name="紫砂收藏"))
        s.add(CustomerInterest(customer_id=ids["gift"], name="送礼"))
        pot = Product(sku="WARE-01", name="宜兴紫砂壶 朱泥西施 200ml", category="茶具")
        cup = Product(sku="WARE-04", name="白瓷盖碗 130ml", category="茶具")
        s.add_all([pot, cup])
        s.flush()
        ids["pot"], ids["cup"] = pot.id, cup.id
        receipt = Purchase(store_id=a, external_order_id="o1", customer_id=ids["buyer"],
                           purchased_at=datetime(2026, 9, 30, 4, tzinfo=UTC),
                           total_amount=Decimal(58))  # fmt: skip
        s.add(receipt)
        s.flush()
        line = PurchaseLine(
            purchase_id=receipt.id,
            line_no=1,
            product_id=cup.id,
            quantity=Decimal(1),
            unit_price=Decimal(58),
            amount=Decimal(58),
        )
        s.add(line)
        for key in ("collector", "buyer"):
            s.add(Consent(customer_id=ids[key], channel="sms", is_granted=True, source="test",
                          changed_at=datetime.now(UTC) - timedelta(days=3)))  # fmt: skip
    return ids


def test_clerk_picks_a_product(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    ids = _shop(db, accounts)
    clerk, _ = client_for("clerk")
    clerk.headers["Accept-Language"] = "en"
    start = soup(clerk.get("/customers").text)
    link = start.select_one("[data-testid=nav-interests]")
    assert link is not None and link["href"] == "/care/interests"
    page = soup(clerk.get(f"/care/interests?product_id={ids['pot']}").text)
    picked = page.select_one("[data-testid=interest-product] option[selected]")
    assert picked is not None and picked["value"] == str(ids["pot"])
    rows = {r["data-customer"]: r for r in page.select("[data-testid=interested-row]")}
    assert list(rows) == [str(ids["collector"]), str(ids["buyer"])]  # not 别店 (store B)
    collector = rows[str(ids["collector"])]
    stated = collector.select_one("[data-testid=why-stated]")
    assert stated is not None and "紫砂收藏" in stated.text
    phone = collector.select_one("[data-testid=interested-phone]")
    assert phone is not None and phone.text == "138****5678"
    assert "13812345678" not in page.text
    bought = rows[str(ids["buyer"])].select_one("[data-testid=why-bought]")
    assert bought is not None and "茶具" in bought.text and "2026" in bought.text
    count = page.select_one("[data-testid=interest-count]")
    assert count is not None and "宜兴紫砂壶" in count.text
    assert page.select_one("[data-testid=message-them]") is None  # clerks cannot send
    by_sku = soup(clerk.get("/care/interests?category=ware-01").text)
    assert len(by_sku.select("[data-testid=interested-row]")) == 2
    assert clerk.get(f"/care/interests?product_id={ids['pot'] + 999}").status_code == 404


def test_message_them_opens_a_draft_for_these_customers(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    ids = _shop(db, accounts)
    manager, csrf = client_for("manager")
    page = soup(manager.get(f"/care/interests?product_id={ids['pot']}").text)
    button = page.select_one("[data-testid=message-them]")
    assert button is not None and button["href"] == f"/care/campaigns/new?product_id={ids['pot']}"
    draft = soup(manager.get(str(button["href"])).text)
    field = draft.select_one("[data-testid=campaign-customers]")
    assert field is not None
    assert field["value"] == f"{ids['collector']} {ids['buyer']}"
    body = "{{ salutation }}，新品到店。"
    template = campaigns.save_template(db, name="新品", channel="sms", body=body, actor_id=None)
    made = manager.post("/care/campaigns", data={
        "csrf_token": csrf, "name": "紫砂壶到店", "kind": "interest", "channel": "sms",
        "template_id": str(template), "customer_ids": str(field["value"]),
    }, follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    run = soup(manager.get(made.headers["location"]).text)
    recipients = {r["data-customer"] for r in run.select("[data-testid=recipient]")}
    assert recipients == {str(ids["collector"]), str(ids["buyer"])}
    category = soup(manager.get("/care/interests?category=茶具").text)
    button = category.select_one("[data-testid=message-them]")
    assert button is not None and "/care/campaigns/new?category=" in str(button["href"])
