"""The analytics pages in a real browser: charts drawn offline, a customer's "why", a segment.

Screenshots (full page) go to test-artifacts/: the dashboard in Chinese and in English, the
segment list and a customer's "Value & loyalty" section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ui import sign_in

CHARTS_DRAWN = """() => {
  const canvases = [...document.querySelectorAll('canvas[data-chart]')];
  return canvases.length > 0 && canvases.every(
    (c) => window.Chart && window.Chart.getChart(c) && c.width > 0 && c.height > 0);
}"""


@pytest.fixture
def wide(browser: Any) -> Iterator[Any]:
    """A desktop-sized page without animations, so the screenshots show finished charts."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", reduced_motion="reduce"
    )
    yield context.new_page()
    context.close()


def number(text: str) -> float:
    """'1,234' -> 1234.0, '76%' -> 76.0, 'CN¥2,545' -> 2545.0."""
    found = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert found is not None, f"no number in {text!r}"
    return float(found.group().replace(",", ""))


def kpi(page: Any, key: str) -> float:
    return number(page.inner_text(f"[data-testid=kpi-{key}] .kpi-value"))


def check_dashboard(page: Any) -> None:
    """Every chart drew, and the figures hang together."""
    page.wait_for_function(CHARTS_DRAWN, timeout=10_000)
    drawn = page.locator("canvas[data-drawn=true]").count()
    assert drawn == page.locator("canvas[data-chart]").count() == 8
    for section in ("ladder", "movements", "segments", "china", "loyalty", "pareto", "cohorts",
                    "bucket", "clv", "economics", "stores", "owners"):  # fmt: skip
        assert page.locator(f"[data-testid=section-{section}]").is_visible(), section
    customers, buyers, active = kpi(page, "customers"), kpi(page, "buyers"), kpi(page, "active")
    assert customers == 300 and 0 < active <= buyers <= customers
    assert 0 < kpi(page, "repeat_rate") <= 100
    assert 20 <= kpi(page, "top20_share") <= 100  # the top fifth holds at least a fifth
    assert 0 < kpi(page, "gini") < 1
    ladder = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-chart=ladder]'))"
        ".data.datasets[0].data"
    )
    assert sum(ladder) == customers
    assert page.locator("[data-testid=rfm-grid] td.seg").count() == 25
    assert page.locator("[data-testid=economics-3] tbody tr").count() == 10


def test_dashboard_customer_reasons_and_a_segment(wide: Any, server: str) -> None:
    page = wide
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, server, "owner")
    page.click("[data-testid=nav-analytics]")
    page.wait_for_url(f"{server}/analytics")
    assert page.inner_text("h1") in ("数据分析", "Analytics")
    check_dashboard(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "analytics-dashboard-zh.png"), full_page=True)

    page.click("[data-testid=lang-en]")
    page.wait_for_selector("h1:has-text('Analytics')")
    try:
        check_dashboard(page)
        assert "Scores for" in page.inner_text("[data-testid=analytics-month]")
        page.screenshot(path=str(ARTIFACTS / "analytics-dashboard-en.png"), full_page=True)
        # No JavaScript needed to read the figures: each chart has a data table.
        page.click("[data-testid=data-ladder] summary")
        assert page.locator("[data-testid=data-ladder] table tbody tr").count() == 7

        # Build a segment of loyal customers, preview it (HTMX) and save it.
        page.click("[data-testid=nav-segments]")
        page.click("[data-testid=new-segment]")
        page.fill("[data-testid=segment-name-input]", "Loyal regulars")
        page.check("input[name=rung][value=loyal]")
        page.fill("input[name=r_score_min]", "2")
        page.click("[data-testid=preview-button]")
        page.wait_for_selector("[data-testid=preview-count]")
        assert page.url == f"{server}/segments/new"  # HTMX swapped the preview in place
        members = number(page.inner_text("[data-testid=preview-count]"))
        assert members > 0
        assert page.locator("[data-testid=preview-members] tbody tr").count() == min(members, 50)
        page.click("[data-testid=save-segment]")
        page.wait_for_selector("[data-testid=segment-saved]")
        row = page.locator("[data-testid=segment-row]", has_text="Loyal regulars")
        assert number(row.locator("[data-testid=segment-count]").inner_text()) == members
        page.screenshot(path=str(ARTIFACTS / "analytics-segments.png"), full_page=True)

        # The most valuable member's page says why they are loyal.
        row.locator("[data-testid=segment-name]").click()
        page.wait_for_selector("[data-testid=preview-members]")
        page.locator("[data-testid=preview-members] tbody a").first.click()
        page.wait_for_selector("[data-testid=value]")
        assert page.inner_text("[data-testid=value-rung]") == "Loyal customer"
        reasons = page.locator("[data-testid=rung-reasons] li").all_inner_texts()
        assert any(r.startswith("Bought on") for r in reasons)
        assert any(r.endswith(": loyal.") for r in reasons)
        assert page.locator("[data-testid=rung-history] tbody tr").count() >= 2
        page.locator("[data-testid=value]").screenshot(
            path=str(ARTIFACTS / "analytics-customer-value.png")
        )

        # Delete the segment again, after the confirmation step.
        page.go_back()
        page.wait_for_selector("[data-testid=delete-segment]")
        page.click("[data-testid=delete-segment] summary")
        page.click("[data-testid=confirm-delete]")
        page.wait_for_selector("[data-testid=segment-deleted]")
        assert page.locator("[data-testid=segment-row]", has_text="Loyal regulars").count() == 0
    finally:
        page.click("[data-testid=lang-zh_CN]")  # the owner's language is remembered: put it back
        page.wait_for_selector("html[lang=zh-CN]")
    assert errors == []  # no script failed
