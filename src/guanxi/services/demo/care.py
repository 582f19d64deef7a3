"""The demo shop's proactive care (主动沟通): what a shop that has used the care features for a
while holds on the demo's last day (``end``, the demo's "today").

Runs right after ``build_demo`` (before the scores, so the purchases it adds are scored), in one
transaction, inserting rows directly:

1. **Templates and occasions**: the ready-made templates (``care.default_templates``), which
   occasions the shop observes and how many days ahead they reach the agenda.
2. **Follow-up plans** (回访计划): tea ware 3 days after (how is it going), every purchase 30 days
   after (feedback), each tea category 90 days after (replenishment), gift boxes 7 days after.
3. **A finished win-back campaign** (老客唤回) queued 60 days before ``end`` to the customers
   lapsed for 180 days: an SMS to the consenting ones, a 20 % holdout drawn from them, the sent
   messages, and the purchases the campaign brought back in the four weeks after (more in the
   treated group than in the holdout, so the uplift report has something to show).
4. **Birthdays** (solar and lunar) of a dozen good customers moved to ``end`` and the week after.
5. **Care tasks**: the follow-ups the plans give for the purchases of the last weeks, due from
   two weeks before ``end`` to a week after; those due before ``end`` mostly done with an outcome
   and a note on the customer's timeline, the rest overdue; win-back calls due on ``end`` for
   every staff member; a complaint left for the manager.
6. **Commitments** (承诺) of every staff member: open, due today, overdue, kept on time, kept
   late and broken.

Deterministic: one ``random.Random`` seeded from the demo's seed draws over rows read in id
order, and every timestamp comes from the demo's calendar, never the clock.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from guanxi.care import templating
from guanxi.care.default_templates import DEFAULT_TEMPLATES, default_template, install_defaults
from guanxi.care.holidays import next_workday
from guanxi.care.occasions import DEFAULTS
from guanxi.domain.staff import Role
from guanxi.services.demo.catalog import SHOP_NAME
from guanxi.services.demo.context import SHANGHAI, ProgressFn
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Campaign,
    CampaignHoldout,
    CareTask,
    Commitment,
    ConsentEvent,
    Customer,
    CustomerNote,
    FollowupPlan,
    Message,
    MessageTemplate,
    OccasionSetting,
    Product,
    Purchase,
    PurchaseLine,
    Staff,
    Store,
)

STAGES = 6
WINBACK_DAYS_BEFORE = 60  # the campaign was queued this many days before the demo's end
LAPSED_DAYS = 180  # its audience: no purchase for this long
HOLDOUT_PERCENT = 20
BACK_TREATED = 0.14  # extra chance that a treated customer came back after the SMS
BACK_HOLDOUT = 0.04  # and a held-out one (the baseline the demo's own purchases add to)
TASKS_BEFORE = 14  # follow-ups due from this many days before the end...
TASKS_AFTER = 7  # ...to this many after
OPT_OUT = "回复TD退订"

# occasion -> (observed, lead days): the shop's documented defaults (no Valentine's Day, Qixi
# or Christmas for a tea shop in China)
OCCASIONS: dict[str, tuple[bool, int]] = DEFAULTS
AUTO_GREETING = "new_year"  # the one occasion ``guanxi daily`` greets by SMS on its own

# name, category (None: any purchase), days after, action, skip holidays
PLANS: tuple[tuple[str, str | None, int, str, bool], ...] = (
    ("茶具使用回访", "茶具", 3,
     "问问新茶具用得怎么样：开壶、养壶、出水有没有问题，需要的话约到店指导。", False),
    ("礼盒送礼回访", "礼盒", 7, "问问礼盒送出去对方是否满意，包装、配送有没有问题。", True),
    ("购后满月回访", None, 30,
     "请客户聊聊这次买的茶和茶具：口味、冲泡、服务有什么意见和建议。", True),
    ("绿茶补货提醒", "绿茶", 90, "绿茶讲究新鲜，提醒客户补货，介绍当季新茶。", True),
    ("红茶补货提醒", "红茶", 90, "提醒客户红茶可能快喝完了，问问要不要按老口味补一些。", True),
    ("乌龙茶补货提醒", "乌龙茶", 90, "提醒客户乌龙茶补货，可推荐同山场的新品试饮。", True),
    ("普洱白茶补货提醒", "普洱白茶", 90,
     "问问客户普洱/白茶存得怎么样，需要补货或换个年份试试。", True),
)  # fmt: skip

OUTCOMES = (("reached", 45), ("no_answer", 20), ("feedback", 25), ("new_need", 7),
            ("complaint", 3))  # fmt: skip
NOTES: dict[str, tuple[str, ...]] = {
    "reached": ("客户说一切都好，很满意。", "聊得很愉快，客户说下次带朋友来。",
                "客户在外地出差，说回来再到店。", "客户说茶还剩不少，过阵子再补。"),
    "no_answer": ("电话没人接，改天再打。", "响铃无人接听，已发微信留言。", "关机，明天再试。"),
    "feedback": ("客户觉得口感偏淡，建议下次推荐浓香型。", "客户很喜欢，问能不能开发票。",
                 "客户说包装很好，送人有面子。", "客户觉得价格略高，但品质认可。",
                 "客户反馈出水有点慢，教了清理壶嘴的方法。"),
    "new_need": ("客户想订一饼2015年老白茶送长辈。", "客户公司年底要订30份礼盒。",
                 "客户想要一把容量小一点的紫砂壶。", "客户想预订明年的明前龙井。"),
    "complaint": ("客户说收到的礼盒有破损，很不满意。", "客户说茶叶有受潮的味道，要求处理。"),
}  # fmt: skip
NEED_PROMISES = {
    "客户想订一饼2015年老白茶送长辈。": "到货后通知客户取2015年老白茶饼",
    "客户公司年底要订30份礼盒。": "出30份企业礼盒的报价和样品",
    "客户想要一把容量小一点的紫砂壶。": "帮客户找一把150ml左右的朱泥小壶",
    "客户想预订明年的明前龙井。": "明前龙井到货第一时间通知并预留500g",
}
PROMISES = (
    "到货后电话通知：明前龙井预留250g", "帮客户留一饼2015年老白茶", "紫砂壶刻字，做好后通知取壶",
    "寄送三款乌龙茶样品", "补录上次消费的会员积分", "礼盒代寄到北京，告知快递单号",
    "周末约到店，教客户开壶养壶", "问厂家能否定制公司logo礼盒", "帮客户换一个同款盖碗（有瑕疵）",
    "新到的凤凰单丛留两泡给客户试喝",
)  # fmt: skip
MOVED_AWAY = "客户说搬家了，离店远，答应下次路过来看看。"
BROKEN_NOTES = ("货源断了，没能按时到货，已向客户道歉。", "忘记回电话，客户已在别家买了。")

Row = dict[str, Any]


@dataclass(frozen=True)
class CareDemo:
    """What the demo's care data holds: counts for the CLI's summary and the tests."""

    templates: int
    plans: int
    tasks: int
    tasks_due_today: int
    tasks_done: int
    commitments: int
    campaign_id: int
    audience: int
    excluded: int
    holdout: int
    messages: int
    came_back: int  # purchases the campaign window got from the demo (added, both groups)
    birthdays: int

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for the CLI's summary table."""
        return [
            ("Message templates / follow-up plans", f"{self.templates} / {self.plans}"),
            ("Care tasks", f"{self.tasks:,} ({self.tasks_due_today} due today, "
                           f"{self.tasks_done:,} done)"),
            ("Commitments", f"{self.commitments}"),
            ("Win-back campaign", f"{self.messages:,} messages, {self.holdout:,} held out, "
                                  f"{self.excluded:,} without consent"),
            ("Birthdays this week", f"{self.birthdays}"),
        ]  # fmt: skip


