"""The deterministic demo shop: a tea house (茶叶/茶具) with two stores and three years of sales.

Everything is drawn from one ``random.Random(seed)`` and no clock is read, so the same seed,
end date and size give the same rows, ids included, on SQLite and on PostgreSQL.

Customers follow a buy-till-you-die process (BG/NBD style): each has a purchase rate drawn
from a Gamma distribution and a dropout probability drawn from a Beta distribution, applied
after every purchase. Spend varies per person (a Gamma-distributed price level) and demand
peaks before festivals and during the shopping promotions of the Chinese retail calendar.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from guanxi.domain.customers import Channel, CommunicationStyle, CustomerSource
from guanxi.domain.names import name_keys
from guanxi.domain.purchases import PaymentMethod
from guanxi.domain.staff import Role
from guanxi.errors import Conflict, InvalidInput
from guanxi.storage.db import Database
from guanxi.storage.models import Base

DEMO_END = date(2026, 10, 31)
"""Last day of the demo's sales history: fixed so that ``make demo`` is reproducible."""

SHOP_NAME = "茗香阁"
YEARS = 3
ProgressFn = Callable[[str, int, int], None]
Row = dict[str, Any]
_Line = tuple[int, Decimal, Decimal, Decimal]  # product id, quantity, unit price, discount
T = TypeVar("T")

SHANGHAI = ZoneInfo("Asia/Shanghai")
FEN = Decimal("0.01")
YUAN = ONE = Decimal(1)
CHUNK = 10_000

# -- the shop -------------------------------------------------------------------------------

STORES = (("SH01", f"{SHOP_NAME}旗舰店", 430), ("SH02", f"{SHOP_NAME}社区店", 120))  # days open
STAFF = (
    ("林婉清", Role.OWNER, None),
    ("王建国", Role.MANAGER, 1),
    ("张伟", Role.CLERK, 1),
    ("刘思雨", Role.CLERK, 1),
    ("周敏", Role.MANAGER, 2),
    ("赵磊", Role.CLERK, 2),
    ("孙晓婷", Role.CLERK, 2),
)

# sku, name, category, list price (yuan), popularity
PRODUCTS: tuple[tuple[str, str, str, str, int], ...] = (
    ("GRN-01", "西湖龙井 明前特级 50g", "绿茶", "298", 6),
    ("GRN-02", "西湖龙井 雨前一级 100g", "绿茶", "268", 8),
    ("GRN-03", "洞庭碧螺春 50g", "绿茶", "168", 6),
    ("GRN-04", "黄山毛峰 100g", "绿茶", "128", 5),
    ("GRN-05", "信阳毛尖 100g", "绿茶", "118", 4),
    ("GRN-06", "六安瓜片 100g", "绿茶", "188", 3),
    ("GRN-07", "太平猴魁 100g", "绿茶", "358", 3),
    ("GRN-08", "安吉白茶 50g", "绿茶", "158", 6),
    ("GRN-09", "峨眉竹叶青 100g", "绿茶", "198", 3),
    ("GRN-10", "茉莉花茶 100g", "绿茶", "68", 9),
    ("GRN-11", "桂花绿茶 袋泡 20包", "绿茶", "39.90", 7),
    ("BLK-01", "正山小种 100g", "红茶", "138", 7),
    ("BLK-02", "金骏眉 50g", "红茶", "398", 4),
    ("BLK-03", "祁门红茶 100g", "红茶", "158", 5),
    ("BLK-04", "滇红金芽 100g", "红茶", "128", 5),
    ("BLK-05", "英德红茶 100g", "红茶", "98", 4),
    ("BLK-06", "坦洋工夫 100g", "红茶", "118", 3),
    ("BLK-07", "红茶袋泡 25包", "红茶", "45.50", 8),
    ("BLK-08", "九曲红梅 100g", "红茶", "148", 2),
    ("OOL-01", "安溪铁观音 清香 250g", "乌龙茶", "168", 8),
    ("OOL-02", "安溪铁观音 浓香 250g", "乌龙茶", "158", 6),
    ("OOL-03", "武夷大红袍 125g", "乌龙茶", "268", 6),
    ("OOL-04", "武夷肉桂 125g", "乌龙茶", "238", 4),
    ("OOL-05", "武夷水仙 125g", "乌龙茶", "168", 3),
    ("OOL-06", "凤凰单丛 蜜兰香 100g", "乌龙茶", "198", 4),
    ("OOL-07", "冻顶乌龙 150g", "乌龙茶", "228", 3),
    ("OOL-08", "东方美人 50g", "乌龙茶", "268", 2),
    ("OOL-09", "桂花乌龙 三角包 20包", "乌龙茶", "49", 7),
    ("OOL-10", "漳平水仙 茶饼 250g", "乌龙茶", "138", 2),
    ("PUE-01", "勐海熟普 饼茶 357g", "普洱白茶", "188", 6),
    ("PUE-02", "易武生普 饼茶 357g", "普洱白茶", "458", 3),
    ("PUE-03", "老班章古树生普 200g", "普洱白茶", "1280", 1),
    ("PUE-04", "新会小青柑 250g", "普洱白茶", "168", 7),
    ("PUE-05", "宫廷熟普 散茶 250g", "普洱白茶", "128", 4),
    ("PUE-06", "梧州六堡茶 250g", "普洱白茶", "198", 2),
    ("PUE-07", "福鼎白毫银针 100g", "普洱白茶", "368", 3),
    ("PUE-08", "福鼎白牡丹 100g", "普洱白茶", "158", 4),
    ("PUE-09", "寿眉 饼茶 350g", "普洱白茶", "188", 4),
    ("PUE-10", "2015年老白茶饼 350g", "普洱白茶", "588", 2),
    ("WARE-01", "宜兴紫砂壶 朱泥西施 200ml", "茶具", "880", 2),
    ("WARE-02", "宜兴紫砂壶 原矿石瓢 260ml", "茶具", "1680", 1),
    ("WARE-03", "景德镇青花盖碗 150ml", "茶具", "128", 6),
    ("WARE-04", "白瓷盖碗 130ml", "茶具", "58", 7),
    ("WARE-05", "玻璃公道杯 260ml", "茶具", "45", 6),
    ("WARE-06", "品茗杯 六只装", "茶具", "88", 6),
    ("WARE-07", "建盏 兔毫", "茶具", "368", 2),
    ("WARE-08", "竹制茶盘", "茶具", "398", 2),
    ("WARE-09", "茶道六君子", "茶具", "68", 4),
    ("WARE-10", "旅行便携茶具套装", "茶具", "158", 4),
    ("WARE-11", "锡制茶叶罐", "茶具", "238", 2),
    ("WARE-12", "电陶炉 煮茶器", "茶具", "458", 2),
    ("WARE-13", "汝窑茶宠", "茶具", "38", 4),
    ("GIFT-01", "龙井礼盒 250g", "礼盒", "598", 3),
    ("GIFT-02", "金骏眉礼盒 250g", "礼盒", "688", 2),
    ("GIFT-03", "大红袍礼盒 250g", "礼盒", "498", 3),
    ("GIFT-04", "普洱珍藏礼盒 两饼", "礼盒", "888", 1),
    ("GIFT-05", "四季名茶礼盒 四罐", "礼盒", "368", 4),
    ("GIFT-06", "中秋茶月礼盒 茶与月饼", "礼盒", "328", 3),
    ("GIFT-07", "新春年货茶礼", "礼盒", "688", 3),
    ("GIFT-08", "商务茶具套装礼盒", "礼盒", "1288", 1),
    ("GIFT-09", "白茶礼盒 300g", "礼盒", "458", 2),
    ("GIFT-10", "小罐茶 十罐装", "礼盒", "228", 4),
)
GIFT_CATEGORY = "礼盒"
TIER_PRICES = (50.0, 90.0, 160.0, 300.0, 600.0)  # the price each spend tier gravitates to

