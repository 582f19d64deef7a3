"""Web test fixtures: the real app on the real test database, with a cheap password hasher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.config import Settings
from guanxi.domain.staff import Role
from guanxi.services.staff import add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import Store
from guanxi.web.app import create_app

HASHER = make_hasher(cheap=True)
PASSWORD = "correct horse"


@pytest.fixture
def app(db: Database) -> FastAPI:
    return create_app(Settings(), db=db, hasher=HASHER)


@pytest.fixture
def stores(db: Database) -> tuple[int, int]:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        return a.id, b.id


@dataclass
class Account:
    id: int
    username: str
    role: Role
    store_id: int | None


@pytest.fixture
def accounts(db: Database, stores: tuple[int, int]) -> dict[str, Account]:
    made = {}
    for username, role, store in (
        ("owner", Role.OWNER, None),
        ("manager", Role.MANAGER, stores[0]),
        ("clerk", Role.CLERK, stores[0]),
        ("clerk_b", Role.CLERK, stores[1]),
    ):
        m = add_staff(
            db, username, role, hasher=HASHER, username=username, password=PASSWORD, store_id=store
        )
        made[username] = Account(m.id, username, role, store)
    return made


def csrf_of(html: str) -> str:
    field = BeautifulSoup(html, "html.parser").find("input", {"name": "csrf_token"})
    assert field is not None, "no csrf_token field in the page"
    return str(field["value"])


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/customers")
    return csrf_of(page.text)


@pytest.fixture
def client_for(app: FastAPI) -> Iterator[Callable[[str], tuple[TestClient, str]]]:
    clients: list[TestClient] = []

    def make(username: str) -> tuple[TestClient, str]:
        client = TestClient(app)
        clients.append(client)
        return client, sign_in(client, username)

    yield make
    for c in clients:
        c.close()