def build_care(
    db: Database, end: date, *, seed: int = 42, progress: ProgressFn | None = None
) -> CareDemo:
    """Give the demo shop its care data as of ``end`` (module docstring)."""
    report = progress or (lambda stage, done, total: None)
    rng = random.Random(seed * 1_000_003 + 6)
    with db.write() as session:
        shop = _Shop(session, end, rng)
        report("Care data", 0, STAGES)
        templates = install_defaults(session, now=shop.at(end - timedelta(days=120), 9))
        shop.load_templates()
        _occasions(shop)
        plans = _plans(shop)
        report("Care data", 1, STAGES)
        campaign = _winback(shop)
        report("Care data", 2, STAGES)
        birthdays = _birthdays(shop)
        report("Care data", 3, STAGES)
        tasks = _followups(shop, plans)
        tasks += _winback_calls(shop, campaign)
        report("Care data", 4, STAGES)
        commitments = _commitments(shop)
        report("Care data", 5, STAGES)
        _flush(shop)
        report("Care data", STAGES, STAGES)
    open_today = sum(1 for t in tasks if t["due_on"] == end and t["status"] == "open")
    done = sum(1 for t in tasks if t["status"] == "done")
    return CareDemo(templates, len(plans), len(tasks), open_today, done, commitments,
                    campaign.id, campaign.audience, campaign.excluded, campaign.holdout,
                    campaign.messages, campaign.came_back, birthdays)  # fmt: skip


