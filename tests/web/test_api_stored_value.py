"""/api/v1 stored value: read the card, top up (with the tier bonus) and spend, idempotently."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.domain.staff import Role
from guanxi.loyalty import stored_value as sv
from guanxi.loyalty.stored_value import Balance, BonusRule
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of

D = Decimal
TOP_UP = {"amount": "1000.00", "payment_method": "wechat_pay", "external_reference": "WX-1"}


def _client(app: FastAPI, db: Database, account: Account, *scopes: str) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account, *scopes))
    return client


def _owner(accounts: dict[str, Account]) -> StaffMember:
    return StaffMember(accounts["owner"].id, "owner", Role.OWNER, None, None, None)


@pytest.fixture
def customer(db: Database, accounts: dict[str, Account]) -> int:
    """A customer of store A; the shop gives ¥100 on a ¥1000 top-up and ¥40 on ¥500."""
    sv.save_rules(db, _owner(accounts), [BonusRule(D(1000), D(100)), BonusRule(D(500), D(40))])
    return make_customer(db, home_store_id=accounts["manager"].store_id)


def test_top_up_gives_the_bonus_and_replays(
    app: FastAPI, db: Database, accounts: dict[str, Account], customer: int
) -> None:
    client = _client(app, db, accounts["clerk"], "stored_value:write", "customers:read")
    url = f"/api/v1/customers/{customer}/stored-value/top-up"
    made = client.post(url, json=TOP_UP, headers={"Idempotency-Key": "t-1"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert {k: body[k] for k in ("kind", "amount", "paid", "bonus", "reference", "replayed")} == {
        "kind": "top_up", "amount": "1000.00", "paid": "1000.00", "bonus": "100.00",
        "reference": "WX-1", "replayed": False}  # fmt: skip
    assert body["balance"] == {"paid": "1000.00", "bonus": "100.00", "total": "1100.00"}
    again = client.post(url, json=TOP_UP, headers={"Idempotency-Key": "t-1"})
    assert again.headers["Idempotent-Replayed"] == "true"  # the API's outer key layer
    assert again.json()["entry_id"] == body["entry_id"]
    # another token of the same clerk passes the outer layer: the ledger's key answers
    other = _client(app, db, accounts["clerk"], "stored_value:write")
    inner = other.post(url, json=TOP_UP, headers={"Idempotency-Key": "t-1"})
    assert inner.status_code == 200 and inner.headers["Idempotent-Replayed"] == "true"
    assert inner.json()["entry_id"] == body["entry_id"] and inner.json()["replayed"] is True
    reused = other.post(url, json={**TOP_UP, "amount": "500"}, headers={"Idempotency-Key": "t-1"})
    assert reused.status_code == 422
    assert error_of(reused)["code"] == "idempotency_key_reused"
    missing = client.post(url, json=TOP_UP)
    assert missing.status_code == 400
    assert error_of(missing)["code"] == "idempotency_key_missing"
    assert sv.balance(db, customer) == Balance(D(1000), D(100))
    card = client.get(f"/api/v1/customers/{customer}/stored-value")
    assert card.status_code == 200
    assert (card.json()["paid"], card.json()["bonus"], card.json()["total"]) == (
        "1000.00", "100.00", "1100.00")  # fmt: skip
    assert [e["kind"] for e in card.json()["entries"]] == ["top_up"]


@pytest.mark.parametrize(
    "body",
    [{**TOP_UP, "amount": "0"}, {**TOP_UP, "amount": "1.001"}, {**TOP_UP, "amount": "-5"},
     {**TOP_UP, "payment_method": "stored_value"}, {**TOP_UP, "extra": 1},
     {"payment_method": "cash"}],
)  # fmt: skip
def test_a_bad_top_up_is_invalid_input(
    app: FastAPI, db: Database, accounts: dict[str, Account], customer: int, body: dict[str, Any]
) -> None:
    client = _client(app, db, accounts["clerk"], "stored_value:write")
    made = client.post(f"/api/v1/customers/{customer}/stored-value/top-up", json=body,
                       headers={"Idempotency-Key": "bad"})  # fmt: skip
    assert made.status_code == 422 and error_of(made)["code"] == "invalid_input"
    assert sv.balance(db, customer) == Balance(D(0), D(0))


def test_spend_splits_in_proportion_and_refuses_an_overdraft(
    app: FastAPI, db: Database, accounts: dict[str, Account], customer: int
) -> None:
    client = _client(app, db, accounts["clerk"], "stored_value:write")
    base = f"/api/v1/customers/{customer}/stored-value"
    client.post(f"{base}/top-up", json=TOP_UP, headers={"Idempotency-Key": "t"})
    spent = client.post(f"{base}/spend", json={"amount": "110", "external_order_id": "POS1-9"},
                        headers={"Idempotency-Key": "s-1"})  # fmt: skip
    assert spent.status_code == 201, spent.text
    body = spent.json()
    assert (body["kind"], body["amount"], body["paid"], body["bonus"], body["reference"]) == (
        "spend", "110.00", "100.00", "10.00", "POS1-9")  # fmt: skip
    assert body["balance"]["total"] == "990.00"
    short = client.post(f"{base}/spend", json={"amount": "990.01"},
                        headers={"Idempotency-Key": "s-2"})  # fmt: skip
    assert short.status_code == 409
    error = error_of(short)
    assert (error["code"], error["balance"], error["asked"]) == (
        "insufficient_balance", "990.00", "990.01")  # fmt: skip
    assert sv.balance(db, customer).total == D(990)


def test_scopes_and_stores(
    app: FastAPI, db: Database, accounts: dict[str, Account], customer: int
) -> None:
    base = f"/api/v1/customers/{customer}/stored-value"
    key = {"Idempotency-Key": "k"}
    reader = _client(app, db, accounts["manager"], "customers:read", "points:redeem")
    assert reader.get(base).status_code == 200
    for path, body in (("top-up", TOP_UP), ("spend", {"amount": "1"})):
        wrong = reader.post(f"{base}/{path}", json=body, headers=key)
        assert wrong.status_code == 403, path
        assert error_of(wrong)["scope"] == "stored_value:write"
    writer = _client(app, db, accounts["clerk"], "stored_value:write")
    assert writer.get(base).status_code == 403
    clerk_b = _client(app, db, accounts["clerk_b"], "stored_value:write", "customers:read")
    assert clerk_b.post(f"{base}/top-up", json=TOP_UP, headers=key).status_code == 404
    assert clerk_b.get(base).status_code == 404
    assert api(app).get(base).status_code == 401
    assert sv.history(db, customer) == []


def test_refunds_are_not_on_the_api(app: FastAPI, db: Database, accounts: dict[str, Account],
                                    customer: int) -> None:  # fmt: skip
    client = _client(app, db, accounts["owner"])
    made = client.post(f"/api/v1/customers/{customer}/stored-value/refund", json={},
                       headers={"Idempotency-Key": "r"})  # fmt: skip
    assert made.status_code in (404, 405)


def test_200_concurrent_spends_through_the_api(
    app: FastAPI, db: Database, accounts: dict[str, Account], customer: int
) -> None:
    sv.save_rules(db, _owner(accounts), [])  # no bonus: exactly ¥1000 on the card
    sv.top_up(db, customer, D(1000), payment_method="cash", idempotency_key=None)
    headers = bearer(db, accounts["manager"], "stored_value:write")
    url = f"/api/v1/customers/{customer}/stored-value/spend"
    api(app)
    n = 200
    results: list[tuple[int, dict[str, Any]] | BaseException] = [RuntimeError("not run")] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        client = TestClient(app)
        gate.wait()
        try:
            response = client.post(url, json={"amount": "10"},
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
    assert sv.balance(db, customer).total == 0
    assert sv.check_balances(db) == []
