"""A survey link on a phone: open it, answer, see the thank-you; then a signed-in manager finds
the answer counted in the satisfaction report.

The survey and the link are added to the served demo shop's database by the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from guanxi.feedback import surveys
from guanxi.feedback.links import issue_link
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Staff
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ui import sign_in


@pytest.fixture(scope="module")
def survey_server(server: str) -> str:
    """The served demo shop (``guanxi serve``), which has the survey pages."""
    return server


def _survey_link(server_db: Path) -> tuple[int, str]:
    """An NPS survey and a link for a customer of manager1's store."""
    db = Database(f"sqlite:///{server_db}")
    sid = surveys.save_survey(db, name="浏览器测试问卷", kind="nps", intro="一分钟就好",
                              actor_id=None)  # fmt: skip
    with db.write() as session:
        store = session.execute(select(Staff.store_id).where(Staff.username == "manager1"))
        customer = session.execute(
            select(Customer.id).where(Customer.home_store_id == store.scalar_one())
            .order_by(Customer.id).limit(1)
        ).scalar_one()  # fmt: skip
        token = issue_link(session, "survey", customer, now=datetime.now(UTC), survey_id=sid)
    db.dispose()
    return sid, token


def test_answer_on_a_phone_then_see_it_reported(
    browser: Any, survey_server: str, server_db: Path
) -> None:
    sid, token = _survey_link(server_db)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                is_mobile=True, has_touch=True)  # fmt: skip
    page = phone.new_page()
    page.goto(f"{survey_server}/s/{token}")
    assert page.locator("[data-testid=survey-name]").inner_text() == "浏览器测试问卷"
    assert page.locator("nav").count() == 0  # no staff navigation
    box = page.locator("[data-testid=scale-nps] label").first.bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb-sized target
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    page.locator("label", has=page.locator("[data-testid=nps-9]")).click()
    page.fill("[data-testid=comment]", "<b>很好</b>，下次再来")
    page.click("[data-testid=submit]")
    page.wait_for_selector("[data-testid=thanks]")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "survey-phone-thanks.png"), full_page=True)
    page.goto(f"{survey_server}/s/{token}")  # the used link says thank you again
    assert page.locator("[data-testid=thanks]").count() == 1
    phone.close()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = desk.new_page()
    sign_in(staff, survey_server, "manager1")
    staff.goto(f"{survey_server}/surveys/report?survey={sid}")
    assert staff.locator("[data-testid=kpi-responses] .kpi-value").inner_text() == "1"
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-01")
    row = staff.locator(f"[data-testid=nps-months] tr[data-month='{month}'] td")
    assert [row.nth(i).inner_text() for i in range(3)] == ["1", "0", "0"]
    staff.screenshot(path=str(ARTIFACTS / "survey-report.png"), full_page=True)
    desk.close()
