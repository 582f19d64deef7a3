"""What an owner does in the browser: upload a customer file, see its bad row, import the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.test_ui import sign_in
from tests.factories import write_csv


def test_import_customers_leaving_out_a_bad_row(page: Any, server: str, tmp_path: Path) -> None:
    file = write_csv(
        tmp_path / "新会员.csv",
        ["会员卡号", "姓名", "手机号码", "标签"],
        [
            ["BT-0001", "浏览器一", "+8613600000001", "VIP"],
            ["BT-0002", "浏览器二", "not a phone", ""],  # line 3
            ["BT-0003", "浏览器三", "+8613600000003", ""],
        ],
    )
    sign_in(page, server, "owner")
    page.goto(f"{server}/imports")
    page.check("input[name=kind][value=customers]")
    page.set_input_files("[data-testid=import-file]", str(file))
    page.click("[data-testid=preview]")
    page.wait_for_selector("[data-testid=bad-rows]")
    assert page.locator("[data-testid=bad-line]").all_inner_texts() == ["3"]
    assert "not a phone" in page.inner_text("[data-testid=bad-rows]")
    assert "手机号码" in page.inner_text("[data-testid=mapping]")
    page.check("[data-testid=skip-bad-rows]")
    page.click("[data-testid=confirm]")
    page.wait_for_selector("[data-testid=imported]")
    assert "新会员.csv" in page.inner_text("[data-testid=imported]")
    assert page.inner_text("[data-testid=count-rejected]") == "1"
    assert page.is_visible("[data-testid=rejects-link]")
    page.goto(f"{server}/customers?q=BT-0003")
    assert "浏览器三" in page.inner_text("table.list")
