"""The owner's staff page: add staff, change role and store, deactivate; audited; owner only."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Staff
from tests.web.conftest import PASSWORD, Account, csrf_of, sign_in

Factory = Callable[[str], tuple[TestClient, str]]


def test_owner_adds_a_clerk_who_can_sign_in(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    owner, csrf = client_for("owner")
    store = accounts["clerk"].store_id
    response = owner.post(
        "/staff",
        data={
            "csrf_token": csrf,
            "name": "王芳",
            "role": "clerk",
            "store": str(store),
            "username": "wangfang",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "王芳" in owner.get("/staff").text
    with TestClient(owner.app) as fresh:
        sign_in(fresh, "wangfang")
    short = owner.post(
        "/staff",
        data={
            "csrf_token": csrf,
            "name": "x",
            "role": "clerk",
            "username": "x",
            "password": "short",
        },
    )
    assert short.status_code == 422 and "at least 8 characters" in short.text


def test_role_change_ends_sessions_and_is_audited(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    clerk, _ = client_for("clerk")
    assert clerk.get("/imports").status_code == 403
    owner, csrf = client_for("owner")
    clerk_id, store = accounts["clerk"].id, accounts["clerk"].store_id
    owner.post(
        f"/staff/{clerk_id}",
        data={"csrf_token": csrf, "role": "manager", "store": str(store), "active": "1"},
    )
    assert clerk.get("/customers", follow_redirects=False).status_code == 303  # signed out
    again = TestClient(owner.app)
    sign_in(again, "clerk")
    assert again.get("/imports").status_code == 200  # now a manager
    with db.read() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "staff.role_changed")
        ).scalar_one()
        assert entry.detail["before"]["role"] == "clerk"
        assert entry.detail["after"]["role"] == "manager"
        assert entry.actor_staff_id == accounts["owner"].id


def test_deactivated_staff_cannot_sign_in_and_the_last_owner_stays(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    owner, csrf = client_for("owner")
    owner.post(
        f"/staff/{accounts['clerk'].id}",
        data={"csrf_token": csrf, "role": "clerk", "store": str(accounts["clerk"].store_id)},
    )
    with db.read() as s:
        assert s.get(Staff, accounts["clerk"].id).is_active is False  # type: ignore[union-attr]
    with TestClient(owner.app) as other:
        page = other.get("/login")
        refused = other.post(
            "/login",
            data={"username": "clerk", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        assert refused.status_code == 401
    alone = owner.post(
        f"/staff/{accounts['owner'].id}",
        data={"csrf_token": csrf, "role": "manager", "active": "1"},
    )
    assert alone.status_code == 422 and "only active owner" in alone.text


def test_only_the_owner_manages_staff(client_for: Factory, accounts: dict[str, Account]) -> None:
    for who in ("manager", "clerk"):
        client, _ = client_for(who)
        assert client.get("/staff").status_code == 403
