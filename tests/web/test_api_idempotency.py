"""The Idempotency-Key layer in front of every /api/v1 write (IETF httpapi draft semantics).

A retry with the same key and body gets the first response again; the same key with another
body is refused (422); a retry while the first still runs gets 409; keys are per API client;
responses that did nothing (401) are not kept; keys older than 7 days are purged.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from guanxi.loyalty import ledger
from guanxi.services import api_idempotency as keys
from guanxi.services.staff import token_digest
from guanxi.storage.db import Database
from guanxi.storage.models import ApiIdempotencyKey, PointsEntry, Purchase
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of
from tests.web.test_api_loyalty import RECEIPT

URL = "/api/v1/purchases"


def _client(app: FastAPI, db: Database, account: Account, *scopes: str) -> TestClient:
    client = api(app)
    client.headers.update(bearer(db, account, *scopes))
    return client


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_retry_gets_the_first_response_and_another_body_is_refused(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write")
    key = {"Idempotency-Key": "pos1-000001"}
    first = client.post(URL, json=RECEIPT, headers=key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers

    # the same body with its keys in another order and other spacing is the same request
    reordered = dict(reversed(list(RECEIPT.items())))
    again = client.post(URL, json=reordered, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]

    other = client.post(URL, json={**RECEIPT, "external_order_id": "POS1-0002"}, headers=key)
    assert other.status_code == 422
    assert error_of(other)["code"] == "idempotency_key_reused"
    assert (_count(db, Purchase), _count(db, PointsEntry)) == (1, 1)


def test_keys_are_per_client_and_the_receipt_number_still_deduplicates(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    key = {"Idempotency-Key": "same-key"}
    manager = _client(app, db, accounts["manager"], "purchases:write")
    assert manager.post(URL, json=RECEIPT, headers=key).status_code == 201
    # another client with the same key is not a replay of the first client's request; its
    # purchase is the same receipt, which the store + receipt number recognises
    other_client = _client(app, db, accounts["manager"], "purchases:write")
    second = other_client.post(URL, json=RECEIPT, headers=key)
    assert second.status_code == 200 and second.json()["replayed"] is True
    assert (_count(db, Purchase), _count(db, PointsEntry)) == (1, 1)
    with db.read() as s:
        assert s.scalar(select(func.count(func.distinct(ApiIdempotencyKey.client)))) == 2


def test_a_retry_while_the_first_runs_gets_409_and_a_stale_claim_is_taken_over(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = _client(app, db, accounts["manager"], "purchases:write")
    token = client.headers["Authorization"].removeprefix("Bearer ")
    body = client.build_request("POST", URL, json=RECEIPT).content
    fingerprint = keys.fingerprint("POST", URL, "", body)
    claim = keys.claim(db, client=token_digest(token), key="k1", fingerprint=fingerprint,
                       request=f"POST {URL}")  # fmt: skip
    assert claim.outcome == "new"
    busy = client.post(URL, json=RECEIPT, headers={"Idempotency-Key": "k1"})
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
    assert error_of(busy)["code"] == "idempotency_key_in_flight"
    assert _count(db, Purchase) == 0

    with db.write() as s:  # the worker that claimed it died a while ago
        old = datetime.now(UTC) - keys.STALE_AFTER - timedelta(seconds=1)
        s.execute(update(ApiIdempotencyKey).values(created_at=old))
    taken = client.post(URL, json=RECEIPT, headers={"Idempotency-Key": "k1"})
    assert taken.status_code == 201, taken.text
    replay = client.post(URL, json=RECEIPT, headers={"Idempotency-Key": "k1"})
    assert replay.headers["Idempotent-Replayed"] == "true" and _count(db, Purchase) == 1


def test_refusals_that_did_nothing_are_not_kept(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    unknown = {"Authorization": "Bearer gx_nope", "Idempotency-Key": "a"}
    bad = client.post(URL, json=RECEIPT, headers=unknown)
    assert bad.status_code == 401
    assert _count(db, ApiIdempotencyKey) == 0
    writer = _client(app, db, accounts["manager"], "purchases:write")
    invalid = writer.post(URL, json={**RECEIPT, "lines": []}, headers={"Idempotency-Key": "b"})
    assert invalid.status_code == 422  # a final answer: kept, and replayed on a retry
    again = writer.post(URL, json={**RECEIPT, "lines": []}, headers={"Idempotency-Key": "b"})
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    spaced = writer.post(URL, json=RECEIPT, headers={"Idempotency-Key": "has space"})
    assert spaced.status_code == 400 and error_of(spaced)["code"] == "idempotency_key_invalid"
    assert _count(db, Purchase) == 0


def test_keys_are_kept_seven_days_then_purged(db: Database) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    for key, age in (("old", timedelta(days=7, seconds=1)), ("young", timedelta(days=6))):
        c = keys.claim(db, client="c" * 64, key=key, fingerprint="f", request="POST /x",
                       now=now - age)  # fmt: skip
        assert c.row_id is not None
        keys.complete(db, c.row_id, keys.Stored(201, {}, "{}"), now=now - age)
    assert keys.purge(db, now=now) == 1
    with db.read() as s:
        assert s.scalars(select(ApiIdempotencyKey.key)).all() == ["young"]


def test_the_same_purchase_posted_50_times_at_once_with_one_key_earns_once(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    headers = {**bearer(db, accounts["manager"], "purchases:write"), "Idempotency-Key": "once"}
    api(app)  # the API's error handlers
    n = 50
    results: list[tuple[int, dict[str, Any]] | BaseException] = [RuntimeError("not run")] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        client = TestClient(app)
        gate.wait()
        try:
            response = client.post(URL, json=RECEIPT, headers=headers)
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
    assert [r for r in results if not isinstance(r, tuple)] == []
    answers = [r for r in results if isinstance(r, tuple)]
    codes = sorted(status for status, _ in answers)
    assert set(codes) <= {201, 409} and 201 in codes, codes
    ids = {body["id"] for status, body in answers if status == 201}
    assert len(ids) == 1  # every 201 is the one purchase (the first, or its replay)
    assert {b["error"]["code"] for s, b in answers if s == 409} <= {"idempotency_key_in_flight"}
    assert (_count(db, Purchase), _count(db, PointsEntry)) == (1, 1)
    customer = next(body["customer_id"] for status, body in answers if status == 201)
    assert ledger.balance(db, customer) == 1380 and ledger.check_balances(db) == []