# -- the shop as read from the database ----------------------------------------------------------


class _Shop:
    """The rows every step needs, read once, and the rows the steps add."""

    def __init__(self, session: Session, end: date, rng: random.Random) -> None:
        self.session = session
        self.end = end
        self.rng = rng
        staff = session.execute(
            select(Staff.id, Staff.role, Staff.store_id).where(Staff.is_active)
            .order_by(Staff.id)
        ).all()  # fmt: skip
        self.owner: int = next(s.id for s in staff if s.role == Role.OWNER.value)
        self.managers: dict[int, int] = {}
        for s in staff:
            if s.role == Role.MANAGER.value and s.store_id is not None:
                self.managers.setdefault(s.store_id, s.id)
        self.staff_store: dict[int, int | None] = {s.id: s.store_id for s in staff}
        self.team = [s.id for s in staff if s.role != Role.OWNER.value]
        self.stores: dict[int, tuple[str, str]] = {
            i: (code, name) for i, code, name in session.execute(
                select(Store.id, Store.code, Store.name).order_by(Store.id))
        }  # fmt: skip
        self.templates: dict[tuple[str, str, str], int] = {}
        self.tasks: list[Row] = []
        self.notes: list[Row] = []
        self.commitments: list[Row] = []

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A Shanghai shop moment of a day, in UTC."""
        return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)

    def shop_time(self, day: date) -> datetime:
        """A random moment of a day's opening hours (10:00-20:59), in UTC."""
        return self.at(day, self.rng.randint(10, 20), self.rng.randrange(60))

    def local_day(self, at: datetime) -> date:
        return at.astimezone(SHANGHAI).date()

    def load_templates(self) -> None:
        by_name = {(t.name, t.channel, t.locale): t.key for t in DEFAULT_TEMPLATES}
        for tid, name, channel, locale in self.session.execute(
            select(MessageTemplate.id, MessageTemplate.name, MessageTemplate.channel,
                   MessageTemplate.locale).order_by(MessageTemplate.id)
        ):  # fmt: skip
            key = by_name.get((name, channel, locale))
            if key is not None:
                self.templates.setdefault((key, channel, locale), tid)

    def assignee(self, owner: int | None, store: int | None) -> int:
        """The customer's account owner, else the manager of the store, else the shop owner."""
        if owner is not None and owner in self.staff_store:
            return owner
        return self.managers.get(store or 0, self.owner)

    def store_of(self, staff: int, fallback: int | None) -> int | None:
        return self.staff_store.get(staff) or fallback


# -- templates, occasions and plans --------------------------------------------------------------


def _occasions(shop: _Shop) -> None:
    have = set(shop.session.execute(select(OccasionSetting.occasion)).scalars())
    auto = shop.templates.get((AUTO_GREETING, "sms", "zh_CN"))
    at = shop.at(shop.end - timedelta(days=119), 9)
    rows = [
        {"occasion": key, "observed": observed, "lead_days": lead,
         "template_id": auto if key == AUTO_GREETING else None, "updated_at": at}
        for key, (observed, lead) in OCCASIONS.items() if key not in have
    ]  # fmt: skip
    if rows:
        shop.session.execute(insert(OccasionSetting), rows)


@dataclass(frozen=True)
class _Plan:
    id: int
    name: str
    category: str | None
    days_after: int
    action: str
    skip_holidays: bool


