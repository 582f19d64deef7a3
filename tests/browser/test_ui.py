"""What a clerk does in the browser: sign in, find a customer by initials, switch language."""

from __future__ import annotations

from typing import Any

from guanxi.cli.demo import DEMO_PASSWORD


def sign_in(page: Any, server: str, username: str = "owner") -> None:
    page.goto(f"{server}/customers")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/customers")


def test_sign_in_and_find_a_customer_by_initials(page: Any, server: str) -> None:
    sign_in(page, server)
    first = page.locator("table.list tbody a").first
    name = first.inner_text()
    from guanxi.domain.names import name_keys

    initials = name_keys(name)[1]
    page.fill("[data-testid=customer-search]", initials)
    page.wait_for_url(f"**/customers?q={initials}")  # HTMX pushed the search into the URL
    results = page.locator("table.list tbody a").all_inner_texts()
    assert name in results
    page.click(f"text={name}")
    page.wait_for_selector("h1")
    assert name in page.inner_text("h1")
    assert "****" in page.inner_text(".phone")


def test_wrong_password_is_reported(page: Any, server: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("[role=alert]")


def test_switch_language(page: Any, server: str) -> None:
    sign_in(page, server, "manager1")
    assert "客户" in page.inner_text("h1")
    page.click("[data-testid=lang-en]")
    page.wait_for_selector("h1:has-text('Customers')")
    page.reload()
    assert page.inner_text("h1") == "Customers"  # remembered for this staff member
    page.click("[data-testid=lang-zh_CN]")
    page.wait_for_selector("h1:has-text('客户')")
