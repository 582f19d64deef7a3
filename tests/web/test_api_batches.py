"""/api/v1/purchases/batch: an offline POS's receipts are each recorded exactly once."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import PointsEntry, Purchase
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of

URL = "/api/v1/purchases/batch"


def _receipt(n: int, amount: str = "100.00", phone: str = "13800000001") -> dict[str, Any]:
    return {
        "external_order_id": f"OFF-{n:04d}",
        "customer": {"phone": phone},
        "purchased_at": f"2024-03-{1 + n % 28:02d}T10:00:00+08:00",
        "lines": [{"sku": "TEA", "quantity": "1", "amount": amount}],
    }


def _client(app: FastAPI, db: Database, account: Account, *scopes: str) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account, *scopes))
    return client


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as s:
        purchases = s.scalar(select(func.count()).select_from(Purchase)) or 0
        entries = s.scalar(select(func.count()).select_from(PointsEntry)) or 0
    return int(purchases), int(entries)


def test_reuploads_truncated_and_overlapping_batches_count_each_receipt_once(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write")
    receipts = [_receipt(i) for i in range(10)]

    truncated = client.post(URL, json={"receipts": receipts[:6]})  # the upload broke off
    assert truncated.status_code == 200, truncated.text
    assert (truncated.json()["created"], truncated.json()["duplicate"]) == (6, 0)

    full = client.post(URL, json={"receipts": receipts})  # sent again in full
    got = full.json()
    assert (got["received"], got["created"], got["duplicate"]) == (10, 4, 6)
    assert [r["status"] for r in got["results"]] == ["duplicate"] * 6 + ["created"] * 4
    assert [r["external_order_id"] for r in got["results"]] == [f"OFF-{i:04d}" for i in range(10)]
    assert all(r["points_earned"] == 100 for r in got["results"])

    overlap = client.post(URL, json={"receipts": receipts[8:] + [_receipt(10)]})
    assert [r["status"] for r in overlap.json()["results"]] == ["duplicate", "duplicate", "created"]
    assert _counts(db) == (11, 11)
    customer = got["results"][0]["purchase_id"]
    with db.read() as s:
        owner = s.get(Purchase, customer)
        assert owner is not None and owner.customer_id is not None
        customer_id = owner.customer_id
    assert ledger.balance(db, customer_id) == 1100 and ledger.check_balances(db) == []


def test_a_bad_receipt_is_reported_and_the_others_are_recorded(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write")
    first = client.post(URL, json={"receipts": [_receipt(1)]})
    assert first.json()["created"] == 1
    batch = [
        _receipt(1, amount="999.00"),  # the same receipt number with other content
        {**_receipt(2), "lines": []},  # no lines
        {**_receipt(3), "customer": {}},  # nobody named
        _receipt(4),
    ]
    got = client.post(URL, json={"receipts": batch}).json()
    assert (got["created"], got["conflict"], got["invalid"]) == (1, 1, 2)
    conflict, empty, nobody, fine = got["results"]
    assert conflict["status"] == "conflict" and conflict["purchase_id"] is not None
    assert empty["status"] == "invalid" and empty["fields"][0]["field"] == "lines"
    assert nobody["status"] == "invalid" and nobody["fields"][0]["field"] == "customer"
    assert fine["status"] == "created"
    assert _counts(db) == (2, 2)


def test_the_batch_needs_the_write_scope_and_a_sane_size(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    reader = _client(app, db, accounts["manager"], "purchases:read")
    denied = reader.post(URL, json={"receipts": [_receipt(1)]})
    assert denied.status_code == 403 and error_of(denied)["code"] == "insufficient_scope"
    writer = _client(app, db, accounts["manager"], "purchases:write")
    assert writer.post(URL, json={"receipts": []}).status_code == 422
    too_many = writer.post(URL, json={"receipts": [_receipt(1)] * 501})
    assert too_many.status_code == 422 and error_of(too_many)["code"] == "invalid_input"
    assert _counts(db) == (0, 0)
