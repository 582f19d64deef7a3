"""Search: name, pinyin (full and initials, polyphonic surnames), phone, tail, code, tag."""

from __future__ import annotations

import pytest

from guanxi.domain.access import mask_phone
from guanxi.errors import InvalidInput, NotFound
from guanxi.services.customers import get_customer_detail, search_customers
from guanxi.storage.db import Database
from tests.factories import make_customer


@pytest.fixture
def people(db: Database) -> dict[str, int]:
    return {
        "张三": make_customer(db, name="张三", phone="+8613812345678", code="M001"),
        "张三丰": make_customer(db, name="张三丰", phone="+8613900005678", tags=["VIP"]),
        "赵四": make_customer(db, name="赵四", phone="+8613700001111", email="zs@example.com"),
        "单雄信": make_customer(db, name="单雄信", phone="+8613600002222"),
        "曾小贤": make_customer(db, name="曾小贤", phone=None),
    }


def names(db: Database, query: str) -> list[str]:
    return [h.name for h in search_customers(db, query)]


def test_initials_rank_exact_before_prefix(db: Database, people: dict[str, int]) -> None:
    found = names(db, "zs")
    assert set(found[:2]) == {"张三", "赵四"}  # exact initials before prefix matches
    assert "张三丰" in found  # initials prefix


def test_full_pinyin_and_polyphonic_surnames(db: Database, people: dict[str, int]) -> None:
    assert names(db, "zhangsan")[0] == "张三"
    assert names(db, "Zhang San")[0] == "张三"
    assert names(db, "shanxiongxin") == ["单雄信"]
    assert names(db, "zengxiaoxian") == ["曾小贤"]


def test_chinese_name_exact_prefix_contains(db: Database, people: dict[str, int]) -> None:
    assert names(db, "张三") == ["张三", "张三丰"]
    assert names(db, "三丰") == ["张三丰"]


def test_phone_full_in_any_format_and_last_four(db: Database, people: dict[str, int]) -> None:
    assert names(db, "138-1234-5678") == ["张三"]
    assert names(db, "+86 138 1234 5678") == ["张三"]
    assert sorted(names(db, "5678")) == ["张三", "张三丰"]
    assert names(db, "1234-5678")[0] == "张三"


def test_code_email_and_tag(db: Database, people: dict[str, int]) -> None:
    assert names(db, "M001") == ["张三"]
    assert names(db, "ZS@example.com")[0] == "赵四"
    assert names(db, "VIP") == ["张三丰"]


def test_empty_query_and_nothing_found(db: Database, people: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        search_customers(db, "   ")
    assert names(db, "nobody") == []


def test_detail_and_masking(db: Database, people: dict[str, int]) -> None:
    detail = get_customer_detail(db, people["张三丰"])
    assert detail.customer["name"] == "张三丰" and detail.tags == ["VIP"]
    assert detail.summary.purchases == 0
    assert mask_phone("+8613812345678") == "138****5678"
    with pytest.raises(NotFound):
        get_customer_detail(db, 999_999)
