"""Editing a customer in the browser: change the city and a tag, and see a phone refused."""

from __future__ import annotations

from typing import Any

from tests.browser.test_ui import sign_in


def open_a_customer(page: Any, server: str) -> None:
    sign_in(page, server, "owner")
    row = page.locator("table.list tbody a").nth(1)  # not the first: test_ui searches for it
    name = row.inner_text()
    row.click()
    page.wait_for_selector(f"h1:has-text('{name}')")


def test_edit_city_and_tag_then_an_invalid_phone_is_refused(page: Any, server: str) -> None:
    open_a_customer(page, server)
    page.click("[data-testid=edit]")
    page.wait_for_selector("[data-testid=customer-form]")
    page.fill("#f-city", "杭州")
    tags = page.input_value("#f-tags")
    page.fill("#f-tags", f"{tags}, 浏览器测试" if tags else "浏览器测试")
    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=city]")
    assert page.inner_text("[data-testid=city]") == "杭州"
    assert "浏览器测试" in page.inner_text("[data-testid=tags]")

    page.click("[data-testid=edit]")
    page.fill("#f-phone", "12345")
    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=error-phone]")
    phone = page.locator("#f-phone")
    assert phone.get_attribute("aria-invalid") == "true"
    assert phone.get_attribute("aria-describedby") == "e-phone"
    assert "13812345678" in page.inner_text("#e-phone")
    assert page.input_value("#f-phone") == "12345"  # what was typed stays, to be corrected
    # the message sits right under the field it is about
    assert page.evaluate(
        "document.querySelector('#e-phone').previousElementSibling.contains("
        "document.querySelector('#f-phone'))"
    )
