"""/api/v1 coupons: validate, redeem (idempotent, once per order), a customer's coupons, and
the applicable coupons in the purchase response."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.domain.staff import Role
from guanxi.loyalty import coupons
from guanxi.loyalty.coupons import CampaignDraft, Kind
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of


def _staff(account: Account) -> StaffMember:
    return StaffMember(account.id, account.username, account.role, account.store_id, None, None)


def _client(app: FastAPI, db: Database, account: Account, *scopes: str) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account, *scopes))
    return client


def _code(db: Database, accounts: dict[str, Account], **fields: Any) -> str:
    values: dict[str, Any] = {"name": "十元券", "kind": Kind.FIXED, "value": Decimal(10)}
    values.update(fields)
    owner = _staff(accounts["owner"])
    campaign = coupons.create_campaign(db, owner, CampaignDraft(**values))
    return coupons.generate_pool(db, owner, campaign.id, 1)[0]


def _body(code: str, order: str = "POS1-0001", **basket: Any) -> dict[str, Any]:
    return {"code": code, "external_order_id": order,
            "basket": {"lines": [{"amount": "50.00", "category": "茶叶"}], **basket}}  # fmt: skip


def test_validate_says_the_discount_or_the_reason(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["clerk"], "coupons:redeem")
    code = _code(db, accounts, min_spend=Decimal(80))
    body = {"code": code.lower(), "basket": {"lines": [{"amount": "50.00"}]}}
    refused = client.post("/api/v1/coupons/validate", json=body)
    assert refused.status_code == 200, refused.text
    got = refused.json()
    assert (got["valid"], got["reason"], got["missing"], got["discount"]) == (
        False, "min_spend_not_reached", "30.00", "0.00")  # fmt: skip
    assert "30.00" in got["message"]
    body["basket"]["lines"].append({"amount": "30", "category": "茶具"})
    ok = client.post("/api/v1/coupons/validate", json=body).json()
    assert (ok["valid"], ok["discount"], ok["code"], ok["reason"]) == (True, "10.00", code, None)
    unknown = client.post("/api/v1/coupons/validate", json={**body, "code": "0000-0000-0000"})
    assert unknown.json()["reason"] == "unknown_code"


def test_redeem_201_then_replay_200_then_key_reuse_422(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["clerk"], "coupons:redeem")
    code = _code(db, accounts, uses_per_code=3)
    headers = {"Idempotency-Key": "k-1"}
    missing = client.post("/api/v1/coupons/redeem", json=_body(code))
    assert missing.status_code == 400 and error_of(missing)["code"] == "idempotency_key_missing"
    made = client.post("/api/v1/coupons/redeem", json=_body(code), headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["discount"] == "10.00" and made.json()["replayed"] is False
    again = client.post("/api/v1/coupons/redeem", json=_body(code), headers=headers)
    # the generic layer replays the first response as it was (201) and marks it
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == made.json()
    reused = client.post("/api/v1/coupons/redeem", json=_body(code, "POS1-0002"), headers=headers)
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"
    same_order = client.post("/api/v1/coupons/redeem", json=_body(code),
                             headers={"Idempotency-Key": "k-2"})  # fmt: skip
    assert same_order.status_code == 409
    assert error_of(same_order)["code"] == "already_redeemed_for_order"
    assert error_of(same_order)["redemption_id"] == made.json()["id"]


def test_used_up_is_409_and_other_reasons_422(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["clerk"], "coupons:redeem")
    code = _code(db, accounts)
    first = client.post("/api/v1/coupons/redeem", json=_body(code, "o1"),
                        headers={"Idempotency-Key": "a"})  # fmt: skip
    assert first.status_code == 201
    used = client.post("/api/v1/coupons/redeem", json=_body(code, "o2"),
                       headers={"Idempotency-Key": "b"})  # fmt: skip
    assert used.status_code == 409 and error_of(used)["code"] == "coupon_used_up"
    wrong = _code(db, accounts, categories=("茶具",))
    refused = client.post("/api/v1/coupons/redeem", json=_body(wrong, "o3"),
                          headers={"Idempotency-Key": "c"})  # fmt: skip
    assert refused.status_code == 422
    assert (error_of(refused)["code"], error_of(refused)["reason"]) == (
        "coupon_not_valid", "wrong_category")  # fmt: skip


def test_a_clerk_redeems_only_in_their_store_and_needs_the_scope(
    app: FastAPI, db: Database, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    code = _code(db, accounts)
    clerk = _client(app, db, accounts["clerk"], "coupons:redeem")
    other = clerk.post("/api/v1/coupons/redeem", json=_body(code, store_id=stores[1]),
                       headers={"Idempotency-Key": "x"})  # fmt: skip
    assert other.status_code == 403
    unscoped = _client(app, db, accounts["clerk"], "customers:read")
    denied = unscoped.post("/api/v1/coupons/validate", json=_body(code))
    assert denied.status_code == 403 and error_of(denied)["code"] == "insufficient_scope"


def test_a_customers_coupons_and_the_purchase_response(
    app: FastAPI, db: Database, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    customer = make_customer(db, home_store_id=stores[0], phone="+8613812345678")
    owner = _staff(accounts["owner"])
    campaign = coupons.create_campaign(db, owner, CampaignDraft("满百减二十", Kind.FIXED,
                                       Decimal(20), min_spend=Decimal(100)))  # fmt: skip
    issued = coupons.issue_to_customer(db, _staff(accounts["manager"]), campaign.id, customer)
    client = _client(app, db, accounts["clerk"])
    listed = client.get(f"/api/v1/customers/{customer}/coupons")
    assert listed.status_code == 200, listed.text
    assert [(c["code"], c["state"], c["campaign"]) for c in listed.json()] == [
        (issued.code, "active", "满百减二十")]  # fmt: skip
    assert client.get(f"/api/v1/customers/{customer}/coupons").status_code == 200
    hidden = make_customer(db, home_store_id=stores[1])
    assert client.get(f"/api/v1/customers/{hidden}/coupons").status_code == 404
    receipt = {"external_order_id": "POS1-9", "customer": {"id": customer},
               "purchased_at": "2024-01-05T14:30:00+08:00",
               "lines": [{"sku": "TEA-LJ", "quantity": "1", "unit_price": "150.00"}]}  # fmt: skip
    sale = client.post("/api/v1/purchases", json=receipt)
    assert sale.status_code == 201, sale.text
    assert sale.json()["applicable_coupons"] == [
        {"code": issued.code, "campaign": "满百减二十", "discount": "20.00"}]  # fmt: skip
    small = {**receipt, "external_order_id": "POS1-10",
             "lines": [{"sku": "TEA-LJ", "quantity": "1", "unit_price": "50.00"}]}  # fmt: skip
    assert client.post("/api/v1/purchases", json=small).json()["applicable_coupons"] == []


def test_shared_customer_check_on_validate(
    app: FastAPI, db: Database, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    client = _client(app, db, accounts["clerk"], "coupons:redeem")
    hidden = make_customer(db, home_store_id=stores[1])
    code = _code(db, accounts)
    response = client.post("/api/v1/coupons/validate",
                           json={"code": code, "basket": {"customer_id": hidden,
                                                          "lines": [{"amount": "5"}]}})  # fmt: skip
    assert response.status_code == 404
    assert accounts["clerk"].role == Role.CLERK


def test_without_the_generic_layer_the_redemption_itself_replays(
    db: Database, accounts: dict[str, Account], client_for: Callable[[str], tuple[TestClient, str]]
) -> None:
    code = _code(db, accounts, uses_per_code=None)
    client, csrf = client_for("clerk")  # a browser session: the middleware leaves it alone
    headers = {"X-CSRF-Token": csrf, "Idempotency-Key": "k"}
    made = client.post("/api/v1/coupons/redeem", json=_body(code), headers=headers)
    assert made.status_code == 201, made.text
    again = client.post("/api/v1/coupons/redeem", json=_body(code), headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {**made.json(), "replayed": True}
    other = client.post("/api/v1/coupons/redeem", json=_body(code, "o2"), headers=headers)
    assert other.status_code == 422 and error_of(other)["code"] == "idempotency_key_reused"
