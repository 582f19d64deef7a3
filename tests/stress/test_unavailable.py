"""A busy or unreachable database answers 503 + Retry-After, never a 500 or a lock message.

In-process, on the real app: SQLite with another connection holding the write lock past the
busy timeout, and a PostgreSQL URL whose server is not there (a closed port: the same
connection failure a restarting server gives). The load trials prove it under real load.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi.testclient import TestClient

from guanxi.config import Settings
from guanxi.domain.staff import Role
from guanxi.services.api_tokens import create_token
from guanxi.services.staff import add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import Store
from guanxi.web.app import create_app
from tests.support import free_port

HASHER = make_hasher(cheap=True)
RECEIPT = {"store_code": "A", "external_order_id": "U-1", "customer": {"phone": "13812345678"},
           "purchased_at": "2024-01-05T14:30:00+08:00",
           "lines": [{"sku": "TEA", "unit_price": "100.00"}]}  # fmt: skip


def _token(db: Database) -> str:
    with db.write() as s:
        s.add(Store(code="A", name="旗舰店"))
    owner = add_staff(db, "Owner", Role.OWNER, hasher=HASHER, username="owner", password="pw pw pw")
    plain, _ = create_token(db, owner.id, "POS", ["purchases:write"])
    return plain


def _unavailable(response: Any, retry_after: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == retry_after
    assert "locked" not in response.text


def test_sqlite_lock_past_the_busy_timeout_is_a_503_and_the_retry_works(
    sqlite_db: Database,
) -> None:
    token = _token(sqlite_db)
    url = sqlite_db.url.render_as_string(hide_password=False)
    impatient = Database(url, busy_timeout_s=0.05)
    client = TestClient(create_app(Settings(), db=impatient, hasher=HASHER))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    holder = sqlite3.connect(str(sqlite_db.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing for longer than the timeout
    try:
        for sent in ({"Authorization": headers["Authorization"]}, headers):
            response = client.post("/api/v1/purchases", json=RECEIPT, headers=sent)
            _unavailable(response, "1")
            assert response.json()["error"]["code"] == "unavailable"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    retried = client.post("/api/v1/purchases", json=RECEIPT, headers=headers)
    assert retried.status_code == 201, retried.text  # the claim did not outlive the 503
    again = client.post("/api/v1/purchases", json=RECEIPT, headers=headers)
    assert again.headers.get("idempotent-replayed") == "true"
    impatient.dispose()


def test_unreachable_postgres_is_a_503_for_the_api_and_for_pages() -> None:
    gone = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/guanxi")
    client = TestClient(create_app(Settings(), db=gone, hasher=HASHER))
    bearer = {"Authorization": "Bearer gx_whatever"}
    read = client.get("/api/v1/purchases", headers=bearer)
    _unavailable(read, "5")
    assert read.json()["error"]["code"] == "unavailable"
    write = client.post("/api/v1/purchases", json=RECEIPT,
                        headers={**bearer, "Idempotency-Key": "k-2"})  # fmt: skip
    _unavailable(write, "5")  # the Idempotency-Key claim itself could not be written
    client.cookies.set("guanxi_session", "s")  # a session to look up: a database read
    page = client.get("/customers", follow_redirects=False)
    _unavailable(page, "5")
    assert "text/html" in page.headers["content-type"]
    gone.dispose()