def _plans(shop: _Shop) -> list[_Plan]:
    at = shop.at(shop.end - timedelta(days=118), 9)
    rows = [FollowupPlan(name=name, category=category, days_after=days, action=action,
                         skip_holidays=skip, is_active=True, created_at=at)
            for name, category, days, action, skip in PLANS]  # fmt: skip
    shop.session.add_all(rows)
    shop.session.flush()
    return [_Plan(r.id, r.name, r.category, r.days_after, r.action, r.skip_holidays) for r in rows]


# -- the win-back campaign -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Campaign:
    id: int
    audience: int
    excluded: int
    holdout: int
    messages: int
    came_back: int
    treated: list[int]  # customers sent the SMS, in id order
    queued_at: datetime


def _winback(shop: _Shop) -> _Campaign:
    """The campaign, its holdout, the messages and the purchases that followed."""
    s, rng = shop.session, shop.rng
    day = shop.end - timedelta(days=WINBACK_DAYS_BEFORE)
    queued_at = shop.at(day, 10, 30)
    cutoff = queued_at - timedelta(days=LAPSED_DAYS)
    last = (
        select(Purchase.customer_id, func.max(Purchase.purchased_at).label("last_at"))
        .where(Purchase.purchased_at < queued_at)
        .group_by(Purchase.customer_id)
        .subquery()
    )
    people = s.execute(
        select(Customer.id, Customer.name, Customer.gender, Customer.phone,
               Customer.home_store_id, Customer.owner_staff_id, Customer.communication_style)
        .join(last, last.c.customer_id == Customer.id)
        .where(last.c.last_at < cutoff, Customer.erased_at.is_(None))
        .order_by(Customer.id)
    ).all()  # fmt: skip
    consented = _sms_consent_at(s, queued_at)
    eligible = [p for p in people if p.phone and consented.get(p.id, False)]
    excluded = len(people) - len(eligible)
    held = set(rng.sample([p.id for p in eligible], round(len(eligible) * HOLDOUT_PERCENT / 100)))
    treated = [p for p in eligible if p.id not in held]

    template_id = shop.templates[("winback", "sms", "zh_CN")]
    campaign = Campaign(
        name=f"老客唤回 {day.year}年{day.month}月", kind="winback", channel="sms",
        template_id=template_id,
        audience={"segment_id": None, "store_id": None, "tier": None, "tags": [],
                  "interest": None, "lapsed_days": LAPSED_DAYS, "customer_ids": []},
        holdout_percent=HOLDOUT_PERCENT, seed=seed_of(rng), is_marketing=True, status="done",
        recipients=len(treated), excluded=excluded, created_by_staff_id=shop.owner,
        created_at=shop.at(day - timedelta(days=1), 16), queued_at=queued_at,
    )  # fmt: skip
    s.add(campaign)
    s.flush()
    if held:
        holdout = [{"campaign_id": campaign.id, "customer_id": c} for c in sorted(held)]
        s.execute(insert(CampaignHoldout), holdout)
    template = default_template("winback", "sms", "zh_CN").body
    messages = []
    for i, p in enumerate(treated):
        store = shop.stores.get(p.home_store_id or 1, next(iter(shop.stores.values())))[1]
        greet = templating.salutation(p.name, p.gender, p.communication_style, "zh_CN")
        context = {"salutation": greet, "name": p.name, "tier": "", "points": 0,
                   "coupon_code": "", "store": store, "shop": SHOP_NAME}  # fmt: skip
        body = templating.render(template, context)
        failed = rng.random() < 0.03
        sent_at = queued_at + timedelta(seconds=5 + i // 20)
        messages.append({
            "campaign_id": campaign.id, "customer_id": p.id, "channel": "sms",
            "is_marketing": True, "subject": None, "body": f"{body}{OPT_OUT}",
            "dedupe_key": f"campaign:{campaign.id}:{p.id}",
            "status": "failed" if failed else "sent",
            "reason": "provider: number out of service" if failed else None,
            "attempts": 3 if failed else 1, "not_before": queued_at, "queued_at": queued_at,
            "sending_at": sent_at, "sent_at": None if failed else sent_at,
            "provider_id": None if failed else f"demo-{campaign.id}-{p.id}",
        })  # fmt: skip
    if messages:
        s.execute(insert(Message), messages)
    came_back = _come_back(shop, campaign.id, eligible, held, day, queued_at)
    return _Campaign(campaign.id, len(people), excluded, len(held), len(messages), came_back,
                     [p.id for p in treated], queued_at)  # fmt: skip


def seed_of(rng: random.Random) -> int:
    """A campaign seed (what the holdout was drawn with) from the demo's generator."""
    return rng.randrange(1, 2**31 - 1)


def _sms_consent_at(session: Session, at: datetime) -> dict[int, bool]:
    """Each customer's SMS consent as it stood at a moment (the last event before it)."""
    state: dict[int, bool] = {}
    for customer, granted in session.execute(
        select(ConsentEvent.customer_id, ConsentEvent.is_granted)
        .where(ConsentEvent.channel == "sms", ConsentEvent.at <= at)
        .order_by(ConsentEvent.customer_id, ConsentEvent.at, ConsentEvent.id)
    ):  # fmt: skip
        state[customer] = bool(granted)
    return state


def _come_back(
    shop: _Shop, campaign_id: int, eligible: list[Any], held: set[int], day: date, queued: datetime
) -> int:
    """Purchases in the four weeks after the campaign by some of those who had not come back
    on their own: more of the treated than of the holdout. Returns how many were added."""
    s, rng = shop.session, shop.rng
    back = set(s.execute(
        select(Purchase.customer_id).where(Purchase.purchased_at > queued)
        .where(Purchase.customer_id.in_(select(CampaignHoldout.customer_id)
                                        .where(CampaignHoldout.campaign_id == campaign_id))
               | Purchase.customer_id.in_(select(Message.customer_id)
                                          .where(Message.campaign_id == campaign_id)))
    ).scalars())  # fmt: skip
    teas = s.execute(
        select(Product.id, Product.name, Product.list_price)
        .where(Product.category.in_(("绿茶", "红茶", "乌龙茶", "普洱白茶", "礼盒")),
               Product.list_price.is_not(None))
        .order_by(Product.id)
    ).all()  # fmt: skip
    if not teas:
        return 0
    serving: dict[int, list[int]] = defaultdict(list)
    for sid, store in shop.staff_store.items():
        if store is not None:
            serving[store].append(sid)
    counters: dict[tuple[int, date], int] = {}
    purchases: list[Row] = []
    baskets: list[list[Any]] = []
    for p in eligible:
        chance = BACK_HOLDOUT if p.id in held else BACK_TREATED
        if p.id in back or rng.random() >= chance:
            continue
        on = day + timedelta(days=rng.randint(1, 28))
        store = p.home_store_id if p.home_store_id in shop.stores else next(iter(shop.stores))
        owner = p.owner_staff_id
        staff = owner if owner in serving[store] else rng.choice(serving[store] or [shop.owner])
        seq = counters[store, on] = counters.get((store, on), 0) + 1
        picks = rng.sample(teas, rng.choice((1, 1, 2)))
        at = shop.shop_time(on)
        purchases.append({
            "store_id": store,
            "external_order_id": f"{shop.stores[store][0]}-{on:%Y%m%d}-W{seq:03d}",
            "customer_id": p.id, "staff_id": staff, "purchased_at": at,
            "total_amount": sum((t.list_price for t in picks), Decimal(0)),
            "is_promotion": False, "payment_method": "wechat_pay", "import_batch_id": None,
            "created_at": at,
        })  # fmt: skip
        baskets.append(picks)
    if not purchases:
        return 0
    ids = s.scalars(
        insert(Purchase).returning(Purchase.id, sort_by_parameter_order=True), purchases
    ).all()
    lines = [
        {"purchase_id": pid, "line_no": n, "product_id": t.id, "quantity": Decimal(1),
         "unit_price": t.list_price, "discount": Decimal(0), "amount": t.list_price,
         "source_line": None}
        for pid, picks in zip(ids, baskets, strict=True)
        for n, t in enumerate(picks, start=1)
    ]  # fmt: skip
    s.execute(insert(PurchaseLine), lines)
    return len(ids)


# -- birthdays -----------------------------------------------------------------------------------


def _birthdays(shop: _Shop) -> int:
    """Twelve of the best customers of the last year get a birthday from ``end`` to a week
    after: eight solar, four lunar (the lunar date of the day, never a leap month)."""
    from borax.calendars.lunardate import LunarDate

    s, rng, end = shop.session, shop.rng, shop.end
    since = shop.at(end - timedelta(days=365), 0)
    best = [c for c, in s.execute(
        select(Purchase.customer_id)
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(Purchase.purchased_at >= since, Customer.erased_at.is_(None))
        .group_by(Purchase.customer_id)
        .order_by(func.sum(Purchase.total_amount).desc(), Purchase.customer_id)
        .limit(60)
    )]  # fmt: skip
    chosen = rng.sample(best, min(12, len(best)))
    rows = []
    changed = shop.at(end - timedelta(days=30), 15)
    for i, customer in enumerate(chosen):
        on = end + timedelta(days=i % 8)
        year = end.year - 60 if i == 0 else rng.randint(1955, 1995)  # a 60th birthday today
        if i >= 8:
            lunar = LunarDate.from_solar(on)
            if lunar.leap:  # greeted in the regular month: keep this one solar
                rows.append(_solar(customer, year, on))
                continue
            rows.append({"id": customer, "birthday_kind": "lunar", "birthday_year": year,
                         "birthday_month": lunar.month, "birthday_day": lunar.day,
                         "birthday_is_leap_month": False, "updated_at": changed})  # fmt: skip
        else:
            rows.append(_solar(customer, year, on))
        rows[-1]["updated_at"] = changed
    if rows:
        s.execute(update(Customer), rows)
    return len(rows)


def _solar(customer: int, year: int, on: date) -> Row:
    return {"id": customer, "birthday_kind": "solar", "birthday_year": year,
            "birthday_month": on.month, "birthday_day": on.day,
            "birthday_is_leap_month": False}  # fmt: skip


# -- care tasks ----------------------------------------------------------------------------------


def _followups(shop: _Shop, plans: list[_Plan]) -> list[Row]:
    """The plans' tasks for the purchases whose follow-up falls near the end."""
    s, end = shop.session, shop.end
    workday = next_workday
    first, last = end - timedelta(days=TASKS_BEFORE), end + timedelta(days=TASKS_AFTER)
    for plan in plans:
        # a purchase on day D is due on D + days_after (or the next workday after it)
        since = shop.at(first - timedelta(days=plan.days_after + 4), 0)
        until = shop.at(last - timedelta(days=plan.days_after) + timedelta(days=1), 0)
        query = (
            select(Purchase.id, Purchase.customer_id, Purchase.store_id, Purchase.purchased_at,
                   Customer.owner_staff_id, Customer.home_store_id, Product.name)
            .join(Customer, Customer.id == Purchase.customer_id)
            .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
            .join(Product, Product.id == PurchaseLine.product_id)
            .where(Purchase.purchased_at >= since, Purchase.purchased_at < until,
                   Customer.erased_at.is_(None))
            .order_by(Purchase.id, PurchaseLine.line_no)
        )  # fmt: skip
        if plan.category is not None:
            query = query.where(Product.category == plan.category)
        products: dict[int, list[str]] = defaultdict(list)
        purchases: dict[int, Any] = {}
        for row in s.execute(query):
            purchases.setdefault(row.id, row)
            products[row.id].append(row.name)
        for pid, p in purchases.items():
            bought = shop.local_day(p.purchased_at)
            due = bought + timedelta(days=plan.days_after)
            if plan.skip_holidays:
                due = workday(due)
            if not first <= due <= last:
                continue
            assignee = shop.assignee(p.owner_staff_id, p.store_id)
            items = "、".join(products[pid][:2]) + ("等" if len(products[pid]) > 2 else "")
            _task(shop, kind="followup", customer=p.customer_id, assignee=assignee,
                  store=p.store_id, due=due, title=plan.name,
                  detail=f"{plan.action}（{bought:%Y-%m-%d} 购买：{items}）",
                  key=f"followup:{plan.id}:{pid}", plan=plan.id, purchase=pid)  # fmt: skip
    return list(shop.tasks)


def _task(shop: _Shop, *, kind: str, customer: int, assignee: int, store: int | None, due: date,
          title: str, detail: str, key: str, plan: int | None = None,
          purchase: int | None = None) -> None:  # fmt: skip
    """One task: done with an outcome (most of those due before the end), or open."""
    rng, end = shop.rng, shop.end
    row: Row = {
        "kind": kind, "customer_id": customer, "assignee_staff_id": assignee,
        "store_id": store, "due_on": due, "title": title, "detail": detail, "source_key": key,
        "plan_id": plan, "purchase_id": purchase, "commitment_id": None, "status": "open",
        "outcome": None, "outcome_note": None, "done_at": None, "done_by_staff_id": None,
        "created_at": shop.at(min(due, end) - timedelta(days=7), 2),
    }  # fmt: skip
    shop.tasks.append(row)
    if due >= end or rng.random() >= (0.9 if due < end - timedelta(days=3) else 0.6):
        return  # the older, the likelier done: a few stay overdue
    outcome = _weighted(rng, OUTCOMES)
    note = rng.choice(NOTES[outcome])
    done_on = min(end - timedelta(days=1), due + timedelta(days=rng.choice((0, 0, 0, 1, 2))))
    done_at = shop.shop_time(done_on)
    row.update(status="done", outcome=outcome, outcome_note=note, done_at=done_at,
               done_by_staff_id=assignee)  # fmt: skip
    label = "唤回" if kind == "winback" else "回访"
    shop.notes.append({"customer_id": customer, "staff_id": assignee, "at": done_at,
                       "text": f"{label}: {outcome} — {note}"})  # fmt: skip
    if outcome == "new_need":
        promise = NEED_PROMISES[note]
        shop.commitments.append(_commitment_row(
            shop, customer, assignee, store, promise, due=done_on + timedelta(days=10),
            made=done_at, status="open"))  # fmt: skip
    elif outcome == "complaint":
        manager = shop.managers.get(store or 0, shop.owner)
        shop.tasks.append({
            **row, "kind": "other", "assignee_staff_id": manager,
            "due_on": done_on + timedelta(days=1), "title": "回访中客户投诉，请店长处理",
            "detail": note, "source_key": f"complaint:{key}", "plan_id": None,
            "status": "open", "outcome": None, "outcome_note": None, "done_at": None,
            "done_by_staff_id": None, "created_at": done_at,
        })  # fmt: skip


def _winback_calls(shop: _Shop, campaign: _Campaign) -> list[Row]:
    """Calls to the treated customers who have not come back: for each staff member, two due
    on the end, one overdue and one done earlier, the best past customers first."""
    s, end = shop.session, shop.end
    if not campaign.treated:
        return []
    back = set(s.execute(
        select(Purchase.customer_id).where(Purchase.purchased_at > campaign.queued_at)
        .where(Purchase.customer_id.in_(select(Message.customer_id)
                                        .where(Message.campaign_id == campaign.id)))
    ).scalars())  # fmt: skip
    spend = s.execute(
        select(Customer.id, Customer.owner_staff_id, Customer.home_store_id,
               func.sum(Purchase.total_amount).label("spend"))
        .join(Purchase, Purchase.customer_id == Customer.id)
        .where(Customer.id.in_(select(Message.customer_id)
                               .where(Message.campaign_id == campaign.id,
                                      Message.status == "sent")))
        .group_by(Customer.id, Customer.owner_staff_id, Customer.home_store_id)
        .order_by(func.sum(Purchase.total_amount).desc(), Customer.id)
    ).all()  # fmt: skip
    wanted = (end, end, end - timedelta(days=3), end - timedelta(days=10))
    taken: dict[int, int] = defaultdict(int)
    before = len(shop.tasks)
    for c in spend:
        if c.id in back:
            continue
        who = shop.assignee(c.owner_staff_id, c.home_store_id)
        if who not in shop.team or taken[who] >= len(wanted):
            continue
        due = wanted[taken[who]]
        taken[who] += 1
        _task(shop, kind="winback", customer=c.id, assignee=who, store=c.home_store_id,
              due=due, title="唤回短信后仍未到店，打个电话问候",
              detail=f"{campaign.queued_at.astimezone(SHANGHAI):%m月%d日}已发唤回短信；"
                     f"历史消费 ¥{Decimal(c.spend):,.0f}。问问近况和没再来的原因。",
              key=f"winback:{campaign.id}:{c.id}")  # fmt: skip
        if due == end - timedelta(days=10) and shop.tasks[-1]["status"] == "open":
            done_at = shop.shop_time(due)
            shop.tasks[-1].update(status="done", outcome="reached", done_by_staff_id=who,
                                  outcome_note=MOVED_AWAY, done_at=done_at)  # fmt: skip
            shop.notes.append({"customer_id": c.id, "staff_id": who, "at": done_at,
                               "text": f"唤回: reached — {MOVED_AWAY}"})  # fmt: skip
    return shop.tasks[before:]


# -- commitments ---------------------------------------------------------------------------------


def _commitments(shop: _Shop) -> int:
    """For each staff member: two open (due later), one due today, one overdue, three kept on
    time, one kept late and one broken, to their own recent customers."""
    s, rng, end = shop.session, shop.rng, shop.end
    since = shop.at(end - timedelta(days=180), 0)
    recent = s.execute(
        select(Customer.id, Customer.owner_staff_id, Customer.home_store_id)
        .where(Customer.erased_at.is_(None),
               Customer.id.in_(select(Purchase.customer_id)
                               .where(Purchase.purchased_at >= since)))
        .order_by(Customer.id)
    ).all()  # fmt: skip
    mine: dict[int, list[Any]] = defaultdict(list)
    for c in recent:
        mine[shop.assignee(c.owner_staff_id, c.home_store_id)].append(c)
    plan = ["open_later"] * 2 + ["today", "overdue"] + ["kept"] * 3 + ["late", "broken"]
    for staff in [*shop.team, shop.owner]:
        pool = mine.get(staff, [])
        kinds = plan if staff != shop.owner else ["open_later", "kept", "kept"]
        for kind, c in zip(kinds, rng.sample(pool, min(len(kinds), len(pool))), strict=False):
            promise = rng.choice(PROMISES)
            store = shop.store_of(staff, c.home_store_id)
            if kind == "open_later":
                due = end + timedelta(days=rng.randint(2, 12))
            elif kind == "today":
                due = end
            elif kind == "overdue":
                due = end - timedelta(days=rng.randint(1, 6))
            else:
                due = end - timedelta(days=rng.randint(5, 80))
            made = shop.shop_time(min(due, end) - timedelta(days=rng.randint(3, 14)))
            status = {"kept": "kept", "late": "kept", "broken": "broken"}.get(kind, "open")
            row = _commitment_row(shop, c.id, staff, store, promise, due=due, made=made,
                                  status=status)  # fmt: skip
            if kind in ("kept", "late", "broken"):
                kept_on = due - timedelta(days=rng.randint(0, 2)) if kind == "kept" else (
                    min(end, due + timedelta(days=rng.randint(1, 4))))  # fmt: skip
                closed = shop.shop_time(kept_on if kind != "broken"
                                        else min(end, due + timedelta(days=3)))  # fmt: skip
                closed = max(closed, made + timedelta(hours=1))
                note = rng.choice(BROKEN_NOTES) if kind == "broken" else None
                row.update(closed_at=closed, note=note,
                           fulfilled_on=kept_on if kind != "broken" else None)  # fmt: skip
                word = "broken" if kind == "broken" else "kept"
                shop.notes.append({"customer_id": c.id, "staff_id": staff, "at": closed,
                                   "text": f"承诺: {word} — {promise}"
                                           + (f"（{note}）" if note else "")})  # fmt: skip
            shop.commitments.append(row)
    return len(shop.commitments)


def _commitment_row(shop: _Shop, customer: int, staff: int, store: int | None, promise: str, *,
                    due: date, made: datetime, status: str) -> Row:  # fmt: skip
    return {"customer_id": customer, "owner_staff_id": staff, "store_id": store,
            "promise": promise, "due_on": due, "remind_days": 1, "status": status, "note": None,
            "created_by_staff_id": staff, "created_at": made, "closed_at": None,
            "fulfilled_on": None}  # fmt: skip


# -- writing ---------------------------------------------------------------------------------------


def _flush(shop: _Shop) -> None:
    """Insert the tasks, commitments and timeline notes gathered by the steps."""
    s = shop.session
    if shop.tasks:
        s.execute(insert(CareTask), shop.tasks)
    if shop.commitments:
        s.execute(insert(Commitment), shop.commitments)
    if shop.notes:
        s.execute(
            insert(CustomerNote), sorted(shop.notes, key=lambda n: (n["at"], n["customer_id"]))
        )


# -- small helpers -------------------------------------------------------------------------------


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in pairs], weights=[w for _, w in pairs])[0]


__all__ = ["OCCASIONS", "PLANS", "CareDemo", "build_care"]
