"""/api/v1/purchases: one receipt per call, idempotent per store + order id, store-scoped."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Product, Purchase
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of

RECEIPT: dict[str, Any] = {
    "external_order_id": "POS1-0001",
    "customer": {"phone": "138 1234 5678", "name": "张三"},
    "purchased_at": "2024-01-05T14:30:00+08:00",
    "lines": [
        {"sku": "TEA-LJ", "name": "明前龙井", "quantity": "2", "unit_price": "640.00"},
        {"sku": "CUP-1", "quantity": 1, "unit_price": 80, "discount": "80"},
    ],
    "payment_method": "微信",
}


def _client(app: FastAPI, db: Database, account: Account, *scopes: str) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account, *scopes))
    return client


def _receipt(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(RECEIPT)
    body.update(changes)
    return body


def test_a_purchase_is_recorded_with_money_as_strings(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["clerk"], "purchases:write")
    response = client.post("/api/v1/purchases", json=_receipt())
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["total"] == "1280.00" and made["replayed"] is False
    assert made["store_id"] == accounts["clerk"].store_id and made["store_code"] == "A"
    assert made["purchased_at"] == "2024-01-05T14:30:00+08:00"
    assert made["payment_method"] == "wechat_pay"
    assert [(x["sku"], x["quantity"], x["unit_price"], x["discount"], x["amount"])
            for x in made["lines"]] == [
        ("TEA-LJ", "2.000", "640.00", "0.00", "1280.00"),
        ("CUP-1", "1.000", "80.00", "80.00", "0.00"),
    ]  # fmt: skip
    with db.read() as session:
        customer = session.get(Customer, made["customer_id"])
        assert customer is not None
        assert (customer.name, customer.phone, customer.source, customer.home_store_id) == (
            "张三", "+8613812345678", "import", accounts["clerk"].store_id,
        )  # fmt: skip
        names = {p.sku: p.name for p in session.execute(select(Product.sku, Product.name))}
        assert names == {"TEA-LJ": "明前龙井", "CUP-1": "CUP-1"}
        stored = session.get(Purchase, made["id"])
        assert stored is not None
        assert stored.purchased_at == datetime(2024, 1, 5, 6, 30, tzinfo=UTC)


def test_the_same_order_again_is_a_replay_and_a_changed_one_a_conflict(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"])
    first = client.post("/api/v1/purchases", json=_receipt()).json()
    # The same receipt, written differently: naive local time, numbers, the phone in E.164.
    same = _receipt(purchased_at="2024-01-05T14:30:00", payment_method="wechat_pay",
                    customer={"phone": "+8613812345678"})  # fmt: skip
    same["lines"][0].update(quantity=2, unit_price=640, amount="1280")
    replay = client.post("/api/v1/purchases", json=same)
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == first["id"] and replay.json()["replayed"] is True
    assert replay.headers["Idempotent-Replayed"] == "true"
    changed = _receipt()
    changed["lines"][0]["quantity"] = "3"
    conflict = client.post("/api/v1/purchases", json=changed)
    assert conflict.status_code == 409
    error = error_of(conflict)
    assert error["code"] == "conflict" and error["purchase_id"] == first["id"]
    assert "lines" in error["message"] and "POS1-0001" in error["message"]
    other_customer = client.post("/api/v1/purchases", json=_receipt(customer={"code": "NEW"}))
    assert "customer" in error_of(other_customer)["message"]
    with db.read() as session:
        assert len(session.scalars(select(Purchase.id)).all()) == 1
        assert len(session.scalars(select(Customer.id)).all()) == 1


def test_the_same_order_id_in_another_store_is_another_purchase(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["owner"])
    a = client.post("/api/v1/purchases", json=_receipt(store_code="A"))
    b = client.post("/api/v1/purchases", json=_receipt(store_id=accounts["clerk_b"].store_id))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["customer_id"] == b.json()["customer_id"]
    nowhere = client.post("/api/v1/purchases", json=_receipt())
    assert nowhere.status_code == 422 and error_of(nowhere)["fields"][0]["field"] == "store_id"
    unknown = client.post("/api/v1/purchases", json=_receipt(store_code="ZZ"))
    assert unknown.status_code == 404 and "'ZZ'" in error_of(unknown)["message"]


def test_a_clerk_token_records_only_in_its_store(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["clerk"])
    elsewhere = client.post("/api/v1/purchases", json=_receipt(store_code="B"))
    assert elsewhere.status_code == 403 and error_of(elsewhere)["code"] == "forbidden"
    theirs = make_customer(db, home_store_id=accounts["clerk_b"].store_id)
    by_id = client.post("/api/v1/purchases", json=_receipt(customer={"id": theirs}))
    assert by_id.status_code == 404


def test_an_existing_customer_is_found_by_code_phone_or_email(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    known = make_customer(db, name="李四", phone="+8613900001111", code="M9",
                          email="li@example.com", home_store_id=store)  # fmt: skip
    client = _client(app, db, accounts["manager"])
    for n, ref in enumerate(({"code": "M9"}, {"phone": "139 0000 1111"},
                             {"email": "LI@example.com"}, {"id": known})):  # fmt: skip
        made = client.post("/api/v1/purchases", json=_receipt(external_order_id=f"O{n}",
                                                              customer=ref))  # fmt: skip
        assert made.status_code == 201 and made.json()["customer_id"] == known, ref


def test_a_line_may_give_only_what_was_paid(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"])
    lines = [{"sku": "RICE", "quantity": "3", "amount": "10.00"}, {"sku": "T", "amount": 0.3}]
    made = client.post("/api/v1/purchases", json=_receipt(lines=lines))
    assert made.status_code == 201, made.text
    assert made.json()["total"] == "10.30"
    assert [x["unit_price"] for x in made.json()["lines"]] == ["3.33", "0.30"]


def test_invalid_receipts_name_the_field(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lines": [{"sku": "A", "quantity": "1", "unit_price": "1.001"}]}, "lines.0.unit_price"),
        ({"lines": [{"sku": "A", "quantity": "-1", "unit_price": "1"}]}, "lines.0.quantity"),
        ({"lines": [{"sku": "A", "quantity": "1"}]}, "lines.0"),
        ({"lines": []}, "lines"),
        ({"customer": {"name": "无名"}}, "customer"),
        ({"customer": {"phone": "12"}}, "customer.phone"),
        ({"purchased_at": "yesterday"}, "purchased_at"),
        ({"lines": [{"sku": "A", "unit_price": "10", "discount": "11"}]}, "lines.0.amount"),
        ({"lines": [{"sku": "A", "unit_price": "10", "amount": "12"}]}, "lines.0.amount"),
        ({"purchased_at": "2099-01-01T00:00:00+08:00"}, "purchased_at"),
    ]
    for changes, field in cases:
        response = client.post("/api/v1/purchases", json=_receipt(**changes))
        assert response.status_code == 422, (changes, response.text)
        error = error_of(response)
        assert error["code"] == "invalid_input"
        assert [f["field"] for f in error["fields"]] == [field], (changes, error)
    with db.read() as session:
        assert session.scalars(select(Purchase.id)).all() == []


def test_list_and_show_are_store_scoped(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    owner = _client(app, db, accounts["owner"])
    a1 = owner.post("/api/v1/purchases", json=_receipt(store_code="A")).json()
    a2 = owner.post("/api/v1/purchases", json=_receipt(
        store_code="A", external_order_id="POS1-0002", purchased_at="2024-02-01T10:00:00+08:00",
        customer={"phone": "13900001111"})).json()  # fmt: skip
    b1 = owner.post("/api/v1/purchases", json=_receipt(store_code="B")).json()
    everything = owner.get("/api/v1/purchases").json()
    assert [p["id"] for p in everything["items"]] == [a2["id"], b1["id"], a1["id"]]
    clerk = _client(app, db, accounts["clerk"], "purchases:read")
    mine = clerk.get("/api/v1/purchases").json()
    assert [p["id"] for p in mine["items"]] == [a2["id"], a1["id"]] and mine["total"] == 2
    since = clerk.get("/api/v1/purchases", params={"since": "2024-01-06"}).json()
    assert [p["id"] for p in since["items"]] == [a2["id"]]
    by_customer = clerk.get("/api/v1/purchases", params={"customer_id": a1["customer_id"]})
    assert [p["id"] for p in by_customer.json()["items"]] == [a1["id"]]
    assert clerk.get(f"/api/v1/purchases/{a1['id']}").json()["total"] == "1280.00"
    assert clerk.get(f"/api/v1/purchases/{b1['id']}").status_code == 404


def test_the_pos_api_returns_the_points(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    client.headers.update(bearer(db, accounts["clerk"], "purchases:write"))
    made = client.post("/api/v1/purchases", json=_receipt()).json()
    assert made["points"]["earned"] == 1280 and made["points"]["balance"] == 1280
    assert made["points"]["expires_on"] == "2026-01-05"
    assert made["points"]["explanation"][0] == {
        "text": "Base: ¥1280 × 1 point(s) per yuan.",
        "template": "Base: ¥{amount} × {rate} point(s) per yuan.",
        "values": {"amount": "1280", "rate": "1"},
    }
    replay = client.post("/api/v1/purchases", json=_receipt()).json()
    assert replay["replayed"] is True and replay["points"]["earned"] == 1280


def test_the_pos_api_returns_the_tier_and_how_far_the_next_one_is(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    from decimal import Decimal

    from guanxi.domain.staff import Role
    from guanxi.loyalty.accrual import Programme, save_programme
    from guanxi.loyalty.rules import EarningProgram
    from guanxi.loyalty.tiers import Tier
    from guanxi.services.staff import StaffMember

    owner = StaffMember(accounts["owner"].id, "Owner", Role.OWNER, None, None, None)
    tiers = (Tier("normal", "普通会员", Decimal(0)), Tier("silver", "银卡", Decimal(1000)),
             Tier("gold", "金卡", Decimal(5000), Decimal(2)))  # fmt: skip
    save_programme(db, owner, Programme(EarningProgram(), tiers=tiers))
    client = api(app)
    client.headers.update(bearer(db, accounts["clerk"], "purchases:write"))
    now = datetime.now(UTC).isoformat()
    made = client.post("/api/v1/purchases", json=_receipt(purchased_at=now)).json()
    assert made["points"]["earned"] == 1280  # bought as 普通会员: no multiplier
    expected = {"key": "silver", "name": "银卡", "spend_12m": "1280.00", "next_key": "gold",
                "next_name": "金卡", "to_next": "3720.00", "basis": "spend", "points_12m": None,
                "points_to_next": None}  # fmt: skip
    assert made["tier"] == expected


def test_the_pos_api_gives_points_figures_with_the_points_basis(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    from decimal import Decimal

    from guanxi.domain.staff import Role
    from guanxi.loyalty.accrual import Programme, save_programme
    from guanxi.loyalty.rules import EarningProgram
    from guanxi.loyalty.tiers import Tier, TierLadder
    from guanxi.services.staff import StaffMember

    owner = StaffMember(accounts["owner"].id, "Owner", Role.OWNER, None, None, None)
    tiers = TierLadder((Tier("normal", "普通会员", Decimal(0)),
                        Tier("silver", "银卡", Decimal(1000)),
                        Tier("gold", "金卡", Decimal(5000))), "points")  # fmt: skip
    save_programme(db, owner, Programme(EarningProgram(points_per_yuan=Decimal(2)), tiers=tiers))
    client = api(app)
    client.headers.update(bearer(db, accounts["clerk"], "purchases:write"))
    now = datetime.now(UTC).isoformat()
    made = client.post("/api/v1/purchases", json=_receipt(purchased_at=now))
    assert made.json()["points"]["earned"] == 2560
    assert made.json()["tier"] == {
        "key": "silver", "name": "银卡", "spend_12m": "1280.00", "next_key": "gold",
        "next_name": "金卡", "to_next": None, "basis": "points", "points_12m": 2560,
        "points_to_next": 2440,
    }  # fmt: skip
