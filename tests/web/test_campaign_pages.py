"""Template, campaign and interest pages: permissions, the live preview, the dry run with reasons,
queueing once, store scope, prefills from the agenda and the interest list, the win-back report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from guanxi.care import campaigns
from guanxi.care.campaigns import Audience
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    AuditEntry,
    Consent,
    CustomerInterest,
    Message,
    MessageTemplate,
    Product,
    Purchase,
    PurchaseLine,
)
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def _people(db: Database, accounts: dict[str, Account]) -> dict[str, int]:
    a, b = accounts["manager"].store_id, accounts["clerk_b"].store_id
    people = {
        "王": make_customer(db, name="王芳", gender="female", home_store_id=a),
        "李": make_customer(db, name="李雷", gender="male", home_store_id=a),
        "赵": make_customer(db, name="赵敏", gender="female", home_store_id=a),
        "周": make_customer(db, name="周杰", gender="male", home_store_id=b),
    }
    with db.write() as s:
        for key in ("王", "李", "周"):  # 赵 never agreed to SMS
            s.add(
                Consent(
                    customer_id=people[key],
                    channel="sms",
                    is_granted=True,
                    changed_at=datetime.now(UTC) - timedelta(days=3),
                    source="test",
                )
            )
    return people


def _template(db: Database) -> int:
    return campaigns.save_template(db, name="新茶", channel="sms",
                                   body="{{ salutation }}，新茶到店。", actor_id=None)  # fmt: skip


def test_template_pages_preview_and_save(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    people = _people(db, accounts)
    clerk, _ = client_for("clerk")
    assert clerk.get("/care/templates").status_code == 403
    manager, csrf = client_for("manager")
    page = soup(_english(manager).get("/care/templates/new?channel=sms").text)
    listed = page.select_one("[data-testid=variables]")
    assert listed is not None and "salutation" in listed.text
    # the live preview renders for the sample customer (HTMX: the block alone)
    shown = manager.post("/care/templates/preview",
                         data={"csrf_token": csrf, "body": "{{ salutation }}好", "subject": "",
                               "customer_id": str(people["李"])},
                         headers={"HX-Request": "true"})  # fmt: skip
    block = soup(shown.text)
    body = block.select_one("[data-testid=preview-body]")
    assert body is not None and body.text == "李先生好"
    assert block.select_one("[data-testid=template-form]") is None  # the fragment only
    # another store's customer is never previewed: the manager's first customer instead
    other = soup(manager.post("/care/templates/preview",
                              data={"csrf_token": csrf, "body": "{{ name }}",
                                    "customer_id": str(people["周"])},
                              headers={"HX-Request": "true"}).text)  # fmt: skip
    body = other.select_one("[data-testid=preview-body]")
    assert body is not None and body.text == "王芳"
    broken = manager.post(
        "/care/templates",
        data={"csrf_token": csrf, "name": "坏", "channel": "sms", "body": "{{ name "},
    )
    assert broken.status_code == 422
    assert soup(broken.text).select_one("[data-testid=template-error]") is not None
    saved = manager.post("/care/templates", data={
        "csrf_token": csrf, "name": "秋茶", "channel": "sms", "locale": "zh_CN",
        "body": "{{ salutation }}，秋茶到了。", "is_marketing": "1", "is_active": "1",
    }, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    with db.read() as s:
        template = s.execute(select(MessageTemplate)).scalar_one()
        assert (template.name, template.is_marketing, template.is_active) == ("秋茶", True, True)
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.TEMPLATE_SAVED)).scalar_one()  # fmt: skip
        assert entry.actor_staff_id == accounts["manager"].id
    rows = soup(manager.get("/care/templates").text).select("[data-testid=template-row]")
    assert [r["data-template"] for r in rows] == [str(template.id)]
    edit = soup(manager.get(f"/care/templates/{template.id}").text)
    textarea = edit.select_one("[data-testid=template-body]")
    assert textarea is not None and textarea.text == "{{ salutation }}，秋茶到了。"
    changed = manager.post(f"/care/templates/{template.id}", data={
        "csrf_token": csrf, "name": "秋茶", "channel": "sms", "body": "{{ name }}，秋茶。",
    }, follow_redirects=False)  # fmt: skip
    assert changed.status_code == 303
    with db.read() as s:
        again = s.get(MessageTemplate, template.id)
        assert again is not None and again.body == "{{ name }}，秋茶。" and not again.is_active
    assert manager.get("/care/templates/99999").status_code == 404


def test_campaign_dry_run_queue_and_scope(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    people = _people(db, accounts)
    template = _template(db)
    clerk, _ = client_for("clerk")
    assert clerk.get("/care/campaigns").status_code == 403
    manager, csrf = client_for("manager")
    _english(manager)
    made = manager.post("/care/campaigns", data={
        "csrf_token": csrf, "name": "新茶通知", "kind": "regular", "channel": "sms",
        "template_id": str(template), "holdout_percent": "0",
    }, follow_redirects=False)  # fmt: skip
    assert made.status_code == 303
    url = made.headers["location"]
    campaign_id = int(url.rsplit("/", 1)[1])
    page = soup(manager.get(url).text)
    recipients = {r["data-customer"]: r.select_one("[data-testid=recipient-body]").text
                  for r in page.select("[data-testid=recipient]")}  # fmt: skip
    assert recipients == {str(people["王"]): "王女士，新茶到店。",
                          str(people["李"]): "李先生，新茶到店。"}  # fmt: skip  # not 周: store B
    excluded = [
        (r["data-customer"], r["data-reason"]) for r in page.select("[data-testid=excluded-row]")
    ]
    assert excluded == [(str(people["赵"]), "no_consent")]
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 0
    queued = manager.post(f"{url}/queue", data={"csrf_token": csrf}, follow_redirects=False)
    assert queued.headers["location"].endswith("?queued=2")
    again = manager.post(f"{url}/queue", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.headers["location"].endswith("?queued=again")
    with db.read() as s:
        sent_to = sorted(s.execute(select(Message.customer_id)).scalars())
        assert sent_to == sorted([people["王"], people["李"]])
        entry = s.execute(select(AuditEntry).where(
            AuditEntry.action == audit.Action.CAMPAIGN_QUEUED)).scalar_one()  # fmt: skip
        assert entry.actor_staff_id == accounts["manager"].id
    done = soup(manager.get(f"{url}?queued=2").text)
    count = done.select_one("[data-testid=count-queued]")
    assert count is not None and count.text.strip().endswith("2")
    assert done.select_one("[data-testid=queue-campaign]") is None
    listed = soup(manager.get("/care/campaigns").text).select("[data-testid=campaign-row]")
    assert [r["data-campaign"] for r in listed] == [str(campaign_id)]
    # the owner's campaign for store B is not the manager's business
    b_campaign = campaigns.save_campaign(db, name="B店", template_id=template,
                                         audience=Audience(store_id=accounts["clerk_b"].store_id),
                                         actor_id=accounts["owner"].id)  # fmt: skip
    assert manager.get(f"/care/campaigns/{b_campaign}").status_code == 404
    assert manager.post(f"/care/campaigns/{b_campaign}/queue",
                        data={"csrf_token": csrf}).status_code == 404  # fmt: skip
    owner, _ = client_for("owner")
    assert owner.get(f"/care/campaigns/{b_campaign}").status_code == 200


def test_new_campaign_prefills_and_refusals(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    people = _people(db, accounts)
    template = _template(db)
    manager, csrf = client_for("manager")
    page = soup(manager.get(f"/care/campaigns/new?customer_id={people['李']}").text)
    ids = page.select_one("[data-testid=campaign-customers]")
    assert ids is not None and ids["value"] == str(people["李"])
    assert manager.get(f"/care/campaigns/new?customer_id={people['周']}").status_code == 404
    page = soup(manager.get("/care/campaigns/new?category=茶叶").text)
    interest = page.select_one("[data-testid=campaign-interest]")
    assert interest is not None and interest["value"] == "茶叶"
    refused = manager.post("/care/campaigns", data={
        "csrf_token": csrf, "name": "x", "channel": "email", "template_id": str(template),
    })  # fmt: skip
    assert refused.status_code == 422
    error = soup(refused.text).select_one("[data-testid=campaign-error]")
    assert error is not None and "channel" in error.text
    made = manager.post("/care/campaigns", data={
        "csrf_token": csrf, "name": "一位", "channel": "sms", "template_id": str(template),
        "customer_ids": str(people["李"]),
    }, follow_redirects=False)  # fmt: skip
    url = made.headers["location"]
    page = soup(manager.get(url).text)
    assert [r["data-customer"] for r in page.select("[data-testid=recipient]")] == [
        str(people["李"])
    ]
    form = soup(manager.get(f"{url}/edit").text)
    name = form.select_one("[data-testid=campaign-name]")
    assert name is not None and name["value"] == "一位"


def test_interest_page_and_message_them(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    people = _people(db, accounts)
    with db.write() as s:
        s.add(CustomerInterest(customer_id=people["王"], name="茶叶"))
        s.add(CustomerInterest(customer_id=people["周"], name="茶叶"))
        tea = Product(sku="tea", name="龙井", category="茶叶")
        s.add(tea)
        s.flush()
        purchase = Purchase(store_id=accounts["manager"].store_id, external_order_id="o1",
                            customer_id=people["李"], purchased_at=datetime.now(UTC),
                            total_amount=Decimal(88))  # fmt: skip
        s.add(purchase)
        s.flush()
        s.add(
            PurchaseLine(
                purchase_id=purchase.id,
                line_no=1,
                product_id=tea.id,
                quantity=Decimal(1),
                unit_price=Decimal(88),
                amount=Decimal(88),
            )
        )
    clerk, _ = client_for("clerk")
    page = soup(_english(clerk).get("/care/interests?category=茶叶").text)
    rows = {r["data-customer"]: r for r in page.select("[data-testid=interested-row]")}
    assert set(rows) == {str(people["王"]), str(people["李"])}  # 周 is store B's
    assert rows[str(people["王"])].select_one("[data-testid=why-stated]") is not None
    assert rows[str(people["李"])].select_one("[data-testid=why-bought]") is not None
    assert page.select_one("[data-testid=message-them]") is None  # clerks cannot send
    manager, _ = client_for("manager")
    button = soup(manager.get("/care/interests?category=茶叶").text).select_one(
        "[data-testid=message-them]")  # fmt: skip
    assert button is not None and "/care/campaigns/new?category=" in str(button["href"])


def test_winback_report_on_the_page(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    template = _template(db)
    people = [make_customer(db, name=f"客{n}", home_store_id=store) for n in range(10)]
    with db.write() as s:
        for p in people:
            s.add(
                Consent(
                    customer_id=p,
                    channel="sms",
                    is_granted=True,
                    changed_at=datetime.now(UTC) - timedelta(days=3),
                    source="test",
                )
            )
    campaign = campaigns.save_campaign(db, name="召回", kind="winback", template_id=template,
                                       audience=Audience(store_id=store), holdout_percent=50,
                                       seed=1, actor_id=None)  # fmt: skip
    campaigns.queue_campaign(db, campaign, now=datetime.now(UTC) - timedelta(days=1),
                             actor_id=None, scope=None)  # fmt: skip
    manager, _ = client_for("manager")
    page = soup(_english(manager).get(f"/care/campaigns/{campaign}").text)
    report = page.select_one("[data-testid=winback-report]")
    assert report is not None
    assert page.select_one("[data-testid=window-open]") is not None
    treated = page.select_one("[data-testid=treated]")
    held = page.select_one("[data-testid=held-out]")
    assert treated is not None and held is not None
    assert treated.select("td")[1].text == "5" and held.select("td")[1].text == "5"
    assert page.select_one("[data-testid=uplift]") is not None


def test_the_ready_made_templates_are_added_once_and_audited(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    from guanxi.care.default_templates import DEFAULT_TEMPLATES

    clerk, csrf_clerk = client_for("clerk")
    refused = clerk.post("/care/templates/defaults", data={"csrf_token": csrf_clerk},
                         follow_redirects=False)  # fmt: skip
    assert refused.status_code == 403
    manager, csrf = client_for("manager")
    page = BeautifulSoup(manager.get("/care/templates").text, "html.parser")
    form = page.select_one('[data-testid="add-defaults"]')
    assert form is not None and form["data-missing"] == str(len(DEFAULT_TEMPLATES))
    added = manager.post("/care/templates/defaults", data={"csrf_token": csrf},
                         follow_redirects=False)  # fmt: skip
    assert added.status_code == 303
    assert added.headers["location"] == f"/care/templates?added={len(DEFAULT_TEMPLATES)}"
    after = BeautifulSoup(manager.get(added.headers["location"]).text, "html.parser")
    assert after.select_one('[data-testid="add-defaults"]') is None  # nothing left to add
    assert after.select_one('[data-testid="templates-added"]') is not None
    assert len(after.select('[data-testid="template-row"]')) == len(DEFAULT_TEMPLATES)
    again = manager.post("/care/templates/defaults", data={"csrf_token": csrf},
                         follow_redirects=False)  # fmt: skip
    assert again.headers["location"] == "/care/templates?added=0"
    with db.read() as s:
        rows = s.execute(select(MessageTemplate.id)).all()
        entries = s.execute(
            select(AuditEntry.detail).where(AuditEntry.action == audit.Action.TEMPLATES_INSTALLED)
        ).scalars().all()  # fmt: skip
    assert len(rows) == len(DEFAULT_TEMPLATES)
    assert entries == [{"added": len(DEFAULT_TEMPLATES)}]
