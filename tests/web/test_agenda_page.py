"""The agenda page (/agenda): whose agenda each role sees, reasons in words, the actions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from guanxi.care import agenda as agenda_module
from guanxi.care.agenda import AgendaItem, AgendaQuery, item
from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
DAY = date(2026, 11, 23)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def items(page: BeautifulSoup) -> list[tuple[str, int]]:
    return [(str(li["data-kind"]), int(str(li["data-customer"])))
            for li in page.select("[data-testid=agenda-item]")]  # fmt: skip


@pytest.fixture
def shop(db: Database, accounts: dict[str, Account], stores: tuple[int, int]) -> dict[str, int]:
    """Points expiring soon for: the clerk's own customer, another of store A, one of B."""
    a, b = stores
    made = {
        "mine": make_customer(db, name="自己的", home_store_id=a,
                              owner_staff_id=accounts["clerk"].id),
        "store": make_customer(db, name="店里的", home_store_id=a),
        "other": make_customer(db, name="别店的", home_store_id=b),
    }  # fmt: skip
    for n, c in enumerate(made.values()):
        ledger.earn(db, c, 100 + n, source_type="adjustment", source_id=None,
                    expires_on=DAY + timedelta(days=5), reason="t", explanation={},
                    idempotency_key=None)  # fmt: skip
    return made


def get(client: TestClient, query: str = "", lang: str = "en") -> BeautifulSoup:
    client.headers["Accept-Language"] = lang
    response = client.get(f"/agenda?date={DAY.isoformat()}{query}")
    assert response.status_code == 200, response.text
    return soup(response.text)


def test_clerk_sees_own_agenda_by_default_and_can_see_the_store(
    client_for: Factory, shop: dict[str, int]
) -> None:
    client, _ = client_for("clerk")
    page = get(client)
    assert items(page) == [("points_expiring", shop["mine"])]
    assert page.select_one("[data-testid=view-mine]").has_attr("checked")
    li = page.select_one("[data-testid=agenda-item]")
    assert li.select_one("[data-testid=item-reason]").get_text(strip=True) == (
        "100 points expire after Nov 28, 2026: suggest a reward."
    )
    assert li.select_one("[data-testid=item-when]").get_text(strip=True) == "in 5 days"
    link = li.select_one("[data-testid=action-customer]")
    assert link["href"] == f"/customers/{shop['mine']}#care"
    assert li.select_one("[data-testid=action-message]") is None  # clerks send no campaigns
    store_view = get(client, "&view=store")
    assert sorted(c for _, c in items(store_view)) == sorted([shop["mine"], shop["store"]])


def test_manager_sees_the_store_with_message_links_in_chinese(
    client_for: Factory, shop: dict[str, int]
) -> None:
    client, _ = client_for("manager")
    page = get(client, lang="zh-CN")
    assert sorted(c for _, c in items(page)) == sorted([shop["mine"], shop["store"]])
    message = page.select_one("[data-testid=action-message]")
    assert message is not None and message["href"].startswith("/care/campaigns/new?customer_id=")
    reason = page.select_one("[data-testid=item-reason]").get_text(strip=True)
    assert "2026年11月28日" in reason  # the date in the viewer's language


def test_owner_sees_every_store_or_chooses_one(client_for: Factory, shop: dict[str, int],
                                               stores: tuple[int, int]) -> None:  # fmt: skip
    client, _ = client_for("owner")
    everything = get(client)
    assert {c for _, c in items(everything)} == set(shop.values())
    assert everything.select_one("[data-testid=store-choice]") is not None
    only_b = get(client, f"&store={stores[1]}")
    assert items(only_b) == [("points_expiring", shop["other"])]


def test_clerk_of_another_store_never_sees_store_a(client_for: Factory, shop: dict[str, int],
                                                   stores: tuple[int, int]) -> None:  # fmt: skip
    client, _ = client_for("clerk_b")
    page = get(client, f"&view=store&store={stores[0]}")  # asking for store A: ignored
    assert items(page) == [("points_expiring", shop["other"])]


def test_task_items_offer_the_outcome_form(
    client_for: Factory, shop: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def tasks(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
        yield item(shop["mine"], "followup", "Follow-up due {date}: {title}",
                   {"date": q.day, "title": "问问效果"}, q.day, q.day, task_id=42)  # fmt: skip

    monkeypatch.setattr(agenda_module, "AGENDA_SOURCES", [tasks])
    client, csrf = client_for("clerk")
    page = get(client)
    li = page.select_one("[data-testid=agenda-item]")
    assert li["data-task"] == "42"
    form = li.select_one("[data-testid=outcome-form]")
    assert form["action"] == "/care/tasks/42/outcome" and form["method"] == "post"
    assert form.select_one("input[name=csrf_token]")["value"] == csrf
    assert [o["value"] for o in form.select("select[name=outcome] option")] == [
        "reached", "no_answer", "feedback", "new_need", "complaint"]  # fmt: skip
    assert li.select_one("[data-testid=item-reason]").get_text(strip=True) == (
        "Follow-up due Nov 23, 2026: 问问效果"
    )


def test_empty_agenda_says_so(client_for: Factory, accounts: dict[str, Account]) -> None:
    client, _ = client_for("clerk")
    page = get(client)
    assert page.select_one("[data-testid=agenda-empty]") is not None


def test_signed_out_visitors_are_sent_to_sign_in(client_for: Factory, db: Database) -> None:
    from fastapi.testclient import TestClient as Client

    from guanxi.config import Settings
    from guanxi.web.app import create_app
    from tests.web.conftest import HASHER

    with Client(create_app(Settings(), db=db, hasher=HASHER)) as anonymous:
        response = anonymous.get("/agenda", follow_redirects=False)
    assert response.status_code in (303, 401)


def test_clerk_logs_a_follow_up_outcome_from_the_agenda(
    db: Database, client_for: Factory, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    from guanxi.storage.models import CareTask

    clerk = accounts["clerk"]
    customer = make_customer(db, name="回访客", home_store_id=stores[0], owner_staff_id=clerk.id)
    with db.write() as s:
        task = CareTask(kind="followup", customer_id=customer, assignee_staff_id=clerk.id,
                        store_id=stores[0], due_on=DAY - timedelta(days=1), title="问问茶叶",
                        source_key="test:1", status="open")  # fmt: skip
        s.add(task)
        s.flush()
        task_id = task.id
    client, _ = client_for("clerk")
    page = get(client)
    li = page.select_one(f"[data-task='{task_id}']")
    assert li is not None and li["data-kind"] == "followup"
    assert li.select_one("[data-testid=item-reason]").get_text(strip=True) == (
        "Follow-up overdue since Nov 22, 2026: 问问茶叶"
    )
    form = li.select_one("[data-testid=outcome-form]")
    data = {str(f["name"]): str(f.get("value", "")) for f in form.select("input[type=hidden]")}
    data.update(outcome="reached", note="很满意")
    posted = client.post(str(form["action"]), data=data, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == "/agenda"
    with db.read() as s:
        done = s.get(CareTask, task_id)
        assert done is not None and done.status == "done" and done.outcome == "reached"
    assert get(client).select_one(f"[data-task='{task_id}']") is None
