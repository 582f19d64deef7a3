"""Clubs and events pages: permissions and scope, invitations with a dry run, check-in at the
door (page and HTMX fragment), and the public RSVP page with its refusals."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.club.clubs import change_members, save_club
from guanxi.club.events import EventInput, create_event
from guanxi.club.rsvp import respond
from guanxi.config import Settings
from guanxi.feedback.links import issue_link
from guanxi.services.staff import StaffMember, list_staff
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, EventRsvp, Message
from guanxi.web.app import create_app
from guanxi.web.ratelimit import RateLimiter
from tests.factories import make_customer
from tests.web.conftest import HASHER, Account

Factory = Callable[[str], tuple[TestClient, str]]
SOON = datetime.now(UTC) + timedelta(days=7)


@pytest.fixture
def app(db: Database) -> FastAPI:
    """The app with a public address (invitation messages carry RSVP links)."""
    return create_app(Settings(public_url="https://shop.example"), db=db, hasher=HASHER)


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _staff(db: Database, username: str) -> StaffMember:
    return next(m for m in list_staff(db) if m.username == username)


def _event(db: Database, actor: StaffMember, store_id: int | None, **fields: object) -> int:
    values: dict[str, object] = {
        "name": "秋季品茶会",
        "starts_at": SOON,
        "ends_at": SOON + timedelta(hours=2),
        "location": "二楼茶室",
        "store_id": store_id,
    }
    values.update(fields)
    return create_event(db, actor, EventInput(**values))[0]  # type: ignore[arg-type]


def test_clerks_may_see_events_and_check_in_but_not_manage(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    event = _event(db, _staff(db, "manager"), accounts["manager"].store_id)
    clerk, csrf = client_for("clerk")
    assert clerk.get("/clubs").status_code == 403
    assert clerk.get("/events/new").status_code == 403
    assert clerk.post(f"/events/{event}/invite", data={"csrf_token": csrf}).status_code == 403
    page = _soup(clerk.get("/events").text)
    assert [r["data-event"] for r in page.select("[data-testid=event]")] == [str(event)]
    assert clerk.get(f"/events/{event}/check-in").status_code == 200
    assert not _soup(clerk.get(f"/events/{event}").text).select("[data-testid=invite-form]")


def test_another_stores_event_is_not_found(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    event = _event(db, _staff(db, "owner"), accounts["clerk_b"].store_id)
    shop_wide = _event(db, _staff(db, "owner"), None, name="年终答谢会")
    clerk, _ = client_for("clerk")
    assert clerk.get(f"/events/{event}").status_code == 404
    assert clerk.get(f"/events/{event}/check-in").status_code == 404
    assert clerk.get(f"/events/{shop_wide}").status_code == 200
    owner, _ = client_for("owner")
    assert owner.get(f"/events/{event}").status_code == 200


def test_a_manager_makes_a_club_and_a_monthly_event(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    manager, csrf = client_for("manager")
    made = manager.post(
        "/clubs/new",
        data={"csrf_token": csrf, "name": "茶友会", "rule": "invitation"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    club_id = int(made.headers["location"].rsplit("/", 1)[1])
    customer = make_customer(db, home_store_id=accounts["manager"].store_id)
    added = manager.post(f"/clubs/{club_id}/members", data={"csrf_token": csrf, "add": customer})
    page = _soup(added.text)
    assert [m["data-customer"] for m in page.select("[data-testid=member]")] == [str(customer)]
    listing = _soup(manager.get("/clubs").text)
    assert listing.select_one("[data-testid=club-members]").get_text() == "1"  # type: ignore[union-attr]
    created = manager.post(
        "/events/new",
        data={
            "csrf_token": csrf,
            "name": "月度品茶会",
            "kind": "lecture",
            "club": club_id,
            "starts_at": "2027-01-15T19:00",
            "ends_at": "2027-01-15T21:00",
            "capacity": "12",
            "attendance_points": "30",
            "recurrence": "monthly",
            "location": "茶室",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    first = _soup(manager.get(created.headers["location"]).text)
    assert first.select_one("[data-testid=event-name]").get_text() == "月度品茶会"  # type: ignore[union-attr]
    events = _soup(manager.get("/events").text).select("[data-testid=event]")
    assert len(events) == 12
    bad = manager.post("/events/new", data={"csrf_token": csrf, "name": "x", "starts_at": "soon"})
    assert bad.status_code == 422


def test_invitations_are_counted_first_then_sent_with_links(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    store = accounts["manager"].store_id
    boss = _staff(db, "manager")
    ids = [make_customer(db, home_store_id=store) for _ in range(3)]
    with db.write() as s:
        s.add_all(
            Consent(
                customer_id=c, channel="sms", is_granted=True, changed_at=SOON, source="counter"
            )
            for c in ids[:2]
        )
    club = save_club(db, boss, name="茶友会", rule={"invitation": True})
    change_members(db, boss, club.id, add=ids, now=SOON)
    event = _event(db, boss, store)
    manager, csrf = client_for("manager")
    form = {
        "csrf_token": csrf,
        "audience": "club",
        "club": club.id,
        "channel": "sms",
        "locale": "zh_CN",
    }
    dry = _soup(manager.post(f"/events/{event}/invite", data=form).text)
    plan = dry.select_one("[data-testid=invite-plan]")
    assert plan is not None and (plan["data-audience"], plan["data-to-message"]) == ("3", "2")
    assert [li["data-reason"] for li in dry.select("[data-testid=excluded] li")] == ["no_consent"]
    with db.read() as s:
        assert s.execute(select(Message)).first() is None  # the dry run wrote nothing
    sent = manager.post(f"/events/{event}/invite", data={**form, "confirm": "yes"})
    page = _soup(sent.text)
    assert page.select_one("[data-testid=invitations-sent]") is not None
    assert len(page.select("[data-testid=guest][data-status=invited]")) == 3
    with db.read() as s:
        body = s.execute(select(Message.body)).scalars().first()
    assert body is not None and re.search(r"https://shop\.example/e/[A-Za-z0-9_-]{32}", body)


def test_the_door_checks_a_guest_in_once(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    store = accounts["clerk"].store_id
    event = _event(db, _staff(db, "manager"), store, capacity=1)
    guest = make_customer(db, name="王芳", phone="+8613800004321", home_store_id=store)
    walk_in = make_customer(db, name="王强", phone="+8613900004321", home_store_id=store)
    respond(db, event, guest, "confirm", now=datetime.now(UTC))
    clerk, csrf = client_for("clerk")
    found = _soup(
        clerk.get(
            f"/events/{event}/check-in", params={"q": "4321"}, headers={"HX-Request": "true"}
        ).text
    )
    assert found.select_one("h1") is None  # the fragment only
    assert [li["data-customer"] for li in found.select("[data-testid=guest]")] == [str(guest)]
    assert [li["data-customer"] for li in found.select("[data-testid=walk-in]")] == [str(walk_in)]
    assert "138****4321" in found.get_text()  # a clerk sees masked phones
    done = _soup(
        clerk.post(
            f"/events/{event}/check-in",
            data={"csrf_token": csrf, "customer_id": guest, "q": "4321"},
        ).text
    )
    notice = done.select_one("[data-testid=checked-in-notice]")
    assert notice is not None and notice["data-first"] == "true"
    row = done.select_one(f"[data-testid=guest][data-customer='{guest}']")
    assert row is not None and row["data-checked-in"] == "true"
    again = _soup(
        clerk.post(
            f"/events/{event}/check-in", data={"csrf_token": csrf, "customer_id": guest}
        ).text
    )
    assert again.select_one("[data-testid=checked-in-notice]")["data-first"] == "false"  # type: ignore[index]
    extra = _soup(
        clerk.post(
            f"/events/{event}/check-in", data={"csrf_token": csrf, "customer_id": walk_in}
        ).text
    )
    assert extra.select_one("[data-testid=checked-in-notice]")["data-over-capacity"] == "true"  # type: ignore[index]
    with db.read() as s:
        checked = (
            s.execute(select(EventRsvp.customer_id).where(EventRsvp.checked_in_at.is_not(None)))
            .scalars()
            .all()
        )
    assert sorted(checked) == sorted([guest, walk_in])


def _token(db: Database, event: int, customer: int, **kw: object) -> str:
    with db.write() as s:
        return issue_link(
            s, "rsvp", customer, now=datetime.now(UTC), event_id=event, max_uses=3, **kw
        )


def test_the_guest_confirms_and_declines_on_the_public_page(
    db: Database, app: FastAPI, accounts: dict[str, Account]
) -> None:
    event = _event(db, _staff(db, "manager"), accounts["manager"].store_id)
    guest = make_customer(db, name="保密的名字")
    token = _token(db, event, guest)
    client = TestClient(app)
    page = client.get(f"/e/{token}")
    soup = _soup(page.text)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert soup.select_one("[data-testid=event-name]").get_text() == "秋季品茶会"  # type: ignore[union-attr]
    assert "保密的名字" not in page.text and soup.select("nav") == [] and "<script" not in page.text
    assert soup.select_one("[data-testid=confirm]") is not None
    done = _soup(client.post(f"/e/{token}", data={"answer": "confirm"}).text)
    assert done.select_one("[data-testid=rsvp]")["data-status"] == "confirmed"  # type: ignore[index]
    declined = _soup(client.post(f"/e/{token}", data={"answer": "decline"}).text)
    assert declined.select_one("[data-testid=rsvp]")["data-status"] == "declined"  # type: ignore[index]
    with db.read() as s:
        assert s.execute(select(EventRsvp.status)).scalar_one() == "declined"


def test_the_public_page_refuses_cleanly(
    db: Database, app: FastAPI, accounts: dict[str, Account]
) -> None:
    event = _event(db, _staff(db, "manager"), None)
    guest = make_customer(db)
    client = TestClient(app)
    assert client.get("/e/not-a-token").status_code == 404
    assert client.get("/e/" + "A" * 32).status_code == 404
    used = _token(db, event, guest, days=1)
    for _ in range(3):
        client.post(f"/e/{used}", data={"answer": "confirm"})
    assert client.post(f"/e/{used}", data={"answer": "confirm"}).status_code == 410
    shown = _soup(client.get(f"/e/{used}").text)  # still shown, without buttons
    assert shown.select_one("[data-testid=no-more-answers]") is not None
    with db.write() as s:
        survey = issue_link(s, "survey", guest, now=datetime.now(UTC))
    assert client.get(f"/e/{survey}").status_code == 404
    app.state.guanxi.public_limiter = RateLimiter(limit=2, window_s=60)
    assert client.get("/e/" + "B" * 32).status_code == 404
    assert client.get("/e/" + "B" * 32).status_code == 404
    limited = client.get("/e/" + "B" * 32)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_every_form_renders_and_a_rule_club_syncs(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    event = _event(db, _staff(db, "owner"), accounts["manager"].store_id, recurrence="quarterly")
    manager, csrf = client_for("manager")
    for path in ("/clubs/new", "/events/new", f"/events/{event}/edit", "/events?past=1"):
        response = manager.get(path)
        assert response.status_code == 200, path
        assert _soup(response.text).select("form") or "past" in path
    with db.write() as s:
        from guanxi.storage.models import Segment

        s.add(Segment(name="全部", rules=[]))
    made = manager.post(
        "/clubs/new",
        data={"csrf_token": csrf, "name": "VIP", "rule": "segment", "segment": "1"},
        follow_redirects=False,
    )
    club = made.headers["location"]
    synced = _soup(manager.post(f"{club}/sync", data={"csrf_token": csrf}).text)
    assert synced.select_one("[data-testid=members-changed]") is not None
    cancelled = manager.post(
        f"/events/{event}/status", data={"csrf_token": csrf, "status": "cancelled", "series": "yes"}
    )
    assert _soup(cancelled.text).select_one("[data-testid=event]")["data-status"] == "cancelled"  # type: ignore[index]


def test_shared_clubs_and_events_are_read_only_for_a_store_manager(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    owner = _staff(db, "owner")
    shared = _event(db, owner, None, name="年终答谢会", recurrence="quarterly")
    club = save_club(db, owner, name="全店茶友会", rule={"invitation": True}).id
    manager, csrf = client_for("manager")
    page = _soup(manager.get(f"/events/{shared}").text)
    assert not page.select("[data-testid=cancel-event]")
    assert not page.select("[data-testid=edit-event]")
    assert _soup(manager.get(f"/clubs/{club}").text).select("[data-testid=read-only]")
    cancel = manager.post(
        f"/events/{shared}/status",
        data={"csrf_token": csrf, "status": "cancelled", "series": "yes"},
    )
    assert cancel.status_code == 403 and "only the owner" in cancel.text
    edit = manager.post(
        f"/events/{shared}/edit",
        data={"csrf_token": csrf, "name": "改名", "starts_at": "2027-01-15T19:00"},
    )
    assert edit.status_code == 403
    saved = manager.post(
        f"/clubs/{club}",
        data={"csrf_token": csrf, "name": "改名", "rule": "invitation", "active": "yes"},
    )
    assert saved.status_code == 403
    with db.read() as s:
        from guanxi.storage.models import Club, ClubEvent

        row = s.get(ClubEvent, shared)
        assert row is not None and row.status == "planned" and row.store_id is None
        kept = s.get(Club, club)
        assert kept is not None and kept.name == "全店茶友会" and kept.store_id is None
    owner_client, owner_csrf = client_for("owner")
    done = owner_client.post(
        f"/events/{shared}/status", data={"csrf_token": owner_csrf, "status": "cancelled"}
    )
    assert _soup(done.text).select_one("[data-testid=event]")["data-status"] == "cancelled"  # type: ignore[index]


def test_past_events_are_listed_newest_first(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    owner = _staff(db, "owner")
    now = datetime.now(UTC)
    old = _event(db, owner, None, name="去年", starts_at=now - timedelta(days=300), ends_at=None)
    recent = _event(db, owner, None, name="上周", starts_at=now - timedelta(days=7), ends_at=None)
    middle = _event(db, owner, None, name="春天", starts_at=now - timedelta(days=100), ends_at=None)
    manager, _ = client_for("manager")
    rows = _soup(manager.get("/events?past=1").text).select("[data-testid=event]")
    assert [r["data-event"] for r in rows] == [str(recent), str(middle), str(old)]


def test_the_customer_page_partial(
    db: Database, app: FastAPI, accounts: dict[str, Account]
) -> None:
    from guanxi.club.checkin import check_in
    from guanxi.club.engagement import club_section
    from guanxi.web.i18n import current, language

    boss = _staff(db, "manager")
    guest = make_customer(db)
    club = save_club(db, boss, name="茶友会", rule={"invitation": True})
    change_members(db, boss, club.id, add=[guest], now=datetime.now(UTC))
    coming = _event(db, boss, None)
    past = _event(
        db, boss, None, name="春茶品鉴", starts_at=SOON - timedelta(days=30), ends_at=None
    )
    respond(db, coming, guest, "confirm", now=datetime.now(UTC))
    check_in(db, boss.id, past, guest, now=datetime.now(UTC))
    with db.read() as s:
        section = club_section(s, guest)
    english = language("en", "Asia/Shanghai")
    current.set(english)
    template = app.state.guanxi.templates.env.get_template("customers/_clubs.html")
    html = template.render(clubs=section, viewer=type("V", (), {"language": english})())
    soup = _soup(html)
    assert [b.get_text() for b in soup.select("[data-testid=customer-club-list] [data-club]")] == [
        "茶友会"
    ]
    assert soup.select_one("[data-testid=customer-upcoming] li")["data-status"] == "confirmed"  # type: ignore[index]
    assert [li["data-event"] for li in soup.select("[data-testid=customer-attended] li")] == [
        str(past)
    ]
