"""Demo customers: acquisition over time, referral chains, profiles, birthdays and tags."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from guanxi.domain.customers import CommunicationStyle, CustomerSource
from guanxi.services.demo.consents import add_consents
from guanxi.services.demo.contacts import Contacts
from guanxi.services.demo.context import Context, Row, Weighted

CITIES = (
    ("上海", 78), ("苏州", 5), ("杭州", 4), ("昆山", 3), ("嘉兴", 2), ("南京", 2), ("无锡", 2),
    ("北京", 1.5), ("宁波", 1.5), ("广州", 1),
)  # fmt: skip
SOURCES = ((CustomerSource.WALK_IN, 58), (CustomerSource.ONLINE, 24), (CustomerSource.EVENT, 18))
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
MAX_CHAIN = 4  # referral chains stop at this many links


@dataclass(slots=True)
class Person:
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


class People:
    """Draws the customers in acquisition order, with their rows, consents and tags."""

    def __init__(self, ctx: Context, serving: dict[int, Weighted[int]]) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.serving = serving
        self.contacts = Contacts(ctx)
        self.cities = Weighted(CITIES)
        self.sources = Weighted(SOURCES)
        self.interest_counts = Weighted(INTEREST_COUNTS)
        self.people: list[Person] = []
        self.depth: list[int] = []  # referral chain length behind each customer
        self.chain_ends: list[int] = []  # referred customers who may still refer
        self.lunar = 0
        self.consenting = 0
        self.referred = 0

    def acquisition_days(self, size: int) -> list[int]:
        """Sorted acquisition day indexes: growing over time, peaking with demand."""
        days = self.ctx.days
        span = len(days)
        growth = 1.5  # the last day sees (1 + growth) times the new customers of the first
        out: list[int] = []
        while len(out) < size:
            u = self.rng.random()
            t = (math.sqrt(1 + growth * (2 + growth) * u) - 1) / growth  # inverse CDF of 1+g*t
            day = min(span - 1, int(t * span))
            if self.rng.random() * self.ctx.max_rate < days[day].rate:
                out.append(day)
        return sorted(out)

    def add(self, day: int, *, earlier: int) -> Person:
        """The next customer, acquired on a day after ``earlier`` others, and their rows."""
        cid = len(self.people) + 1
        referrer = self._referrer(earlier)
        self._chain(cid, referrer)
        person = self._person(cid, day, referrer)
        self.people.append(person)
        self._customer_row(person, referrer)
        return person

    # -- referrals ----------------------------------------------------------------------------

    def _referrer(self, earlier: int) -> int | None:
        """The id of an earlier customer who referred this one, for about 15 %."""
        if earlier == 0 or self.rng.random() >= 0.15:
            return None
        eligible = bisect.bisect_right(self.chain_ends, earlier)  # chain ends acquired earlier
        if eligible and self.rng.random() < 0.4:
            return self.chain_ends[self.rng.randrange(eligible)]
        while True:  # anyone earlier whose chain is short enough (customer 1 always is)
            referrer = self.rng.randrange(earlier) + 1
            if self.depth[referrer - 1] < MAX_CHAIN:
                return referrer

    def _chain(self, cid: int, referrer: int | None) -> None:
        """Record how long the referral chain behind a new customer is."""
        self.depth.append(0 if referrer is None else self.depth[referrer - 1] + 1)
        if referrer is not None and self.depth[-1] < MAX_CHAIN:
            self.chain_ends.append(cid)

    # -- the customer -------------------------------------------------------------------------

    def _person(self, cid: int, day: int, referrer: int | None) -> Person:
        """Home store, owner, purchase rate, dropout and spend tier of a new customer."""
        rng = self.rng
        if referrer is not None and rng.random() < 0.8:
            store_id = self.people[referrer - 1].store_id
        else:
            store_id = 1 if rng.random() < 0.6 else 2
        owner = self.serving[store_id].draw(rng) if rng.random() < 0.85 else None
        spend = rng.gammavariate(2.5, 1 / 2.5)
        tier = bisect.bisect_right((0.5, 0.8, 1.2, 1.8), spend)
        return Person(
            id=cid,
            day=day,
            store_id=store_id,
            owner_id=owner,
            first_at=self.ctx.shop_time(day),
            rate=rng.gammavariate(1.3, 1 / 64),
            dropout=rng.betavariate(1.1, 7.0),
            tier=tier,
            buys=rng.random() < 0.96,
            company=rng.random() < 0.03,
        )

    def _customer_row(self, p: Person, referrer: int | None) -> None:
        """The customer row, then its tags, interests, anniversary and consents."""
        rng = self.rng
        contact = self.contacts.contact()
        source = CustomerSource.REFERRAL if referrer is not None else self.sources.draw(rng)
        self.referred += referrer is not None
        style = rng.choice(list(CommunicationStyle)).value if rng.random() < 0.5 else None
        note = COMPANY_NOTE if p.company else (rng.choice(NOTES) if rng.random() < 0.08 else None)
        self.ctx.t.add(
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
        self._consents(p, source, contact)

    def _consents(self, p: Person, source: CustomerSource, contact: Row) -> None:
        """Consents on the channels the customer gave, counting those who agree to any."""
        self.consenting += add_consents(
            self.ctx,
            p.id,
            source=source,
            day=p.day,
            at=p.first_at,
            email=contact["email"] is not None,
            wechat=contact["wechat_id"] is not None,
        )

    def _birthday(self, p: Person) -> Row:
        """Birthday columns: 80 % known, ~15 % of those lunar, some in a leap month."""
        rng = self.rng
        if rng.random() >= 0.8:
            return _birthday_columns("solar", None, None, None)
        age = int(rng.triangular(20, 75, 42))
        year = self.ctx.days[p.day].on.year - age if rng.random() < 0.75 else None
        if rng.random() < (0.3 if age >= 55 else 0.12):
            self.lunar += 1
            leap = rng.random() < 0.08
            month = rng.randint(2, 8) if leap else rng.randint(1, 12)
            return _birthday_columns("lunar", year, month, rng.randint(1, 30), leap=leap)
        born = date(2000, 1, 1) + timedelta(days=rng.randrange(366))  # 2000 has 29 February
        if year is not None and (born.month, born.day) == (2, 29):
            year -= year % 4  # a leap year (birth years lie well inside 1901-2099)
        return _birthday_columns("solar", year, born.month, born.day)

    def _extras(self, p: Person) -> None:
        """Random tags, interests and the odd wedding anniversary."""
        rng, t = self.rng, self.ctx.t
        for tag, share in (("团购", 0.04), ("茶艺班", 0.06)):
            if rng.random() < share:
                p.tags.append(tag)
        if p.company:
            p.tags.append("企业客户")
        for interest in rng.sample(INTERESTS, self.interest_counts.draw(rng)):
            t.add("customer_interest", customer_id=p.id, name=interest)
        if rng.random() < 0.05:
            wed = date(1985, 1, 1) + timedelta(days=rng.randrange(40 * 365))
            t.add(
                "anniversary",
                id=t.count("anniversary") + 1,
                customer_id=p.id,
                label="结婚纪念日",
                occurs_on=wed,
                calendar_kind="solar",
            )

    # -- tags from the purchase history -------------------------------------------------------

    def add_derived_tags(self) -> None:
        """VIP (top 8 % by spend), 老客户 (loyal for 2+ years), 新客 (last 60 days), then rows."""
        spend: dict[int, Decimal] = {}
        counts: dict[int, int] = {}
        for row in self.ctx.t.rows["purchase"]:
            cid = row["customer_id"]
            spend[cid] = spend.get(cid, Decimal(0)) + row["total_amount"]
            counts[cid] = counts.get(cid, 0) + 1
        ranked = sorted(spend, key=lambda cid: (-spend[cid], cid))
        vip = set(ranked[: math.ceil(len(ranked) * 0.08)])
        last = len(self.ctx.days) - 1
        for p in self.people:
            tags = (["VIP"] if p.id in vip else []) + p.tags
            if counts.get(p.id, 0) >= 6 and last - p.day >= 730:
                tags.append("老客户")
            if last - p.day < 60:
                tags.append("新客")
            for tag in tags:
                self.ctx.t.add("customer_tag", customer_id=p.id, name=tag)


def _birthday_columns(
    kind: str, year: int | None, month: int | None, day: int | None, *, leap: bool = False
) -> Row:
    """The five birthday columns of a customer row."""
    return {
        "birthday_kind": kind,
        "birthday_year": year,
        "birthday_month": month,
        "birthday_day": day,
        "birthday_is_leap_month": leap,
    }
