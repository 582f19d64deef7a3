"""Sign-in, CSRF, rate limiting, session expiry, sign-out everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, LoginAttempt, WebSession
from tests.web.conftest import PASSWORD, Account, csrf_of, sign_in

Factory = Callable[[str], tuple[TestClient, str]]


def test_pages_need_a_session(app: FastAPI, accounts: dict[str, Account]) -> None:
    with TestClient(app) as client:
        response = client.get("/customers?q=zs", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/customers%3Fq%3Dzs"
        htmx = client.get("/customers", headers={"HX-Request": "true"}, follow_redirects=False)
        assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/login")


def test_sign_in_and_out(app: FastAPI, accounts: dict[str, Account], db: Database) -> None:
    with TestClient(app) as client:
        csrf = sign_in(client, "manager")
        assert client.get("/customers").status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/customers", follow_redirects=False).status_code == 303
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(WebSession)).scalar() == 0
        assert s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all() == [
            "staff.added"
        ] * 4 + ["sign_in"]


def test_wrong_password_and_rate_limit(
    app: FastAPI, accounts: dict[str, Account], db: Database
) -> None:
    with TestClient(app) as client:
        for _ in range(5):
            form = client.get("/login")
            bad = client.post(
                "/login",
                data={
                    "username": "clerk",
                    "password": "nope-nope",
                    "csrf_token": csrf_of(form.text),
                },
            )
            assert bad.status_code == 401
            assert "Wrong user name or password" in bad.text or "用户名或密码错误" in bad.text
        form = client.get("/login")
        blocked = client.post(
            "/login",
            data={"username": "clerk", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(LoginAttempt)).scalar() == 5


def test_sign_in_form_needs_its_csrf_cookie(app: FastAPI, accounts: dict[str, Account]) -> None:
    with TestClient(app) as client:
        response = client.post(
            "/login", data={"username": "owner", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert response.status_code == 403


def test_csrf_is_required_on_every_unsafe_request(
    client_for: Factory, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert (
        client.post("/logout", data={"csrf_token": "x" * 43}, follow_redirects=False).status_code
        == 403
    )
    assert (
        client.post(
            "/logout", headers={"X-CSRF-Token": "wrong"}, follow_redirects=False
        ).status_code
        == 403
    )
    assert (
        client.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False).status_code
        == 303
    )


def test_idle_and_expired_sessions_end(
    client_for: Factory, accounts: dict[str, Account], db: Database
) -> None:
    client, _ = client_for("owner")
    assert client.get("/customers").status_code == 200
    with db.write() as s:
        s.execute(update(WebSession).values(last_seen_at=datetime.now(UTC) - timedelta(hours=5)))
    assert client.get("/customers", follow_redirects=False).status_code == 303
    client2, _ = client_for("owner")
    with db.write() as s:
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert client2.get("/customers", follow_redirects=False).status_code == 303


def test_sign_out_everywhere(client_for: Factory, accounts: dict[str, Account]) -> None:
    phone, csrf = client_for("manager")
    desk, _ = client_for("manager")
    assert desk.get("/customers").status_code == 200
    phone.post("/logout/everywhere", data={"csrf_token": csrf})
    assert desk.get("/customers", follow_redirects=False).status_code == 303


def test_a_session_is_touched_at_most_once_a_minute(
    client_for: Factory, accounts: dict[str, Account], db: Database
) -> None:
    client, _ = client_for("owner")
    recent = datetime.now(UTC) - timedelta(seconds=30)
    with db.write() as s:
        s.execute(update(WebSession).values(last_seen_at=recent))
    assert client.get("/customers").status_code == 200
    with db.read() as s:
        seen = s.execute(select(WebSession.last_seen_at)).scalar_one()
    assert abs((seen - recent).total_seconds()) < 1  # read only: nothing written
    with db.write() as s:
        s.execute(update(WebSession).values(last_seen_at=recent - timedelta(minutes=2)))
    assert client.get("/customers").status_code == 200
    with db.read() as s:
        seen = s.execute(select(WebSession.last_seen_at)).scalar_one()
    assert datetime.now(UTC) - seen < timedelta(seconds=10)  # noted as used
