"""Occasion rules and the customers' occasions (birthdays, anniversaries, first purchases), the
``guanxi calendar`` command, and the occasions and calendar pages."""

from __future__ import annotations

import json
import time as clock
from calendar import monthrange
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from typer.testing import CliRunner

from guanxi.care.calendar import CHINESE_NAMES, festival_dates, lunar_birthday
from guanxi.care.occasions import (
    DEFAULTS,
    OCCASION_KEYS,
    CustomerOccasion,
    OccasionRule,
    customer_occasions,
    occasion_rules,
    save_occasion_rules,
)
from guanxi.cli.main import app as cli_app
from guanxi.errors import InvalidInput
from guanxi.services import audit
from guanxi.storage.db import Database
from guanxi.storage.models import (
    Anniversary,
    AuditEntry,
    Customer,
    MessageTemplate,
    OccasionSetting,
    Purchase,
    Staff,
    Store,
)
from tests.factories import make_customer

Clients = Callable[[str], tuple[TestClient, str]]


def _store(db: Database, code: str = "S1", zone: str = "Asia/Shanghai") -> int:
    with db.write() as s:
        row = Store(code=code, name=code, timezone=zone)
        s.add(row)
        s.flush()
        return row.id


def _staff(db: Database) -> int:
    with db.write() as s:
        row = Staff(name="店长", role="manager")
        s.add(row)
        s.flush()
        return row.id


def _buy(db: Database, customer: int, store: int, at: datetime) -> None:
    with db.write() as s:
        n = s.execute(select(Purchase.id)).all()
        s.add(Purchase(store_id=store, external_order_id=f"R{len(n) + 1}", customer_id=customer,
                       purchased_at=at, total_amount=Decimal(10)))  # fmt: skip


def _occ(found: list[CustomerOccasion], customer: int) -> list[tuple[str, date, str, int | None]]:
    return [(o.occasion, o.on, o.label, o.years) for o in found if o.customer_id == customer]


# -- rules --------------------------------------------------------------------------------------


def test_rules_default_then_saved_and_audited(db: Database) -> None:
    actor = _staff(db)
    with db.read() as s:
        rules = occasion_rules(s)
    assert list(rules) == list(OCCASION_KEYS)
    assert rules["mid_autumn"] == OccasionRule("mid_autumn", True, 14, None)
    assert rules["christmas"].observed is False
    with db.write() as s:
        template = MessageTemplate(name="中秋", channel="sms", body="{{ salutation }}，中秋快乐")
        s.add(template)
        s.flush()
        tid = template.id
    save_occasion_rules(db, [OccasionRule("mid_autumn", True, 7, tid),
                             OccasionRule("christmas", True, 2, None),
                             OccasionRule("birthday", *DEFAULTS["birthday"], None)],
                        actor_id=actor)  # fmt: skip
    with db.read() as s:
        rules = occasion_rules(s)
        saved = set(s.execute(select(OccasionSetting.occasion)).scalars())
        entries = s.execute(select(AuditEntry)).scalars().all()
    assert rules["mid_autumn"] == OccasionRule("mid_autumn", True, 7, tid)
    assert rules["christmas"] == OccasionRule("christmas", True, 2, None)
    assert saved == {"mid_autumn", "christmas"}  # the unchanged birthday rule is not stored
    (entry,) = entries
    assert entry.action == audit.Action.OCCASIONS_CHANGED and entry.actor_staff_id == actor
    assert entry.detail["changes"] == {
        "mid_autumn": {"lead_days": [14, 7], "template_id": [None, tid]},
        "christmas": {"observed": [False, True], "lead_days": [3, 2]},
    }
    save_occasion_rules(db, [OccasionRule("mid_autumn", True, 7, tid)], actor_id=actor)
    with db.read() as s:  # nothing changed: no audit entry
        assert len(s.execute(select(AuditEntry)).scalars().all()) == 1


@pytest.mark.parametrize(
    "rule",
    [OccasionRule("easter", True, 3, None), OccasionRule("laba", True, 61, None),
     OccasionRule("laba", True, -1, None), OccasionRule("laba", True, 3, 999)],
)  # fmt: skip
def test_bad_rules_are_refused(db: Database, rule: OccasionRule) -> None:
    with pytest.raises(InvalidInput):
        save_occasion_rules(db, [rule], actor_id=_staff(db))
    with db.read() as s:
        assert s.execute(select(OccasionSetting)).first() is None


# -- birthdays ----------------------------------------------------------------------------------


