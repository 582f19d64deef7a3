"""Customer pages: search as you type, store scoping, masked phones and audited reveals."""

from __future__ import annotations

from collections.abc import Callable

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


def _people(db: Database, accounts: dict[str, Account]) -> dict[str, int]:
    a, b = accounts["manager"].store_id, accounts["clerk_b"].store_id
    return {
        "张三": make_customer(
            db,
            name="张三",
            phone="+8613812345678",
            home_store_id=a,
            owner_staff_id=accounts["clerk"].id,
        ),
        "赵四": make_customer(db, name="赵四", phone="+8613900001111", home_store_id=a),
        "钟山": make_customer(db, name="钟山", phone="+8613700002222", home_store_id=b),
    }


def names(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [a.text for a in soup.select("table.list tbody a")]


def test_search_as_you_type_returns_a_fragment(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    _people(db, accounts)
    client, _ = client_for("owner")
    full = client.get("/customers?q=zs")
    assert "<html" in full.text and set(names(full.text)) == {"张三", "赵四", "钟山"}
    part = client.get("/customers?q=zs", headers={"HX-Request": "true"})
    assert "<html" not in part.text and set(names(part.text)) == {"张三", "赵四", "钟山"}
    assert "138****5678" in full.text and "13812345678" not in full.text


def test_clerks_and_managers_see_only_their_store(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    people = _people(db, accounts)
    for who in ("clerk", "manager"):
        client, _ = client_for(who)
        assert set(names(client.get("/customers?q=zs").text)) == {"张三", "赵四"}
        assert set(names(client.get("/customers").text)) == {"张三", "赵四"}
        assert client.get(f"/customers/{people['钟山']}").status_code == 404
    client, _ = client_for("clerk_b")
    assert names(client.get("/customers?q=zs").text) == ["钟山"]


def test_phone_reveal_rules_and_audit(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    people = _people(db, accounts)
    clerk, csrf = client_for("clerk")
    page = clerk.get(f"/customers/{people['张三']}")
    assert "138****5678" in page.text and "13812345678" not in page.text
    own = clerk.post(f"/customers/{people['张三']}/phone", headers={"X-CSRF-Token": csrf})
    assert own.status_code == 200 and "+8613812345678" in own.text
    other = clerk.post(f"/customers/{people['赵四']}/phone", headers={"X-CSRF-Token": csrf})
    assert other.status_code == 403
    manager, mcsrf = client_for("manager")
    assert (
        manager.post(
            f"/customers/{people['赵四']}/phone", headers={"X-CSRF-Token": mcsrf}
        ).status_code
        == 200
    )
    with db.read() as s:
        entries = s.execute(
            select(AuditEntry.actor_staff_id, AuditEntry.target_id)
            .where(AuditEntry.action == "phone.unmasked")
            .order_by(AuditEntry.id)
        ).all()
    assert entries == [
        (accounts["clerk"].id, str(people["张三"])),
        (accounts["manager"].id, str(people["赵四"])),
    ]


def test_language_from_browser_then_from_choice(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("owner")
    assert "客户" in client.get("/customers", headers={"Accept-Language": "zh-CN"}).text
    english = client.get("/customers", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Customers" in english.text and 'lang="en"' in english.text
    client.post("/me/language", data={"code": "zh_CN", "csrf_token": csrf})
    chosen = client.get("/customers", headers={"Accept-Language": "en-US"})
    assert 'lang="zh-CN"' in chosen.text and "搜索客户" in chosen.text


def test_assets_are_served_locally(app: FastAPI) -> None:
    with TestClient(app) as client:
        htmx = client.get("/vendor/htmx/htmx.min.js")
        assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
        assert client.get("/vendor/chart/chart.umd.min.js").status_code == 200
        assert client.get("/static/app.css").status_code == 200