# -- people ---------------------------------------------------------------------------------

# Surnames weighted by approximate share (per mille) of China's population, with polyphonic
# surnames (单 shan, 曾 zeng, 解 xie, 区 ou ...) for the pinyin search, and compound ones
# (欧阳, 司马 ...) a few times more common than in life so that a demo search finds some.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 71), ("李", 70), ("张", 67), ("刘", 54), ("陈", 45), ("杨", 31), ("黄", 22),
    ("赵", 20), ("吴", 19), ("周", 19), ("徐", 13), ("孙", 12), ("马", 12), ("朱", 11),
    ("胡", 10), ("郭", 10), ("何", 9), ("林", 9), ("高", 9), ("罗", 9), ("郑", 8), ("梁", 7),
    ("谢", 6), ("宋", 6), ("唐", 6), ("许", 5), ("韩", 5), ("冯", 5), ("邓", 5), ("曹", 5),
    ("彭", 4), ("曾", 4), ("肖", 4), ("田", 4), ("董", 4), ("袁", 4), ("潘", 4), ("于", 4),
    ("蒋", 4), ("蔡", 4), ("余", 3), ("杜", 3), ("叶", 3), ("程", 3), ("苏", 3), ("魏", 3),
    ("吕", 3), ("丁", 3), ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 3), ("崔", 3),
    ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 2), ("廖", 2),
    ("贾", 2), ("夏", 2), ("韦", 2), ("付", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2),
    ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("段", 2), ("雷", 2),
    ("侯", 2), ("龙", 2), ("史", 2), ("陶", 2), ("黎", 2), ("贺", 2), ("顾", 2), ("毛", 2),
    ("郝", 2), ("龚", 2), ("邵", 2), ("万", 2), ("钱", 2), ("严", 2), ("武", 2), ("戴", 2),
    ("覃", 1), ("莫", 1), ("孔", 1), ("向", 1), ("汤", 1), ("单", 0.6), ("解", 0.5),
    ("区", 0.4), ("仇", 0.3), ("查", 0.3), ("乐", 0.3), ("翟", 0.5), ("缪", 0.3), ("朴", 0.3),
    ("盖", 0.2), ("欧阳", 2), ("司马", 0.8), ("上官", 0.8), ("诸葛", 0.5), ("尉迟", 0.3),
    ("长孙", 0.2),
)  # fmt: skip
GIVEN_FEMALE = (
    "静丽敏燕艳娟霞芳娜婷雪慧琳颖倩玲萍红梅莉欣怡佳悦璐"
    "晨瑶婉蕾薇彤琪欢洁雅思晓诗梦雨文秀英华兰凤丹月春桂"
)
GIVEN_MALE = (
    "伟强磊军洋勇杰涛明超斌鹏辉刚健波宇浩凯俊帅峰建国华"
    "平东文龙飞晨博子轩然睿泽阳志海林成亮鑫宏旭鸿振天毅"
)
CITIES = (
    ("上海", 78), ("苏州", 5), ("杭州", 4), ("昆山", 3), ("嘉兴", 2), ("南京", 2), ("无锡", 2),
    ("北京", 1.5), ("宁波", 1.5), ("广州", 1),
)  # fmt: skip
MOBILE_PREFIXES = tuple(
    str(prefix) for prefix in [*range(130, 140), 150, 151, 152, 153, *range(155, 160), 166,
                               176, 177, 178, *range(180, 190), 198, 199]
)  # fmt: skip
MAIL_DOMAINS = (
    ("qq.com", 40),
    ("163.com", 25),
    ("126.com", 10),
    ("foxmail.com", 8),
    ("sina.com", 5),
    ("gmail.com", 7),
    ("outlook.com", 5),
)
SOURCES = ((CustomerSource.WALK_IN, 58), (CustomerSource.ONLINE, 24), (CustomerSource.EVENT, 18))
CONSENT_SOURCES = {
    CustomerSource.WALK_IN: "demo: signed paper form",
    CustomerSource.REFERRAL: "demo: signed paper form",
    CustomerSource.ONLINE: "demo: online sign-up form",
    CustomerSource.EVENT: "demo: event sign-up sheet",
}
WITHDRAWALS = {
    Channel.SMS: "demo: replied TD to an SMS",
    Channel.EMAIL: "demo: unsubscribe link",
    Channel.WECHAT: "demo: blocked the official account",
    Channel.PHONE: "demo: asked in store",
}
GRANT_RATES = {Channel.SMS: 0.55, Channel.EMAIL: 0.45, Channel.WECHAT: 0.7, Channel.PHONE: 0.2}
GENDERS = (("female", 58), ("male", 40), ("unknown", 2))
INTEREST_COUNTS = ((0, 40), (1, 30), (2, 20), (3, 10))
INTERESTS = ("品茶", "茶艺", "紫砂收藏", "普洱收藏", "养生", "送礼", "书法", "古琴", "户外", "摄影")
NOTES = (
    "喜欢浓香型铁观音，每次来都要试新茶。",
    "对咖啡因敏感，推荐白茶和熟普。",
    "生日前一周提醒，喜欢手写贺卡。",
    "家住附近，周末常带孩子来。",
    "收藏紫砂壶，新到朱泥壶请第一时间通知。",
    "不喜欢电话推销，微信联系即可。",
    "上次礼盒包装破损，已补偿，注意包装。",
    "在学茶艺，对茶艺班很感兴趣。",
)
COMPANY_NOTE = "公司中秋、春节集中采购礼盒，对接人为行政部。"
RETURN_REASONS = {
    "茶具": ("运输破损", "有瑕疵，换货不如退货"),
    GIFT_CATEGORY: ("礼盒包装破损", "送礼计划取消"),
}
TEA_RETURN_REASONS = ("口味不合适", "茶叶受潮", "买错规格")
PAYMENTS = (
    (PaymentMethod.WECHAT_PAY, 48), (PaymentMethod.ALIPAY, 27), (PaymentMethod.CARD, 8),
    (PaymentMethod.CASH, 7), (PaymentMethod.STORED_VALUE, 8), (PaymentMethod.POINTS, 1),
    (PaymentMethod.OTHER, 1),
)  # fmt: skip
# Opening hours 10:00-21:00 local time: the hour a sale starts, weighted.
HOURS = (
    (10, 3),
    (11, 5),
    (12, 6),
    (13, 5),
    (14, 5),
    (15, 6),
    (16, 7),
    (17, 8),
    (18, 9),
    (19, 7),
    (20, 4),
)
WEEKDAY_RATES = {4: 1.1, 5: 1.35, 6: 1.35}  # Friday to Sunday
LINE_COUNTS = ((1, 35), (2, 30), (3, 20), (4, 15))
QUANTITIES = ((1, 68), (2, 20), (3, 8), (4, 2), (5, 1), (6, 1))

