"""Campaigns: audiences from segments and filters, dry runs, seeded holdouts, queueing through
the outbox at most once, consent, scope, audit, and the win-back report (both databases)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from guanxi.care import campaigns
from guanxi.care.campaigns import Audience
from guanxi.errors import Conflict, InvalidInput, NotFound
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    CampaignHoldout,
    Consent,
    CustomerInterest,
    CustomerScore,
    CustomerTier,
    Message,
    Product,
    Purchase,
    PurchaseLine,
    Segment,
    Staff,
    Store,
)
from tests.factories import make_customer

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class Shop:
    stores: tuple[int, int]
    manager: int
    people: dict[str, int]
    template: int


def grant(db: Database, customer: int, channel: str = "sms", granted: bool = True) -> None:
    with db.write() as s:
        s.add(Consent(customer_id=customer, channel=channel, is_granted=granted,
                      changed_at=NOW - timedelta(days=30), source="test"))  # fmt: skip


def bought(db: Database, customer: int, store: int, at: datetime, category: str = "茶叶") -> None:
    with db.write() as s:
        product = s.execute(select(Product).where(Product.sku == category)).scalar_one_or_none()
        if product is None:
            product = Product(sku=category, name=f"{category} 样品", category=category)
            s.add(product)
            s.flush()
        purchase = Purchase(store_id=store, external_order_id=f"o{customer}-{at.timestamp()}",
                            customer_id=customer, purchased_at=at,
                            total_amount=Decimal("100"))  # fmt: skip
        s.add(purchase)
        s.flush()
        s.add(
            PurchaseLine(
                purchase_id=purchase.id,
                line_no=1,
                product_id=product.id,
                quantity=Decimal(1),
                unit_price=Decimal(100),
                amount=Decimal(100),
            )
        )


def make_template(db: Database, body: str = "{{ salutation }}，您好！新茶到店。",
                  channel: str = "sms", subject: str | None = None) -> int:  # fmt: skip
    return campaigns.save_template(db, name=f"新茶 {channel}", channel=channel, body=body,
                                   subject=subject, actor_id=None)  # fmt: skip


@pytest.fixture
def shop(db: Database) -> Shop:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        manager = Staff(name="经理", role="manager", store_id=a.id)
        s.add(manager)
        s.flush()
        stores, manager_id = (a.id, b.id), manager.id
    people = {
        "王": make_customer(
            db, name="王芳", gender="female", home_store_id=stores[0], tags=["VIP"]
        ),
        "李": make_customer(db, name="李雷", gender="male", home_store_id=stores[0]),
        "赵": make_customer(
            db, name="赵敏", gender="female", home_store_id=stores[0], tags=["VIP"]
        ),
        "孙": make_customer(db, name="孙悟", gender="male", home_store_id=stores[0], phone=None),
        "周": make_customer(db, name="周杰", gender="male", home_store_id=stores[1], tags=["VIP"]),
    }
    for key in ("王", "李", "孙", "周"):  # 赵 never consented; 孙 has no phone
        grant(db, people[key])
    return Shop(stores, manager_id, people, make_template(db))


def ids(shop: Shop, *keys: str) -> list[int]:
    return sorted(shop.people[k] for k in keys)


def members(db: Database, audience: Audience, scope: int | None = None) -> list[int]:
    with db.read() as s:
        return campaigns.audience_ids(s, audience, scope=scope, now=NOW)


def test_audience_filters(db: Database, shop: Shop) -> None:
    a, b = shop.stores
    everyone = ids(shop, "王", "李", "赵", "孙", "周")
    assert members(db, Audience()) == everyone
    assert members(db, Audience(), scope=b) == ids(shop, "周")
    assert members(db, Audience(store_id=a)) == ids(shop, "王", "李", "赵", "孙")
    assert members(db, Audience(tags=["VIP"])) == ids(shop, "王", "赵", "周")
    assert members(db, Audience(tags=["VIP"], store_id=a)) == ids(shop, "王", "赵")
    assert members(db, Audience(customer_ids=ids(shop, "李", "周"))) == ids(shop, "李", "周")
    assert members(db, Audience(customer_ids=ids(shop, "李", "周")), scope=a) == ids(shop, "李")
    with db.write() as s:
        s.add(CustomerTier(customer_id=shop.people["李"], tier_key="gold", since=date(2026, 1, 1),
                           evaluated_on=date(2026, 11, 1)))  # fmt: skip
        s.add(CustomerInterest(customer_id=shop.people["赵"], name="茶叶"))
    assert members(db, Audience(tier="gold")) == ids(shop, "李")
    bought(db, shop.people["王"], a, NOW - timedelta(days=200))
    bought(db, shop.people["李"], a, NOW - timedelta(days=10), category="茶具")
    bought(db, shop.people["周"], b, NOW - timedelta(days=100), category="茶具")
    assert members(db, Audience(interest="茶叶")) == ids(shop, "王", "赵")  # bought / stated
    assert members(db, Audience(lapsed_days=90)) == ids(shop, "王", "周")  # 李 bought lately
    assert members(db, Audience(lapsed_days=150)) == ids(shop, "王")
    assert members(db, Audience(lapsed_days=90, tags=["VIP"], interest="茶具")) == ids(shop, "周")
    many = Audience(customer_ids=[*range(10_000, 10_600), shop.people["赵"]])  # beyond an IN list
    assert members(db, many) == ids(shop, "赵")


def test_audience_from_a_saved_segment(db: Database, shop: Shop) -> None:
    month = date(2026, 11, 1)
    with db.write() as s:
        for key, rung in (("王", "loyal"), ("李", "lapsed"), ("周", "lapsed")):
            s.add(CustomerScore(customer_id=shop.people[key], month=month, computed_on=month,
                                rung=rung))  # fmt: skip
        segment = Segment(name="流失", rules=[{"field": "rung", "op": "in", "value": ["lapsed"]}])
        s.add(segment)
        s.flush()
        segment_id = segment.id
    assert members(db, Audience(segment_id=segment_id)) == ids(shop, "李", "周")
    assert members(db, Audience(segment_id=segment_id), scope=shop.stores[0]) == ids(shop, "李")
    assert members(db, Audience(segment_id=segment_id, tags=["VIP"])) == ids(shop, "周")
    with pytest.raises(NotFound):
        members(db, Audience(segment_id=segment_id + 99))


def test_audience_json_round_trip_and_checks() -> None:
    audience = Audience.from_json({"segment_id": "3", "tags": "VIP, 老客 ,", "lapsed_days": "90",
                                   "customer_ids": "5 3,5", "interest": " 茶叶 "})  # fmt: skip
    assert audience == Audience(segment_id=3, tags=["VIP", "老客"], lapsed_days=90,
                                customer_ids=[3, 5], interest="茶叶")  # fmt: skip
    assert Audience.from_json(audience.as_json()) == audience
    with pytest.raises(InvalidInput, match="lapsed_days"):
        Audience.from_json({"lapsed_days": "soon"})


def test_dry_run_says_who_gets_what_and_who_is_excluded(db: Database, shop: Shop) -> None:
    cid = campaigns.save_campaign(
        db,
        name="新茶",
        template_id=shop.template,
        audience=Audience(store_id=shop.stores[0]),
        actor_id=None,
    )
    run = campaigns.dry_run(db, cid, now=NOW, scope=None)
    assert run.audience == 4
    assert [(r.customer_id, r.body) for r in run.recipients] == [
        (shop.people["王"], "王女士，您好！新茶到店。"),
        (shop.people["李"], "李先生，您好！新茶到店。"),
    ]
    assert run.recipient_count == 2
    assert sorted(run.excluded) == sorted([
        (shop.people["赵"], "赵敏", "no_consent"), (shop.people["孙"], "孙悟", "no_address"),
    ])  # fmt: skip
    assert run.reasons == {"no_consent": 1, "no_address": 1}
    assert run.holdout == [] and not run.queued
    with db.read() as s:  # a dry run changes nothing
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 0


def test_queue_sends_only_to_consenting_and_is_idempotent(db: Database, shop: Shop) -> None:
    cid = campaigns.save_campaign(db, name="新茶", template_id=shop.template,
                                  audience=Audience(), actor_id=shop.manager)  # fmt: skip
    result = campaigns.queue_campaign(db, cid, now=NOW, actor_id=shop.manager, scope=None)
    assert (result.queued, result.excluded, result.holdout) == (3, 2, 0)
    assert result.reasons == {"no_consent": 1, "no_address": 1}
    with db.read() as s:
        rows = s.execute(select(Message.customer_id, Message.dedupe_key, Message.body,
                                Message.status, Message.campaign_id, Message.is_marketing)
                         .order_by(Message.customer_id)).all()  # fmt: skip
        assert [r.customer_id for r in rows] == ids(shop, "王", "李", "周")
        assert all(r.dedupe_key == f"campaign:{cid}:{r.customer_id}" for r in rows)
        assert all(r.status == "queued" and r.campaign_id == cid and r.is_marketing for r in rows)
        assert rows[0].body == "王女士，您好！新茶到店。"
        row = campaigns.get_campaign(s, cid, scope=None)
        assert (row.status, row.recipients, row.excluded) == ("queued", 3, 2)
        assert row.queued_at == NOW
        entries = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.CAMPAIGN_QUEUED)).scalars().all()  # fmt: skip
        assert len(entries) == 1 and entries[0].actor_staff_id == shop.manager
        assert entries[0].detail["queued"] == 3 and entries[0].target_id == str(cid)
    again = campaigns.queue_campaign(db, cid, now=NOW + timedelta(hours=1), actor_id=None,
                                     scope=None)  # fmt: skip
    assert again.already_queued and again.queued == 0
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 3
        queued = s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == audit.Action.CAMPAIGN_QUEUED)).scalar_one()  # fmt: skip
        assert queued == 1
    # a second campaign to the same people never re-uses the first one's keys
    second = campaigns.save_campaign(
        db,
        name="又一次",
        template_id=shop.template,
        audience=Audience(customer_ids=ids(shop, "王")),
        actor_id=None,
    )
    assert campaigns.queue_campaign(db, second, now=NOW, actor_id=None, scope=None).queued == 1


def test_frequency_cap_excludes_across_campaigns(db: Database, shop: Shop) -> None:
    audience = Audience(customer_ids=ids(shop, "王", "李"))
    results = []
    for n in range(3):
        cid = campaigns.save_campaign(db, name=f"第{n}次", template_id=shop.template,
                                      audience=audience, actor_id=None)  # fmt: skip
        at = NOW + timedelta(days=n)
        results.append(campaigns.queue_campaign(db, cid, now=at, actor_id=None, scope=None))
        with db.write() as s:  # the outbox sent them (only sent messages count toward the cap)
            s.execute(update(Message).where(Message.campaign_id == cid)
                      .values(status="sent", sent_at=at + timedelta(minutes=5)))  # fmt: skip
    assert [r.queued for r in results[:2]] == [2, 2]
    # a third marketing SMS within a week is never queued, whichever campaign it comes from
    assert results[2].queued == 0 and results[2].reasons == {"frequency_cap": 2}
    later = campaigns.save_campaign(db, name="下周", template_id=shop.template, audience=audience,
                                    actor_id=None)  # fmt: skip
    assert campaigns.queue_campaign(db, later, now=NOW + timedelta(days=8), actor_id=None,
                                    scope=None).queued == 2  # fmt: skip  # 1 in the week + 1


def test_holdout_is_drawn_with_the_seed(db: Database, shop: Shop) -> None:
    population = list(range(1, 1001))
    first = campaigns.draw_holdout(population, 20, seed=7)
    assert len(first) == 200 and set(first) <= set(population)
    assert campaigns.draw_holdout(list(reversed(population)), 20, seed=7) == first
    assert campaigns.draw_holdout(population, 20, seed=8) != first
    assert campaigns.draw_holdout(population, 0, seed=7) == []
    assert len(campaigns.draw_holdout(population[:3], 10, seed=1)) == 0  # 0.3 rounds to 0
    assert len(campaigns.draw_holdout(population[:10], 50, seed=1)) == 5

    # holdout from the eligible customers only, the same in the dry run and when queued
    extra = [make_customer(db, name=f"客{n}", home_store_id=shop.stores[0]) for n in range(40)]
    for customer in extra:
        grant(db, customer)
    cid = campaigns.save_campaign(db, name="召回", kind="winback", template_id=shop.template,
                                  audience=Audience(store_id=shop.stores[0]), holdout_percent=25,
                                  seed=12345, actor_id=None)  # fmt: skip
    planned = campaigns.dry_run(db, cid, now=NOW, scope=None)
    eligible = sorted([*extra, shop.people["王"], shop.people["李"]])
    assert planned.holdout == campaigns.draw_holdout(eligible, 25, seed=12345)
    assert len(planned.holdout) == round(42 * 0.25)
    result = campaigns.queue_campaign(db, cid, now=NOW, actor_id=None, scope=None)
    assert result.holdout == len(planned.holdout) and result.queued == 42 - result.holdout
    with db.read() as s:
        held = campaigns.holdout_ids(s, cid)
        messaged = set(s.execute(select(Message.customer_id)
                                 .where(Message.campaign_id == cid)).scalars())  # fmt: skip
        rows = s.execute(select(func.count()).select_from(CampaignHoldout)).scalar_one()
    assert held == planned.holdout and rows == len(held)
    assert not messaged & set(held) and messaged | set(held) == set(eligible)
    after = campaigns.dry_run(db, cid, now=NOW, scope=None)
    assert after.queued and after.holdout == held


def test_save_campaign_checks_scope_and_audits(db: Database, shop: Shop) -> None:
    a, b = shop.stores
    with pytest.raises(InvalidInput, match="own store"):
        campaigns.save_campaign(
            db,
            name="x",
            template_id=shop.template,
            audience=Audience(store_id=b),
            actor_id=shop.manager,
            scope=a,
        )
    cid = campaigns.save_campaign(db, name="店内", template_id=shop.template, audience=Audience(),
                                  actor_id=shop.manager, scope=a)  # fmt: skip
    with db.read() as s:
        assert campaigns.get_campaign(s, cid, scope=a).audience.store_id == a
        with pytest.raises(NotFound):
            campaigns.get_campaign(s, cid, scope=b)
        assert [c.id for c in campaigns.list_campaigns(s, scope=b)] == []
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.CAMPAIGN_SAVED)).scalar_one()  # fmt: skip
        assert entry.actor_staff_id == shop.manager
        assert entry.detail["after"]["audience"]["store_id"] == a
    with pytest.raises(NotFound):
        campaigns.queue_campaign(db, cid, now=NOW, actor_id=None, scope=b)
    with pytest.raises(InvalidInput, match="channel"):
        campaigns.save_campaign(db, name="x", template_id=shop.template, channel="email",
                                audience=Audience(), actor_id=None)  # fmt: skip
    with pytest.raises(InvalidInput, match="holdout"):
        campaigns.save_campaign(db, name="x", template_id=shop.template, holdout_percent=95,
                                audience=Audience(), actor_id=None)  # fmt: skip
    campaigns.save_campaign(db, name="改名", template_id=shop.template, audience=Audience(),
                            campaign_id=cid, actor_id=shop.manager, scope=a)  # fmt: skip
    campaigns.queue_campaign(db, cid, now=NOW, actor_id=shop.manager, scope=a)
    with pytest.raises(Conflict):
        campaigns.save_campaign(db, name="again", template_id=shop.template, audience=Audience(),
                                campaign_id=cid, actor_id=shop.manager, scope=a)  # fmt: skip
    with db.read() as s:  # only the manager's store was messaged
        messaged = set(s.execute(select(Message.customer_id)).scalars())
    assert messaged == set(ids(shop, "王", "李"))


def test_a_campaign_is_marketing_even_with_a_service_template(db: Database, shop: Shop) -> None:
    service = campaigns.save_template(db, name="通知", channel="sms", body="{{ name }}：通知",
                                      is_marketing=False, actor_id=None)  # fmt: skip
    cid = campaigns.save_campaign(db, name="群发通知", template_id=service, audience=Audience(),
                                  actor_id=None)  # fmt: skip
    result = campaigns.queue_campaign(db, cid, now=NOW, actor_id=None, scope=None)
    assert result.reasons == {"no_consent": 1, "no_address": 1}
    with db.read() as s:
        rows = s.execute(select(Message.customer_id, Message.is_marketing)).all()
    assert sorted(rows) == [(c, True) for c in ids(shop, "王", "李", "周")]


def test_cancel_stops_queued_messages(db: Database, shop: Shop) -> None:
    cid = campaigns.save_campaign(db, name="取消", template_id=shop.template, audience=Audience(),
                                  actor_id=None)  # fmt: skip
    campaigns.queue_campaign(db, cid, now=NOW, actor_id=None, scope=None)
    assert campaigns.cancel_campaign(db, cid, actor_id=shop.manager, scope=None) == 3
    with db.read() as s:
        assert campaigns.message_counts(s, cid) == {"cancelled": 3}
    with pytest.raises(Conflict):
        campaigns.queue_campaign(db, cid, now=NOW, actor_id=None, scope=None)


def test_templates_are_checked_previewed_and_audited(db: Database, shop: Shop) -> None:
    with pytest.raises(InvalidInput):
        campaigns.save_template(db, name="坏", channel="sms", body="{{ name ", actor_id=None)
    with pytest.raises(InvalidInput, match="channel"):
        campaigns.save_template(db, name="坏", channel="fax", body="hi", actor_id=None)
    email = make_template(db, body="{{ salutation }}：秋茶到了。", channel="email",
                          subject="{{ name }}，秋茶")  # fmt: skip
    with db.read() as s:
        shown = campaigns.preview_template(s, body="{{ salutation }}好", subject="致{{ name }}",
                                           customer_id=shop.people["李"])  # fmt: skip
        assert (shown.customer_id, shown.subject, shown.body) == (
            shop.people["李"],
            "致李雷",
            "李先生好",
        )
        # a customer outside the scope is never shown: the scope's first customer instead
        other = campaigns.preview_template(s, body="{{ name }}", customer_id=shop.people["周"],
                                           scope=shop.stores[0])  # fmt: skip
        assert other.customer_id == shop.people["王"] and other.body == "王芳"
        assert campaigns.preview_template(s, body="{{ name ").problems
        saved = s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == audit.Action.TEMPLATE_SAVED)).scalar_one()  # fmt: skip
        assert saved == 2
        assert [t.id for t in campaigns.list_templates(s, channel="email")] == [email]
    cid = campaigns.save_campaign(db, name="邮件", template_id=email, audience=Audience(),
                                  actor_id=None)  # fmt: skip
    grant(db, shop.people["王"], "email")
    run = campaigns.dry_run(db, cid, now=NOW, scope=None)
    assert run.recipients == []  # the fixtures' customers have no e-mail address
    assert set(run.reasons) <= {"no_address", "no_consent"}


def test_winback_report_counts_reactivation(db: Database, shop: Shop) -> None:
    people = [make_customer(db, name=f"流失{n}", home_store_id=shop.stores[0]) for n in range(20)]
    for customer in people:
        grant(db, customer)
        bought(db, customer, shop.stores[0], NOW - timedelta(days=300))
    cid = campaigns.save_campaign(db, name="召回", kind="winback", template_id=shop.template,
                                  audience=Audience(lapsed_days=180), holdout_percent=50, seed=3,
                                  actor_id=None)  # fmt: skip
    assert campaigns.queue_campaign(db, cid, now=NOW, actor_id=None, scope=None).queued == 10
    with db.read() as s:
        held = campaigns.holdout_ids(s, cid)
        treated = sorted(set(s.execute(select(Message.customer_id)
                                       .where(Message.campaign_id == cid)).scalars()))  # fmt: skip
    for customer in treated[:6]:  # 6 of 10 treated come back within the window
        bought(db, customer, shop.stores[0], NOW + timedelta(days=20))
    bought(db, treated[6], shop.stores[0], NOW + timedelta(days=90))  # too late
    bought(db, treated[7], shop.stores[0], NOW - timedelta(days=1))  # before the campaign
    bought(db, held[0], shop.stores[0], NOW + timedelta(days=5))  # 1 of 10 held out
    with db.read() as s:
        early = campaigns.winback_report(s, cid, now=NOW + timedelta(days=30))
        report = campaigns.winback_report(s, cid, now=NOW + timedelta(days=61))
    assert not early.complete and report.complete
    assert (report.treated, report.treated_reactivated) == (10, 6)
    assert (report.holdout, report.holdout_reactivated) == (10, 1)
    assert report.treated_rate == pytest.approx(0.6) and report.holdout_rate == pytest.approx(0.1)
    assert report.difference == pytest.approx(0.5)
    assert report.low is not None and report.high is not None
    assert 0 < report.low < 0.5 < report.high < 1 and report.significant
    assert report.window_end == NOW + timedelta(days=60)
    draft = campaigns.save_campaign(db, name="未发", template_id=shop.template,
                                    audience=Audience(), actor_id=None)  # fmt: skip
    with db.read() as s:
        empty = campaigns.winback_report(s, draft, now=NOW)
    assert empty.treated == 0 and empty.difference is None


def test_cli_list_dry_run_and_queue(db: Database, shop: Shop) -> None:
    from typer.testing import CliRunner

    from guanxi.cli.main import app

    runner = CliRunner()
    url = db.url.render_as_string(hide_password=False)
    audience = Audience(store_id=shop.stores[0])
    cid = campaigns.save_campaign(db, name="终端", template_id=shop.template, audience=audience,
                                  actor_id=None)  # fmt: skip
    listed = runner.invoke(app, ["--db", url, "campaign", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(c["id"], c["status"]) for c in json.loads(listed.output)] == [(cid, "draft")]
    dry = runner.invoke(app, ["--db", url, "campaign", "dry-run", str(cid), "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.output)
    assert data["recipient_count"] == 2 and data["reasons"] == {"no_consent": 1, "no_address": 1}
    assert {r["body"] for r in data["recipients"]} == {"王女士，您好！新茶到店。",
                                                       "李先生，您好！新茶到店。"}  # fmt: skip
    text = runner.invoke(app, ["--db", url, "campaign", "dry-run", str(cid)])
    assert "2 would get the message" in " ".join(text.output.split())
    queued = runner.invoke(app, ["--db", url, "campaign", "queue", str(cid)])
    assert queued.exit_code == 0, queued.output
    assert f"Campaign {cid}: 2 messages queued, 2 excluded, 0 held out." in " ".join(
        queued.output.split())  # fmt: skip
    again = runner.invoke(app, ["--db", url, "campaign", "queue", str(cid)])
    assert "nothing new queued" in again.output
    missing = runner.invoke(app, ["--db", url, "campaign", "queue", "999"])
    assert missing.exit_code == 1
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 2
