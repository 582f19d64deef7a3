"""Message templates: the sandbox, salutations, and the variables of many customers (both
databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, insert, select

from guanxi.care import templating
from guanxi.care.templating import (
    UNSUBSCRIBE_PLACEHOLDER,
    VARIABLES,
    check_template,
    contexts,
    render,
    salutation,
)
from guanxi.errors import InvalidInput
from guanxi.loyalty.tiers import Tier, tiers_as_json
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AppSetting,
    Coupon,
    CouponCampaign,
    Customer,
    CustomerTier,
    LoyaltyProgram,
    PointsBalance,
    Staff,
    Store,
)
from tests.factories import make_customer

NOW = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)

# --- the sandbox --------------------------------------------------------------------------------

ATTACKS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ name.__class__.__base__ }}",
    "{{ name|attr('__class__') }}",
    "{{ '{0.__class__}'.format(name) }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{% for x in range(1000000) %}{% endfor %}",
]


@pytest.mark.parametrize("body", ATTACKS)
def test_sandbox_refuses_attribute_tricks(body: str) -> None:
    with pytest.raises(InvalidInput):
        render(body, {"name": "张三"})
    assert check_template(body), body


def test_render_plain_text_without_escaping() -> None:
    out = render("{{ salutation }}，{{ shop }}祝您中秋快乐 <3 & {{ points }}分",
                 {"salutation": "张女士", "shop": "茶&舍", "points": 1280})  # fmt: skip
    assert out == "张女士，茶&舍祝您中秋快乐 <3 & 1280分"


def test_unknown_variables_render_empty_but_are_reported() -> None:
    assert render("您好{{ nickname }}！", {}) == "您好！"
    problems = check_template("您好{{ nickname }}！{{ salutation }}")
    assert len(problems) == 1 and "nickname" in problems[0]
    assert (
        check_template("{{ salutation }}，{% if coupon_code %}券码 {{ coupon_code }}{% endif %}")
        == []
    )


def test_syntax_errors_name_the_line() -> None:
    body = "第一行\n{{ salutation "
    with pytest.raises(InvalidInput, match="line 2"):
        render(body, {})
    assert check_template(body)[0].startswith("line 2")


def test_every_documented_variable_is_in_the_sample() -> None:
    assert set(VARIABLES) == set(templating.SAMPLE)


# --- salutations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "gender", "style", "locale", "first", "expected"),
    [
        ("张晓明", "female", None, "zh_CN", False, "张女士"),
        ("王伟", "male", "driver", "zh_CN", False, "王先生"),
        ("王伟", "unknown", None, "zh_CN", False, "王伟"),
        ("欧阳娜娜", "female", None, "zh_CN", False, "欧阳女士"),
        ("张晓明", "female", None, "zh_CN", True, "晓明"),
        ("王伟", "male", None, "zh_CN", True, "王伟"),  # 伟 alone is no way to address anyone
        ("张晓明", "female", None, "en", False, "Ms Zhang"),
        ("单田芳", "male", None, "en", False, "Mr Shan"),  # the surname reading, not dan
        ("欧阳娜娜", "female", None, "en", False, "Ms Ouyang"),
        ("张晓明", "female", None, "en", True, "Xiaoming"),
        ("张晓明", "unknown", None, "en", False, "Zhang Xiaoming"),
        ("Anna Smith", "female", None, "en", False, "Ms Smith"),
        ("Anna Smith", "female", "amiable", "en", False, "Anna"),
        ("Anna Smith", "female", "analytical", "en", False, "Ms Smith"),
        ("Anna Smith", "unknown", None, "en", False, "Anna Smith"),
        (
            "张晓明",
            "female",
            "expressive",
            "zh_CN",
            False,
            "张女士",
        ),  # warm style: still formal in Chinese
        ("", "female", None, "zh_CN", False, "顾客"),
        ("", "male", None, "en", False, "customer"),
    ],
)
def test_salutation(
    name: str, gender: str, style: str | None, locale: str, first: bool, expected: str
) -> None:
    assert salutation(name, gender, style, locale, first) == expected


# --- contexts (set-based) ------------------------------------------------------------------


def test_contexts_for_many_customers(db: Database) -> None:
    with db.write() as s:
        store = Store(code="A", name="旗舰店")
        s.add(store)
        s.flush()
        clerk = Staff(name="李娜", role="clerk", store_id=store.id)
        s.add(clerk)
        ladder = [Tier("silver", "银卡", Decimal(0)), Tier("gold", "金卡", Decimal(5000))]
        s.add(LoyaltyProgram(rules={}, tiers=tiers_as_json(ladder)))
        s.add(AppSetting(key="shop_name", value="茶舍"))
        s.flush()
        store_id, clerk_id = store.id, clerk.id
    zhang = make_customer(db, name="张晓明", gender="female", home_store_id=store_id,
                          owner_staff_id=clerk_id, birthday_month=3, birthday_day=5)  # fmt: skip
    wang = make_customer(db, name="王伟", gender="male", custom_fields={"称呼": "王总"},
                         birthday_kind="lunar", birthday_month=8, birthday_day=15)  # fmt: skip
    li = make_customer(db, name="李雷", gender="male", custom_fields={"prefers_first_name": "yes"})
    erased = make_customer(db, name="已删除", gender="female", phone=None,
                           erased_at=NOW - timedelta(days=1))  # fmt: skip
    with db.write() as s:
        s.add(PointsBalance(customer_id=zhang, points=1280))
        s.add(CustomerTier(customer_id=zhang, tier_key="gold", since=date(2026, 1, 1),
                           evaluated_on=date(2026, 9, 1)))  # fmt: skip
        live = CouponCampaign(name="中秋", kind="fixed", value=Decimal(20),
                              valid_until=NOW + timedelta(days=10))  # fmt: skip
        later = CouponCampaign(name="国庆", kind="fixed", value=Decimal(30),
                               valid_until=NOW + timedelta(days=40))  # fmt: skip
        expired = CouponCampaign(name="端午", kind="fixed", value=Decimal(10),
                                 valid_until=NOW - timedelta(days=1))  # fmt: skip
        s.add_all([live, later, expired])
        s.flush()
        s.add_all([
            Coupon(code="LATERCODE000", campaign_id=later.id, customer_id=zhang),
            Coupon(code="ABCDEFGHJKMN", campaign_id=live.id, customer_id=zhang),
            Coupon(code="USEDCODE0000", campaign_id=live.id, customer_id=wang, uses=1),
            Coupon(code="OLDCODE00000", campaign_id=expired.id, customer_id=wang),
        ])  # fmt: skip
    with db.read() as s:
        got = contexts(s, [zhang, wang, li, erased, 999_999], locale="zh_CN", now=NOW)
        english = contexts(s, [zhang], locale="en", now=NOW)
        configured = contexts(s, [zhang], locale="zh_CN", now=NOW, shop="  Tea House ")
    assert set(got) == {zhang, wang, li, erased}
    z = got[zhang]
    assert z["salutation"] == "张女士" and z["name"] == "张晓明" and z["first_name"] == "晓明"
    assert z["tier"] == "金卡" and z["points"] == 1280
    assert z["coupon_code"] == "ABCD-EFGH-JKMN"  # the unused one expiring first
    assert z["store"] == "旗舰店" and z["owner"] == "李娜" and z["shop"] == "茶舍"
    assert z["birthday"] == "3月5日" and z["unsubscribe_url"] == UNSUBSCRIBE_PLACEHOLDER
    w = got[wang]
    assert w["salutation"] == "王总" and w["coupon_code"] == "" and w["tier"] == ""
    assert w["points"] == 0 and w["birthday"] == "农历八月十五" and w["store"] == ""
    assert got[li]["salutation"] == "李雷"  # given name of one character: the full name
    assert got[erased]["name"] == "" and got[erased]["salutation"] == "顾客"
    assert english[zhang]["salutation"] == "Ms Zhang" and english[zhang]["birthday"] == "5 March"
    assert configured[zhang]["shop"] == "Tea House"
    text = render("{{ salutation }}，您是{{ tier }}会员，积分{{ points }}。券码：{{ coupon_code }}",
                  got[zhang])  # fmt: skip
    assert text == "张女士，您是金卡会员，积分1280。券码：ABCD-EFGH-JKMN"


def test_shop_name_falls_back_to_the_first_store(db: Database) -> None:
    with db.write() as s:
        s.add_all([Store(code="A", name="旗舰店"), Store(code="B", name="社区店")])
    with db.read() as s:
        assert templating.shop_name(s) == "旗舰店"
        assert templating.shop_name(s, "茶舍") == "茶舍"


def test_contexts_stay_set_based(db: Database) -> None:
    """6,000 customers (two chunks) in a handful of queries, not one per customer."""
    with db.write() as s:
        s.execute(insert(Customer), [
            {"name": f"客户{i}", "name_pinyin": "", "name_initials": "", "gender": "female",
             "custom_fields": {}} for i in range(6000)
        ])  # fmt: skip
    with db.read() as s:
        ids = [int(i) for i in s.execute(select(Customer.id)).scalars()]
        statements: list[str] = []
        event.listen(s.get_bind(), "before_cursor_execute",
                     lambda *a: statements.append(a[2]))  # fmt: skip
        got = contexts(s, ids, locale="zh_CN", now=NOW)
    assert len(got) == 6000 and got[ids[0]]["salutation"] == "客女士"
    assert len(statements) <= 10, len(statements)
