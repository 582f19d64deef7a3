"""Complaint pages: list with filters and SLA badges, logging, the detail's actions, the report,
the customer page's partial; store scope and permissions (both DBs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.feedback.complaint_lists import complaint_section
from guanxi.feedback.complaints import get_complaint, open_complaint
from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import AuditEntry, Complaint, CouponCampaign, Message, PublicLink
from guanxi.web import i18n
from guanxi.web.context import Viewer
from guanxi.web.routes import complaints as complaint_routes
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]


@pytest.fixture(autouse=True)
def _routes(app: FastAPI) -> None:
    """Until the lead includes the router in create_app."""
    if not any(getattr(r, "path", "") == "/complaints" for r in app.routes):
        app.include_router(complaint_routes.router)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _open(db: Database, customer: int | None, store: int | None, *, hours_ago: float = 0,
          category: str = "product") -> int:  # fmt: skip
    with db.write() as s:
        return open_complaint(s, customer_id=customer, store_id=store, category=category,
                              severity="high", channel="counter", summary="杯子有裂纹",
                              actor_id=None,
                              now=datetime.now(UTC) - timedelta(hours=hours_ago))  # fmt: skip


def _ids(html: str) -> list[int]:
    return sorted(
        int(str(tr["data-complaint"])) for tr in soup(html).select("[data-testid=complaint]")
    )


def test_the_list_is_scoped_and_filtered(
    db: Database, accounts: dict[str, Account], stores: tuple[int, int], client_for: Factory
) -> None:
    a, b = stores
    late = _open(db, make_customer(db, home_store_id=a), None, hours_ago=30)  # store A, breached
    fresh = _open(db, None, a, category="service")
    other = _open(db, None, b)
    owner, _ = client_for("owner")
    assert _ids(owner.get("/complaints").text) == [late, fresh, other]
    clerk, _ = client_for("clerk")
    page = clerk.get("/complaints")
    assert _ids(page.text) == [late, fresh]
    row = soup(page.text).select_one(f"[data-complaint='{late}']")
    assert row is not None and row["data-breached"] == "true"
    assert row.select_one("[data-testid=sla-first_response]")["data-state"] == "breached"  # type: ignore[index]
    assert _ids(clerk.get("/complaints?breached=1").text) == [late]
    assert _ids(clerk.get("/complaints?category=service").text) == [fresh]
    assert _ids(clerk.get("/complaints?status=closed").text) == []
    assert soup(page.text).select_one("[data-testid=complaint-report-link]") is None  # clerk
    other_clerk, _ = client_for("clerk_b")
    assert other_clerk.get(f"/complaints/{late}").status_code == 404


def test_logging_a_complaint_for_a_customer(
    db: Database, accounts: dict[str, Account], stores: tuple[int, int], client_for: Factory
) -> None:
    c = make_customer(db, home_store_id=stores[0], name="周杰", phone="+8613900001234")
    clerk, csrf = client_for("clerk")
    form = clerk.get(f"/complaints/new?customer_id={c}")
    assert soup(form.text).select_one("[data-testid=complaint-customer]")["data-customer"] == str(c)  # type: ignore[index]
    found = clerk.get("/complaints/new?q=1234")
    assert [h["data-customer"] for h in soup(found.text).select("[data-testid=customer-hit]")] == [
        str(c)
    ]
    bad = clerk.post("/complaints/new", data={"csrf_token": csrf, "customer_id": str(c),
                                              "category": "smell", "severity": "high",
                                              "channel": "counter", "summary": "x"})  # fmt: skip
    assert bad.status_code == 422
    assert soup(bad.text).select_one("[data-testid=complaint-error]") is not None
    done = clerk.post("/complaints/new", data={"csrf_token": csrf, "customer_id": str(c),
                                               "category": "product", "severity": "critical",
                                               "channel": "phone", "summary": "收到的茶叶发霉"},
                      follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    cid = int(done.headers["location"].rsplit("/", 1)[1])
    with db.read() as s:
        row = get_complaint(s, cid)
        assert (row.customer_id, row.store_id, row.severity, row.created_by_staff_id) == (
            c, stores[0], "critical", accounts["clerk"].id
        )  # fmt: skip
    page = clerk.get(f"/complaints/{cid}")
    kinds = [e["data-kind"] for e in soup(page.text).select("[data-testid=complaint-event]")]
    assert kinds == ["opened"]
    # a clerk of the other store may not log one for this customer
    other, other_csrf = client_for("clerk_b")
    assert other.get(f"/complaints/new?customer_id={c}").status_code == 404
    missing_csrf = clerk.post("/complaints/new", data={"summary": "x"})
    assert missing_csrf.status_code == 403


def test_the_actions_on_the_detail_page(
    db: Database, accounts: dict[str, Account], stores: tuple[int, int], client_for: Factory
) -> None:
    c = make_customer(db, home_store_id=stores[0])
    cid = _open(db, c, None)
    with db.write() as s:
        s.add(CouponCampaign(name="致歉券", kind="fixed", value=20, is_active=True))
    clerk, csrf = client_for("clerk")
    page = soup(clerk.get(f"/complaints/{cid}").text)
    assert page.select_one("[data-testid=form-assign]") is None  # managers only
    options = [
        o["value"] for o in page.select("[data-testid=form-resolve] select[name=action] option")
    ]
    assert options == ["apology", "replacement", "refund"]
    r = clerk.post(f"/complaints/{cid}/respond", data={"csrf_token": csrf, "note": "已致电"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert clerk.post(f"/complaints/{cid}/assign",
                      data={"csrf_token": csrf, "staff_id": "1"}).status_code == 403  # fmt: skip
    refused = clerk.post(f"/complaints/{cid}/resolve",
                         data={"csrf_token": csrf, "action": "points", "points": "100",
                               "note": "x"})  # fmt: skip
    assert refused.status_code == 403
    assert soup(refused.text).select_one("[data-testid=complaint-error]") is not None
    manager, mcsrf = client_for("manager")
    assert manager.post(f"/complaints/{cid}/assign",
                        data={"csrf_token": mcsrf, "staff_id": str(accounts["clerk"].id)},
                        follow_redirects=False).status_code == 303  # fmt: skip
    ok = manager.post(f"/complaints/{cid}/resolve",
                      data={"csrf_token": mcsrf, "action": "points", "points": "200",
                            "note": "补偿 200 积分"}, follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303
    assert ledger.balance(db, c) == 200
    with db.read() as s:
        assert s.execute(select(PublicLink.complaint_id)).scalar_one() == cid
        assert s.execute(select(Message.id)).first() is None  # no public URL set in the tests
    again = manager.post(f"/complaints/{cid}/respond", data={"csrf_token": mcsrf, "note": "x"})
    assert again.status_code == 409
    assert clerk.post(f"/complaints/{cid}/close", data={"csrf_token": csrf},
                      follow_redirects=False).status_code == 303  # fmt: skip
    closed = soup(clerk.get(f"/complaints/{cid}").text)
    assert closed.select_one("[data-testid=complaint-status]")["data-status"] == "closed"  # type: ignore[index]
    assert closed.select_one("[data-testid=form-reopen]") is not None
    kinds = [e["data-kind"] for e in closed.select("[data-testid=complaint-event]")]
    assert kinds == ["opened", "responded", "assigned", "resolved", "closed"]


def test_escalating_by_hand_goes_to_the_manager(
    db: Database, accounts: dict[str, Account], stores: tuple[int, int], client_for: Factory
) -> None:
    cid = _open(db, None, stores[0])
    clerk, csrf = client_for("clerk")
    r = clerk.post(f"/complaints/{cid}/escalate", data={"csrf_token": csrf, "note": "客户要求"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    with db.read() as s:
        assert get_complaint(s, cid).escalated_to_staff_id == accounts["manager"].id


def test_the_report_is_for_managers(
    db: Database, accounts: dict[str, Account], stores: tuple[int, int], client_for: Factory
) -> None:
    _open(db, None, stores[0], category="price")
    clerk, _ = client_for("clerk")
    assert clerk.get("/complaints/report").status_code == 403
    manager, _ = client_for("manager")
    page = soup(manager.get("/complaints/report").text)
    price = page.select_one("[data-testid=volume-row][data-category=price]")
    assert price is not None and [td.text for td in price.select("td")][-1] == "1"
    assert page.select_one("[data-testid=sla-first] [data-testid=value]") is not None


def test_the_customer_page_partial(
    app: FastAPI, db: Database, accounts: dict[str, Account], stores: tuple[int, int]
) -> None:
    c = make_customer(db, home_store_id=stores[0])
    cid = _open(db, c, None)
    with db.read() as s:
        section = complaint_section(s, c, scope=stores[0])
        hidden = complaint_section(s, c, scope=stores[1])
    assert [r.id for r in section["rows"]] == [cid] and section["open"] == 1
    assert hidden["rows"] == []
    template = app.state.guanxi.templates.env.get_template("customers/_complaints.html")
    english = i18n.language("en", "Asia/Shanghai")
    i18n.current.set(english)
    viewer = Viewer(None, english, "test")
    html = template.render(complaints=section, viewer=viewer)
    rows = soup(html).select("[data-testid=customer-complaint]")
    assert [r["data-complaint"] for r in rows] == [str(cid)]
    assert soup(html).select_one("[data-testid=sla-first_response]") is not None


def test_a_clerk_issues_a_feedback_link_that_opens_a_complaint(
    app: FastAPI, db: Database, accounts: dict[str, Account], stores: tuple[int, int],
    client_for: Factory,
) -> None:  # fmt: skip
    c = make_customer(db, home_store_id=stores[0], name="李雷")
    clerk, csrf = client_for("clerk")
    page = soup(clerk.get(f"/customers/{c}").text)
    assert page.select_one("[data-testid=customer-feedback-link]") is not None
    no_url = clerk.post("/complaints/feedback-link", data={"csrf_token": csrf,
                                                           "customer_id": str(c)})  # fmt: skip
    assert no_url.status_code == 200
    shown = soup(no_url.text)
    assert shown.select_one("[data-testid=feedback-link-no-public-url]") is not None
    assert str(shown.select_one("[data-testid=feedback-link-path]").text).startswith("/f/")  # type: ignore[union-attr]
    app.state.guanxi.settings = app.state.guanxi.settings.model_copy(
        update={"public_url": "https://shop.example/"}
    )
    issued = clerk.post("/complaints/feedback-link", data={"csrf_token": csrf,
                                                           "customer_id": str(c)})  # fmt: skip
    url = str(soup(issued.text).select_one("[data-testid=feedback-link-url]")["value"])  # type: ignore[index]
    assert url.startswith("https://shop.example/f/")
    path = url.removeprefix("https://shop.example")
    with db.read() as s:
        link = s.execute(select(PublicLink).order_by(PublicLink.id.desc())).scalars().first()
        assert link is not None and (link.purpose, link.customer_id, link.store_id) == (
            "feedback", c, stores[0]
        )  # fmt: skip
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "links.issued")).scalars()
        assert all("李雷" not in str(e.detail) for e in entries)
    public = TestClient(app)
    form = soup(public.get(path).text)
    assert form.select_one("[data-testid=category]") is not None
    assert public.post(path, data={"category": "service", "text": "店员态度差"}).status_code == 200
    with db.read() as s:
        row = s.execute(select(Complaint).where(Complaint.customer_id == c)).scalar_one()
        assert (row.channel, row.store_id, row.category) == ("link", stores[0], "service")
    assert (
        clerk.post("/complaints/feedback-link", data={"customer_id": str(c)}).status_code == 403
    )  # no CSRF token
    other, other_csrf = client_for("clerk_b")
    assert (
        other.post(
            "/complaints/feedback-link", data={"csrf_token": other_csrf, "customer_id": str(c)}
        ).status_code
        == 404
    )
