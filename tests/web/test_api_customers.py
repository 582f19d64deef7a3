"""/api/v1/customers: create with normalised phones and 409 on duplicates, search, show, patch,
phone masking by role, and audit entries that name fields but never values."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import Customer
from tests.factories import make_customer
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of


def _client(app: FastAPI, db: Database, account: Account) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account))
    return client


def test_create_normalises_the_phone_and_audits(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"])
    body = {"name": "张三", "phone": "138 1234 5678", "email": " Zhang@Example.COM ",
            "code": "Ｍ001", "tags": ["VIP", "VIP", "茶友"], "gender": "male"}  # fmt: skip
    response = client.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["Location"] == f"/api/v1/customers/{made['id']}"
    assert made["phone"] == "+8613812345678" and made["phone_masked"] is False
    assert (made["email"], made["code"]) == ("zhang@example.com", "M001")
    assert made["tags"] == ["VIP", "茶友"] and made["gender"] == "male"
    assert made["home_store_id"] == accounts["manager"].store_id
    assert made["spend"]["gross_spend"] == "0.00"
    with db.read() as session:
        row = session.get(Customer, made["id"])
        assert row is not None and (row.name_pinyin, row.phone_last4) == ("zhangsan", "5678")
    entry = audit.list_entries(db, action=audit.Action.CUSTOMER_CREATED)[0]
    assert entry.actor == "manager" and entry.target_id == str(made["id"])
    assert "phone" in entry.detail["fields"] and "13812345678" not in json.dumps(entry.detail)


def test_a_phone_in_another_format_is_a_conflict_naming_the_customer(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["owner"])
    first = client.post("/api/v1/customers", json={"name": "张三", "phone": "13812345678",
                                                  "code": "M001"}).json()  # fmt: skip
    for body, field in (
        ({"name": "张三三", "phone": "+86 138-1234-5678"}, "phone"),
        ({"name": "张三三", "phone": "0086 13812345678"}, "phone"),
        ({"name": "张三三", "code": "M001"}, "code"),
    ):
        response = client.post("/api/v1/customers", json=body)
        assert response.status_code == 409, body
        error = error_of(response)
        assert error["code"] == "conflict" and error["customer_id"] == first["id"]
        assert error["field"] == field and f"customer {first['id']}" in error["message"]
    with db.read() as session:
        assert len(session.scalars(select(Customer.id)).all()) == 1


def test_an_invalid_phone_names_the_field(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    response = _client(app, db, accounts["owner"]).post(
        "/api/v1/customers", json={"name": "张三", "phone": "12345"}
    )
    assert response.status_code == 422
    assert error_of(response)["fields"] == [
        {"field": "phone", "message": "not a valid phone number for region CN"}
    ]


def test_search_list_and_show(app: FastAPI, db: Database, accounts: dict[str, Account]) -> None:
    store = accounts["manager"].store_id
    zhang = make_customer(db, name="张三", phone="+8613812345678", home_store_id=store,
                         tags=["VIP"])  # fmt: skip
    make_customer(db, name="李四", phone="+8613900001111", home_store_id=store)
    client = _client(app, db, accounts["manager"])
    for q in ("张三", "zs", "5678", "13812345678"):
        found = client.get("/api/v1/customers", params={"q": q}).json()
        assert [c["id"] for c in found["items"]][:1] == [zhang], q
        assert found["items"][0]["matched"]
    page = client.get("/api/v1/customers", params={"per_page": 1, "page": 2}).json()
    assert (page["total"], page["page"], page["per_page"]) == (2, 2, 1)
    assert [c["id"] for c in page["items"]] == [zhang]  # newest first
    shown = client.get(f"/api/v1/customers/{zhang}").json()
    assert (shown["name"], shown["tags"], shown["phone"]) == ("张三", ["VIP"], "+8613812345678")
    missing = client.get("/api/v1/customers/99999")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_clerks_see_masked_phones_except_their_own_customers(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    clerk, store = accounts["clerk"], accounts["clerk"].store_id
    own = make_customer(db, name="张三", phone="+8613812345678", home_store_id=store,
                        owner_staff_id=clerk.id)  # fmt: skip
    other = make_customer(db, name="李四", phone="+8613900001111", home_store_id=store)
    client = _client(app, db, clerk)
    rows = {c["id"]: c for c in client.get("/api/v1/customers").json()["items"]}
    assert (rows[own]["phone"], rows[own]["phone_masked"]) == ("+8613812345678", False)
    assert (rows[other]["phone"], rows[other]["phone_masked"]) == ("139****1111", True)
    assert client.get(f"/api/v1/customers/{other}").json()["phone"] == "139****1111"
    manager = _client(app, db, accounts["manager"])
    assert manager.get(f"/api/v1/customers/{other}").json()["phone"] == "+8613900001111"


def test_patch_changes_only_what_was_sent_and_audits_names(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    zhang = make_customer(db, name="张三", email="z@example.com", city="上海",
                          home_store_id=store, tags=["VIP"])  # fmt: skip
    client = _client(app, db, accounts["manager"])
    body = {"city": "杭州", "tags": ["茶友"], "email": None, "notes": "喜欢绿茶"}
    response = client.patch(f"/api/v1/customers/{zhang}", json=body)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["city"], changed["tags"], changed["email"]) == ("杭州", ["茶友"], None)
    assert changed["name"] == "张三"
    entry = audit.list_entries(db, action=audit.Action.CUSTOMER_UPDATED)[0]
    assert entry.detail == {"fields": ["city", "email", "notes", "tags"], "via": "api"}
    assert "杭州" not in json.dumps(entry.detail, ensure_ascii=False)
    again = client.patch(f"/api/v1/customers/{zhang}", json={"city": "杭州"})
    assert again.status_code == 200
    assert len(audit.list_entries(db, action=audit.Action.CUSTOMER_UPDATED)) == 1
    renamed = client.patch(f"/api/v1/customers/{zhang}", json={"name": "张叁"}).json()
    with db.read() as session:
        row = session.get(Customer, renamed["id"])
        assert row is not None and row.name_pinyin == "zhangsan" and row.name == "张叁"


def test_patch_refuses_a_taken_phone_and_a_null_name(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    zhang = make_customer(db, name="张三", phone="+8613812345678", home_store_id=store)
    li = make_customer(db, name="李四", phone="+8613900001111", home_store_id=store)
    client = _client(app, db, accounts["manager"])
    taken = client.patch(f"/api/v1/customers/{li}", json={"phone": "138-1234-5678"})
    assert taken.status_code == 409 and error_of(taken)["customer_id"] == zhang
    assert "138****5678" in error_of(taken)["message"]
    nameless = client.patch(f"/api/v1/customers/{li}", json={"name": None})
    assert nameless.status_code == 422 and error_of(nameless)["fields"][0]["field"] == "name"
    typo = client.patch(f"/api/v1/customers/{li}", json={"phon": "13812345678"})
    assert typo.status_code == 422 and error_of(typo)["fields"][0]["field"] == "phon"
    same = client.patch(f"/api/v1/customers/{zhang}", json={"phone": "13812345678"})
    assert same.status_code == 200  # its own phone is no conflict


def test_delete_erases_with_the_erase_scope_only(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    app.state.guanxi.settings.erasure_secret = "api test secret"
    cid = make_customer(db, name="删我", phone="+8613812340000",
                        home_store_id=accounts["manager"].store_id)  # fmt: skip
    writer = _client(app, db, accounts["manager"])  # every scope the role holds, erase included
    limited = api(app)
    limited.headers.update(bearer(db, accounts["manager"], "customers:write"))
    refused = limited.delete(f"/api/v1/customers/{cid}")
    assert refused.status_code == 403 and error_of(refused)["code"] == "insufficient_scope"
    assert writer.delete(f"/api/v1/customers/{cid}").status_code == 204
    with db.read() as session:
        row = session.get(Customer, cid)
        assert row is not None and row.phone is None and row.erased_at is not None
    entry = audit.list_entries(db, action=audit.Action.CUSTOMER_ERASED)[0]
    assert entry.actor == "manager" and entry.target_id == str(cid)
    again = writer.delete(f"/api/v1/customers/{cid}")
    assert again.status_code == 409
