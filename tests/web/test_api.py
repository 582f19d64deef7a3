"""The REST API's front door: bearer tokens, scopes, the session fallback, error shapes, docs.

The helpers here (``api``, ``bearer``) are shared by the other ``test_api_*`` modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from guanxi.config import Settings
from guanxi.services.api_tokens import create_token, revoke_token, scopes_of_role
from guanxi.storage.db import Database
from guanxi.web.api import install_api_errors
from guanxi.web.api.errors import handle_validation
from guanxi.web.app import create_app
from tests.factories import make_customer
from tests.web.conftest import HASHER, Account

Factory = Callable[[str], tuple[TestClient, str]]


def api(app: FastAPI) -> TestClient:
    """A client without cookies for the app, with the API's error handlers in place."""
    install_api_errors(app)  # create_app does this too; installing twice changes nothing
    return TestClient(app)


def bearer(db: Database, account: Account, *scopes: str) -> dict[str, str]:
    """Authorization headers with a new token of ``account`` (default: every scope its role
    allows)."""
    wanted = scopes or tuple(s.value for s in scopes_of_role(account.role))
    plain, _ = create_token(db, account.id, f"POS-{account.username}", wanted)
    return {"Authorization": f"Bearer {plain}"}


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] and error["message"], body
    return error


def test_create_app_installs_the_api_error_handlers(db: Database) -> None:
    app = create_app(Settings(), db=db, hasher=HASHER)
    assert app.exception_handlers.get(RequestValidationError) is handle_validation, (
        "add `api.install_api_errors(app)` to create_app in web/app.py"
    )


def test_openapi_lists_the_api_and_only_the_api(app: FastAPI) -> None:
    client = api(app)
    spec = client.get("/api/openapi.json").json()
    assert {
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/purchases",
        "/api/v1/purchases/{purchase_id}",
    } <= set(spec["paths"])
    assert all(p.startswith("/api/v1/") for p in spec["paths"]), "pages leaked into the spec"
    assert spec["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    create = spec["paths"]["/api/v1/purchases"]["post"]
    assert {"200", "201", "401", "403", "409", "422"} <= set(create["responses"])
    assert "examples" in str(spec["components"]["schemas"]["PurchaseIn"])
    assert client.get("/api/docs").status_code == 200


def test_no_token_is_401_with_a_bearer_challenge(
    app: FastAPI, accounts: dict[str, Account]
) -> None:
    response = api(app).get("/api/v1/customers")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_malformed_and_revoked_tokens_are_401(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    for header in ("Bearer gx_not-a-token", "Basic b3duZXI6cGFzcw==", "Bearer"):
        response = client.get("/api/v1/customers", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert error_of(response)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    plain, info = create_token(db, accounts["manager"].id, "POS1", ["customers:read"])
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    revoke_token(db, info.id)
    response = client.get("/api/v1/customers", headers=headers)
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_a_read_only_token_cannot_write(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    headers = bearer(db, accounts["manager"], "customers:read")
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    response = client.post("/api/v1/customers", json={"name": "张三"}, headers=headers)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "insufficient_scope" and error["scope"] == "customers:write"
    assert "customers:write" in error["message"]
    assert 'scope="customers:write"' in response.headers["WWW-Authenticate"]
    purchases = client.get("/api/v1/purchases", headers=headers)
    assert error_of(purchases)["code"] == "insufficient_scope"


def test_a_token_ignores_cookies_and_sends_none(
    app: FastAPI, client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    response = client.get("/api/v1/customers", headers={"Authorization": "Bearer gx_bad"})
    assert response.status_code == 401, "a bad token must not fall back to the session"
    assert "set-cookie" not in response.headers


def test_the_web_ui_session_works_with_csrf_on_writes(
    app: FastAPI, client_for: Factory, accounts: dict[str, Account]
) -> None:
    install_api_errors(app)
    client, csrf = client_for("clerk")
    assert client.get("/api/v1/customers").status_code == 200
    refused = client.post("/api/v1/customers", json={"name": "王五"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_refused"
    made = client.post("/api/v1/customers", json={"name": "王五"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    assert made.json()["home_store_id"] == accounts["clerk"].store_id


def test_validation_errors_name_the_field(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    headers = bearer(db, accounts["manager"])
    body = {
        "external_order_id": "X1",
        "customer": {"phone": "13812345678"},
        "purchased_at": "2024-01-05T14:30:00+08:00",
        "lines": [{"sku": "TEA", "quantity": "0", "unit_price": "1.00"}],
        "colour": "red",
    }
    response = client.post("/api/v1/purchases", json=body, headers=headers)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_input"
    fields = {f["field"] for f in error["fields"]}
    assert fields == {"lines.0.quantity", "colour"}
    assert error["message"].startswith(("lines.0.quantity: ", "colour: "))
    broken = client.post(
        "/api/v1/customers",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and error_of(broken)["fields"][0]["field"] == "body"
    page = client.get("/api/v1/customers?per_page=1000", headers=headers)
    assert error_of(page)["fields"] == [
        {"field": "per_page", "message": "Input should be less than or equal to 100"}
    ]


def test_pages_keep_the_default_error_answers(
    app: FastAPI, client_for: Factory, accounts: dict[str, Account]
) -> None:
    install_api_errors(app)
    client, _ = client_for("owner")
    response = client.get("/customers/not-a-number")
    assert response.status_code == 422 and "detail" in response.json()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}


def test_unknown_paths_and_methods_answer_in_the_api_shape(
    app: FastAPI, db: Database, accounts: dict[str, Account]
) -> None:
    client = api(app)
    headers = bearer(db, accounts["owner"])
    customer = make_customer(db)
    missing = client.get("/api/v1/nothing", headers=headers)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    put = client.put(f"/api/v1/customers/{customer}", headers=headers, json={})
    assert put.status_code == 405 and error_of(put)["code"] == "method_not_allowed"
