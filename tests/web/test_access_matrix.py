"""Every route declares a permission, and the server enforces it for every role.

A new route without ``requires(...)`` fails ``test_every_route_declares_a_permission``; the
matrix then calls each route as each role (and signed out) and checks who is let through.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from guanxi.domain.access import Permission, is_allowed
from guanxi.domain.staff import Role
from guanxi.web.access import route_permission
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
# Routes that are not FastAPI APIRoutes (static file mounts) are public by design.


def api_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute)]


def test_every_route_declares_a_permission(app: FastAPI) -> None:
    undeclared = [
        f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if route_permission(r) is None
    ]
    assert undeclared == [], f"routes without requires(Permission...): {undeclared}"


def _url(path: str, customer_id: int) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda m: str(customer_id) if "id" in m.group() else "en", path)


@pytest.mark.parametrize("role", [None, *Role])
def test_route_role_matrix(
    app: FastAPI, client_for: Factory, accounts: dict[str, Account], role: Role | None
) -> None:
    store_a = accounts["manager"].store_id
    customer = make_customer(app.state.guanxi.db, name="矩阵", home_store_id=store_a)
    if role is None:
        client, csrf = TestClient(app), ""
    else:
        client, csrf = client_for(
            {Role.OWNER: "owner", Role.MANAGER: "manager", Role.CLERK: "clerk"}[role]
        )
    for route in api_routes(app):
        permission = route_permission(route)
        assert permission is not None
        for method in route.methods - {"HEAD"}:
            if route.path in ("/logout", "/logout/everywhere"):
                continue  # they end the session the rest of the walk needs; tested in test_auth
            response = client.request(
                method,
                _url(route.path, customer),
                headers={"X-CSRF-Token": csrf},
                follow_redirects=False,
            )
            where = f"{role} {method} {route.path}"
            if permission is Permission.PUBLIC:
                assert response.status_code not in (401, 403), where
            elif role is None:
                assert response.status_code in (303, 401), where
            elif is_allowed(role, permission):
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == 403, where
