"""The daily agenda: each source says why, ranking by value × urgency, scope, cap, extension."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from guanxi.care import agenda as agenda_module
from guanxi.care.agenda import (
    AGENDA_SOURCES,
    AgendaItem,
    AgendaQuery,
    build_agenda,
    english,
    item,
    points_items,
    reason_text,
    tier_items,
    top_customers,
    urgency,
    vip_items,
    winback_items,
)
from guanxi.loyalty import ledger
from guanxi.storage.db import Database
from guanxi.storage.models import (
    CustomerScore,
    CustomerTier,
    LoyaltyProgram,
    Purchase,
    Staff,
    Store,
)
from guanxi.web.i18n import language
from tests.factories import make_customer

DAY = date(2026, 11, 23)
NOV, OCT = date(2026, 11, 1), date(2026, 10, 1)
OWN_SOURCES = [vip_items, winback_items, points_items, tier_items]


def _store(db: Database, code: str = "A") -> int:
    with db.write() as s:
        store = Store(code=code, name=f"店{code}")
        s.add(store)
        s.flush()
        return store.id


def _staff(db: Database, name: str, store: int) -> int:
    with db.write() as s:
        member = Staff(name=name, role="clerk", store_id=store)
        s.add(member)
        s.flush()
        return member.id


def _score(db: Database, customer: int, month: date, **values: Any) -> None:
    row = {"customer_id": customer, "month": month, "computed_on": month, "rung": "loyal",
           "purchase_days": 5, "days_since_last": 20, "total_spend": Decimal(1000),
           "p_alive": 0.9, "clv_12m": Decimal(100), "evidence": {}}  # fmt: skip
    row.update(values)
    with db.write() as s:
        s.execute(insert(CustomerScore), [row])


def _buy(db: Database, store: int, customer: int, amount: str, at: datetime) -> None:
    with db.write() as s:
        s.add(Purchase(store_id=store, external_order_id=f"{customer}-{at.isoformat()}",
                       customer_id=customer, purchased_at=at,
                       total_amount=Decimal(amount)))  # fmt: skip


def _agenda(db: Database, **kw: Any) -> list[AgendaItem]:
    return build_agenda(db, DAY, sources=OWN_SOURCES, **kw).items


def test_urgency_rises_as_the_day_comes_and_more_when_overdue() -> None:
    assert urgency(0, "birthday") == 1.0
    assert urgency(1, "birthday") == 0.5
    assert urgency(3, "birthday") == 0.25
    assert urgency(-7, "birthday") == 1.5 and urgency(-30, "birthday") == 2.0
    assert urgency(0, "commitment") > urgency(0, "festival")


def test_vip_at_risk_when_a_high_clv_customer_s_p_alive_falls(db: Database) -> None:
    store = _store(db)
    vip = make_customer(db, name="王芳", home_store_id=store)
    steady_vip = make_customer(db, home_store_id=store)
    small = make_customer(db, home_store_id=store)
    others = [make_customer(db, home_store_id=store) for _ in range(17)]
    _score(db, vip, OCT, p_alive=0.8, clv_12m=Decimal(5000))
    _score(db, vip, NOV, p_alive=0.4, clv_12m=Decimal(5000), rung="lapsed")
    _score(db, steady_vip, OCT, p_alive=0.85, clv_12m=Decimal(6000))
    _score(db, steady_vip, NOV, p_alive=0.8, clv_12m=Decimal(6000))  # fell only 0.05
    _score(db, small, OCT, p_alive=0.9, clv_12m=Decimal(50))
    _score(db, small, NOV, p_alive=0.1, clv_12m=Decimal(50))  # fell a lot, but not a VIP
    for n, c in enumerate(others):
        _score(db, c, OCT, clv_12m=Decimal(100 + n))
        _score(db, c, NOV, clv_12m=Decimal(100 + n))
    items = _agenda(db)
    vips = [i for i in items if i.kind == "vip_at_risk"]
    assert [i.customer_id for i in vips] == [vip]
    assert english(vips[0]) == ("Valuable customer at risk: P(alive) fell from 0.80 to 0.40 "
                                "(12-month value ¥5,000.00).")  # fmt: skip
    assert vips[0].customer_name == "王芳" and vips[0].value == 5000.0
    # A lapsed VIP is flagged once, as a VIP at risk, not also as a win-back.
    assert not [i for i in items if i.customer_id == vip and i.kind == "winback"]


def test_no_vip_items_with_only_one_month_of_scores(db: Database) -> None:
    store = _store(db)
    c = make_customer(db, home_store_id=store)
    _score(db, c, NOV, p_alive=0.1, clv_12m=Decimal(5000))
    assert [i for i in _agenda(db) if i.kind == "vip_at_risk"] == []


def test_winback_lapsed_or_lost_customers_with_high_past_spend(db: Database) -> None:
    store = _store(db)
    big = make_customer(db, name="李雷", home_store_id=store)
    lost = make_customer(db, home_store_id=store)
    cheap = make_customer(db, home_store_id=store)
    loyal = make_customer(db, home_store_id=store)
    rest = [make_customer(db, home_store_id=store) for _ in range(16)]
    _score(db, big, NOV, rung="lapsed", total_spend=Decimal(20000), days_since_last=200,
           p_alive=0.3, clv_12m=Decimal(10))  # fmt: skip
    _score(db, lost, NOV, rung="lost", total_spend=Decimal(15000), days_since_last=400,
           p_alive=0.05, clv_12m=Decimal(1))  # fmt: skip
    _score(db, cheap, NOV, rung="lapsed", total_spend=Decimal(50), days_since_last=300)
    _score(db, loyal, NOV, rung="loyal", total_spend=Decimal(30000))
    for c in rest:
        _score(db, c, NOV, total_spend=Decimal(500))
    items = [i for i in _agenda(db) if i.kind == "winback"]
    assert [i.customer_id for i in items] == [big, lost]
    assert english(items[0]) == ("Lapsed customer worth winning back: spent ¥20,000.00 in all, "
                                 "last purchase 200 days ago.")  # fmt: skip
    assert english(items[1]).startswith("Lost customer worth winning back: spent ¥15,000.00")
    assert items[0].value == 20000.0  # the past value, not the CLV of a lapsed customer


def test_points_expiring_within_30_days_counts_only_what_is_left(db: Database) -> None:
    store = _store(db)
    c = make_customer(db, home_store_id=store)
    later = make_customer(db, home_store_id=store)
    gone = make_customer(db, home_store_id=store)

    def earn(customer: int, points: int, expires: date) -> None:
        ledger.earn(db, customer, points, source_type="adjustment", source_id=None,
                    expires_on=expires, reason="t", explanation={},
                    idempotency_key=None)  # fmt: skip

    earn(c, 300, DAY + timedelta(days=10))
    earn(c, 50, DAY + timedelta(days=20))
    ledger.redeem(db, c, 100, reason="gift", idempotency_key=None, actor_id=None)
    earn(later, 500, DAY + timedelta(days=40))
    earn(gone, 500, DAY - timedelta(days=1))  # already past its last day
    items = [i for i in _agenda(db) if i.kind == "points_expiring"]
    assert [(i.customer_id, i.params["points"], i.due_on) for i in items] == [
        (c, 250, DAY + timedelta(days=10))
    ]
    assert english(items[0]) == "250 points expire after 2026-12-03: suggest a reward."
    earn(later, 20, DAY)
    today = [i for i in _agenda(db) if i.customer_id == later]
    assert english(today[0]) == "20 points expire tonight: suggest a reward."


def _tiers(db: Database) -> None:
    ladder = [{"key": "normal", "name": "普通会员", "min_spend": "0"},
              {"key": "gold", "name": "金卡", "min_spend": "5000", "grace_days": 0}]  # fmt: skip
    with db.write() as s:
        s.add(LoyaltyProgram(rules={}, points_valid_months=None, tiers=ladder))


def _hold(db: Database, customer: int, key: str, since: date) -> None:
    with db.write() as s:
        s.add(CustomerTier(customer_id=customer, tier_key=key, since=since, evaluated_on=since))


def test_tier_downgrade_coming_when_old_spend_leaves_the_window(db: Database) -> None:
    store = _store(db)
    _tiers(db)
    fading = make_customer(db, home_store_id=store)
    safe = make_customer(db, home_store_id=store)
    already = make_customer(db, home_store_id=store)
    far = make_customer(db, home_store_id=store)
    # bought 6,000 on 2025-12-08 (local): it leaves the rolling 12 months after 2026-12-08
    _buy(db, store, fading, "6000", datetime(2025, 12, 8, 4, tzinfo=UTC))
    _buy(db, store, fading, "500", datetime(2026, 6, 1, 4, tzinfo=UTC))
    _buy(db, store, safe, "6000", datetime(2026, 9, 1, 4, tzinfo=UTC))
    _buy(db, store, already, "100", datetime(2026, 9, 1, 4, tzinfo=UTC))
    _buy(db, store, far, "6000", datetime(2026, 2, 1, 4, tzinfo=UTC))  # leaves in Feb 2027
    for c in (fading, safe, already, far):
        _hold(db, c, "gold", date(2025, 1, 1))
    items = {i.customer_id: i for i in _agenda(db) if i.kind == "tier_downgrade"}
    assert set(items) == {fading, already}
    assert items[fading].due_on == date(2026, 12, 8)
    assert english(items[fading]) == ("Drops from 金卡 to 普通会员 on 2026-12-08 unless they "
                                      "spend ¥4,500.00 more.")  # fmt: skip
    assert items[already].due_on == DAY
    assert english(items[already]).startswith("Drops from 金卡 to 普通会员 tonight")


def test_no_programme_no_scores_no_items_and_no_crash(db: Database) -> None:
    _store(db)
    make_customer(db)
    agenda = build_agenda(db, DAY, sources=OWN_SOURCES)
    assert agenda.items == [] and agenda.more == 0 and agenda.unavailable == []


def test_store_and_staff_scope(db: Database) -> None:
    a, b = _store(db, "A"), _store(db, "B")
    clerk = _staff(db, "小李", a)
    mine = make_customer(db, home_store_id=a, owner_staff_id=clerk)
    theirs = make_customer(db, home_store_id=a)
    other_store = make_customer(db, home_store_id=b)
    erased = make_customer(db, home_store_id=a, owner_staff_id=clerk,
                           erased_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    for c in (mine, theirs, other_store, erased):
        ledger.earn(db, c, 100, source_type="adjustment", source_id=None,
                    expires_on=DAY + timedelta(days=3), reason="t", explanation={},
                    idempotency_key=None)  # fmt: skip
    ids = {i.customer_id for i in _agenda(db, store_id=a)}
    assert ids == {mine, theirs}
    assert {i.customer_id for i in _agenda(db, staff_id=clerk)} == {mine}
    assert {i.customer_id for i in _agenda(db)} == {mine, theirs, other_store}


def test_ranked_by_value_times_urgency_and_capped_with_a_count(db: Database) -> None:
    store = _store(db)
    rich, poor, soon = (make_customer(db, home_store_id=store) for _ in range(3))
    _score(db, rich, NOV, clv_12m=Decimal(9000))
    _score(db, poor, NOV, clv_12m=Decimal(10))
    _score(db, soon, NOV, clv_12m=Decimal(2000))
    for c, days in ((rich, 14), (poor, 14), (soon, 0)):
        ledger.earn(db, c, 100, source_type="adjustment", source_id=None,
                    expires_on=DAY + timedelta(days=days), reason="t", explanation={},
                    idempotency_key=None)  # fmt: skip
    agenda = build_agenda(db, DAY, sources=OWN_SOURCES)
    assert [i.customer_id for i in agenda.items] == [rich, soon, poor]
    scores = [i.score for i in agenda.items]
    assert scores == sorted(scores, reverse=True)
    # value floor: a customer worth ¥10 still ranks with ¥100
    assert agenda.items[2].score == pytest.approx(100 * agenda.items[2].urgency)
    assert agenda.items[0].score == pytest.approx(9000 * agenda.items[0].urgency)
    capped = build_agenda(db, DAY, sources=OWN_SOURCES, limit=2)
    assert [i.customer_id for i in capped.items] == [rich, soon] and capped.more == 1
    assert capped.counts == {"points_expiring": 3}


def test_value_without_scores_is_the_12_month_spend_net_of_nothing_older(db: Database) -> None:
    store = _store(db)
    c = make_customer(db, home_store_id=store)
    _buy(db, store, c, "800", datetime(2026, 10, 1, 4, tzinfo=UTC))
    _buy(db, store, c, "5000", datetime(2024, 10, 1, 4, tzinfo=UTC))  # too old to count
    ledger.earn(db, c, 100, source_type="adjustment", source_id=None,
                expires_on=DAY + timedelta(days=3), reason="t", explanation={},
                idempotency_key=None)  # fmt: skip
    (only,) = _agenda(db)
    assert only.value == 800.0


def test_top_customers_caps_festival_candidates(db: Database) -> None:
    store = _store(db)
    ids = [make_customer(db, home_store_id=store) for _ in range(30)]
    with db.write() as s:
        s.execute(insert(CustomerScore), [
            {"customer_id": c, "month": NOV, "computed_on": NOV, "rung": "repeat",
             "purchase_days": 2, "total_spend": Decimal(10), "clv_12m": Decimal(n + 1),
             "evidence": {}}
            for n, c in enumerate(ids)
        ])  # fmt: skip
    with db.read() as s:
        top = top_customers(s, AgendaQuery(DAY, store_id=store), 20)
    assert top == list(reversed(ids))[:20]


def test_sources_can_be_added_and_a_missing_module_is_named(db: Database) -> None:
    store = _store(db)
    c = make_customer(db, name="赵六", home_store_id=store)

    def complaints(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
        yield item(c, "complaint_sla", "Complaint answer due {date}.", {"date": q.day},
                   q.day, q.day)  # fmt: skip

    def broken(session: Session, q: AgendaQuery) -> Iterator[AgendaItem]:
        import guanxi.care.no_such_module  # type: ignore[import-not-found]  # noqa: F401

        yield from ()

    AGENDA_SOURCES.append(complaints)
    try:
        agenda = build_agenda(db, DAY, sources=[*OWN_SOURCES, complaints, broken])
        full = build_agenda(db, DAY)  # the default list includes the appended source
    finally:
        AGENDA_SOURCES.remove(complaints)
    assert [(i.kind, i.customer_name) for i in agenda.items] == [("complaint_sla", "赵六")]
    assert agenda.unavailable == ["broken"]
    assert any(i.kind == "complaint_sla" for i in full.items)


def test_reason_is_translated_and_formatted_per_language(db: Database) -> None:
    i = item(1, "points_expiring", "{points} points expire after {date}: suggest a reward.",
             {"points": 20, "date": date(2026, 12, 3)}, date(2026, 12, 3), DAY)  # fmt: skip
    assert reason_text(i, language("en", "Asia/Shanghai")) == (
        "20 points expire after Dec 3, 2026: suggest a reward."
    )
    assert "2026年12月3日" in reason_text(i, language("zh_CN", "Asia/Shanghai"))
    data = i.as_json()
    assert data["params"] == {"points": 20, "date": "2026-12-03"}
    assert data["msgid"] == "{points} points expire after {date}: suggest a reward."


HAVE_H1 = importlib.util.find_spec("guanxi.care.occasions") is not None
HAVE_H2 = importlib.util.find_spec("guanxi.care.tasks") is not None


@pytest.mark.skipif(not HAVE_H1, reason="guanxi.care.occasions not installed yet")
def test_birthdays_and_festivals_from_the_calendar(db: Database) -> None:
    from guanxi.care.calendar import festivals_between

    store = _store(db)
    soon = make_customer(db, name="生日", home_store_id=store, birthday_kind="solar",
                         birthday_month=11, birthday_day=24)  # fmt: skip
    make_customer(db, home_store_id=store, birthday_kind="solar", birthday_month=12,
                  birthday_day=24)  # fmt: skip
    many = [make_customer(db, home_store_id=store) for _ in range(25)]
    with db.write() as s:
        s.execute(insert(CustomerScore), [
            {"customer_id": c, "month": NOV, "computed_on": NOV, "rung": "repeat",
             "purchase_days": 2, "total_spend": Decimal(10), "clv_12m": Decimal(n + 1),
             "evidence": {}}
            for n, c in enumerate(many)
        ])  # fmt: skip
    births = [i for i in build_agenda(db, DAY, store_id=store).items if i.kind == "birthday"]
    assert [i.customer_id for i in births] == [soon]
    assert english(births[0]) == "Birthday on 2026-11-24."
    new_year = next(d for k, d in festivals_between(date(2027, 1, 1), date(2027, 1, 2))
                    if k == "new_year")  # fmt: skip
    near = new_year - timedelta(days=1)  # observed by default, 3 lead days
    fest = [i for i in build_agenda(db, near, store_id=store).items if i.kind == "festival"]
    assert len(fest) == agenda_module.FESTIVAL_TOP  # the top customers only, not everyone
    assert {i.customer_id for i in fest} == set(many[-agenda_module.FESTIVAL_TOP :])
    assert english(fest[0]).startswith("New Year's Day on 2027-01-01")


@pytest.mark.skipif(not HAVE_H2, reason="guanxi.care.tasks not installed yet")
def test_tasks_and_promises_due_with_their_ids(db: Database) -> None:
    from guanxi.care.commitments import make_commitment
    from guanxi.storage.models import CareTask

    store = _store(db)
    clerk = _staff(db, "小王", store)
    c = make_customer(db, name="回访", home_store_id=store, owner_staff_id=clerk)
    with db.write() as s:
        task = CareTask(kind="followup", customer_id=c, assignee_staff_id=clerk, store_id=store,
                        due_on=DAY - timedelta(days=2), title="问问茶叶怎么样",
                        source_key="t:1", status="open")  # fmt: skip
        later = CareTask(kind="followup", customer_id=c, assignee_staff_id=clerk,
                         store_id=store, due_on=DAY + timedelta(days=5), title="later",
                         source_key="t:2", status="open")  # fmt: skip
        s.add_all([task, later])
        s.flush()
        task_id = task.id
    promise = make_commitment(db, customer_id=c, promise="到货通知 M 码", due_on=DAY,
                              owner_staff_id=clerk, remind_days=1, actor_id=clerk,
                              scope=None)  # fmt: skip
    items = build_agenda(db, DAY, staff_id=clerk).items
    by_kind = {i.kind: i for i in items}
    assert by_kind["followup"].task_id == task_id
    assert english(by_kind["followup"]) == "Follow-up overdue since 2026-11-21: 问问茶叶怎么样"
    assert by_kind["commitment"].commitment_id == promise
    assert english(by_kind["commitment"]) == "Promise due 2026-11-23: 到货通知 M 码"
    assert not [i for i in items if i.params.get("title") == "later"]


def _fake_calendar(monkeypatch: pytest.MonkeyPatch, occasions: list[Any],
                   rules: dict[str, Any]) -> None:  # fmt: skip
    """Stand-ins for ``guanxi.care.occasions`` / ``calendar`` with the agreed signatures, so
    the agenda's use of them is tested on its own."""
    import sys
    import types
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Rule:
        occasion: str
        observed: bool
        lead_days: int
        template_id: int | None

    occ = types.ModuleType("guanxi.care.occasions")
    occ.occasion_rules = lambda session: {k: Rule(k, *v) for k, v in rules.items()}  # type: ignore[attr-defined]

    def customer_occasions(
        session: Session, start: date, end: date, *, store_id: int | None = None,
        customer_ids: Any = None,
    ) -> list[Any]:  # fmt: skip
        return [o for o in occasions if start <= o.on <= end]

    occ.customer_occasions = customer_occasions  # type: ignore[attr-defined]
    cal = types.ModuleType("guanxi.care.calendar")
    cal.festivals_between = lambda start, end: [  # type: ignore[attr-defined]
        (k, d)
        for k, d in (("christmas", date(2026, 12, 25)), ("new_year", date(2027, 1, 1)))
        if start <= d <= end
    ]
    monkeypatch.setitem(sys.modules, "guanxi.care.occasions", occ)
    monkeypatch.setitem(sys.modules, "guanxi.care.calendar", cal)