def test_solar_and_lunar_birthdays_with_their_rules(db: Database) -> None:
    store = _store(db)
    plain = make_customer(db, home_store_id=store, birthday_kind="solar", birthday_year=1990,
                          birthday_month=2, birthday_day=10)  # fmt: skip
    leapling = make_customer(db, home_store_id=store, birthday_kind="solar",
                             birthday_month=2, birthday_day=29)  # fmt: skip
    # 腊月三十 2025 does not exist (29 days): greeted on 腊月廿九 = 2026-02-16
    thirtieth = make_customer(db, home_store_id=store, birthday_kind="lunar", birthday_year=1980,
                              birthday_month=12, birthday_day=30)  # fmt: skip
    # 闰六月初五 (born 2025, which had a leap 6th month): greeted on 六月初五 of each year
    leap_month = make_customer(db, home_store_id=store, birthday_kind="lunar",
                               birthday_year=2025, birthday_month=6, birthday_day=5,
                               birthday_is_leap_month=True)  # fmt: skip
    lunar_new_year = make_customer(db, home_store_id=store, birthday_kind="lunar",
                                   birthday_month=1, birthday_day=1)  # fmt: skip
    make_customer(db, home_store_id=store, birthday_kind="solar", birthday_month=3,
                  birthday_day=1)  # outside  # fmt: skip
    with db.read() as s:
        feb = customer_occasions(s, date(2026, 2, 1), date(2026, 2, 28))
        summer = customer_occasions(s, date(2026, 7, 1), date(2026, 7, 31))
    assert _occ(feb, plain) == [("birthday", date(2026, 2, 10), "solar", 36)]
    assert _occ(feb, leapling) == [("birthday", date(2026, 2, 28), "solar", None)]
    assert _occ(feb, thirtieth) == [("birthday", date(2026, 2, 16), "lunar", 45)]
    assert _occ(feb, lunar_new_year) == [("birthday", date(2026, 2, 17), "lunar", None)]
    assert _occ(summer, leap_month) == [("birthday", date(2026, 7, 18), "lunar", 1)]
    assert {o.customer_id for o in feb} == {plain, leapling, thirtieth, lunar_new_year}
    assert [o.on for o in feb] == sorted(o.on for o in feb)
    with db.read() as s:  # in a leap year 29 February is its own day
        leap_year = customer_occasions(s, date(2028, 2, 28), date(2028, 2, 29))
    assert _occ(leap_year, leapling) == [("birthday", date(2028, 2, 29), "solar", None)]
    with db.read() as s:  # 2025: 腊月 has 30 days → the 30th itself (2025-01-28 is 腊月廿九)
        before = customer_occasions(s, date(2025, 1, 27), date(2025, 1, 29))
    assert _occ(before, thirtieth) == [("birthday", date(2025, 1, 28), "lunar", 44)]


def test_the_leap_month_itself_greets_nobody(db: Database) -> None:
    """2025 had 闰六月 (2025-07-25 – 08-22): its 初五 greets no one, the regular 六月初五 does."""
    store = _store(db)
    c = make_customer(db, home_store_id=store, birthday_kind="lunar", birthday_month=6,
                      birthday_day=5, birthday_is_leap_month=True)  # fmt: skip
    with db.read() as s:
        found = customer_occasions(s, date(2025, 6, 1), date(2025, 9, 30))
    assert _occ(found, c) == [("birthday", date(2025, 6, 29), "lunar", None)]


