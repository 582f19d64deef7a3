"""The anniversaries block of the customer page and the form of address on the customer form:
add, change and delete with messages next to the fields, nothing typed lost, kept to the
staff member's store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.storage.db import Database
from guanxi.storage.models import Anniversary, AuditEntry, Customer
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
HTMX = {"HX-Request": "true"}


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def message_for(html: str, control_id: str) -> str:
    """The message an invalid control points at with aria-describedby."""
    page = soup(html)
    control = page.find(id=control_id)
    assert control is not None, f"no control {control_id}"
    assert control.get("aria-invalid") == "true", f"{control_id} is not marked invalid"
    message = page.find(id=str(control["aria-describedby"]))
    assert message is not None
    return message.get_text(strip=True)


def stored(db: Database, customer_id: int) -> list[tuple[str, date, str, str]]:
    with db.read() as s:
        rows = s.execute(
            select(Anniversary.label, Anniversary.occurs_on, Anniversary.calendar_kind,
                   Anniversary.kind)
            .where(Anniversary.customer_id == customer_id).order_by(Anniversary.id)
        )  # fmt: skip
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_clerk_adds_changes_and_deletes_an_anniversary(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    client, csrf = client_for("clerk")
    page = soup(client.get(f"/customers/{cid}").text)
    assert page.select_one("form[data-testid=anniversary-add]") is not None
    added = client.post(f"/customers/{cid}/anniversaries", follow_redirects=False,
                        data={"csrf_token": csrf, "label": "结婚纪念日", "occurs_on": "2016-10-03",
                              "calendar_kind": "lunar"})  # fmt: skip
    assert added.status_code == 303
    assert added.headers["location"] == f"/customers/{cid}#anniversaries"
    assert stored(db, cid) == [("结婚纪念日", date(2016, 10, 3), "lunar", "custom")]
    row = soup(client.get(f"/customers/{cid}").text).select_one("[data-testid=anniversary]")
    assert row is not None and "结婚纪念日" in row.get_text()
    aid = int(str(row["data-anniversary"]))
    changed = client.post(f"/customers/{cid}/anniversaries/{aid}", headers=HTMX,
                          data={"csrf_token": csrf, "label": "婚礼", "occurs_on": "2016-10-03",
                                "calendar_kind": "solar"})  # fmt: skip
    assert changed.status_code == 200
    fragment = soup(changed.text)
    assert fragment.select_one("section#anniversaries") is not None
    assert "婚礼" in fragment.get_text()
    assert stored(db, cid) == [("婚礼", date(2016, 10, 3), "solar", "custom")]
    deleted = client.post(f"/customers/{cid}/anniversaries/{aid}/delete", headers=HTMX,
                          data={"csrf_token": csrf})  # fmt: skip
    assert deleted.status_code == 200 and stored(db, cid) == []
    assert soup(deleted.text).select_one("[data-testid=no-anniversaries]") is not None
    with db.read() as s:
        actions = s.execute(
            select(AuditEntry.action, AuditEntry.actor_staff_id).order_by(AuditEntry.id)
        ).all()
    assert [tuple(a) for a in actions if a[0].startswith("anniversary.")] == [
        ("anniversary.added", accounts["clerk"].id),
        ("anniversary.updated", accounts["clerk"].id),
        ("anniversary.deleted", accounts["clerk"].id),
    ]


def test_bad_input_shows_messages_and_keeps_what_was_typed(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    client, csrf = client_for("clerk")
    bad = {
        "csrf_token": csrf,
        "label": "x" * 65,
        "occurs_on": "2023-02-30",
        "calendar_kind": "lunar",
    }
    page = client.post(f"/customers/{cid}/anniversaries", data=bad)
    assert page.status_code == 422  # the whole page again, the add form open
    assert "at most 64" in message_for(page.text, "a-new-label")
    assert "February 2023 has 28 days" in message_for(page.text, "a-new-occurs_on")
    typed = soup(page.text)
    assert typed.find(id="a-new-occurs_on")["value"] == "2023-02-30"  # type: ignore[index]
    assert typed.find(id="a-new-label")["value"] == "x" * 65  # type: ignore[index]
    kind = typed.select_one("#a-new-calendar_kind option[selected]")
    assert kind is not None and kind["value"] == "lunar"
    fragment = client.post(f"/customers/{cid}/anniversaries", headers=HTMX,
                           data={**bad, "label": " ", "occurs_on": "2016-10-03"})  # fmt: skip
    assert fragment.status_code == 200  # HTMX swaps only successful answers
    assert "needs a name" in message_for(fragment.text, "a-new-label")
    member = client.post(f"/customers/{cid}/member-since", headers=HTMX,
                         data={"csrf_token": csrf, "occurs_on": "someday"})  # fmt: skip
    assert "not a date" in message_for(member.text, "a-member-occurs_on")
    assert soup(member.text).find(id="a-member-occurs_on")["value"] == "someday"  # type: ignore[index]
    assert stored(db, cid) == []


def test_editing_one_row_with_bad_input_keeps_it_open_with_the_typed_values(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    with db.write() as s:
        row = Anniversary(customer_id=cid, label="开业", occurs_on=date(2020, 5, 1))
        s.add(row)
        s.flush()
        aid = row.id
    client, csrf = client_for("clerk")
    response = client.post(f"/customers/{cid}/anniversaries/{aid}", headers=HTMX,
                           data={"csrf_token": csrf, "label": "开业十年", "occurs_on": "2020-5-40",
                                 "calendar_kind": "solar"})  # fmt: skip
    assert message_for(response.text, f"a-{aid}-occurs_on")
    page = soup(response.text)
    assert page.find(id=f"a-{aid}-label")["value"] == "开业十年"  # type: ignore[index]
    assert stored(db, cid) == [("开业", date(2020, 5, 1), "solar", "custom")]


def test_member_since_is_set_shown_and_cleared(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["manager"].store_id)
    client, csrf = client_for("manager")
    saved = client.post(f"/customers/{cid}/member-since", follow_redirects=False,
                        data={"csrf_token": csrf, "occurs_on": "2021/3/15"})  # fmt: skip
    assert saved.status_code == 303
    assert stored(db, cid) == [("membership", date(2021, 3, 15), "solar", "membership")]
    page = soup(client.get(f"/customers/{cid}").text)
    assert page.find(id="a-member-occurs_on")["value"] == "2021-03-15"  # type: ignore[index]
    assert page.select("[data-testid=anniversary]") == []  # not listed with the others
    cleared = client.post(f"/customers/{cid}/member-since", headers=HTMX,
                          data={"csrf_token": csrf, "occurs_on": ""})  # fmt: skip
    assert cleared.status_code == 200 and stored(db, cid) == []
    assert soup(cleared.text).find(id="a-member-occurs_on")["value"] == ""  # type: ignore[index]


def test_another_stores_clerk_cannot_touch_anniversaries(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["clerk"].store_id)
    with db.write() as s:
        row = Anniversary(customer_id=cid, label="开业", occurs_on=date(2020, 5, 1))
        s.add(row)
        s.flush()
        aid = row.id
    client, csrf = client_for("clerk_b")
    data = {"csrf_token": csrf, "label": "x", "occurs_on": "2020-01-01", "calendar_kind": "solar"}
    assert client.post(f"/customers/{cid}/anniversaries", data=data).status_code == 404
    assert client.post(f"/customers/{cid}/anniversaries/{aid}", data=data).status_code == 404
    deleted = client.post(f"/customers/{cid}/anniversaries/{aid}/delete", data=data)
    assert deleted.status_code == 404
    member = client.post(f"/customers/{cid}/member-since", data=data)
    assert member.status_code == 404
    no_csrf = client_for("clerk")[0].post(f"/customers/{cid}/anniversaries/{aid}/delete")
    assert no_csrf.status_code in (400, 403)
    assert stored(db, cid) == [("开业", date(2020, 5, 1), "solar", "custom")]


# --- the form of address on the customer form -------------------------------------------------


def test_salutation_choice_round_trips_through_the_form(
    client_for: Factory, db: Database, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, name="张晓明", gender="female", phone=None, source="walk_in",
                        home_store_id=accounts["clerk"].store_id)  # fmt: skip
    client, csrf = client_for("clerk")
    form = soup(client.get(f"/customers/{cid}/edit").text)
    choices = [str(o["value"]) for o in form.select("#f-salutation option")]
    assert choices == ["", "first_name", "full_name"]
    data = {"csrf_token": csrf, "name": "张晓明", "gender": "female", "source": "walk_in",
            "salutation": "first_name"}  # fmt: skip
    saved = client.post(f"/customers/{cid}", data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    with db.read() as s:
        customer = s.get(Customer, cid)
        assert customer is not None and customer.custom_fields == {"称呼偏好": "first_name"}
    again = soup(client.get(f"/customers/{cid}/edit").text)
    chosen = again.select_one("#f-salutation option[selected]")
    assert chosen is not None and chosen["value"] == "first_name"
    refused = client.post(f"/customers/{cid}", data={**data, "salutation": "boss"})
    assert refused.status_code == 422
    assert "form of address" in message_for(refused.text, "f-salutation")
