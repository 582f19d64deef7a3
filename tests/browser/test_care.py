"""A clerk's day in the browser: the agenda, a follow-up outcome, a promise recorded."""

from __future__ import annotations

from typing import Any

from guanxi.cli.demo import DEMO_PASSWORD
from guanxi.services.demo import DEMO_END


def test_clerk_sees_the_agenda_logs_an_outcome_and_records_a_promise(
    page: Any, server: str
) -> None:
    page.goto(f"{server}/")
    page.fill("input[name=username]", "clerk1")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/agenda")  # the agenda is a clerk's home page
    page.goto(f"{server}/agenda?date={DEMO_END.isoformat()}")  # the demo shop's today
    assert page.locator("[data-testid=agenda-item]").count() > 0

    task = page.locator("[data-testid=agenda-item][data-task]").first
    task_id = task.get_attribute("data-task")
    task.locator("select[name=outcome]").select_option("reached")
    task.locator("input[name=note]").fill("很满意，下月再来")
    task.locator("button[type=submit]").click()
    done = page.locator(f"#task-{task_id} [data-testid=task-done]")
    done.wait_for()
    assert "很满意，下月再来" in done.inner_text()

    customer = page.locator(f"#task-{task_id}").get_attribute("data-customer")
    page.goto(f"{server}/customers/{customer}#care")
    assert "很满意，下月再来" in page.inner_text("body")  # the outcome is on the timeline
    page.click("details.record-promise summary")
    page.fill("#promise-text", "M 码到货后打电话")
    page.click("[data-testid=promise-submit]")
    page.wait_for_selector("[data-testid=care-promise]")
    assert "M 码到货后打电话" in page.inner_text("[data-testid=care-promises]")
