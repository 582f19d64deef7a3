"""Schemathesis against the REST API's OpenAPI schema, once for every staff role.

Each role gets a token with every scope its role may hold, on a database with customers,
purchases, points, rewards and coupons, so the generated requests reach real code paths.
Every response must be a non-5xx, with a documented status code, content type and body
shape. CI runs a few seeded examples per operation; ``GUANXI_STRESS=1`` runs many more.
"""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from guanxi.config import Settings
from guanxi.domain.staff import Role
from guanxi.loyalty import coupons, ledger, rewards
from guanxi.loyalty.rewards import RewardDraft
from guanxi.services.api_tokens import create_token, scopes_of_role
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Purchase, Reward
from guanxi.web.app import create_app
from tests.factories import make_customer
from tests.web.conftest import HASHER, Account

STRESS = os.environ.get("GUANXI_STRESS") == "1"
EXAMPLES = 50 if STRESS else 3
# Positive cases follow the schema (they must work); negative ones break it (they must be
# refused with a documented 4xx, never a 500).
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


def _populate(
    db: Database, accounts: dict[str, Account], client: TestClient
) -> dict[str, list[int]]:
    """Customers with points, purchases, a reward and coupons; returns their ids by the
    path parameter that names them."""
    owner_account = accounts["owner"]
    owner = StaffMember(owner_account.id, "owner", Role.OWNER, None, "owner", None)
    store = accounts["clerk"].store_id
    for n in range(1, 6):
        cid = make_customer(db, home_store_id=store, code=f"M{n:06d}")
        ledger.earn(
            db,
            cid,
            500 * n,
            source_type="purchase",
            source_id=n,
            expires_on=None,
            reason=None,
            explanation={},
            idempotency_key=None,
        )
    for n in range(3):
        line = {"sku": "TEA", "name": "龙井", "quantity": "2", "unit_price": "64.00"}
        body = {
            "store_code": "A",
            "external_order_id": f"SEED-{n}",
            "customer": {"phone": f"1381234567{n}", "name": f"张{n}"},
            "purchased_at": "2024-01-05T14:30:00+08:00",
            "lines": [line],
        }
        assert client.post("/api/v1/purchases", json=body).status_code == 201
    draft = RewardDraft(kind="goods", name="茶叶罐", points_cost=200)  # type: ignore[arg-type]
    rewards.create_reward(db, owner, draft)
    offer = coupons.CampaignDraft("十元券", coupons.Kind.FIXED, Decimal(10))
    campaign = coupons.create_campaign(db, owner, offer)
    coupons.generate_pool(db, owner, campaign.id, 3)
    with db.read() as session:
        return {
            name: list(session.execute(select(model.id).order_by(model.id)).scalars())
            for name, model in (("customer_id", Customer), ("purchase_id", Purchase),
                                ("reward_id", Reward))
        }  # fmt: skip


def _cases(operation: Any, mode: Any, known: dict[str, list[int]]) -> st.SearchStrategy[Any]:
    """Generated cases; in positive mode half of them name rows that exist, so the
    operation does real work instead of answering 404."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [name for name in known if "{" + name + "}" in operation.path]
    if not names or mode is not schemathesis.GenerationMode.POSITIVE:
        return generated
    ids = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
    existing = ids.flatmap(
        lambda params: operation.as_strategy(generation_mode=mode, path_parameters=params)
    )
    return st.one_of(existing, generated)


@pytest.mark.slow
@pytest.mark.parametrize("role", ["owner", "manager", "clerk"])
def test_api_conforms_to_its_schema_for_every_role(
    db: Database, accounts: dict[str, Account], role: str
) -> None:
    app = create_app(Settings(erasure_secret="fuzz-secret"), db=db, hasher=HASHER)
    account = accounts[role]
    wanted = [s.value for s in scopes_of_role(account.role)]
    token, _ = create_token(db, account.id, f"fuzz-{role}", wanted)
    headers = {"Authorization": f"Bearer {token}"}
    owner_token, _ = create_token(
        db, accounts["owner"].id, "seed", [s.value for s in scopes_of_role(Role.OWNER)]
    )
    with TestClient(app, headers={"Authorization": f"Bearer {owner_token}"}) as seed:
        known = _populate(db, accounts, seed)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: list[str] = []
    succeeded: set[str] = set()  # operations that answered 2xx at least once
    for result, mode in itertools.product(schema.get_all_operations(), MODES):
        operation = result.ok()

        @given(case=_cases(operation, mode, known))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            if response.status_code < 300:
                succeeded.add(f"{case.operation.method.upper()} {case.operation.path}")
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    reads = {
        "GET /api/v1/customers",
        "GET /api/v1/customers/{customer_id}",
        "GET /api/v1/customers/{customer_id}/points",
        "GET /api/v1/purchases/{purchase_id}",
    }
    assert reads <= succeeded and len(succeeded) >= 10, f"little real work: {sorted(succeeded)}"


def test_nul_characters_and_huge_ids_are_422_not_500(
    db: Database, accounts: dict[str, Account]
) -> None:
    """What schemathesis found: a NUL in text (PostgreSQL cannot store it) and ids beyond an
    INTEGER key (an overflow in the driver) were server errors; both are invalid input."""
    app = create_app(Settings(), db=db, hasher=HASHER)
    token, _ = create_token(db, accounts["owner"].id, "nul", ["customers:read", "customers:write"])
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        bad = [
            client.post("/api/v1/customers", json={"name": "张\x00三"}),
            client.post("/api/v1/customers", json={"name": "张三", "tags": ["V\x00IP"]}),
            client.get("/api/v1/customers", params={"q": "张\x00"}),
            client.get(f"/api/v1/customers/{2**31}"),
            client.get(f"/api/v1/customers/{10**20}"),
        ]
    for response in bad:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_input"
    assert _counts(db) == 0


def _counts(db: Database) -> int:
    with db.read() as session:
        return len(session.execute(select(Customer.id)).all())