def test_occasions_within_lead_days_only_and_not_when_a_template_greets(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace as O

    store = _store(db)
    clerk = _staff(db, "小张", store)
    mine = make_customer(db, name="寿星", home_store_id=store, owner_staff_id=clerk)
    other = make_customer(db, home_store_id=store)
    occasions = [
        O(customer_id=mine, occasion="birthday", on=DAY + timedelta(days=2), label="", years=30),
        O(customer_id=other, occasion="birthday", on=DAY + timedelta(days=5), label="", years=None),
        O(customer_id=other, occasion="first_purchase", on=DAY, label="", years=3),
        O(customer_id=mine, occasion="anniversary", on=DAY + timedelta(days=1), label="结婚纪念日",
          years=None),
        O(customer_id=mine, occasion="membership", on=DAY + timedelta(days=1), label="",
          years=2),
    ]  # fmt: skip
    rules = {"birthday": (True, 3, None), "first_purchase": (True, 0, None),
             "anniversary": (True, 7, 5),  # anniversaries are greeted by template 5
             "membership": (True, 1, None)}  # fmt: skip
    _fake_calendar(monkeypatch, occasions, rules)
    sources = [agenda_module.occasion_items]
    items = build_agenda(db, DAY, store_id=store, sources=sources).items
    assert sorted((i.customer_id, i.kind, english(i)) for i in items) == sorted([
        (mine, "birthday", "Birthday on 2026-11-25: turns 30."),
        (mine, "anniversary", "2 years of membership on 2026-11-24."),
        (other, "anniversary", "Today is 3 years since the first purchase."),
    ])  # the birthday in 5 days is beyond the 3 lead days  # fmt: skip
    staff_view = build_agenda(db, DAY, staff_id=clerk, sources=sources).items
    assert {i.customer_id for i in staff_view} == {mine}


def test_festivals_only_for_the_top_customers(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(db)
    ids = [make_customer(db, home_store_id=store) for _ in range(25)]
    with db.write() as s:
        s.execute(insert(CustomerScore), [
            {"customer_id": c, "month": NOV, "computed_on": NOV, "rung": "repeat",
             "purchase_days": 2, "total_spend": Decimal(10), "clv_12m": Decimal((n + 1) * 100),
             "evidence": {}}
            for n, c in enumerate(ids)
        ])  # fmt: skip
    _fake_calendar(monkeypatch, [], {"christmas": (True, 3, None), "new_year": (False, 3, None)})
    sources = [agenda_module.festival_items]
    assert build_agenda(db, DAY, sources=sources).items == []  # Christmas is a month away
    near = date(2026, 12, 23)
    items = build_agenda(db, near, store_id=store, sources=sources).items
    assert len(items) == agenda_module.FESTIVAL_TOP
    assert {i.customer_id for i in items} == set(ids[-agenda_module.FESTIVAL_TOP :])
    assert items[0].customer_id == ids[-1]  # the most valuable first
    assert english(items[0]) == (
        "Christmas on 2026-12-25: greet one of the most valuable customers."
    )
    zh = reason_text(items[0], language("zh_CN", "Asia/Shanghai"))
    assert "2026年12月25日" in zh
    # New Year is not observed: no items even within its lead days
    assert build_agenda(db, date(2026, 12, 30), store_id=store, sources=sources).items == []


def test_provisional_holidays_flagged_when_the_coming_days_are_not_covered(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guanxi.care import holidays

    monkeypatch.setattr(holidays, "coverage",
                        lambda year: "provisional" if year >= 2027 else "library")  # fmt: skip
    assert build_agenda(db, date(2026, 11, 1), sources=[]).provisional_holidays is False
    # 30 days ahead of 15 December reach into 2027, whose holidays are not published
    assert build_agenda(db, date(2026, 12, 15), sources=[]).provisional_holidays is True