# -- the calendar ---------------------------------------------------------------------------

# Demo-only: Gregorian dates of 春节 (正月初一), 中秋 (八月十五) and 七夕 (七月初七) for the years
# a demo may span. Years outside the table get no lunar festival peaks.
LUNAR_FESTIVALS: dict[int, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    2015: ((2, 19), (9, 27), (8, 20)), 2016: ((2, 8), (9, 15), (8, 9)),
    2017: ((1, 28), (10, 4), (8, 28)),
    2018: ((2, 16), (9, 24), (8, 17)), 2019: ((2, 5), (9, 13), (8, 7)),
    2020: ((1, 25), (10, 1), (8, 25)), 2021: ((2, 12), (9, 21), (8, 14)),
    2022: ((2, 1), (9, 10), (8, 4)), 2023: ((1, 22), (9, 29), (8, 22)),
    2024: ((2, 10), (9, 17), (8, 10)), 2025: ((1, 29), (10, 6), (8, 29)),
    2026: ((2, 17), (9, 25), (8, 19)), 2027: ((2, 6), (9, 15), (8, 8)),
    2028: ((1, 26), (10, 3), (8, 26)), 2029: ((2, 13), (9, 22), (8, 16)),
    2030: ((2, 3), (9, 12), (8, 5)),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of days when demand changes: a festival gift season or a promotion."""

    name: str
    first: date
    last: date
    boost: float
    promotion: bool = False
    gifts: bool = False


def calendar_windows(year: int) -> list[Window]:
    """The demand windows of one year: festival seasons, 春节 closing days and promotions."""
    windows = [
        Window("520", date(year, 5, 18), date(year, 5, 20), 1.4, promotion=True),
        Window("618", date(year, 6, 1), date(year, 6, 18), 1.5, promotion=True),
        Window("双11", date(year, 11, 1), date(year, 11, 11), 1.8, promotion=True),
        Window("双12", date(year, 12, 10), date(year, 12, 12), 1.5, promotion=True),
    ]
    if year in LUNAR_FESTIVALS:
        spring, autumn, qixi = (date(year, m, d) for m, d in LUNAR_FESTIVALS[year])
        day = timedelta(days=1)
        windows += [
            Window("春节前", spring - 21 * day, spring - day, 2.4, gifts=True),
            Window("春节", spring, spring + 3 * day, 0.15),
            Window("中秋前", autumn - 14 * day, autumn - day, 2.6, gifts=True),
            Window("七夕", qixi - 3 * day, qixi, 1.5, promotion=True),
        ]
    return windows


@dataclass(frozen=True, slots=True)
class _Day:
    """One day of the demo period: its demand multiplier and what kind of day it is."""

    on: date
    rate: float
    promotion: bool
    gifts: bool


def _days(start: date, end: date) -> list[_Day]:
    """Every day from start to end with its weekday and calendar-window effects."""
    windows = [w for year in range(start.year, end.year + 1) for w in calendar_windows(year)]
    days = []
    for offset in range((end - start).days + 1):
        on = start + timedelta(days=offset)
        hits = [w for w in windows if w.first <= on <= w.last]
        boosts = [w.boost for w in hits] or [1.0]
        boost = min(boosts) if min(boosts) < 1 else max(boosts)  # closed days win
        rate = WEEKDAY_RATES.get(on.weekday(), 1.0) * boost
        days.append(_Day(on, rate, any(w.promotion for w in hits), any(w.gifts for w in hits)))
    return days


# -- the summary ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo build wrote: counts, money, dates and a few shares."""

    seed: int
    stores: int
    staff: int
    customers: int
    products: int
    purchases: int
    purchase_lines: int
    returns: int
    revenue: Decimal  # sum of purchase totals less refunds
    refunds: Decimal
    first_purchase: date | None
    last_purchase: date | None
    lunar_birthday_share: float
    consent_share: float  # customers with marketing consent on at least one channel
    referred_customers: int
    owner_name: str

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        period = f"{self.first_purchase} – {self.last_purchase}" if self.first_purchase else "–"
        return [
            ("Shop", f"{SHOP_NAME} (tea & tea ware), seed {self.seed}"),
            ("Owner", self.owner_name),
            ("Stores / staff", f"{self.stores} / {self.staff}"),
            ("Products", f"{self.products:,}"),
            ("Customers", f"{self.customers:,}"),
            ("Referred customers", f"{self.referred_customers:,}"),
            ("Lunar birthdays", f"{self.lunar_birthday_share:.1%}"),
            ("Marketing consent (any channel)", f"{self.consent_share:.1%}"),
            ("Purchases / lines", f"{self.purchases:,} / {self.purchase_lines:,}"),
            ("Returns", f"{self.returns:,} (refunded ¥{self.refunds:,.2f})"),
            ("Revenue (net of refunds)", f"¥{self.revenue:,.2f}"),
            ("Purchase dates", period),
        ]


# -- generation -----------------------------------------------------------------------------


class _Weighted(Generic[T]):
    """Draws items by weight with one random number and a binary search."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum: list[float] = []
        total = 0.0
        for _, weight in pairs:
            total += weight
            self.cum.append(total)
        self.total = total

    def draw(self, rng: random.Random) -> T:
        """One item, chosen with probability proportional to its weight."""
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


@dataclass(slots=True)
class _Person:
    """What the purchase process needs to know about one generated customer."""

    id: int
    day: int  # index of the acquisition day
    store_id: int
    owner_id: int | None
    first_at: datetime
    rate: float  # purchases per day while alive (λ)
    dropout: float  # probability of leaving after each purchase (p)
    tier: int  # spend level, 0 (thrifty) .. 4 (lavish)
    buys: bool
    company: bool
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Order:
    """One generated receipt before ids and order numbers are assigned."""

    person: _Person
    day: int
    store_id: int
    staff_id: int
    at: datetime
    promotion: bool
    payment: str
    lines: list[_Line]


@dataclass(frozen=True, slots=True)
class _LineRef:
    """What a return needs to know about a purchase line."""

    id: int
    quantity: Decimal
    amount: Decimal
    product: int


@dataclass
class _Tables:
    """The rows to insert, by table name, in an order that respects foreign keys."""

    rows: dict[str, list[Row]] = field(
        default_factory=lambda: {t.name: [] for t in Base.metadata.sorted_tables}
    )

    def add(self, table: str, **values: Any) -> None:
        """Append one row."""
        self.rows[table].append(values)

    def count(self, table: str) -> int:
        """How many rows a table will get."""
        return len(self.rows[table])


def _years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


class _Generator:
    """Draws the whole demo shop from one seeded random generator."""

    def __init__(self, seed: int, customers: int, end: date, progress: ProgressFn) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.size = customers
        self.start = _years_before(end, YEARS) + timedelta(days=1)
        self.days = _days(self.start, end)
        self.max_rate = max(d.rate for d in self.days)
        self.progress = progress
        self.t = _Tables()
        self.people: list[_Person] = []
        self.orders: list[_Order] = []
        self.phones: set[str] = set()
        self.emails: set[str] = set()
        self.lunar = 0
        self.consenting = 0
        self.referred = 0
        self._pickers()

    def _pickers(self) -> None:
        self.surnames = _Weighted(SURNAMES)
        self.cities = _Weighted(CITIES)
        self.sources = _Weighted(SOURCES)
        self.payments = _Weighted(PAYMENTS)
        self.hours = _Weighted(HOURS)
        self.line_counts = _Weighted(LINE_COUNTS)
        self.quantities = _Weighted(QUANTITIES)
        self.domains = _Weighted(MAIL_DOMAINS)
        self.genders = _Weighted(GENDERS)
        self.interest_counts = _Weighted(INTEREST_COUNTS)
        self.product_pickers = {
            (tier, gifts): _Weighted(_product_weights(tier, gifts))
            for tier in range(len(TIER_PRICES))
            for gifts in (False, True)
        }

    # -- shop ---------------------------------------------------------------------------------

    def shop(self) -> None:
        """Stores, staff and the product catalogue."""
        before = datetime.combine(self.start, datetime.min.time(), SHANGHAI)
        for i, (code, name, days_open) in enumerate(STORES, start=1):
            at = (before - timedelta(days=days_open)).astimezone(UTC)
            self.t.add("store", id=i, code=code, name=name, timezone="Asia/Shanghai", created_at=at)
        opened = self.t.rows["store"][0]["created_at"]
        for i, (name, role, store_id) in enumerate(STAFF, start=1):
            self.t.add(
                "staff",
                id=i,
                name=name,
                role=role.value,
                store_id=store_id,
                is_active=True,
                created_at=opened,
            )
        for i, (sku, name, category, price, _) in enumerate(PRODUCTS, start=1):
            self.t.add(
                "product", id=i, sku=sku, name=name, category=category, list_price=Decimal(price)
            )
        self._serving()

    def _serving(self) -> None:
        """Who serves at each store: clerks twice as often as the manager."""
        self.serving = {
            store: _Weighted(
                [
                    (i, 1.0 if role is Role.MANAGER else 2.0)
                    for i, (_, role, at) in enumerate(STAFF, start=1)
                    if at == store
                ]
            )
            for store in range(1, len(STORES) + 1)
        }

    # -- customers ----------------------------------------------------------------------------

    def acquisition_days(self) -> list[int]:
        """Sorted acquisition day indexes: growing over time, peaking with demand."""
        span = len(self.days)
        growth = 1.5  # the last day sees (1 + growth) times the new customers of the first
        out: list[int] = []
        while len(out) < self.size:
            u = self.rng.random()
            t = (math.sqrt(1 + growth * (2 + growth) * u) - 1) / growth  # inverse CDF of 1+g*t
            day = min(span - 1, int(t * span))
            if self.rng.random() * self.max_rate < self.days[day].rate:
                out.append(day)
        return sorted(out)

    def customers(self) -> None:
        """Every customer, in acquisition order, with contact data, consents and purchases."""
        acquired = self.acquisition_days()
        depth: list[int] = []
        chain_ends: list[int] = []  # referred customers who may still refer (depth < 4)
        for i, day in enumerate(acquired):
            earlier = bisect.bisect_left(acquired, day)
            referrer = self._referrer(earlier, depth, chain_ends)
            depth.append(0 if referrer is None else depth[referrer - 1] + 1)
            if referrer is not None and depth[-1] < 4:
                chain_ends.append(i + 1)
            person = self._person(i + 1, day, referrer)
            self.people.append(person)
            self._customer_row(person, referrer)
            self._purchases(person)
            if i % 250 == 0 or i + 1 == self.size:
                self.progress("Generating customers and purchases", i + 1, self.size)

    def _referrer(self, earlier: int, depth: list[int], chain_ends: list[int]) -> int | None:
        """The id of an earlier customer who referred this one, for about 15 %."""
        if earlier == 0 or self.rng.random() >= 0.15:
            return None
        eligible = bisect.bisect_right(chain_ends, earlier)  # chain ends acquired earlier
        if eligible and self.rng.random() < 0.4:
            return chain_ends[self.rng.randrange(eligible)]
        while True:  # anyone earlier whose chain is shorter than 4 (customer 1 always is)
            referrer = self.rng.randrange(earlier) + 1
            if depth[referrer - 1] < 4:
                return referrer

    def _person(self, cid: int, day: int, referrer: int | None) -> _Person:
        rng = self.rng
        if referrer is not None and rng.random() < 0.8:
            store_id = self.people[referrer - 1].store_id
        else:
            store_id = 1 if rng.random() < 0.6 else 2
        owner = self.serving[store_id].draw(rng) if rng.random() < 0.85 else None
        spend = rng.gammavariate(2.5, 1 / 2.5)
        tier = bisect.bisect_right((0.5, 0.8, 1.2, 1.8), spend)
        return _Person(
            id=cid,
            day=day,
            store_id=store_id,
            owner_id=owner,
            first_at=self._shop_time(day),
            rate=rng.gammavariate(1.3, 1 / 64),
            dropout=rng.betavariate(1.1, 7.0),
            tier=tier,
            buys=rng.random() < 0.96,
            company=rng.random() < 0.03,
        )

    def _customer_row(self, p: _Person, referrer: int | None) -> None:
        """The customer row, then its tags, interests, anniversary and consents."""
        rng = self.rng
        contact = self._contact()
        source = CustomerSource.REFERRAL if referrer is not None else self.sources.draw(rng)
        self.referred += referrer is not None
        style = rng.choice(list(CommunicationStyle)).value if rng.random() < 0.5 else None
        note = COMPANY_NOTE if p.company else (rng.choice(NOTES) if rng.random() < 0.08 else None)
        self.t.add(
            "customer",
            id=p.id,
            code=f"M{p.id:06d}",
            **contact,
            **self._birthday(p),
            city=self.cities.draw(rng),
            source=source.value,
            referred_by_id=referrer,
            owner_staff_id=p.owner_id,
            home_store_id=p.store_id,
            communication_style=style,
            notes=note,
            custom_fields={},
            created_at=p.first_at,
            updated_at=p.first_at,
        )
        self._extras(p)
        self._consents(p, source, contact["email"] is not None, contact["wechat_id"] is not None)

    def _contact(self) -> Row:
        """Name with its pinyin keys, gender, a unique mobile, and email/WeChat for some."""
        rng = self.rng
        gender = self.genders.draw(rng)
        name = self._name(gender)
        pinyin, initials = name_keys(name)
        phone = self._phone()
        return {
            "name": name,
            "name_pinyin": pinyin,
            "name_initials": initials,
            "gender": gender,
            "phone": phone,
            "phone_last4": phone[-4:],
            "email": self._email(pinyin) if rng.random() < 0.4 else None,
            "wechat_id": self._wechat(pinyin) if rng.random() < 0.6 else None,
        }

    def _name(self, gender: str) -> str:
        rng = self.rng
        pool = GIVEN_MALE if gender == "male" else GIVEN_FEMALE
        if gender == "unknown":
            pool = GIVEN_MALE + GIVEN_FEMALE
        given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.75 else "")
        return str(self.surnames.draw(rng)) + given

    def _phone(self) -> str:
        while True:
            phone = f"+86{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _email(self, pinyin: str) -> str:
        rng = self.rng
        while True:
            domain = self.domains.draw(rng)
            if domain == "qq.com" and rng.random() < 0.6:
                local = str(rng.randrange(10_000_000, 3_000_000_000))
            else:
                local = f"{pinyin}{rng.randrange(1, 10_000)}" if rng.random() < 0.7 else pinyin
            email = f"{local}@{domain}"
            if email not in self.emails:
                self.emails.add(email)
                return email

    def _wechat(self, pinyin: str) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return "wxid_" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
        return f"{pinyin}_{rng.randrange(100, 100_000)}"

    def _birthday(self, p: _Person) -> Row:
        """Birthday columns: 80 % known, ~15 % of those lunar, some in a leap month."""
        rng = self.rng
        if rng.random() >= 0.8:
            return _birthday_columns("solar", None, None, None)
        age = int(rng.triangular(20, 75, 42))
        year = self.days[p.day].on.year - age if rng.random() < 0.75 else None
        if rng.random() < (0.3 if age >= 55 else 0.12):
            self.lunar += 1
            leap = rng.random() < 0.08
            month = rng.randint(2, 8) if leap else rng.randint(1, 12)
            return _birthday_columns("lunar", year, month, rng.randint(1, 30), leap=leap)
        born = date(2000, 1, 1) + timedelta(days=rng.randrange(366))  # 2000 has 29 February
        if year is not None and (born.month, born.day) == (2, 29):
            year -= year % 4  # a leap year (birth years lie well inside 1901-2099)
        return _birthday_columns("solar", year, born.month, born.day)

    def _extras(self, p: _Person) -> None:
        """Random tags, interests and the odd wedding anniversary."""
        rng = self.rng
        for tag, share in (("团购", 0.04), ("茶艺班", 0.06)):
            if rng.random() < share:
                p.tags.append(tag)
        if p.company:
            p.tags.append("企业客户")
        for interest in rng.sample(INTERESTS, self.interest_counts.draw(rng)):
            self.t.add("customer_interest", customer_id=p.id, name=interest)
        if rng.random() < 0.05:
            wed = date(1985, 1, 1) + timedelta(days=rng.randrange(40 * 365))
            self.t.add(
                "anniversary",
                id=self.t.count("anniversary") + 1,
                customer_id=p.id,
                label="结婚纪念日",
                occurs_on=wed,
                calendar_kind="solar",
            )

    def _consents(self, p: _Person, source: CustomerSource, email: bool, wechat: bool) -> None:
        """Current consent per channel plus its history: given at sign-up, a few withdrawn."""
        channels = [Channel.SMS, Channel.PHONE]
        channels += [Channel.EMAIL] if email else []
        channels += [Channel.WECHAT] if wechat else []
        granted_any = False
        for channel in sorted(channels):
            granted = self.rng.random() < GRANT_RATES[channel]
            at, how = p.first_at, CONSENT_SOURCES[source]
            self._consent_event(p.id, channel, granted, at, how)
            left = len(self.days) - 1 - p.day
            if granted and left > 0 and self.rng.random() < 0.06:
                granted, how = False, WITHDRAWALS[channel]
                at = self._shop_time(p.day + self.rng.randint(1, left))
                self._consent_event(p.id, channel, granted, at, how)
            granted_any = granted_any or granted
            self.t.add(
                "consent",
                customer_id=p.id,
                channel=channel.value,
                is_granted=granted,
                changed_at=at,
                source=how,
            )
        self.consenting += granted_any

    def _consent_event(self, cid: int, ch: Channel, granted: bool, at: datetime, how: str) -> None:
        self.t.add(
            "consent_event",
            id=self.t.count("consent_event") + 1,
            customer_id=cid,
            channel=ch.value,
            is_granted=granted,
            at=at,
            source=how,
        )

    # -- purchases ----------------------------------------------------------------------------

    def _shop_time(self, day: int) -> datetime:
        """A moment during opening hours on a day, local time turned to UTC."""
        on = self.days[day].on
        hour = self.hours.draw(self.rng)
        local = datetime(
            on.year,
            on.month,
            on.day,
            hour,
            self.rng.randrange(60),
            self.rng.randrange(60),
            tzinfo=SHANGHAI,
        )
        return local.astimezone(UTC)

    def _purchase_days(self, p: _Person) -> list[int]:
        """Day indexes of a customer's purchases: Poisson while alive, dropout after each."""
        if not p.buys:
            return []
        out, t, last = [p.day], float(p.day), len(self.days)
        while self.rng.random() >= p.dropout:
            while True:  # thinning: candidate events at the peak rate, kept by the day's rate
                t += self.rng.expovariate(p.rate * self.max_rate)
                if t >= last:
                    return out
                day = int(t)
                if self.rng.random() * self.max_rate < self.days[day].rate:
                    break
            out.append(day)
        return out

    def _purchases(self, p: _Person) -> None:
        for n, day in enumerate(self._purchase_days(p)):
            at = p.first_at if n == 0 else self._shop_time(day)
            away = n > 0 and self.rng.random() < 0.12  # now and then at the other store
            store_id = 3 - p.store_id if away else p.store_id
            self.orders.append(
                _Order(
                    person=p,
                    day=day,
                    store_id=store_id,
                    staff_id=self._clerk(p, store_id),
                    at=at,
                    promotion=self.days[day].promotion,
                    payment=self.payments.draw(self.rng).value,
                    lines=self._lines(p, day),
                )
            )

    def _clerk(self, p: _Person, store_id: int) -> int:
        if p.owner_id is not None and store_id == p.store_id and self.rng.random() < 0.4:
            return p.owner_id
        return self.serving[store_id].draw(self.rng)

    def _lines(self, p: _Person, day: int) -> list[_Line]:
        rng, info = self.rng, self.days[day]
        picker = self.product_pickers[p.tier, info.gifts]
        chosen: list[int] = []
        for _ in range(self.line_counts.draw(rng)):
            product = picker.draw(rng)
            if product not in chosen:
                chosen.append(product)
        lines = []
        for product in chosen:
            _, _, category, price_text, _ = PRODUCTS[product - 1]
            quantity = self.quantities.draw(rng)
            if p.company and info.gifts and category == GIFT_CATEGORY:
                quantity = rng.randint(5, 30)
            price = Decimal(price_text)
            lines.append(
                (product, Decimal(quantity), price, self._discount(quantity * price, info))
            )
        return lines

    def _discount(self, gross: Decimal, info: _Day) -> Decimal:
        """Promotion days: 10-20 % off most lines; other days a 5 % member discount on some."""
        r = self.rng.random()
        if info.promotion and r < 0.6:
            rate = Decimal(self.rng.choice(("0.10", "0.15", "0.20")))
        elif r < 0.1:
            rate = Decimal("0.05")
        else:
            return Decimal(0)
        return (gross * rate).quantize(YUAN, rounding=ROUND_DOWN)

    # -- ids, order numbers and returns -------------------------------------------------------

    def finish_orders(self) -> None:
        """Sort receipts by time, give ids and per-store daily order numbers, make rows."""
        self.orders.sort(key=lambda o: o.at)
        counters: dict[tuple[int, date], int] = {}
        self.line_refs: list[list[_LineRef]] = []
        for pid, order in enumerate(self.orders, start=1):
            on = self.days[order.day].on
            seq = counters[order.store_id, on] = counters.get((order.store_id, on), 0) + 1
            refs = [self._line_row(pid, no, line) for no, line in enumerate(order.lines, start=1)]
            self.line_refs.append(refs)
            self.t.add(
                "purchase",
                id=pid,
                store_id=order.store_id,
                external_order_id=f"{STORES[order.store_id - 1][0]}-{on:%Y%m%d}-{seq:04d}",
                customer_id=order.person.id,
                staff_id=order.staff_id,
                purchased_at=order.at,
                total_amount=sum((ref.amount for ref in refs), Decimal(0)),
                is_promotion=order.promotion,
                payment_method=order.payment,
                import_batch_id=None,
                created_at=order.at,
            )

    def _line_row(self, pid: int, no: int, line: _Line) -> _LineRef:
        product, quantity, price, discount = line
        ref = _LineRef(
            self.t.count("purchase_line") + 1, quantity, quantity * price - discount, product
        )
        self.t.add(
            "purchase_line",
            id=ref.id,
            purchase_id=pid,
            line_no=no,
            product_id=product,
            quantity=quantity,
            unit_price=price,
            discount=discount,
            amount=ref.amount,
            source_line=None,
        )
        return ref

    def returns(self) -> None:
        """About 1.5 % of receipts come back, in part or whole, within two weeks."""
        pending = []
        for pid, order in enumerate(self.orders, start=1):
            if self.rng.random() >= 0.015:
                continue
            day = order.day + self.rng.choice((1, 1, 2, 2, 3, 5, 7, 10, 14))
            if day < len(self.days):
                pending.append((self._shop_time(day), pid))
        pending.sort(key=lambda item: item[0])
        for rid, (at, pid) in enumerate(pending, start=1):
            self._return(rid, at, pid)

    def _return(self, rid: int, at: datetime, pid: int) -> None:
        refs = self.line_refs[pid - 1]
        back = refs if self.rng.random() < 0.3 else [self.rng.choice(refs)]
        refund = Decimal(0)
        for ref in back:
            quantity = ONE if ref.quantity > 1 and self.rng.random() < 0.4 else ref.quantity
            amount = (ref.amount * quantity / ref.quantity).quantize(FEN, rounding=ROUND_HALF_UP)
            refund += amount
            self.t.add(
                "return_line",
                id=self.t.count("return_line") + 1,
                return_id=rid,
                purchase_line_id=ref.id,
                quantity=quantity,
                amount=amount,
            )
        category = PRODUCTS[back[0].product - 1][2]
        order_no = self.t.rows["purchase"][pid - 1]["external_order_id"]
        self.t.add(
            "purchase_return",
            id=rid,
            purchase_id=pid,
            external_return_id=f"{order_no}-R1",
            returned_at=at,
            reason=self.rng.choice(RETURN_REASONS.get(category, TEA_RETURN_REASONS)),
            refund_amount=refund,
            created_at=at,
        )

    def derived_tags(self) -> None:
        """VIP (top 8 % by spend), 老客户 (loyal for 2+ years), 新客 (last 60 days), then rows."""
        spend: dict[int, Decimal] = {}
        counts: dict[int, int] = {}
        for row in self.t.rows["purchase"]:
            cid = row["customer_id"]
            spend[cid] = spend.get(cid, Decimal(0)) + row["total_amount"]
            counts[cid] = counts.get(cid, 0) + 1
        ranked = sorted(spend, key=lambda cid: (-spend[cid], cid))
        vip = set(ranked[: math.ceil(len(ranked) * 0.08)])
        last = len(self.days) - 1
        for p in self.people:
            tags = (["VIP"] if p.id in vip else []) + p.tags
            if counts.get(p.id, 0) >= 6 and last - p.day >= 730:
                tags.append("老客户")
            if last - p.day < 60:
                tags.append("新客")
            for tag in tags:
                self.t.add("customer_tag", customer_id=p.id, name=tag)

    def summary(self) -> DemoSummary:
        """Counts and figures of what was generated."""
        t = self.t
        purchases = t.rows["purchase"]
        refunds = sum((r["refund_amount"] for r in t.rows["purchase_return"]), Decimal(0))
        gross = sum((r["total_amount"] for r in purchases), Decimal(0))
        return DemoSummary(
            seed=self.seed,
            stores=t.count("store"),
            staff=t.count("staff"),
            customers=t.count("customer"),
            products=t.count("product"),
            purchases=len(purchases),
            purchase_lines=t.count("purchase_line"),
            returns=t.count("purchase_return"),
            revenue=gross - refunds,
            refunds=refunds,
            first_purchase=_local_date(purchases[0]["purchased_at"]) if purchases else None,
            last_purchase=_local_date(purchases[-1]["purchased_at"]) if purchases else None,
            lunar_birthday_share=self.lunar / self.size,
            consent_share=self.consenting / self.size,
            referred_customers=self.referred,
            owner_name=STAFF[0][0],
        )


def _product_weights(tier: int, gifts: bool) -> list[tuple[int, float]]:
    """Product ids weighted by popularity, closeness to the tier's price and gift season."""
    target = TIER_PRICES[tier]
    out = []
    for pid, (_, _, category, price, popularity) in enumerate(PRODUCTS, start=1):
        closeness = 1 / (1 + abs(math.log(float(price) / target))) ** 2
        season = 4.0 if gifts and category == GIFT_CATEGORY else 1.0
        out.append((pid, popularity * closeness * season))
    return out


def _birthday_columns(
    kind: str, year: int | None, month: int | None, day: int | None, *, leap: bool = False
) -> Row:
    return {
        "birthday_kind": kind,
        "birthday_year": year,
        "birthday_month": month,
        "birthday_day": day,
        "birthday_is_leap_month": leap,
    }


def _local_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


# -- writing --------------------------------------------------------------------------------


def _check_empty(session: Session) -> None:
    """Raise Conflict unless the shop tables are empty (the demo assigns ids from 1)."""
    tables = Base.metadata.tables
    customers = session.scalar(select(func.count()).select_from(tables["customer"])) or 0
    if customers:
        raise Conflict(
            f"the database already holds {customers:,} customers: the demo builds only into an "
            "empty database; give it a new file, e.g. guanxi --db demo.db demo"
        )
    for name in ("store", "staff", "product", "purchase"):
        if session.scalar(select(func.count()).select_from(tables[name])):
            raise Conflict(
                f"the database already holds rows in table {name!r}: the demo builds only into "
                "an empty database; give it a new file, e.g. guanxi --db demo.db demo"
            )


def _insert_all(session: Session, rows: dict[str, list[Row]], progress: ProgressFn) -> None:
    """Bulk-insert every table in chunks, reporting rows written."""
    total = sum(len(r) for r in rows.values())
    done = 0
    progress("Writing rows", done, total)
    for name, table_rows in rows.items():
        table: Table = Base.metadata.tables[name]
        for at in range(0, len(table_rows), CHUNK):
            chunk = table_rows[at : at + CHUNK]
            session.execute(insert(table), chunk)
            done += len(chunk)
            progress("Writing rows", done, total)


def _reset_sequences(session: Session) -> None:
    """On PostgreSQL, move each id sequence past the ids the demo assigned itself."""
    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.c["id"].primary_key:
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'COALESCE(MAX(id), 0) + 1, false) FROM "{table.name}"'
                )
            )


def _no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: ignore."""


def build_demo(
    db: Database,
    *,
    seed: int = 42,
    customers: int = 5000,
    end: date = DEMO_END,
    progress: ProgressFn | None = None,
) -> DemoSummary:
    """Build the deterministic demo shop into an empty, migrated database and summarise it."""
    if customers < 1:
        raise InvalidInput(f"the demo needs at least 1 customer (asked for {customers})")
    report = progress or _no_progress
    with db.read() as session:
        _check_empty(session)  # fail before the work; checked again under the write lock
    gen = _Generator(seed, customers, end, report)
    gen.shop()
    gen.customers()
    gen.finish_orders()
    gen.returns()
    gen.derived_tags()
    with db.write() as session:
        _check_empty(session)
        _insert_all(session, gen.t.rows, report)
        if not db.is_sqlite:
            _reset_sequences(session)
    return gen.summary()
