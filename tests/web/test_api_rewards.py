"""/api/v1 rewards: the catalog, and redeeming a reward idempotently with clear error codes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger, rewards
from guanxi.loyalty.rewards import RewardDraft
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.loyalty.test_rewards import campaign
from tests.web.conftest import Account
from tests.web.test_api import api, bearer, error_of


@pytest.fixture
def owner(accounts: dict[str, Account]) -> StaffMember:
    a = accounts["owner"]
    return StaffMember(a.id, a.username, Role.OWNER, None, a.username, None)


@pytest.fixture
def client(app: FastAPI, db: Database, accounts: dict[str, Account]) -> TestClient:
    c = api(app)
    c.headers.update(bearer(db, accounts["clerk"], "customers:read", "points:redeem"))
    return c


def _customer(db: Database, accounts: dict[str, Account], points: int) -> int:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    ledger.earn(db, cid, points, source_type="purchase", source_id=1, expires_on=None,
                reason=None, explanation={}, idempotency_key=None)  # fmt: skip
    return cid


def _reward(db: Database, owner: StaffMember, **fields: object) -> int:
    values: dict[str, object] = {"kind": "goods", "name": "茶叶罐", "points_cost": 200}
    values.update(fields)
    return rewards.create_reward(db, owner, RewardDraft(**values)).id  # type: ignore[arg-type]


def _redeem(client: TestClient, customer: int, reward: int, key: str | None) -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(f"/api/v1/customers/{customer}/rewards/{reward}/redeem", headers=headers)


def test_the_catalog_lists_rewards_with_their_availability(
    client: TestClient, db: Database, owner: StaffMember
) -> None:
    a = _reward(db, owner, name="杯", points_cost=50, stock=3)
    ticket = campaign(db, owner)
    b = _reward(db, owner, name="券", kind="coupon", points_cost=80, coupon_campaign_id=ticket,
                valid_until=date(2000, 1, 1))  # fmt: skip
    off = _reward(db, owner, name="旧", points_cost=90)
    rewards.deactivate_reward(db, owner, off)
    got = client.get("/api/v1/rewards")
    assert got.status_code == 200, got.text
    rows = got.json()
    assert [(r["id"], r["available"], r["unavailable_reason"]) for r in rows] == [
        (a, True, None), (b, False, "ended"),
    ]  # fmt: skip
    assert rows[0]["stock"] == 3 and rows[1]["coupon_campaign_id"] == ticket
    every = client.get("/api/v1/rewards", params={"include_inactive": "true"}).json()
    assert [r["id"] for r in every] == [a, b, off]


def test_redeem_then_replay_then_reuse(
    app: FastAPI, client: TestClient, db: Database, owner: StaffMember, accounts: dict[str, Account]
) -> None:
    cid = _customer(db, accounts, 500)
    reward = _reward(db, owner, stock=5)
    made = _redeem(client, cid, reward, "k-1")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["points"], body["balance"], body["status"], body["replayed"]) == (
        200, 300, "redeemed", False,
    )  # fmt: skip
    assert body["store_id"] == accounts["clerk"].store_id
    again = _redeem(client, cid, reward, "k-1")  # the API's idempotency layer replays
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == body["id"]
    # another token of the same clerk bypasses that layer: the redemption's own key answers
    second = api(app)
    second.headers.update(bearer(db, accounts["clerk"], "points:redeem"))
    inner = _redeem(second, cid, reward, "k-1")
    assert inner.status_code == 200, inner.text
    assert inner.headers["Idempotent-Replayed"] == "true"
    assert (inner.json()["id"], inner.json()["replayed"]) == (body["id"], True)
    other = _reward(db, owner, name="另一个")
    reused = _redeem(client, cid, other, "k-1")
    assert reused.status_code == 422
    assert error_of(reused)["code"] == "idempotency_key_reused"
    assert ledger.balance(db, cid) == 300
    assert rewards.get_reward(db, reward).stock == 4


def test_error_codes(
    client: TestClient, db: Database, owner: StaffMember, accounts: dict[str, Account]
) -> None:
    cid = _customer(db, accounts, 250)
    empty = _reward(db, owner, stock=0)
    once = _reward(db, owner, name="一次", points_cost=10, per_customer_limit=1)
    ended = _reward(db, owner, name="过期", valid_until=date(2000, 1, 1))
    dear = _reward(db, owner, name="贵", points_cost=1000)
    assert _redeem(client, cid, once, "ok").status_code == 201
    for reward, status, code in (
        (empty, 409, "out_of_stock"), (once, 409, "limit_reached"),
        (ended, 422, "reward_not_available"), (dear, 409, "insufficient_points"),
        (99_999, 404, "not_found"),
    ):  # fmt: skip
        got = _redeem(client, cid, reward, f"try-{reward}")
        assert got.status_code == status, got.text
        error = error_of(got)
        assert error["code"] == code
        if code in ("out_of_stock", "limit_reached"):
            assert error["reward_id"] == reward
    assert error_of(_redeem(client, cid, once, None))["code"] == "idempotency_key_missing"
    assert ledger.balance(db, cid) == 240


def test_scopes_and_store_visibility(
    app: FastAPI, db: Database, owner: StaffMember, accounts: dict[str, Account]
) -> None:
    cid = _customer(db, accounts, 500)
    reward = _reward(db, owner)
    reader = api(app)
    reader.headers.update(bearer(db, accounts["clerk"], "customers:read"))
    refused = _redeem(reader, cid, reward, "x")
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "insufficient_scope"
    other_store = api(app)
    other_store.headers.update(bearer(db, accounts["clerk_b"], "points:redeem"))
    assert _redeem(other_store, cid, reward, "y").status_code == 404
    assert ledger.balance(db, cid) == 500
