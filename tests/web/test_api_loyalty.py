"""/api/v1 returns and points: a return takes back points, redemptions are idempotent by key.

The default programme gives 1 point per yuan (rounded down), so the receipt of 1380.00 below
earns 1380 points and a refund of R yuan takes back floor(1380 × R / 1380) = floor(R).
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.loyalty import ledger
from guanxi.loyalty.ledger import Kind
from guanxi.storage.db import Database
from guanxi.storage.models import PointsEntry
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of

RECEIPT: dict[str, Any] = {
    "external_order_id": "POS1-0001",
    "customer": {"phone": "138 1234 5678", "name": "张三"},
    "purchased_at": "2024-01-05T14:30:00+08:00",
    "lines": [
        {"sku": "TEA-LJ", "quantity": "2", "unit_price": "640.00"},
        {"sku": "CUP-1", "quantity": "3", "amount": "100.00"},
    ],
}
RETURN: dict[str, Any] = {"external_return_id": "R-1", "lines": [{"line_no": 2, "quantity": 1}]}


def _client(app: FastAPI, db: Database, account: Account, *scopes: str) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account, *scopes))
    return client


def _sale(client: TestClient) -> tuple[int, int]:
    made = client.post("/api/v1/purchases", json=RECEIPT)
    assert made.status_code == 201, made.text
    assert made.json()["points"]["earned"] == 1380
    return made.json()["id"], made.json()["customer_id"]


def _customer_with(db: Database, store: int | None, points: int) -> int:
    customer = make_customer(db, home_store_id=store)
    ledger.earn(
        db, customer, points, source_type="purchase", source_id=1, expires_on=None, reason=None,
        explanation={}, idempotency_key=None,
    )  # fmt: skip
    return customer


def _entries(db: Database, customer: int, kind: Kind) -> int:
    with db.read() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(PointsEntry)
                .where(PointsEntry.customer_id == customer, PointsEntry.kind == kind)
            ).scalar_one()
        )


# -- returns ------------------------------------------------------------------------------------


def test_a_return_refunds_per_line_and_takes_back_points(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write")
    purchase, customer = _sale(client)
    body = {**RETURN, "returned_at": "2024-01-09T10:05:00", "reason": "破损",
            "lines": [{"line_no": 2, "quantity": "1"}, {"line_no": 1, "quantity": 1}]}  # fmt: skip
    made = client.post(f"/api/v1/purchases/{purchase}/returns", json=body)
    assert made.status_code == 201, made.text
    got = made.json()
    assert (got["purchase_id"], got["customer_id"], got["replayed"]) == (purchase, customer, False)
    assert got["returned_at"] == "2024-01-09T10:05:00+08:00" and got["reason"] == "破损"
    assert [(x["line_no"], x["sku"], x["quantity"], x["amount"], x["points_reversed"])
            for x in got["lines"]] == [
        (1, "TEA-LJ", "1.000", "640.00", 640),
        (2, "CUP-1", "1.000", "33.33", 33),  # 100.00 / 3; floor(1380 × 33.33 / 1380)
    ]  # fmt: skip
    assert got["refund_amount"] == "673.33"
    assert got["points"] == {
        "reversed": 673, "restored": 0, "balance": 1380 - 673, "flagged": False,
    }  # fmt: skip
    assert "Idempotent-Replayed" not in made.headers

    again = client.post(f"/api/v1/purchases/{purchase}/returns", json=body)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert {**again.json(), "replayed": False} == got and again.json()["replayed"] is True
    assert _entries(db, customer, Kind.REVERSE) == 2  # once per line, not once per request
    assert ledger.balance(db, customer) == 707 and ledger.check_balances(db) == []


def test_return_refusals(app: FastAPI, db: Database, accounts: dict[str, Account]) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write")
    purchase, customer = _sale(client)
    url = f"/api/v1/purchases/{purchase}/returns"
    first = client.post(url, json=RETURN).json()

    other = client.post(url, json={**RETURN, "lines": [{"line_no": 2, "quantity": 2}]})
    assert other.status_code == 409
    assert error_of(other)["code"] == "conflict" and error_of(other)["return_id"] == first["id"]

    too_many = client.post(url, json={"external_return_id": "R-2",
                                      "lines": [{"line_no": 2, "quantity": 3}]})  # fmt: skip
    assert too_many.status_code == 422
    error = error_of(too_many)
    assert error["code"] == "invalid_input" and "line 2" in error["message"]
    assert error["fields"] == [{"field": "lines.0.quantity", "message": error["fields"][0][
        "message"]}] and "at most 2 can still be returned" in error["message"]  # fmt: skip

    clerk_b = _client(app, db, accounts["clerk_b"], "purchases:write")
    elsewhere = clerk_b.post(url, json={**RETURN, "external_return_id": "R-3"})
    assert elsewhere.status_code == 404 and error_of(elsewhere)["code"] == "not_found"
    reader = _client(app, db, accounts["manager"], "purchases:read")
    assert reader.post(url, json={**RETURN, "external_return_id": "R-4"}).status_code == 403
    assert _entries(db, customer, Kind.REVERSE) == 1


def test_a_return_of_spent_points_claws_back_below_zero(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write", "points:redeem")
    purchase, customer = _sale(client)
    spent = client.post(f"/api/v1/customers/{customer}/points/redeem",
                        json={"points": 1300, "reason": "gift"},
                        headers={"Idempotency-Key": "k1"})  # fmt: skip
    assert spent.status_code == 201 and spent.json()["balance"] == 80
    back = client.post(f"/api/v1/purchases/{purchase}/returns",
                       json={**RETURN, "lines": [{"line_no": 1, "quantity": 1}]})  # fmt: skip
    assert back.status_code == 201
    assert back.json()["points"] == {
        "reversed": 640, "restored": 0, "balance": -560, "flagged": True,
    }  # fmt: skip
    assert back.json()["lines"][0]["flagged"] is True
    assert ledger.balance(db, customer) == -560 and ledger.check_balances(db) == []


# -- the points balance -------------------------------------------------------------------------


def test_points_balance_lots_and_history(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write", "customers:read")
    purchase, customer = _sale(client)
    client.post(f"/api/v1/purchases/{purchase}/returns", json=RETURN)
    got = client.get(f"/api/v1/customers/{customer}/points")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["customer_id"] == customer and body["balance"] == 1380 - 33
    (lot,) = body["lots"]
    assert (lot["kind"], lot["points"], lot["remaining"]) == ("earn", 1380, 1347)
    assert lot["expires_on"] == "2026-01-05"  # 24 months after the purchase day
    assert [(e["kind"], e["points"], e["balance_after"]) for e in body["history"]] == [
        ("reverse", -33, 1347),
        ("earn", 1380, 1380),
    ]
    assert body["history"][1]["source_type"] == "purchase"
    assert body["history"][1]["source_id"] == str(purchase)
    limited = client.get(f"/api/v1/customers/{customer}/points?limit=1").json()
    assert [e["kind"] for e in limited["history"]] == ["reverse"]

    clerk_b = _client(app, db, accounts["clerk_b"], "customers:read")
    hidden = clerk_b.get(f"/api/v1/customers/{customer}/points")
    assert hidden.status_code == 404 and error_of(hidden)["code"] == "not_found"


# -- redeeming ----------------------------------------------------------------------------------


def test_redeem_with_an_idempotency_key(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    customer = _customer_with(db, accounts["manager"].store_id, 1000)
    client = _client(app, db, accounts["manager"], "points:redeem")
    url = f"/api/v1/customers/{customer}/points/redeem"
    body = {"points": 300, "reason": "tea cup"}
    key = {"Idempotency-Key": "7f3c8a0e-1"}

    made = client.post(url, json=body, headers=key)
    assert made.status_code == 201, made.text
    got = made.json()
    assert (got["customer_id"], got["points"], got["balance"], got["reason"], got["replayed"]) == (
        customer, 300, 700, "tea cup", False,
    )  # fmt: skip
    assert "Idempotent-Replayed" not in made.headers

    # a retry: the same key (quoted as a structured field here) and body gets the first
    # response again, unchanged, marked as a replay
    again = client.post(url, json=body, headers={"Idempotency-Key": '"7f3c8a0e-1"'})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == got
    assert _entries(db, customer, Kind.REDEEM) == 1 and ledger.balance(db, customer) == 700

    reused = client.post(url, json={**body, "points": 301}, headers=key)
    assert reused.status_code == 422
    assert error_of(reused)["code"] == "idempotency_key_reused"
    assert "use a new key" in error_of(reused)["message"]

    missing = client.post(url, json=body)
    assert missing.status_code == 400
    assert error_of(missing)["code"] == "idempotency_key_missing"
    assert "Idempotency-Key" in error_of(missing)["message"]
    bad = client.post(url, json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400 and error_of(bad)["code"] == "idempotency_key_invalid"

    short = client.post(url, json={"points": 701, "reason": "too much"},
                        headers={"Idempotency-Key": "k2"})  # fmt: skip
    assert short.status_code == 409
    assert {k: error_of(short)[k] for k in ("code", "balance", "asked")} == {
        "code": "insufficient_points", "balance": 700, "asked": 701,
    }  # fmt: skip

    # keys are per API client: another staff member's same key is another redemption
    owner = _client(app, db, accounts["owner"], "points:redeem")
    other = owner.post(url, json=body, headers=key)
    assert other.status_code == 201 and other.json()["balance"] == 400
    assert _entries(db, customer, Kind.REDEEM) == 2 and ledger.check_balances(db) == []


def test_redeem_needs_its_scope_and_the_customers_store(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    customer = _customer_with(db, accounts["manager"].store_id, 1000)
    url = f"/api/v1/customers/{customer}/points/redeem"
    body, key = {"points": 10, "reason": "gift"}, {"Idempotency-Key": "k"}
    reader = _client(app, db, accounts["manager"], "customers:read", "purchases:write")
    wrong = reader.post(url, json=body, headers=key)
    assert wrong.status_code == 403
    assert error_of(wrong)["code"] == "insufficient_scope"
    assert error_of(wrong)["scope"] == "points:redeem"
    clerk_b = _client(app, db, accounts["clerk_b"], "points:redeem")
    assert clerk_b.post(url, json=body, headers=key).status_code == 404
    assert ledger.balance(db, customer) == 1000


def test_200_concurrent_redemptions_through_the_api(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    customer = _customer_with(db, accounts["manager"].store_id, 1000)
    headers = bearer(db, accounts["manager"], "points:redeem")
    url = f"/api/v1/customers/{customer}/points/redeem"
    api(app)  # the API's error handlers
    n = 200
    results: list[tuple[int, dict[str, Any]] | BaseException] = [RuntimeError("not run")] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        client = TestClient(app)  # one per thread; each request runs in its own portal
        gate.wait()
        try:
            response = client.post(url, json={"points": 10, "reason": "gift"},
                                   headers={**headers, "Idempotency-Key": f"c-{i}"})  # fmt: skip
            results[i] = (response.status_code, response.json())
        except BaseException as exc:  # noqa: BLE001 - collected and checked below
            results[i] = exc
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    answers = [r for r in results if isinstance(r, tuple)]
    assert [r for r in results if not isinstance(r, tuple)] == []
    codes = [status for status, _ in answers]
    assert (codes.count(201), codes.count(409)) == (100, 100), codes
    refused = {body["error"]["code"] for status, body in answers if status == 409}
    assert refused == {"insufficient_points"}
    balances = sorted(body["balance"] for status, body in answers if status == 201)
    assert balances == list(range(0, 1000, 10))
    assert ledger.balance(db, customer) == 0
    assert ledger.check_balances(db) == []
    assert _entries(db, customer, Kind.REDEEM) == 100


def test_points_that_paid_a_receipt_come_back_with_its_return(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write", "points:redeem")
    purchase, customer = _sale(client)  # earns 1380 points
    paid = client.post(f"/api/v1/customers/{customer}/points/redeem",
                       json={"points": 500, "reason": "pays POS1-0001",
                             "external_order_id": RECEIPT["external_order_id"]},
                       headers={"Idempotency-Key": "pay-1"})  # fmt: skip
    assert paid.status_code == 201, paid.text
    assert paid.json()["balance"] == 880
    whole = {"external_return_id": "R-all",
             "lines": [{"line_no": 1, "quantity": 2}, {"line_no": 2, "quantity": 3}]}  # fmt: skip
    done = client.post(f"/api/v1/purchases/{purchase}/returns", json=whole)
    assert done.status_code == 201, done.text
    points = done.json()["points"]
    # the 1380 earned are taken back (from what is left: 880, so 500 are owed) and the 500
    # that paid the receipt come back: the customer ends where they began
    assert (points["reversed"], points["restored"], points["balance"]) == (1380, 500, 0)
    assert ledger.balance(db, customer) == 0 and ledger.check_balances(db) == []
