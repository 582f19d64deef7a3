"""The demo shop's care data and the ready-made message templates."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from borax.calendars.lunardate import LunarDate
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete, func, select, update

from guanxi.care import templating
from guanxi.care.default_templates import (
    CHANNELS,
    DEFAULT_TEMPLATES,
    FESTIVAL_KEYS,
    LOCALES,
    OCCASION_KEYS,
    OTHER_KEYS,
    DefaultTemplate,
    default_template,
    install_defaults,
)
from guanxi.services.demo import DEMO_END, build_demo
from guanxi.services.demo.care import (
    HOLDOUT_PERCENT,
    LAPSED_DAYS,
    OCCASIONS,
    PLANS,
    WINBACK_DAYS_BEFORE,
    CareDemo,
    build_care,
)
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Base,
    Campaign,
    CampaignHoldout,
    CareTask,
    Commitment,
    Consent,
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
)

SMALL = 400
SHANGHAI = ZoneInfo("Asia/Shanghai")
END = DEMO_END
CARE_TABLES = (
    MessageTemplate, OccasionSetting, FollowupPlan, CareTask, Commitment, Campaign,
    CampaignHoldout, Message, CustomerNote, Purchase, PurchaseLine, Customer,
)  # fmt: skip

# Long values, so the SMS length limit holds for real customers and stores.
ZH: dict[str, object] = {
    "salutation": "欧阳女士", "name": "欧阳明月", "tier": "钻石卡", "points": "12,345",
    "coupon_code": "K7Q2M9XA7Q2M", "store": "茗香阁旗舰店", "shop": "茗香阁",
}  # fmt: skip
EN: dict[str, object] = {
    "salutation": "Ms Ouyang", "name": "Ouyang Mingyue", "tier": "Diamond", "points": "12,345",
    "coupon_code": "K7Q2M9XA7Q2M", "store": "Tea House Flagship", "shop": "Tea House",
}  # fmt: skip
EMPTY: dict[str, object] = {"tier": "", "points": 0, "coupon_code": ""}
ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(body: str, context: dict[str, object]) -> str:
    return ENV.from_string(body).render(context)


# -- the ready-made templates --------------------------------------------------------------------


def test_every_occasion_has_every_channel_in_both_languages() -> None:
    keys = Counter((t.key, t.channel, t.locale) for t in DEFAULT_TEMPLATES)
    assert set(keys) == {(k, c, lo) for k in (*OCCASION_KEYS, *OTHER_KEYS)
                         for c in CHANNELS for lo in LOCALES}  # fmt: skip
    assert set(keys.values()) == {1}
    assert len(FESTIVAL_KEYS) == 17 and "mid_autumn" in FESTIVAL_KEYS
    assert set(OCCASION_KEYS) == {*FESTIVAL_KEYS, "birthday"}
    names = Counter((t.name, t.channel, t.locale) for t in DEFAULT_TEMPLATES)
    assert set(names.values()) == {1}  # install_defaults matches on these
    for t in DEFAULT_TEMPLATES:
        assert t.occasion == (t.key if t.key in OCCASION_KEYS else None)
        assert (t.subject is not None) == (t.channel == "email"), t
        assert len(t.name) <= 100 and (t.subject is None or len(t.subject) <= 200)


def test_festival_keys_are_the_calendars() -> None:
    calendar = pytest.importorskip("guanxi.care.calendar")
    assert tuple(calendar.FESTIVALS) == FESTIVAL_KEYS


@pytest.mark.parametrize(
    "template", DEFAULT_TEMPLATES, ids=lambda t: f"{t.key}-{t.channel}-{t.locale}"
)
def test_templates_render_without_undefined_variables(template: DefaultTemplate) -> None:
    full = ZH if template.locale == "zh_CN" else EN
    bare = {**full, **EMPTY}  # no tier, no points, no coupon
    for context in (full, bare):
        for text in (template.body, template.subject or ""):
            out = render(text, context)  # StrictUndefined: an unknown variable raises
            assert "{{" not in out and "{%" not in out and "None" not in out
        body = render(template.body, context)
        assert "退订" not in body and "unsubscribe" not in body.lower()  # the outbox adds them
        assert str(context["salutation"]) in body  # every text addresses the customer
        assert "  " not in body and not body.endswith((" ", "\n"))
    full_body, bare_body = render(template.body, full), render(template.body, bare)
    if "coupon_code" in template.body:
        assert str(full["coupon_code"]) in full_body and "K7Q2" not in bare_body
    if template.channel == "sms" and template.locale == "zh_CN":
        assert full_body.startswith("【茗香阁】欧阳女士，")
        assert len(full_body) <= 70, (len(full_body), full_body)  # one SMS
    if template.channel == "sms" and template.locale == "en":
        assert full_body.isascii() and len(full_body) <= 160, (len(full_body), full_body)
    if template.channel == "wechat":
        assert "【" not in full_body and str(full["store"]) in full_body
    if template.channel == "email":
        assert 4 <= len(full_body.splitlines()) <= 10


def test_templates_pass_the_template_checker() -> None:
    for t in DEFAULT_TEMPLATES:
        assert templating.check_template(t.body) == [], (t.key, t.channel, t.locale)
        if t.subject:
            assert templating.check_template(t.subject) == [], (t.key, t.locale)
    for name in ("salutation", "name", "tier", "points", "coupon_code", "store", "shop"):
        assert name in templating.VARIABLES


def test_install_defaults_inserts_the_missing_ones_only(db: Database) -> None:
    with db.write() as session:
        assert install_defaults(session) == len(DEFAULT_TEMPLATES)
    with db.write() as session:
        assert install_defaults(session) == 0
    gone = default_template("mid_autumn", "sms", "zh_CN")
    edited = default_template("birthday", "email", "en")
    with db.write() as session:
        session.execute(delete(MessageTemplate).where(
            MessageTemplate.name == gone.name, MessageTemplate.channel == "sms",
            MessageTemplate.locale == "zh_CN"))  # fmt: skip
        session.execute(update(MessageTemplate).where(
            MessageTemplate.name == edited.name, MessageTemplate.channel == "email",
            MessageTemplate.locale == "en").values(body="Our own words"))  # fmt: skip
    with db.write() as session:
        assert install_defaults(session) == 1
    with db.read() as session:
        rows = session.execute(select(MessageTemplate)).scalars().all()
        assert len(rows) == len(DEFAULT_TEMPLATES)
        by_key = {(r.name, r.channel, r.locale): r for r in rows}
        assert by_key[edited.name, "email", "en"].body == "Our own words"
        back = by_key[gone.name, "sms", "zh_CN"]
        assert back.occasion == "mid_autumn" and back.body == gone.body and back.is_active


# -- the demo's care data ------------------------------------------------------------------------


@pytest.fixture
def care(db: Database) -> tuple[Database, CareDemo]:
    build_demo(db, customers=SMALL)
    return db, build_care(db, END)


def local(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def test_templates_occasions_and_plans(care: tuple[Database, CareDemo]) -> None:
    db, demo = care
    assert demo.templates == len(DEFAULT_TEMPLATES) and demo.plans == len(PLANS)
    with db.read() as session:
        settings = {o.occasion: o for o in session.scalars(select(OccasionSetting))}
        assert set(settings) == set(OCCASIONS) >= {*FESTIVAL_KEYS, "birthday"}
        assert settings["mid_autumn"].observed and settings["mid_autumn"].lead_days == 14
        assert not settings["valentines"].observed
        greeting = [o for o in settings.values() if o.template_id is not None]
        assert [o.occasion for o in greeting] == ["new_year"]
        auto = session.get(MessageTemplate, greeting[0].template_id)
        assert auto is not None and (auto.occasion, auto.channel) == ("new_year", "sms")
        plans = session.scalars(select(FollowupPlan).order_by(FollowupPlan.id)).all()
        assert {(p.category, p.days_after) for p in plans} >= {
            ("茶具", 3),
            (None, 30),
            ("绿茶", 90),
            ("乌龙茶", 90),
            ("普洱白茶", 90),
        }
        assert all(p.is_active for p in plans)


def test_tasks_are_due_today_for_staff_and_follow_their_plans(
    care: tuple[Database, CareDemo],
) -> None:
    db, demo = care
    with db.read() as session:
        staff = {s.id: s for s in session.scalars(select(Staff))}
        tasks = session.scalars(select(CareTask).order_by(CareTask.id)).all()
        assert len(tasks) == demo.tasks and demo.tasks_due_today > 0
        today = [t for t in tasks if t.due_on == END and t.status == "open"]
        assert len(today) == demo.tasks_due_today
        team = {i for i, s in staff.items() if s.role != "owner"}
        assert {t.assignee_staff_id for t in today} == team  # every clerk and manager
        assert {t.kind for t in today} >= {"winback"}
        overdue = [t for t in tasks if t.due_on < END and t.status == "open"]
        done = [t for t in tasks if t.status == "done"]
        assert overdue and len(done) == demo.tasks_done and len(done) > len(overdue)
        assert all(t.due_on <= END + timedelta(days=7) for t in tasks)
        assert all(t.status == "open" for t in tasks if t.due_on >= END)
        assert len({t.source_key for t in tasks}) == len(tasks)
        for t in tasks:
            assert t.assignee_staff_id in staff and staff[t.assignee_staff_id].is_active
        # done tasks: an outcome, who and when, and the note on the customer's timeline
        notes: dict[tuple[int, datetime, int | None], list[str]] = defaultdict(list)
        for n in session.scalars(select(CustomerNote)):
            notes[n.customer_id, n.at, n.staff_id].append(n.text)
        outcomes = Counter(t.outcome for t in done)
        assert {"reached", "no_answer", "feedback"} <= set(outcomes)
        for t in done:
            assert t.outcome and t.outcome_note and t.done_at and t.done_by_staff_id
            assert local(t.done_at) < END
            texts = notes[t.customer_id, t.done_at, t.done_by_staff_id]
            assert f": {t.outcome} — {t.outcome_note}" in {x[x.index(":") :] for x in texts}
        # follow-ups: the plan's category bought, due days_after the purchase (a workday later
        # at most when the plan skips holidays)
        plans = {p.id: p for p in session.scalars(select(FollowupPlan))}
        followups = [t for t in tasks if t.kind == "followup"]
        assert {t.plan_id for t in followups} >= {p.id for p in plans.values()
                                                   if p.days_after in (30, 90)}  # fmt: skip
        for t in followups:
            assert t.plan_id is not None and t.purchase_id is not None
            assert t.source_key == f"followup:{t.plan_id}:{t.purchase_id}"
            plan, purchase = plans[t.plan_id], session.get(Purchase, t.purchase_id)
            assert purchase is not None and purchase.customer_id == t.customer_id
            due = local(purchase.purchased_at) + timedelta(days=plan.days_after)
            if plan.skip_holidays:
                assert due <= t.due_on <= due + timedelta(days=10)
            else:
                assert t.due_on == due
            if plan.category is not None:
                categories = set(session.scalars(
                    select(Product.category).join(PurchaseLine)
                    .where(PurchaseLine.purchase_id == purchase.id)))  # fmt: skip
                assert plan.category in categories


def test_commitments_cover_every_state_for_every_staff_member(
    care: tuple[Database, CareDemo],
) -> None:
    db, demo = care
    with db.read() as session:
        rows = session.scalars(select(Commitment)).all()
        team = {i for i, r in session.execute(select(Staff.id, Staff.role)) if r != "owner"}
    assert len(rows) == demo.commitments
    states: dict[int, set[str]] = defaultdict(set)
    for c in rows:
        assert c.created_at is not None and local(c.created_at) <= min(c.due_on, END)
        if c.status == "open":
            assert c.closed_at is None and c.fulfilled_on is None
            state = "today" if c.due_on == END else "overdue" if c.due_on < END else "later"
        elif c.status == "kept":
            assert c.fulfilled_on is not None and c.closed_at is not None
            assert c.fulfilled_on <= END and c.closed_at >= c.created_at
            state = "on_time" if c.fulfilled_on <= c.due_on else "late"
        else:
            assert c.status == "broken" and c.closed_at is not None and c.note
            state = "broken"
        assert c.owner_staff_id is not None
        states[c.owner_staff_id].add(state)
    for member in team:
        assert states[member] >= {"today", "overdue", "later", "on_time", "late", "broken"}


def test_winback_campaign_has_a_holdout_messages_and_an_uplift(
    care: tuple[Database, CareDemo],
) -> None:
    db, demo = care
    with db.read() as session:
        campaign = session.get(Campaign, demo.campaign_id)
        assert campaign is not None
        assert (campaign.kind, campaign.status, campaign.channel) == ("winback", "done", "sms")
        assert campaign.holdout_percent == HOLDOUT_PERCENT
        assert campaign.audience["lapsed_days"] == LAPSED_DAYS
        queued = campaign.queued_at
        assert queued is not None and local(queued) == END - timedelta(days=WINBACK_DAYS_BEFORE)
        template = session.get(MessageTemplate, campaign.template_id)
        assert template is not None and template.name == default_template(
            "winback", "sms", "zh_CN").name  # fmt: skip
        held = set(session.scalars(select(CampaignHoldout.customer_id)
                                   .where(CampaignHoldout.campaign_id == campaign.id)))  # fmt: skip
        messages = session.scalars(select(Message).where(Message.campaign_id == campaign.id)).all()
        treated = {m.customer_id for m in messages}
        assert len(treated) == len(messages) == campaign.recipients == demo.messages
        assert not held & treated and len(held) == demo.holdout
        eligible = len(held) + len(treated)
        assert eligible >= 50
        assert abs(len(held) - eligible * HOLDOUT_PERCENT / 100) <= 1  # 20 % of the audience
        assert campaign.excluded == demo.excluded == demo.audience - eligible
        for m in messages:
            assert m.dedupe_key == f"campaign:{campaign.id}:{m.customer_id}"
            assert m.body.endswith("回复TD退订") and "{{" not in m.body
            assert m.status in ("sent", "failed") and m.is_marketing
            assert (m.sent_at is not None) == (m.status == "sent")
        assert Counter(m.status for m in messages)["sent"] > 0.9 * len(messages)
        # everyone in the audience had lapsed; those messaged consent to SMS and have a phone
        cutoff = queued - timedelta(days=LAPSED_DAYS)
        people = held | treated
        last = dict(session.execute(
            select(Purchase.customer_id, func.max(Purchase.purchased_at))
            .where(Purchase.purchased_at < queued).group_by(Purchase.customer_id)
        ).all())  # fmt: skip
        assert all(last[c] < cutoff for c in people)
        phones = dict(session.execute(select(Customer.id, Customer.phone)).all())
        assert all(phones[c] for c in treated)
        granted = set(session.scalars(select(Consent.customer_id).where(
            Consent.channel == "sms", Consent.is_granted)))  # fmt: skip
        assert len(treated & granted) > 0.8 * len(treated)  # a few withdrew since
        # reactivation within 60 days: both groups bought, the treated more often
        came = set(session.scalars(select(Purchase.customer_id).where(
            Purchase.purchased_at > queued,
            Purchase.purchased_at <= queued + timedelta(days=60))))  # fmt: skip
        treated_rate, held_rate = len(came & treated) / len(treated), len(came & held) / len(held)
        assert came & held and treated_rate > held_rate
        added = session.scalar(select(func.count()).select_from(Purchase).where(
            Purchase.external_order_id.like("%-W%")))  # fmt: skip
        assert added == demo.came_back > 0


def test_birthdays_fall_in_the_week_after_the_end(care: tuple[Database, CareDemo]) -> None:
    db, demo = care
    week = [END + timedelta(days=i) for i in range(8)]
    solar = {(d.month, d.day) for d in week}
    lunar = {(ld.month, ld.day) for ld in map(LunarDate.from_solar, week) if not ld.leap}
    with db.read() as session:
        rows = session.execute(
            select(Customer.birthday_kind, Customer.birthday_month, Customer.birthday_day,
                   Customer.birthday_is_leap_month, Customer.birthday_year)
        ).all()  # fmt: skip
    solar_n = sum(1 for k, m, d, _, _ in rows if k == "solar" and (m, d) in solar)
    lunar_n = sum(1 for k, m, d, leap, _ in rows if k == "lunar" and not leap and (m, d) in lunar)
    assert demo.birthdays == 12 and solar_n >= 8 and lunar_n >= 3
    assert any(k == "solar" and (m, d) == (END.month, END.day) and y == END.year - 60
               for k, m, d, _, y in rows)  # fmt: skip


def digest(database: Database) -> str:
    h = hashlib.sha256()
    with database.read() as session:
        for model in CARE_TABLES:
            table = Base.metadata.tables[model.__tablename__]
            rows = sorted(repr(tuple(r)) for r in session.execute(select(table)))
            h.update(f"{table.name}:{len(rows)}\n".encode())
            for row in rows:
                h.update(row.encode())
    return h.hexdigest()


def test_same_seed_gives_the_same_care_data(
    sqlite_db: Database, sqlite_template: Path, tmp_path: Path
) -> None:
    other_path = tmp_path / "other.db"
    shutil.copyfile(sqlite_template, other_path)
    other = Database(f"sqlite:///{other_path}")
    try:
        results = []
        for database in (sqlite_db, other):
            build_demo(database, customers=150, seed=5)
            results.append(build_care(database, END, seed=5))
        assert results[0] == results[1]
        assert digest(sqlite_db) == digest(other)
    finally:
        other.dispose()


def test_message_bodies_are_rendered_for_each_customer(care: tuple[Database, CareDemo]) -> None:
    db, _ = care
    with db.read() as session:
        row = session.execute(
            select(Message.body, Customer.name, Customer.gender, Customer.communication_style)
            .join(Customer)
            .where(Customer.gender == "female").limit(1)
        ).one()  # fmt: skip
    assert re.match(r"^【茗香阁】.+女士，好久不见", row.body)
    greet = templating.salutation(row.name, row.gender, row.communication_style, "zh_CN")
    assert row.body.startswith(f"【茗香阁】{greet}，")


def test_local_time_helper_is_shanghai() -> None:
    assert local(datetime.combine(END, time(17), UTC)) == END + timedelta(days=1)
