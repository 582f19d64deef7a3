"""The customer page's points section (balance, expiry, history, adjust, waive) and the owner's
points programme page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from guanxi.loyalty import ledger
from guanxi.loyalty.accrual import programme
from guanxi.loyalty.rules import EarningProgram
from guanxi.services import audit
from guanxi.storage.db import Database
from tests.factories import make_customer
from tests.web.conftest import Account

Factory = Callable[[str], tuple[TestClient, str]]
EXPIRES = date(2030, 1, 31)
BASE = "Base: ¥{amount} × {rate} point(s) per yuan."
STEPS = {"steps": [{"template": BASE, "values": {"amount": "100", "rate": "1"}}]}


def english(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def text_of(page: BeautifulSoup, testid: str) -> str:
    found = page.select_one(f"[data-testid={testid}]")
    assert found is not None, f"no {testid}"
    return found.get_text(" ", strip=True)


def history(page: BeautifulSoup) -> list[list[str]]:
    return [
        [td.get_text(" ", strip=True) for td in row.find_all("td")]
        for row in page.select("[data-testid=points-row]")
    ]


def value_of(page: BeautifulSoup, name: str, index: int = 0) -> str:
    fields = page.select(f"[name={name}]")
    assert len(fields) > index, f"no field {name}"
    return str(fields[index].get("value", ""))


@pytest.fixture
def customer(db: Database, accounts: dict[str, Account]) -> int:
    """A customer of store A with 100 points earned (expiring 2030-01-31) and 30 redeemed."""
    cid = make_customer(db, name="积分客", home_store_id=accounts["manager"].store_id)
    ledger.earn(db, cid, 100, source_type="purchase", source_id=1, expires_on=EXPIRES,
                reason="purchase A/o1", explanation=STEPS, idempotency_key=None)  # fmt: skip
    ledger.redeem(db, cid, 30, reason="gift", idempotency_key=None,
                  actor_id=accounts["manager"].id)  # fmt: skip
    return cid


@pytest.mark.parametrize("who", ["clerk", "manager", "owner"])
def test_points_section_shows_balance_expiry_and_history(
    client_for: Factory, customer: int, who: str
) -> None:
    client, _ = client_for(who)
    page = soup(english(client).get(f"/customers/{customer}").text)
    assert text_of(page, "points-balance") == "70"
    expiry = text_of(page, "points-expiry")
    assert "70 points" in expiry and "2030" in expiry
    rows = history(page)
    assert [r[1] for r in rows] == ["Redeemed", "Earned"]
    assert [(r[2], r[3]) for r in rows] == [("−30", "70"), ("+100", "100")]
    assert "gift" in rows[0][4] and rows[0][5] == "manager"
    assert "purchase A/o1" in rows[1][4] and "Purchase" in rows[1][4]
    assert "Base: ¥100 × 1 point(s) per yuan." in rows[1][4]  # how the points came about
    assert (page.select_one("[data-testid=adjust-form]") is not None) == (who != "clerk")
    assert (page.select_one("[data-testid=nav-programme]") is not None) == (who == "owner")
    assert page.select_one("[data-testid=points-older]") is None


def test_manager_adjusts_points_audited_and_in_history(
    db: Database, client_for: Factory, customer: int, accounts: dict[str, Account]
) -> None:
    client, csrf = client_for("manager")
    form = soup(english(client).get(f"/customers/{customer}").text)
    key = value_of(form, "key")
    data = {"csrf_token": csrf, "points": "+25", "reason": " goodwill ", "key": key}
    done = client.post(f"/customers/{customer}/points/adjust", data=data, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/customers/{customer}?points=adjusted#points"
    again = client.post(f"/customers/{customer}/points/adjust", data=data, follow_redirects=False)
    assert again.status_code == 303  # a double submit with the same form adjusts once
    assert ledger.balance(db, customer) == 95
    page = soup(client.get(done.headers["location"]).text)
    assert page.select_one("[data-testid=points-adjusted]") is not None
    assert text_of(page, "points-balance") == "95"
    newest = history(page)[0]
    assert newest[1:4] == ["Adjustment", "+25", "95"]
    assert "goodwill" in newest[4] and newest[5] == "manager"
    rows = audit.list_entries(db, action=audit.Action.POINTS_ADJUSTED)
    assert [(r.actor, r.target_id, r.detail["points"]) for r in rows] == [
        ("manager", str(customer), 25)
    ]
    taken = client.post(f"/customers/{customer}/points/adjust",
                        data={"csrf_token": csrf, "points": "-15", "reason": "typo"},
                        follow_redirects=False)  # fmt: skip
    assert taken.status_code == 303
    assert ledger.balance(db, customer) == 80


def test_clerk_may_not_adjust(db: Database, client_for: Factory, customer: int) -> None:
    client, csrf = client_for("clerk")
    data = {"csrf_token": csrf, "points": "50", "reason": "friend"}
    response = client.post(f"/customers/{customer}/points/adjust", data=data)
    assert response.status_code == 403
    assert ledger.balance(db, customer) == 70


def test_manager_of_another_store_does_not_see_the_customer(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    other = make_customer(db, home_store_id=accounts["clerk_b"].store_id)
    client, csrf = client_for("manager")
    response = client.post(f"/customers/{other}/points/adjust",
                           data={"csrf_token": csrf, "points": "5", "reason": "x"})  # fmt: skip
    assert response.status_code == 404
    assert ledger.balance(db, other) == 0


def test_adjust_errors_stand_next_to_the_fields_with_the_values_kept(
    db: Database, client_for: Factory, customer: int
) -> None:
    client, csrf = client_for("owner")
    english(client)
    url = f"/customers/{customer}/points/adjust"
    missing = client.post(url, data={"csrf_token": csrf, "points": "40", "reason": "  "})
    assert missing.status_code == 422
    page = soup(missing.text)
    assert "reason" in text_of(page, "error-reason")
    assert page.select_one("[data-testid=error-points]") is None
    assert value_of(page, "points") == "40"
    assert page.select_one("details.adjust[open]") is not None

    bad = soup(client.post(url, data={"csrf_token": csrf, "points": "abc", "reason": "why"}).text)
    assert "whole number" in text_of(bad, "error-points")
    assert (value_of(bad, "points"), value_of(bad, "reason")) == ("abc", "why")
    zero = soup(client.post(url, data={"csrf_token": csrf, "points": "0", "reason": "why"}).text)
    assert zero.select_one("[data-testid=error-points]") is not None

    short = client.post(url, data={"csrf_token": csrf, "points": "-500", "reason": "oops"})
    assert short.status_code == 422
    page = soup(short.text)
    assert "Not enough points: the balance is 70" in text_of(page, "error-points")
    assert (value_of(page, "points"), value_of(page, "reason")) == ("-500", "oops")
    assert ledger.balance(db, customer) == 70
    assert audit.list_entries(db, action=audit.Action.POINTS_ADJUSTED) == []


def test_owner_waives_a_flagged_claw_back(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["manager"].store_id)
    bought = ledger.earn(db, cid, 100, source_type="purchase", source_id=5, expires_on=None,
                         reason=None, explanation=None, idempotency_key=None).entry  # fmt: skip
    assert bought is not None
    ledger.redeem(db, cid, 80, reason=None, idempotency_key=None, actor_id=None)
    back = ledger.reverse_for_return(
        db, cid, earned_entry_id=bought.id, returned_value=Decimal("200.00"),
        original_value=Decimal("200.00"), source_id=51, idempotency_key=None,
    ).entry  # fmt: skip
    assert back is not None and back.flagged

    manager, manager_csrf = client_for("manager")
    page = soup(english(manager).get(f"/customers/{cid}").text)
    assert text_of(page, "points-balance") == "-80"
    assert "Owes 80 points" in text_of(page, "points-owed")
    assert "80 points still owed" in text_of(page, f"clawback-{back.id}")
    assert page.select_one(f"[data-testid=waive-{back.id}]") is None
    url = f"/customers/{cid}/points/waive/{back.id}"
    assert manager.post(url, data={"csrf_token": manager_csrf}).status_code == 403

    owner, csrf = client_for("owner")
    page = soup(english(owner).get(f"/customers/{cid}").text)
    assert page.select_one(f"[data-testid=waive-{back.id}]") is not None
    other = make_customer(db)
    wrong = owner.post(f"/customers/{other}/points/waive/{back.id}", data={"csrf_token": csrf})
    assert wrong.status_code == 404
    done = owner.post(url, data={"csrf_token": csrf, "reason": "loyal"}, follow_redirects=False)
    assert done.status_code == 303
    assert ledger.balance(db, cid) == 0
    page = soup(owner.get(done.headers["location"]).text)
    assert page.select_one("[data-testid=points-waived]") is not None
    assert page.select_one("[data-testid=points-owed]") is None
    assert history(page)[0][1:4] == ["Waived", "+80", "0"]
    rows = audit.list_entries(db, action=audit.Action.POINTS_WAIVED)
    assert [(r.actor, r.detail["points"]) for r in rows] == [("owner", 80)]
    assert owner.post(url, data={"csrf_token": csrf}).status_code == 409  # nothing owed now


def test_history_pages_to_older_entries(
    db: Database, client_for: Factory, accounts: dict[str, Account]
) -> None:
    cid = make_customer(db, home_store_id=accounts["manager"].store_id)
    for n in range(25):
        ledger.earn(db, cid, n + 1, source_type="purchase", source_id=n, expires_on=None,
                    reason=f"order {n}", explanation=None, idempotency_key=None)  # fmt: skip
    client, _ = client_for("clerk")
    page = soup(english(client).get(f"/customers/{cid}").text)
    assert len(history(page)) == 20 and page.select_one("[data-testid=points-newest]") is None
    older = page.select_one("[data-testid=points-older]")
    assert older is not None
    rest = soup(client.get(str(older["href"])).text)
    assert [r[2] for r in history(rest)] == ["+5", "+4", "+3", "+2", "+1"]
    assert rest.select_one("[data-testid=points-older]") is None
    assert rest.select_one("[data-testid=points-newest]") is not None
    assert text_of(rest, "points-balance") == "325"  # the balance is always the current one
    assert text_of(rest, "points-expiry") == "Nothing expires."


# --- the programme page ----------------------------------------------------------------------

FULL = {
    "points_per_yuan": "1.5",
    "rounding": "half_up",
    "valid_months": "12",
    "category_match": ["tea", "ware", ""],
    "category_factor": ["2", "1.25", ""],
    "store_match": ["A", ""],
    "store_factor": ["3", ""],
    "tier_match": ["gold", ""],
    "tier_factor": ["1.5", ""],
    "birthday_month": "2",
    "festival_match": ["", "春节"],
    "festival_factor": ["1.2", "3"],
    "first_purchase": "50",
    "every_nth_every": ["5", ""],
    "every_nth_points": ["20", ""],
    "referral": "100",
    "survey": "10",
    "event": "",
    "complaint_recovery": "30",
    "cap_per_order": "5000",
    "cap_per_day": "",
}


def _as_posted(page: BeautifulSoup) -> dict[str, list[str]]:
    """The programme form's fields as the browser would send them."""
    sent: dict[str, list[str]] = {}
    for field in page.select("[data-testid=programme-form] :is(input, select)"):
        chosen = field.select_one("option[selected]") if field.name == "select" else field
        assert chosen is not None
        sent.setdefault(str(field["name"]), []).append(str(chosen.get("value", "")))
    return sent


