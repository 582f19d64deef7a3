"""Purchase import: messy real-world files, idempotent re-import, atomicity, rejects."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from guanxi.errors import InvalidInput
from guanxi.services.imports import ImportOptions
from guanxi.services.purchase_import import import_purchases
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Product, Purchase, PurchaseLine, Store
from tests.factories import make_customer, write_csv, write_xlsx

SH = ZoneInfo("Asia/Shanghai")
HEADER = [
    "订单号",
    "下单时间",
    "手机",
    "客户名称",
    "商品",
    "商品名称",
    "数量",
    "单价",
    "实付金额",
    "门店",
    "导购",
    "支付方式",
]
ROWS = [
    [
        "A001",
        "2024/1/5 14:30",
        "138 1234 5678",
        "张三",
        "T-01",
        "龙井",
        "2",
        "￥1,280.00",
        "￥2,400.00",
        "旗舰店",
        "李娜",
        "微信",
    ],
    [
        "A001",
        "2024/1/5 14:30",
        "138 1234 5678",
        "张三",
        "T-02",
        "紫砂壶",
        "1",
        "680",
        "680",
        "旗舰店",
        "李娜",
        "微信",
    ],
    [
        "A002",
        "2024年1月6日",
        "+86 139-0000-1111",
        "单田芳",
        "T-01",
        "龙井",
        "１",
        "1280",
        "1280",
        "旗舰店",
        "",
        "现金",
    ],
    [
        "A003",
        "20240107",
        "0086 13700002222",
        "",
        "T-03",
        "普洱",
        "3",
        "",
        "900",
        "社区店",
        "王芳",
        "支付宝",
    ],
    [
        "A004",
        "45300",
        "13812345678",
        "张三",
        "T-01",
        "龙井",
        "1",
        "1280",
        "1,180",
        "社区店",
        "",
        "",
    ],
]


def options(**kw: object) -> ImportOptions:
    return ImportOptions(**kw)  # type: ignore[arg-type]


def count(db: Database, model: type) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_messy_gbk_file_imports_everything(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "销售.csv", HEADER, ROWS, encoding="gbk")
    report = import_purchases(db, path, options())
    assert report.committed, report.errors
    assert report.encoding == "gb18030"
    assert (report.rows, report.inserted, report.rejected) == (5, 5, 0)
    assert report.created["customers"] == 3 and report.created["purchases"] == 4
    with db.read() as s:
        a001 = s.execute(select(Purchase).where(Purchase.external_order_id == "A001")).scalar_one()
        assert a001.total_amount == Decimal("3080.00")
        assert a001.purchased_at == datetime(2024, 1, 5, 14, 30, tzinfo=SH)
        assert a001.payment_method == "wechat_pay"
        lines = sorted(a001.lines, key=lambda ln: ln.line_no)
        assert [ln.discount for ln in lines] == [Decimal("160.00"), Decimal("0.00")]
        assert [ln.source_line for ln in lines] == [2, 3]
        zhang = s.execute(select(Customer).where(Customer.phone == "+8613812345678")).scalar_one()
        assert (zhang.name, zhang.source, zhang.name_initials) == ("张三", "import", "zs")
        flagship = s.execute(select(Store.id).where(Store.name == "旗舰店")).scalar_one()
        assert zhang.home_store_id == flagship  # the store of the first purchase
        assert s.execute(select(func.count()).where(Purchase.customer_id == zhang.id)).scalar() == 2
        shan = s.execute(select(Customer).where(Customer.phone == "+8613900001111")).scalar_one()
        assert shan.name_pinyin == "shantianfang"
        unnamed = s.execute(select(Customer).where(Customer.phone == "+8613700002222")).scalar_one()
        assert unnamed.name == "客户2222"
        a003 = s.execute(select(Purchase).where(Purchase.external_order_id == "A003")).scalar_one()
        assert a003.lines[0].unit_price == Decimal("300.00")
        a004 = s.execute(select(Purchase).where(Purchase.external_order_id == "A004")).scalar_one()
        assert a004.purchased_at.astimezone(SH).date().isoformat() == "2024-01-09"
        assert {st.name for st in s.scalars(select(Store))} == {"旗舰店", "社区店"}
    assert count(db, Product) == 3


def test_reimporting_the_same_file_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", HEADER, ROWS, encoding="utf-8-sig")
    first = import_purchases(db, path, options())
    assert first.committed and first.inserted == 5
    before = (count(db, Purchase), count(db, PurchaseLine), count(db, Customer))
    again = import_purchases(db, path, options())
    assert again.committed
    assert (again.inserted, again.unchanged, again.rejected) == (0, 5, 0)
    assert any("already imported" in w for w in again.warnings)
    assert not any("already imported" in w for w in first.warnings)
    assert (count(db, Purchase), count(db, PurchaseLine), count(db, Customer)) == before


def test_existing_customer_is_matched_by_phone(db: Database, tmp_path: Path) -> None:
    cid = make_customer(db, name="张三", phone="+8613812345678")
    path = write_csv(tmp_path / "p.csv", HEADER, ROWS[:2])
    assert import_purchases(db, path, options()).committed
    with db.read() as s:
        assert s.execute(select(Purchase.customer_id)).scalars().all() == [cid]
    assert count(db, Customer) == 1


def test_a_broken_row_imports_nothing_and_is_reported(db: Database, tmp_path: Path) -> None:
    rows = [
        *ROWS,
        ["A005", "2024-02-30", "13812345678", "张三", "T-01", "龙井", "1", "1", "1", "", "", ""],
        ["A006", "2024-03-01", "12345", "", "T-01", "龙井", "1", "abc", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", HEADER, rows)
    report = import_purchases(db, path, options())
    assert not report.committed
    assert report.rejected == 2
    by_line = {(e.line, e.column): e for e in report.errors}
    assert by_line[(7, "下单时间")].value == "2024-02-30"
    assert "date" in by_line[(7, "下单时间")].reason
    assert by_line[(8, "手机")].value == "12345"
    assert by_line[(8, "单价")].value == "abc"
    assert count(db, Purchase) == 0 and count(db, Customer) == 0 and count(db, Store) == 0
    assert not (tmp_path / "bad.rejects.csv").exists()


def test_skip_bad_rows_leaves_out_the_whole_order(db: Database, tmp_path: Path) -> None:
    rows = [r[:] for r in ROWS]
    rows[1][6] = "-1"  # second line of A001: a negative quantity
    path = write_csv(tmp_path / "p.csv", HEADER, rows)
    report = import_purchases(db, path, options(skip_bad_rows=True))
    assert report.committed
    assert (report.inserted, report.rejected) == (3, 2)
    with db.read() as s:
        orders = set(s.execute(select(Purchase.external_order_id)).scalars())
    assert orders == {"A002", "A003", "A004"}
    assert report.reject_file == tmp_path / "p.rejects.csv"
    with report.reject_file.open(encoding="utf-8-sig") as fh:
        rejects = list(csv.reader(fh))
    assert rejects[0] == ["line", *HEADER, "reason"]
    assert [r[0] for r in rejects[1:]] == ["2", "3"]
    assert "another line" in rejects[1][-1]
    assert "negative quantity" in rejects[2][-1]


def test_bad_line_before_its_good_line_holds_the_order_back(db: Database, tmp_path: Path) -> None:
    rows = [ROWS[1][:], ROWS[0][:]]
    rows[0][1] = "yesterday"
    path = write_csv(tmp_path / "p.csv", HEADER, rows)
    report = import_purchases(db, path, options(skip_bad_rows=True))
    assert report.committed and report.inserted == 0 and report.rejected == 2
    assert count(db, Purchase) == 0


def test_xlsx_with_numeric_phones_and_date_cells(db: Database, tmp_path: Path) -> None:
    header = ["单号", "日期", "电话", "SKU", "qty", "金额"]
    rows = [
        ["X1", datetime(2024, 5, 1, 10, 0), 13812345678, "T-01", 1, 99.5],
        ["X2", "2024-05-02", 13900001111, "T-02", 2, 200],
    ]
    path = write_xlsx(tmp_path / "p.xlsx", header, rows)
    report = import_purchases(db, path, options())
    assert report.committed, report.errors
    with db.read() as s:
        x1 = s.execute(select(Purchase).where(Purchase.external_order_id == "X1")).scalar_one()
        assert x1.total_amount == Decimal("99.50")
        phones = set(s.execute(select(Customer.phone)).scalars())
    assert phones == {"+8613812345678", "+8613900001111"}


def test_map_override_and_missing_column_message(db: Database, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        ["票号", "日期", "手机", "商品", "金额"],
        [["R1", "2024-01-01", "13812345678", "T-01", "10"]],
    )
    with pytest.raises(InvalidInput, match="order_id"):
        import_purchases(db, path, options())
    report = import_purchases(db, path, options(mapping={"票号": "order_id"}))
    assert report.committed and report.inserted == 1


def test_same_order_id_in_two_stores_is_two_purchases(db: Database, tmp_path: Path) -> None:
    rows = [
        ["Z1", "2024-01-01", "13812345678", "", "T-01", "", "1", "10", "10", "旗舰店", "", ""],
        ["Z1", "2024-01-01", "13812345678", "", "T-01", "", "1", "10", "10", "社区店", "", ""],
    ]
    path = write_csv(tmp_path / "p.csv", HEADER, rows)
    assert import_purchases(db, path, options()).committed
    assert count(db, Purchase) == 2


def test_member_code_new_but_phone_known_links_to_that_customer(
    db: Database, tmp_path: Path
) -> None:
    cid = make_customer(db, name="张三", phone="+8613812345678")
    path = write_csv(
        tmp_path / "p.csv",
        ["单号", "日期", "会员卡号", "手机", "商品", "金额"],
        [
            ["1", "2024-01-01", "VIP-9", "13812345678", "T1", "10"],
            ["2", "2024-01-02", "VIP-7", "13900001111", "T1", "10"],
            ["3", "2024-01-03", "VIP-8", "13900001111", "T1", "10"],  # same person, new card
        ],
    )
    report = import_purchases(db, path, options())
    assert report.committed, report.errors
    assert report.created["customers"] == 1
    with db.read() as s:
        owners = s.execute(select(Purchase.customer_id).order_by(Purchase.id)).scalars().all()
        assert owners[0] == cid and owners[1] == owners[2] != cid


def test_dry_run_reports_everything_and_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", HEADER, ROWS)
    preview = import_purchases(db, path, options(dry_run=True))
    assert not preview.committed and preview.reject_file is None
    assert (preview.inserted, preview.rejected, preview.created["customers"]) == (5, 0, 3)
    assert count(db, Purchase) == 0 and count(db, Customer) == 0


def test_text_that_bulk_loading_treats_specially_is_stored_verbatim(
    db: Database, tmp_path: Path
) -> None:
    """Names, order ids and SKUs go in by COPY on PostgreSQL: backslashes, a literal \\N
    (COPY's NULL), quotes and commas must arrive as written, and an empty name stays empty."""
    awkward = {"name": 'O\'Brien "小\\N" 王,五\\t', "order": "A\\N-1", "sku": 'T\\01,"x"'}
    rows = [[awkward["order"], "2024-01-05 10:00", "13800001111", awkward["name"],
             awkward["sku"], "龙井\\", "1", "10", "10", "旗舰店", "", ""]]  # fmt: skip
    report = import_purchases(db, write_csv(tmp_path / "p.csv", HEADER, rows), options())
    assert report.committed, report.errors
    with db.read() as s:
        customer = s.execute(
            select(Customer).where(Customer.phone == "+8613800001111")
        ).scalar_one()
        purchase = s.execute(select(Purchase)).scalar_one()
        product = s.execute(select(Product)).scalar_one()
        assert customer.name == awkward["name"]
        assert customer.email is None and customer.code is None  # NULLs stay NULL
        assert purchase.external_order_id == awkward["order"]
        assert purchase.staff_id is None
        assert (product.sku, product.name) == (awkward["sku"], "龙井\\")
