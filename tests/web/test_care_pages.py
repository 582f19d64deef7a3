"""Care pages: follow-up plans, task outcomes (HTMX and plain), promises, and store scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from guanxi.care.commitments import make_commitment
from guanxi.care.tasks import ensure_tasks
from guanxi.storage.db import Database
from guanxi.storage.models import CareTask, Commitment, CustomerNote, FollowupPlan
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
HX = {"HX-Request": "true"}


# The pages use the clock, in the store's zone (the test stores are in Asia/Shanghai).
def today() -> date:
    """The shop's date now (Asia/Shanghai), read when a test runs: a constant taken when the
    module was imported went stale when a run crossed midnight in Shanghai (16:00 UTC)."""
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


@pytest.fixture
def shop(db: Database, accounts: dict[str, Account], stores: tuple[int, int]) -> dict[str, int]:
    a, b = stores
    ours = make_customer(db, name="张女士", home_store_id=a, owner_staff_id=accounts["clerk"].id)
    theirs = make_customer(db, name="李先生", home_store_id=b)
    with db.write() as s:
        ensure_tasks(
            s,
            [
                {
                    "kind": "followup",
                    "customer_id": ours,
                    "store_id": a,
                    "assignee_staff_id": accounts["clerk"].id,
                    "due_on": today(),
                    "title": "茶叶回访",
                    "detail": "问问龙井",
                    "source_key": "followup:1:1",
                },
                {
                    "kind": "followup",
                    "customer_id": theirs,
                    "store_id": b,
                    "assignee_staff_id": accounts["clerk_b"].id,
                    "due_on": today(),
                    "title": "B 回访",
                    "source_key": "followup:1:2",
                },
            ],
        )
        ids = {int(c): int(t) for c, t in s.execute(select(CareTask.customer_id, CareTask.id))}
    return {"ours": ours, "theirs": theirs, "task": ids[ours], "task_b": ids[theirs]}


# --- plans -------------------------------------------------------------------------------------


def test_managers_add_and_deactivate_plans_clerks_may_not(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("manager")
    page = client.get("/care/plans")
    assert page.status_code == 200
    assert soup(page.text).select_one("[data-testid=no-plans]") is not None
    response = client.post(
        "/care/plans",
        data={
            "csrf_token": csrf,
            "name": "茶叶 7 天回访",
            "category": "茶叶",
            "days_after": "7",
            "action": "问问茶叶怎么样",
            "skip_holidays": "1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.read() as s:
        plan = s.execute(select(FollowupPlan)).scalar_one()
        assert (plan.name, plan.category, plan.days_after, plan.skip_holidays, plan.is_active) == (
            "茶叶 7 天回访",
            "茶叶",
            7,
            True,
            True,
        )
    rows = soup(client.get("/care/plans").text).select("[data-testid=plan]")
    assert [r["data-active"] for r in rows] == ["true"]
    client.post(f"/care/plans/{plan.id}/active", data={"csrf_token": csrf, "active": "0"})
    with db.read() as s:
        assert s.get(FollowupPlan, plan.id).is_active is False  # type: ignore[union-attr]
    bad = client.post(
        "/care/plans", data={"csrf_token": csrf, "name": "", "days_after": "x", "action": ""}
    )
    assert bad.status_code == 422
    page_bad = soup(bad.text)
    for field in ("name", "days_after", "action"):
        assert page_bad.select_one(f"[data-testid=error-{field}]") is not None, field
    clerk, _ = client_for("clerk")
    assert clerk.get("/care/plans").status_code == 403


# --- outcomes ----------------------------------------------------------------------------------


def test_outcome_by_htmx_returns_the_done_item_and_writes_the_timeline(
    client_for: Factory, db: Database, shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    response = client.post(
        f"/care/tasks/{shop['task']}/outcome",
        headers=HX,
        data={"csrf_token": csrf, "outcome": "reached", "note": "很满意", "next": "/agenda"},
    )
    assert response.status_code == 200
    li = soup(response.text).select_one("li[data-testid=care-task]")
    assert li is not None and li["id"] == f"task-{shop['task']}"
    assert li["data-status"] == "done"
    assert "很满意" in li.get_text()
    assert li.select_one("[data-testid=outcome-form]") is None
    with db.read() as s:
        assert s.get(CareTask, shop["task"]).outcome == "reached"  # type: ignore[union-attr]
        assert s.execute(select(CustomerNote.text)).scalars().all() == ["回访: reached — 很满意"]
    again = client.post(
        f"/care/tasks/{shop['task']}/outcome",
        headers=HX,
        data={"csrf_token": csrf, "outcome": "reached"},
    )
    assert "already done" in soup(again.text).select_one("[data-testid=task-error]").get_text()  # type: ignore[union-attr]


def test_outcome_without_htmx_redirects_and_a_new_need_offers_a_promise(
    client_for: Factory, db: Database, shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    response = client.post(
        f"/care/tasks/{shop['task']}/outcome",
        data={"csrf_token": csrf, "outcome": "new_need", "note": "要 M 码", "next": "/agenda"},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/agenda")
    with db.write() as s:
        s.execute(update(CareTask).values(status="open", outcome=None))
    htmx = client.post(
        f"/care/tasks/{shop['task']}/outcome",
        headers=HX,
        data={"csrf_token": csrf, "outcome": "new_need", "note": "要 M 码"},
    )
    form = soup(htmx.text).select_one("[data-testid=task-promise-form]")
    assert form is not None and form["action"] == f"/customers/{shop['ours']}/commitments"
    assert form.select_one("input[name=promise]")["value"] == "要 M 码"  # type: ignore[index]
    assert form.select_one("input[name=task_id]")["value"] == str(shop["task"])  # type: ignore[index]
    evil = client.post(
        f"/care/tasks/{shop['task_b']}/outcome",
        data={"csrf_token": csrf, "outcome": "reached"},
        follow_redirects=False,
    )
    assert evil.status_code == 404  # a task of another store's customer


def test_outcome_redirect_only_goes_to_this_site(client_for: Factory, shop: dict[str, int]) -> None:
    client, csrf = client_for("clerk")
    response = client.post(
        f"/care/tasks/{shop['task']}/outcome",
        data={"csrf_token": csrf, "outcome": "no_answer", "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/customers/{shop['ours']}#care"


# --- promises ----------------------------------------------------------------------------------


def test_record_a_promise_from_the_customer_page(
    client_for: Factory, db: Database, accounts: dict[str, Account], shop: dict[str, int]
) -> None:
    client, csrf = client_for("clerk")
    due = (today() + timedelta(days=10)).isoformat()
    response = client.post(
        f"/customers/{shop['ours']}/commitments",
        data={
            "csrf_token": csrf,
            "promise": "到货打电话",
            "due_on": due,
            "owner_staff_id": str(accounts["clerk"].id),
            "remind_days": "2",
            "task_id": str(shop["task"]),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/customers/{shop['ours']}?care=saved#care"
    with db.read() as s:
        c = s.execute(select(Commitment)).scalar_one()
        assert (c.promise, c.due_on.isoformat(), c.remind_days, c.owner_staff_id) == (
            "到货打电话",
            due,
            2,
            accounts["clerk"].id,
        )
        assert s.get(CareTask, shop["task"]).commitment_id == c.id  # type: ignore[union-attr]
    # HTMX with mistakes: the care section comes back with the errors, open tasks and promises.
    bad = client.post(
        f"/customers/{shop['ours']}/commitments",
        headers=HX,
        data={"csrf_token": csrf, "promise": "", "due_on": "2000-01-01", "remind_days": "1"},
    )
    assert bad.status_code == 422
    section = soup(bad.text).select_one("section[data-testid=care]")
    assert section is not None
    assert section.select_one("[data-testid=error-promise]") is not None
    assert "past" in section.select_one("[data-testid=error-due_on]").get_text()  # type: ignore[union-attr]
    assert [li["data-task"] for li in section.select("[data-testid=care-task]")] == [
        str(shop["task"])
    ]
    assert [r["data-commitment"] for r in section.select("[data-testid=care-promise]")] == [
        str(c.id)
    ]
    # Another store's clerk cannot record a promise to this customer.
    other, other_csrf = client_for("clerk_b")
    refused = other.post(
        f"/customers/{shop['ours']}/commitments",
        data={"csrf_token": other_csrf, "promise": "x", "due_on": due},
        follow_redirects=False,
    )
    assert refused.status_code == 404


def test_promises_page_shows_the_store_and_rates_and_closes(
    client_for: Factory, db: Database, accounts: dict[str, Account], shop: dict[str, int]
) -> None:
    past = today() - timedelta(days=3)
    ours = make_commitment(
        db,
        customer_id=shop["ours"],
        promise="送样品",
        due_on=past,
        owner_staff_id=accounts["clerk"].id,
        actor_id=accounts["clerk"].id,
        scope=None,
    )
    kept = make_commitment(
        db,
        customer_id=shop["ours"],
        promise="回电",
        due_on=today(),
        owner_staff_id=accounts["clerk"].id,
        actor_id=accounts["clerk"].id,
        scope=None,
    )
    theirs = make_commitment(
        db,
        customer_id=shop["theirs"],
        promise="B 的承诺",
        due_on=past,
        owner_staff_id=accounts["clerk_b"].id,
        actor_id=accounts["clerk_b"].id,
        scope=None,
    )
    client, csrf = client_for("clerk")
    closed = client.post(
        f"/care/commitments/{kept}/close",
        data={"csrf_token": csrf, "result": "kept"},
        follow_redirects=False,
    )
    assert (closed.status_code, closed.headers["location"]) == (
        303,
        "/care/commitments?closed=kept",
    )
    page = soup(client.get("/care/commitments").text)
    rows = page.select("[data-testid=promise]")
    assert [(r["data-commitment"], r["data-overdue"]) for r in rows] == [(str(ours), "true")]
    staff_rates = {
        r["data-key"]: r.select_one("[data-testid=rate-value]").get_text()  # type: ignore[union-attr]
        for r in page.select("[data-testid=rates-staff] [data-testid=rate]")
    }
    assert staff_rates == {"clerk": "50%"}  # one kept on time, one open past its date
    assert "B 的承诺" not in page.get_text()
    assert (
        client.post(
            f"/care/commitments/{theirs}/close",
            data={"csrf_token": csrf, "result": "kept"},
            follow_redirects=False,
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/care/commitments/{ours}/close", data={"csrf_token": csrf, "result": "maybe"}
        ).status_code
        == 422
    )
    owner, _ = client_for("owner")
    everything = soup(owner.get("/care/commitments").text)
    assert len(everything.select("[data-testid=promise]")) == 2
    assert {
        r["data-key"] for r in everything.select("[data-testid=rates-store] [data-testid=rate]")
    } == {"旗舰店", "社区店"}


def test_care_section_template_renders_for_the_customer_page(
    client_for: Factory, shop: dict[str, int]
) -> None:
    """The section the integrator includes in customers/detail.html (rendered here directly)."""
    client, csrf = client_for("clerk")
    page = client.get(f"/customers/{shop['ours']}")
    assert page.status_code == 200
    if 'data-testid="care"' not in page.text:
        pytest.skip("customers/detail.html does not include customers/_care.html yet")
    section = soup(page.text).select_one("section[data-testid=care]")
    assert section is not None
    assert section.select_one("[data-testid=promise-form]") is not None
    assert [li["data-task"] for li in section.select("[data-testid=care-task]")] == [
        str(shop["task"])
    ]
