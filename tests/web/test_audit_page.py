"""The audit log page: owner only, newest first, filtered by action and staff member, paged."""

from __future__ import annotations

from collections.abc import Callable

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from guanxi.services import audit
from guanxi.services.audit import PER_PAGE
from guanxi.storage.db import Database
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


def entries(html: str) -> list[tuple[str, ...]]:
    """(who, action, concerning) of each row shown."""
    soup = BeautifulSoup(html, "html.parser")
    return [
        tuple(td.get_text(" ", strip=True) for td in tr.select("td")[1:4])
        for tr in soup.select("[data-testid=audit-entry]")
    ]


def older_link(html: str) -> str | None:
    link = BeautifulSoup(html, "html.parser").select_one("[data-testid=older]")
    return None if link is None else str(link["href"])


def _log(db: Database, accounts: dict[str, Account]) -> None:
    with db.write() as s:
        for target in (11, 12):
            audit.record(s, audit.Action.PHONE_UNMASKED, actor_id=accounts["clerk"].id,
                         target_type="customer", target_id=target, ip="10.0.0.7")  # fmt: skip
        audit.record(s, audit.Action.IMPORT, actor_id=accounts["manager"].id,
                     target_type="import", target_id="abc",
                     detail={"kind": "customers", "inserted": 3})  # fmt: skip


def test_owner_sees_newest_first_and_filters(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, _ = client_for("owner")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    _log(db, accounts)
    shown = entries(client.get("/audit").text)
    assert shown[:3] == [
        ("manager", "import", "import abc"),
        ("clerk", "phone.unmasked", "customer 12"),
        ("clerk", "phone.unmasked", "customer 11"),
    ]
    assert ("owner", "sign_in", "") in shown
    by_action = entries(client.get("/audit?action=phone.unmasked").text)
    assert [e[2] for e in by_action] == ["customer 12", "customer 11"]
    by_staff = entries(client.get(f"/audit?staff={accounts['manager'].id}").text)
    assert [e[1] for e in by_staff] == ["import"]
    both = client.get(f"/audit?action=import&staff={accounts['clerk'].id}")
    assert entries(both.text) == []
    assert "inserted: 3" in client.get("/audit?action=import").text
    assert client.get("/audit?staff=someone").status_code == 422


def test_pages_go_to_older_entries(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, _ = client_for("owner")
    client.headers["Accept-Language"] = "en"  # the assertions read English
    with db.write() as s:
        for n in range(PER_PAGE + 5):
            audit.record(s, audit.Action.PHONE_UNMASKED, actor_id=accounts["clerk"].id,
                         target_type="customer", target_id=n)  # fmt: skip
    first = client.get("/audit?action=phone.unmasked")
    assert len(entries(first.text)) == PER_PAGE
    assert entries(first.text)[0][2] == f"customer {PER_PAGE + 4}"
    link = older_link(first.text)
    assert link is not None and "action=phone.unmasked" in link
    second = client.get(link)
    assert [e[2] for e in entries(second.text)] == [f"customer {n}" for n in range(4, -1, -1)]
    assert older_link(second.text) is None


def test_only_the_owner_may_read_the_log(client_for: Factory, accounts: dict[str, Account]) -> None:
    for who in ("manager", "clerk"):
        client, _ = client_for(who)
        client.headers["Accept-Language"] = "en"  # the assertions read English
        assert client.get("/audit").status_code == 403