def test_filters_store_customers_and_erased(db: Database) -> None:
    a, b = _store(db, "A"), _store(db, "B")
    in_a = make_customer(db, home_store_id=a, birthday_month=5, birthday_day=1)
    in_b = make_customer(db, home_store_id=b, birthday_month=5, birthday_day=1)
    gone = make_customer(db, home_store_id=a, birthday_month=5, birthday_day=1,
                         erased_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    day = date(2026, 5, 1)
    with db.read() as s:
        assert {o.customer_id for o in customer_occasions(s, day, day)} == {in_a, in_b}
        assert {o.customer_id for o in customer_occasions(s, day, day, store_id=a)} == {in_a}
        assert {o.customer_id for o in customer_occasions(s, day, day, customer_ids=[in_b, gone])
                } == {in_b}  # fmt: skip
        assert customer_occasions(s, day, day, customer_ids=[]) == []
        assert customer_occasions(s, day, day - timedelta(days=1)) == []


def test_a_window_longer_than_a_year_lists_each_occurrence(db: Database) -> None:
    c = make_customer(db, birthday_month=12, birthday_day=31, birthday_year=2000)
    with db.read() as s:
        found = customer_occasions(s, date(2026, 1, 1), date(2027, 12, 31))
    assert _occ(found, c) == [("birthday", date(2026, 12, 31), "solar", 26),
                              ("birthday", date(2027, 12, 31), "solar", 27)]  # fmt: skip


# -- anniversaries and first purchases -----------------------------------------------------------


def test_anniversaries_solar_and_lunar(db: Database) -> None:
    c = make_customer(db)
    with db.write() as s:
        s.add_all([
            Anniversary(customer_id=c, label="结婚纪念日", occurs_on=date(2016, 10, 3)),
            # married on 2020-10-01, 八月十五 (中秋): remembered on 中秋 every year
            Anniversary(customer_id=c, label="农历结婚纪念日", occurs_on=date(2020, 10, 1),
                        calendar_kind="lunar"),
            Anniversary(customer_id=c, label="开业", occurs_on=date(2026, 9, 26)),  # this year
        ])  # fmt: skip
    with db.read() as s:
        found = customer_occasions(s, date(2026, 9, 20), date(2026, 10, 5))
    assert _occ(found, c) == [("anniversary", date(2026, 9, 25), "农历结婚纪念日", 6),
                              ("anniversary", date(2026, 10, 3), "结婚纪念日", 10)]  # fmt: skip


def test_membership_anniversary_is_its_own_occasion(db: Database) -> None:
    store = _store(db)
    c = make_customer(db, home_store_id=store)
    elsewhere = make_customer(db)
    erased = make_customer(db, home_store_id=store, erased_at=datetime(2026, 1, 1, tzinfo=UTC))
    with db.write() as s:
        s.add_all([
            Anniversary(customer_id=c, label="membership", occurs_on=date(2020, 2, 29),
                        kind="membership"),
            Anniversary(customer_id=elsewhere, label="membership", occurs_on=date(2024, 3, 1),
                        kind="membership"),
            Anniversary(customer_id=erased, label="membership", occurs_on=date(2020, 2, 28),
                        kind="membership"),
        ])  # fmt: skip
    with db.read() as s:
        found = customer_occasions(s, date(2026, 2, 27), date(2026, 3, 1), store_id=store)
        everyone = customer_occasions(s, date(2026, 2, 27), date(2026, 3, 1))
    # joined on 29 February: remembered on 28 February in common years
    assert [(o.customer_id, o.occasion, o.on, o.label, o.years) for o in found] == [
        (c, "membership", date(2026, 2, 28), "", 6)
    ]
    assert [(o.customer_id, o.on) for o in everyone] == [
        (c, date(2026, 2, 28)), (elsewhere, date(2026, 3, 1))
    ]  # fmt: skip
    assert "membership" in OCCASION_KEYS and DEFAULTS["membership"] == (True, 1)


def test_first_purchase_anniversary_in_the_store_zone(db: Database) -> None:
    store = _store(db)
    c = make_customer(db, home_store_id=store)
    other = make_customer(db, home_store_id=store)
    # 2023-11-23 20:00 UTC is 24 November in Shanghai
    _buy(db, c, store, datetime(2023, 11, 23, 20, 0, tzinfo=UTC))
    _buy(db, c, store, datetime(2024, 11, 24, 3, 0, tzinfo=UTC))  # a later one: not the first
    _buy(db, other, store, datetime(2020, 1, 1, 3, 0, tzinfo=UTC))  # first: 1 January
    _buy(db, other, store, datetime(2025, 11, 24, 3, 0, tzinfo=UTC))
    with db.read() as s:
        found = customer_occasions(s, date(2026, 11, 23), date(2026, 11, 30), store_id=store)
        utc = customer_occasions(s, date(2026, 11, 23), date(2026, 11, 23), zone="UTC")
    assert [(o.customer_id, o.occasion, o.on, o.years) for o in found] == [
        (c, "first_purchase", date(2026, 11, 24), 3)
    ]
    assert [(o.customer_id, o.on) for o in utc] == [(c, date(2026, 11, 23))]


def test_first_purchase_on_29_february(db: Database) -> None:
    c = make_customer(db)
    store = _store(db)
    _buy(db, c, store, datetime(2024, 2, 29, 4, 0, tzinfo=UTC))
    with db.read() as s:
        found = customer_occasions(s, date(2026, 2, 27), date(2026, 3, 1))
    assert _occ(found, c) == [("first_purchase", date(2026, 2, 28), "", 2)]


@pytest.mark.slow
def test_occasions_of_100000_customers_are_fast(db: Database) -> None:
    store = _store(db)
    rows = [
        {"name": f"客户{n}", "name_pinyin": "", "name_initials": "", "home_store_id": store,
         "birthday_kind": "lunar" if n % 5 == 0 else "solar",
         "birthday_month": n % 12 + 1, "birthday_day": n // 12 % 30 + 1, "custom_fields": {}}
        for n in range(100_000)
    ]  # fmt: skip
    with db.write() as s:
        s.execute(insert(Customer), rows)
        ids = list(s.execute(select(Customer.id)).scalars())
        s.execute(insert(Purchase), [
            {"store_id": store, "external_order_id": f"R{n}", "customer_id": cid,
             "purchased_at": datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=7 * n),
             "total_amount": Decimal(10)}
            for n, cid in enumerate(ids)
        ])  # fmt: skip
    started = clock.perf_counter()
    with db.read() as s:
        found = customer_occasions(s, date(2026, 11, 23), date(2026, 12, 6), store_id=store)
    elapsed = clock.perf_counter() - started
    births = {(o.customer_id, o.on) for o in found if o.occasion == "birthday"}
    firsts = [o for o in found if o.occasion == "first_purchase"]
    start, end = date(2026, 11, 23), date(2026, 12, 6)
    expected = set()
    for cid, row in zip(ids, rows, strict=True):
        month, day = row["birthday_month"], row["birthday_day"]
        if row["birthday_kind"] == "lunar":
            on = lunar_birthday(2026, month, day)
        elif day <= monthrange(2026, month)[1]:
            on = date(2026, month, day)
        else:
            continue
        if start <= on <= end:
            expected.add((cid, on))
    assert births == expected and len(births) > 3000
    assert firsts and all(o.on.month in (11, 12) for o in firsts)
    print(f"customer_occasions, 100,000 customers, 14 days: {elapsed:.2f} s")  # noqa: T201
    assert elapsed < 2.0, f"{elapsed:.2f} s"


# -- the command ----------------------------------------------------------------------------------


def test_calendar_command_json_keyed_by_chinese_names(tmp_path: object) -> None:
    result = CliRunner().invoke(cli_app, ["calendar", "2026", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["春节"] == "2026-02-17"
    assert data["除夕"] == "2026-02-16"
    assert data["清明"] == "2026-04-05"
    assert data["中秋"] == "2026-09-25"
    assert set(data) == set(CHINESE_NAMES.values())
    assert list(data) == [CHINESE_NAMES[k] for k in festival_dates(2026)]


def test_calendar_command_table_says_where_holidays_come_from() -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["calendar", "2026"])
    assert result.exit_code == 0, result.output
    assert "春节" in result.output and "2026-02-17" in result.output
    assert "Statutory holidays 2026: library" in result.output
    later = runner.invoke(cli_app, ["calendar", "2031"])
    assert later.exit_code == 0, later.output
    assert "Statutory holidays 2031: provisional" in later.output
    bad = runner.invoke(cli_app, ["calendar", "1800"])
    assert bad.exit_code != 0


# -- the pages ----------------------------------------------------------------------------------


def test_occasions_page_shows_and_saves_the_rules(
    db: Database, client_for: Clients, accounts: dict[str, object]
) -> None:
    client, csrf = client_for("manager")
    page = client.get("/care/occasions?year=2026")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    row = soup.find("tr", {"data-occasion": "mid_autumn"})
    assert row is not None and "2026-09-25" in row.get_text()
    assert soup.find("input", {"name": "lead_mid_autumn"})["value"] == "14"  # type: ignore[index]
    form = {"csrf_token": csrf}
    for key in OCCASION_KEYS:
        observed, lead = DEFAULTS[key]
        if observed:
            form[f"observed_{key}"] = "1"
        form[f"lead_{key}"] = str(lead)
        form[f"template_{key}"] = ""
    form["lead_mid_autumn"] = "10"
    form.pop("observed_laba")
    saved = client.post("/care/occasions", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with db.read() as s:
        rules = occasion_rules(s)
    assert rules["mid_autumn"].lead_days == 10 and rules["laba"].observed is False
    assert rules["birthday"] == OccasionRule("birthday", True, 3, None)
    form["lead_mid_autumn"] = "99"
    refused = client.post("/care/occasions", data=form)
    assert refused.status_code == 422
    with db.read() as s:
        assert occasion_rules(s)["mid_autumn"].lead_days == 10


def test_occasions_page_is_for_managers(client_for: Clients, accounts: dict[str, object]) -> None:
    clerk, csrf = client_for("clerk")
    assert clerk.get("/care/occasions").status_code == 403
    assert clerk.post("/care/occasions", data={"csrf_token": csrf}).status_code == 403


def test_calendar_page_lists_festivals_and_holidays(
    client_for: Clients, accounts: dict[str, object]
) -> None:
    clerk, _ = client_for("clerk")
    page = clerk.get("/care/calendar?year=2026")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.find(attrs={"data-testid": "provisional"}) is None
    festivals = soup.find(attrs={"data-testid": "festivals"})
    assert festivals is not None and "2026-02-17" in festivals.get_text()
    holidays = soup.find(attrs={"data-testid": "holidays"})
    assert holidays is not None
    text = holidays.get_text()
    assert "2026-10-01" in text and "2026-10-10" in text  # a holiday and a 调休 working day
    later = BeautifulSoup(clerk.get("/care/calendar?year=2031").text, "html.parser")
    banner = later.find(attrs={"data-testid": "provisional"})
    assert banner is not None
    assert clerk.get("/care/calendar?year=1800").status_code == 422
