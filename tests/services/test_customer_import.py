"""Customer import: Chinese headers in GBK, de-duplication, updates that never erase, consent."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select

from guanxi.services.customer_import import import_customers
from guanxi.services.imports import ImportOptions
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, ConsentEvent, Customer, CustomerTag, Staff, Store
from tests.factories import write_csv, write_xlsx

HEADER = [
    "姓名",
    "手机号",
    "性别",
    "生日",
    "邮箱",
    "标签",
    "同意营销",
    "专属顾问",
    "门店",
    "推荐人",
    "会员等级",
]
ROWS = [
    [
        "张三",
        "138-1234-5678",
        "男",
        "1990年3月5日",
        "ZS@Example.com",
        "VIP，老客户",
        "是",
        "李娜",
        "旗舰店",
        "13900001111",
        "金卡",
    ],
    ["单田芳", "+86 139 0000 1111", "女", "农历闰四月初八", "", "VIP", "否", "", "", "", ""],
    ["李四", "0086 137 0000 2222", "", "2/29", "", "", "", "李娜", "旗舰店", "13800009999", ""],
]


def opts(**kw: object) -> ImportOptions:
    return ImportOptions(**kw)  # type: ignore[arg-type]


def test_gbk_file_with_chinese_headers(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "会员.csv", HEADER, ROWS, encoding="gbk")
    report = import_customers(db, path, opts())
    assert report.committed, report.errors
    assert (report.inserted, report.updated, report.rejected) == (3, 0, 0)
    assert report.columns["会员等级"] == ""  # unmapped: kept as a custom field
    assert any("13800009999" in w for w in report.warnings)  # unknown referrer, reported
    with db.read() as s:
        zhang = s.execute(select(Customer).where(Customer.name == "张三")).scalar_one()
        assert (zhang.phone, zhang.phone_last4, zhang.email) == (
            "+8613812345678",
            "5678",
            "zs@example.com",
        )
        assert (zhang.birthday_year, zhang.birthday_month, zhang.birthday_day) == (1990, 3, 5)
        assert zhang.custom_fields == {"会员等级": "金卡"}
        assert {t.name for t in zhang.tags} == {"VIP", "老客户"}
        assert {c.channel: c.is_granted for c in zhang.consents} == {
            "sms": True,
            "email": True,
            "wechat": True,
            "phone": True,
        }
        shan = s.execute(select(Customer).where(Customer.name == "单田芳")).scalar_one()
        assert (
            shan.birthday_kind,
            shan.birthday_month,
            shan.birthday_day,
            shan.birthday_is_leap_month,
        ) == ("lunar", 4, 8, True)
        assert shan.name_pinyin == "shantianfang" and shan.gender == "female"
        assert zhang.referred_by_id == shan.id  # referrer later in the same file
        li = s.execute(select(Customer).where(Customer.name == "李四")).scalar_one()
        assert (li.birthday_year, li.birthday_month, li.birthday_day) == (None, 2, 29)
        staff = s.execute(select(Staff)).scalar_one()
        assert (staff.name, staff.role) == ("李娜", "clerk")
        assert zhang.owner_staff_id == li.owner_staff_id == staff.id
        assert s.execute(select(Store.name)).scalar_one() == "旗舰店"
        events = s.execute(select(func.count()).select_from(ConsentEvent)).scalar()
        assert events == 8  # 4 channels x 2 customers who answered


def test_reimport_is_a_no_op_and_updates_never_erase(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", HEADER, ROWS)
    assert import_customers(db, path, opts()).committed
    again = import_customers(db, path, opts())
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    # A second file: same phone written differently, new city, empty email, one new tag.
    update_file = write_csv(
        tmp_path / "u.csv",
        ["手机", "城市", "邮箱", "标签", "同意营销"],
        [["13812345678", "杭州", "", "团购", "否"]],
    )
    report = import_customers(db, update_file, opts())
    assert (report.inserted, report.updated) == (0, 1)
    with db.read() as s:
        zhang = s.execute(select(Customer).where(Customer.phone == "+8613812345678")).scalar_one()
        assert (zhang.city, zhang.email, zhang.name) == ("杭州", "zs@example.com", "张三")
        assert {t.name for t in zhang.tags} == {"VIP", "老客户", "团购"}
        sms = s.get(Consent, (zhang.id, "sms"))
        assert sms is not None and sms.is_granted is False and sms.source == "import:u.csv"
        history = (
            s.execute(
                select(ConsentEvent.is_granted)
                .where(ConsentEvent.customer_id == zhang.id, ConsentEvent.channel == "sms")
                .order_by(ConsentEvent.id)
            )
            .scalars()
            .all()
        )
        assert history == [True, False]
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 3


def test_duplicates_within_a_file_become_one_customer(db: Database, tmp_path: Path) -> None:
    rows = [
        ["王五", "13812345678", "", "", "", "", "", "", "", "", ""],
        ["王五", "+86 138 1234 5678", "男", "", "", "VIP", "", "", "", "", ""],
    ]
    report = import_customers(db, write_csv(tmp_path / "d.csv", HEADER, rows), opts())
    assert (report.inserted, report.updated) == (1, 1)
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 1
        assert s.execute(select(CustomerTag.name)).scalars().all() == ["VIP"]


def test_bad_rows_block_the_file_or_go_to_the_reject_file(db: Database, tmp_path: Path) -> None:
    rows = [
        *ROWS,
        ["赵六", "1234", "男", "1990-13-01", "", "", "", "", "", "", ""],
        ["", "13600001234", "", "", "", "", "", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "c.csv", HEADER, rows, encoding="utf-8-sig")
    blocked = import_customers(db, path, opts())
    assert not blocked.committed and blocked.rejected == 2
    assert {(e.line, e.column) for e in blocked.errors} >= {(5, "手机号"), (5, "生日"), (6, "姓名")}
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 0
    skipped = import_customers(db, path, opts(skip_bad_rows=True))
    assert skipped.committed and (skipped.inserted, skipped.rejected) == (3, 2)
    assert skipped.reject_file is not None
    with skipped.reject_file.open(encoding="utf-8-sig") as fh:
        lines = list(csv.reader(fh))
    assert [r[0] for r in lines[1:]] == ["5", "6"]
    assert "new customer needs a name" in lines[2][-1]


def test_xlsx_customers(db: Database, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx",
        ["客户名称", "电话", "出生日期"],
        [["欧阳修", 13812345678, "1980-01-02"]],
    )
    report = import_customers(db, path, opts())
    assert report.committed and report.inserted == 1
    with db.read() as s:
        c = s.execute(select(Customer)).scalar_one()
    assert (c.phone, c.name_initials) == ("+8613812345678", "oyx")


def test_dry_run_changes_nothing(db: Database, tmp_path: Path) -> None:
    report = import_customers(db, write_csv(tmp_path / "c.csv", HEADER, ROWS), opts(dry_run=True))
    assert not report.committed and report.inserted == 3
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 0