def _stored(db: Database) -> tuple[EarningProgram, int | None]:
    with db.read() as session:
        prog = programme(session)
    return prog.rules, prog.points_valid_months


@pytest.mark.usefixtures("accounts")
def test_owner_views_and_saves_the_programme(db: Database, client_for: Factory) -> None:
    client, csrf = client_for("owner")
    page = soup(english(client).get("/loyalty/programme").text)
    assert (value_of(page, "points_per_yuan"), value_of(page, "valid_months")) == ("1", "24")
    assert "How points are computed" in text_of(page, "programme-explained")
    assert len(page.select("[data-testid=programme-explained] ol li")) == 6

    saved = client.post("/loyalty/programme", data={"csrf_token": csrf, **FULL},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == "/loyalty/programme?saved=1"
    rules, months = _stored(db)
    assert months == 12
    assert rules.as_json() == {
        "points_per_yuan": "1.5",
        "rounding": "half_up",
        "multipliers": [
            {"kind": "category", "factor": "2", "match": "tea"},
            {"kind": "category", "factor": "1.25", "match": "ware"},
            {"kind": "store", "factor": "3", "match": "A"},
            {"kind": "tier", "factor": "1.5", "match": "gold"},
            {"kind": "festival", "factor": "1.2", "match": None},
            {"kind": "festival", "factor": "3", "match": "春节"},
            {"kind": "birthday_month", "factor": "2", "match": None},
        ],
        "bonuses": [
            {"kind": "every_nth", "points": 20, "every": 5},
            {"kind": "first_purchase", "points": 50, "every": None},
            {"kind": "referral", "points": 100, "every": None},
            {"kind": "survey", "points": 10, "every": None},
            {"kind": "complaint_recovery", "points": 30, "every": None},
        ],
        "cap_per_order": 5000,
        "cap_per_day": None,
    }
    assert EarningProgram.from_json(rules.as_json()) == rules
    assert [r.actor for r in audit.list_entries(db, action=audit.Action.PROGRAMME_CHANGED)] == [
        "owner"
    ]

    page = soup(client.get(saved.headers["location"]).text)
    assert page.select_one("[data-testid=programme-saved]") is not None
    assert value_of(page, "points_per_yuan") == "1.5"
    assert page.select_one("select[name=rounding] option[selected]")["value"] == "half_up"  # type: ignore[index]
    assert [value_of(page, "category_match", i) for i in range(2)] == ["tea", "ware"]
    assert [value_of(page, "category_factor", i) for i in range(2)] == ["2", "1.25"]
    assert [value_of(page, "festival_match", i) for i in range(2)] == ["", "春节"]
    assert (value_of(page, "every_nth_every"), value_of(page, "every_nth_points")) == ("5", "20")
    assert (value_of(page, "referral"), value_of(page, "event")) == ("100", "")
    assert (value_of(page, "cap_per_order"), value_of(page, "cap_per_day")) == ("5000", "")

    # The page as shown saves to the same programme: nothing drifts on a round trip.
    resaved = client.post("/loyalty/programme", data=_as_posted(page), follow_redirects=False)
    assert resaved.status_code == 303
    assert _stored(db) == (rules, 12)


@pytest.mark.usefixtures("accounts")
def test_emptying_the_validity_means_points_never_expire(db: Database, client_for: Factory) -> None:
    client, csrf = client_for("owner")
    data = {"csrf_token": csrf, "points_per_yuan": "1", "rounding": "down", "valid_months": "6"}
    assert client.post("/loyalty/programme", data=data, follow_redirects=False).status_code == 303
    assert _stored(db) == (EarningProgram(), 6)
    data["valid_months"] = ""
    assert client.post("/loyalty/programme", data=data, follow_redirects=False).status_code == 303
    assert _stored(db) == (EarningProgram(), None)


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("who", ["manager", "clerk"])
def test_only_the_owner_manages_the_programme(client_for: Factory, who: str) -> None:
    client, csrf = client_for(who)
    assert client.get("/loyalty/programme").status_code == 403
    posted = client.post("/loyalty/programme", data={"csrf_token": csrf, **FULL})
    assert posted.status_code == 403
    assert 'href="/loyalty/programme"' not in client.get("/customers").text


@pytest.mark.usefixtures("accounts")
def test_bad_programme_input_is_shown_with_everything_kept(
    db: Database, client_for: Factory
) -> None:
    client, csrf = client_for("owner")
    english(client)
    bad = {
        **FULL,
        "points_per_yuan": "abc",
        "valid_months": "0",
        "category_match": ["", "ware"],
        "category_factor": ["2", "x"],
        "every_nth_every": ["1"],
        "every_nth_points": ["20"],
        "cap_per_day": "-5",
    }
    response = client.post("/loyalty/programme", data={"csrf_token": csrf, **bad})
    assert response.status_code == 422
    page = soup(response.text)
    assert page.select_one("[data-testid=programme-error]") is not None
    for name in ("points_per_yuan", "valid_months", "category-0", "category-1", "every_nth-0",
                 "cap_per_day"):  # fmt: skip
        assert page.select_one(f"[data-testid=error-{name}]") is not None, name
    assert "applies to" in text_of(page, "error-category-0")
    assert "from 1 to 120" in text_of(page, "error-valid_months")
    assert (value_of(page, "points_per_yuan"), value_of(page, "valid_months")) == ("abc", "0")
    assert [value_of(page, "category_factor", i) for i in range(2)] == ["2", "x"]
    assert value_of(page, "category_match", 1) == "ware"
    assert (value_of(page, "every_nth_every"), value_of(page, "cap_per_day")) == ("1", "-5")
    assert (value_of(page, "referral"), value_of(page, "store_match")) == ("100", "A")
    assert _stored(db) == (EarningProgram(), 24)  # nothing saved


def test_how_points_were_computed_reads_in_chinese() -> None:
    from guanxi.web import labels
    from guanxi.web.i18n import current, language

    base = {"template": "Base: ¥{amount} × {rate} point(s) per yuan.",
            "values": {"amount": "120.5", "rate": "1"}}  # fmt: skip
    earned = {"template": "Earned: {points} points.", "values": {"points": 120}}
    stored = {"steps": [base, earned]}
    token = current.set(language("zh_CN", "Asia/Shanghai"))
    try:
        assert labels.points_steps(stored) == [
            "基础积分：¥120.5 × 每元 1 积分。",
            "获得：120 积分。",
        ]
    finally:
        current.reset(token)
