"""Service-plan pages and forms: the customer's block (page and HTMX fragment), refused forms
keep what was typed, ticking steps, scope, and the list of steps due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.storage.db import Database
from guanxi.storage.models import ServicePlan, ServiceStep
from tests.factories import make_customer
from tests.web.conftest import Account

Client = Callable[[str], tuple[TestClient, str]]
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def routes(accounts: dict[str, Account]) -> None:
    """Every test here signs someone in: the accounts exist first."""


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _steps(db: Database) -> list[ServiceStep]:
    with db.read() as s:
        return list(s.scalars(select(ServiceStep).order_by(ServiceStep.due_on, ServiceStep.id)))


def _plan_status(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(ServicePlan.status).order_by(ServicePlan.id)))


def test_clerk_adds_a_plan_from_the_form(
    db: Database, client_for: Client, stores: tuple[int, int], accounts: dict[str, Account]
) -> None:
    c = make_customer(db, home_store_id=stores[0])
    client, csrf = client_for("clerk")
    page = client.get(f"/customers/{c}/service-plans")
    assert page.status_code == 200
    assert _soup(page.text).find(attrs={"data-testid": "no-service-plans"}) is not None
    response = client.post(f"/customers/{c}/service-plans", follow_redirects=False, data={
        "csrf_token": csrf, "name": "普洱仓储服务", "steps": "+0 入仓\n+90 仓储检查",
    })  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == f"/customers/{c}#service-plans"
    soup = _soup(client.get(f"/customers/{c}/service-plans").text)
    plan = soup.find(attrs={"data-testid": "service-plan"})
    assert plan is not None and plan["data-status"] == "active"
    assert len(plan.find_all(attrs={"data-testid": "service-step"})) == 2
    assert len(plan.find_all(attrs={"data-testid": "step-done"})) == 2
    with db.read() as s:
        owner = s.scalars(select(ServicePlan.owner_staff_id)).one()
    assert owner == accounts["clerk"].id


def test_ready_made_plan_by_htmx(db: Database, client_for: Client, stores: tuple[int, int]) -> None:
    c = make_customer(db, home_store_id=stores[0])
    client, csrf = client_for("manager")
    response = client.post(f"/customers/{c}/service-plans", headers=HX,
                           data={"csrf_token": csrf, "template": "puer_storage"})  # fmt: skip
    assert response.status_code == 200
    soup = _soup(response.text)
    assert soup.find("html") is None  # the fragment only
    block = soup.find(attrs={"data-testid": "service-plans"})
    assert block is not None and block["id"] == "service-plans"
    assert len(block.find_all(attrs={"data-testid": "service-step"})) == 4
    assert [s.due_on - _steps(db)[0].due_on for s in _steps(db)] == [
        timedelta(days=d) for d in (0, 90, 180, 365)
    ]  # fmt: skip


def test_refused_form_keeps_what_was_typed(
    db: Database, client_for: Client, stores: tuple[int, int]
) -> None:
    c = make_customer(db, home_store_id=stores[0])
    client, csrf = client_for("clerk")
    data = {"csrf_token": csrf, "name": "", "steps": "明年 检查", "description": "三饼易武"}
    fragment = client.post(f"/customers/{c}/service-plans", headers=HX, data=data)
    assert fragment.status_code == 200
    soup = _soup(fragment.text)
    errors = {e["data-testid"] for e in soup.find_all(class_="error")}
    assert errors == {"error-service-plan-name", "error-service-plan-steps"}
    assert soup.find("textarea", {"name": "steps"}).text == "明年 检查"
    assert soup.find("textarea", {"name": "description"}).text == "三饼易武"
    assert soup.find("input", {"name": "name"})["aria-invalid"] == "true"
    page = client.post(f"/customers/{c}/service-plans", data=data, follow_redirects=False)
    assert page.status_code == 422
    assert _soup(page.text).find(attrs={"data-testid": "error-service-plan-steps"}) is not None
    with db.read() as s:
        assert s.scalars(select(ServicePlan)).all() == []
    unknown = client.post(f"/customers/{c}/service-plans", headers=HX,
                          data={"csrf_token": csrf, "template": "nope"})  # fmt: skip
    assert _soup(unknown.text).find(attrs={"data-testid": "error-service-plan-template"})


def test_ticking_steps_completes_the_plan(
    db: Database, client_for: Client, stores: tuple[int, int]
) -> None:
    c = make_customer(db, home_store_id=stores[0])
    client, csrf = client_for("clerk")
    data = {"csrf_token": csrf, "name": "茶具保养", "steps": "+0 一\n+30 二"}
    client.post(f"/customers/{c}/service-plans", headers=HX, data=data)
    first, second = _steps(db)
    for _ in range(2):  # a second tick changes nothing
        response = client.post(f"/service-plans/steps/{first.id}/done", headers=HX,
                               data={"csrf_token": csrf})  # fmt: skip
        assert response.status_code == 200
    step = _soup(response.text).find(attrs={"data-step": str(first.id)})
    assert step is not None and step["data-done"] == "true"
    assert step.find(attrs={"data-testid": "step-undo"}) is not None
    response = client.post(f"/service-plans/steps/{second.id}/done", headers=HX,
                           data={"csrf_token": csrf})  # fmt: skip
    plan = _soup(response.text).find(attrs={"data-testid": "service-plan"})
    assert plan is not None and plan["data-status"] == "completed"
    assert _plan_status(db) == ["completed"]
    assert _steps(db)[0].done_on is not None


def test_step_add_edit_and_cancel(
    db: Database, client_for: Client, stores: tuple[int, int]
) -> None:
    c = make_customer(db, home_store_id=stores[0])
    client, csrf = client_for("clerk")
    client.post(f"/customers/{c}/service-plans", headers=HX,
                data={"csrf_token": csrf, "name": "护肤计划", "steps": "+0 咨询"})  # fmt: skip
    with db.read() as s:
        plan_id = s.scalars(select(ServicePlan.id)).one()
    due = (date.today() + timedelta(days=20)).isoformat()
    typed = {"csrf_token": csrf, "step_name": "复诊", "due_on": "下周"}
    refused = client.post(f"/service-plans/{plan_id}/steps", headers=HX, data=typed)
    soup = _soup(refused.text)
    assert soup.find(attrs={"data-testid": "error-service-plan-due_on"}) is not None
    assert soup.find("input", {"id": f"sp-add-{plan_id}-step_name"})["value"] == "复诊"
    client.post(f"/service-plans/{plan_id}/steps", headers=HX,
                data={"csrf_token": csrf, "step_name": "复诊", "due_on": due})  # fmt: skip
    step_id = _steps(db)[-1].id
    edited = client.post(f"/service-plans/steps/{step_id}", headers=HX,
                         data={"csrf_token": csrf, "step_name": "复诊（面诊）", "due_on": due,
                               "note": "带上产品"})  # fmt: skip
    assert edited.status_code == 200
    assert (_steps(db)[-1].name, _steps(db)[-1].note) == ("复诊(面诊)", "带上产品")  # half-width
    cancel = client.post(f"/service-plans/{plan_id}/cancel", headers=HX,
                         data={"csrf_token": csrf, "reason": ""})  # fmt: skip
    assert _soup(cancel.text).find(attrs={"data-testid": "error-service-plan-reason"})
    done = client.post(f"/service-plans/{plan_id}/cancel", headers=HX,
                       data={"csrf_token": csrf, "reason": "客户不需要了"})  # fmt: skip
    plan = _soup(done.text).find(attrs={"data-testid": "service-plan"})
    assert plan is not None and plan["data-status"] == "cancelled"
    assert plan.find("form") is None  # nothing left to change


def test_scope_and_csrf(db: Database, client_for: Client, stores: tuple[int, int]) -> None:
    c = make_customer(db, home_store_id=stores[0])
    clerk, csrf = client_for("clerk")
    clerk.post(f"/customers/{c}/service-plans", headers=HX,
               data={"csrf_token": csrf, "name": "x", "steps": "+0 一"})  # fmt: skip
    step_id = _steps(db)[0].id
    other, other_csrf = client_for("clerk_b")
    assert other.get(f"/customers/{c}/service-plans").status_code == 404
    assert other.post(f"/service-plans/steps/{step_id}/done",
                      data={"csrf_token": other_csrf}).status_code == 404  # fmt: skip
    assert other.post(f"/customers/{c}/service-plans",
                      data={"csrf_token": other_csrf, "name": "y", "steps": "+0 a"}
                      ).status_code == 404  # fmt: skip
    assert clerk.post(f"/service-plans/steps/{step_id}/done", data={}).status_code == 403
    assert _steps(db)[0].done_on is None


def test_steps_due_list(
    db: Database, client_for: Client, stores: tuple[int, int], accounts: dict[str, Account]
) -> None:
    mine = make_customer(db, home_store_id=stores[0], name="张三")
    elsewhere = make_customer(db, home_store_id=stores[1])
    clerk, csrf = client_for("clerk")
    past = (date.today() - timedelta(days=3)).isoformat()
    clerk.post(f"/customers/{mine}/service-plans", headers=HX, data={
        "csrf_token": csrf, "name": "仓储", "steps": f"{past} 逾期\n+5 快到了\n+60 很远",
    })  # fmt: skip
    other, other_csrf = client_for("clerk_b")
    other.post(f"/customers/{elsewhere}/service-plans", headers=HX,
               data={"csrf_token": other_csrf, "name": "B", "steps": "+1 b"})  # fmt: skip
    soup = _soup(clerk.get("/service-plans").text)
    rows = soup.find_all(attrs={"data-testid": "service-step-due"})
    assert [r["data-overdue"] for r in rows] == ["true", "false"]  # +60 is beyond 14 days
    assert len(_soup(clerk.get("/service-plans?days=90").text)
               .find_all(attrs={"data-testid": "service-step-due"})) == 3  # fmt: skip
    owner, _ = client_for("owner")
    everyone = _soup(owner.get("/service-plans").text)
    assert len(everyone.find_all(attrs={"data-testid": "service-step-due"})) == 3
    by_b = _soup(owner.get(f"/service-plans?owner={accounts['clerk_b'].id}").text)
    assert len(by_b.find_all(attrs={"data-testid": "service-step-due"})) == 1
    tick = clerk.post(f"/service-plans/steps/{rows[0]['data-step']}/done", follow_redirects=False,
                      data={"csrf_token": csrf, "next": "/service-plans?days=14"})  # fmt: skip
    assert tick.status_code == 303 and tick.headers["location"] == "/service-plans?days=14"
    again = _soup(clerk.get("/service-plans").text)
    assert len(again.find_all(attrs={"data-testid": "service-step-due"})) == 1
